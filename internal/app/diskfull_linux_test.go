package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
	"cella.dev/cella/internal/storage/storagetest"
)

// freeAddr returns a loopback address with a port free at the moment, so
// that a restarted server can keep its address (and its kubeconfig).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDiskFull runs a server on a small tmpfs and fills it: a create that
// needs new space is a 500 saying the disk is full, /readyz is 503 saying
// so, a delete still succeeds (and readiness returns with its commit), and
// the server restarts on the full disk, since a restart on the same address
// writes nothing.
func TestDiskFull(t *testing.T) {
	dir := storagetest.MountTmpfs(t, 8<<20)
	addr := freeAddr(t)
	listen := func(c *app.Config) { c.Listen = addr }
	srv := servertest.Start(t, servertest.WithDataDir(dir), listen)
	c := srv.HTTPClient()
	do := func(r *http.Request) (int, metav1.Status) {
		t.Helper()
		resp, err := c.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st metav1.Status
		_ = json.Unmarshal(body, &st)
		if st.Message == "" {
			st.Message = string(body)
		}
		return resp.StatusCode, st
	}
	configMap := func(name string, size int) []byte {
		return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"d":%q}}`, name, strings.Repeat("x", size))
	}
	const cms = "/api/v1/namespaces/default/configmaps"
	for i := range 20 {
		if code, st := do(srv.Request("POST", cms, configMap(fmt.Sprint("small-", i), 100))); code != 201 {
			t.Fatalf("create small-%d: %d %s", i, code, st.Message)
		}
	}

	storagetest.FillDisk(t, filepath.Join(dir, "filler"))
	code, st := do(srv.Request("POST", cms, configMap("big", 900<<10)))
	if code != 500 || st.Reason != metav1.StatusReasonInternalError || !strings.Contains(st.Message, "disk that holds the store is full") {
		t.Fatalf("create on a full disk: %d %s %q; want 500 InternalError saying the disk is full", code, st.Reason, st.Message)
	}
	if code, st := do(srv.Request("GET", "/readyz", nil)); code != 503 || !strings.Contains(st.Message, "storage is full") {
		t.Fatalf("/readyz on a full disk: %d %q; want 503 saying storage is full", code, st.Message)
	}
	if code, st := do(srv.Request("GET", cms+"/big", nil)); code != 404 {
		t.Fatalf("GET of the failed create: %d %q, want 404", code, st.Message)
	}

	if code, st := do(srv.Request("DELETE", cms+"/small-0", nil)); code != 200 {
		t.Fatalf("delete on a full disk: %d %q, want 200", code, st.Message)
	}
	if code, _ := do(srv.Request("GET", cms+"/small-0", nil)); code != 404 {
		t.Fatalf("GET after the delete: %d, want 404", code)
	}
	if code, st := do(srv.Request("GET", "/readyz", nil)); code != 200 {
		t.Fatalf("/readyz after a commit succeeded: %d %q, want 200", code, st.Message)
	}

	// Restart while the disk is still full: servertest fails the test if
	// Start does.
	srv.Stop()
	srv = servertest.Start(t, servertest.WithDataDir(dir), listen)
	c = srv.HTTPClient()
	if code, st := do(srv.Request("GET", cms+"/small-1", nil)); code != 200 {
		t.Fatalf("GET after the restart: %d %q, want 200", code, st.Message)
	}
}

package apiserver_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/storage/storagetest"
)

const cmKeys = "/registry/core/configmaps/"

// TestStorageClosedAnswers503 closes the store under a running server:
// reads that need storage and writes answer 503 ServiceUnavailable with
// Retry-After, never 500 or a hang; /readyz turns 503 while /healthz and
// /livez stay 200; resourceVersion=0 lists are still answered by the watch
// cache, marked 203 as possibly stale.
func TestStorageClosedAnswers503(t *testing.T) {
	srv, f, _ := startFaulty(t)
	c := dialRaw(t, srv)
	if resp, body := c.do("POST", "/api/v1/namespaces/default/configmaps", srv.Token, `{"metadata":{"name":"kept"}}`); resp.StatusCode != 201 {
		t.Fatalf("create before closing: %d %s", resp.StatusCode, body)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("closing the store: %v", err)
	}

	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/namespaces/default/configmaps/kept", ""},
		{"GET", "/api/v1/namespaces/default/configmaps", ""},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"new"}}`},
		{"DELETE", "/api/v1/namespaces/default/configmaps/kept", ""},
	} {
		resp, body := c.do(tc.method, tc.path, srv.Token, tc.body)
		st := wantStatus(t, resp, body, 503, "ServiceUnavailable", "1")
		if st.Details == nil || st.Details.RetryAfterSeconds != 1 {
			t.Errorf("%s %s: details.retryAfterSeconds not 1: %s", tc.method, tc.path, body)
		}
	}
	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps?resourceVersion=0", srv.Token, ""); resp.StatusCode != 203 || !strings.Contains(string(body), `"kept"`) {
		t.Errorf("resourceVersion=0 list from the cache: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/healthz", "/livez"} {
		if resp, body := c.do("GET", p, "", ""); resp.StatusCode != 200 {
			t.Errorf("%s with storage closed: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, body := c.do("GET", "/readyz", "", "")
	wantStatus(t, resp, body, 503, "ServiceUnavailable", "1")
	// Verbose, the failing check is named (its reason withheld, as
	// kube-apiserver withholds it); the same check alone fails too.
	resp, body = c.do("GET", "/readyz?verbose", srv.Token, "")
	if resp.StatusCode != 503 || !strings.Contains(string(body), "[-]storage failed: reason withheld\n") || !strings.HasSuffix(string(body), "readyz check failed\n") {
		t.Errorf("/readyz?verbose with storage closed: %d %q", resp.StatusCode, body)
	}
	if resp, body := c.do("GET", "/readyz/storage", srv.Token, ""); resp.StatusCode != 503 {
		t.Errorf("/readyz/storage with storage closed: %d %q", resp.StatusCode, body)
	}
	if resp, body := c.do("GET", "/readyz?exclude=storage", srv.Token, ""); resp.StatusCode != 200 {
		t.Errorf("/readyz?exclude=storage with storage closed: %d %q", resp.StatusCode, body)
	}
}

// TestStorageStalledAnswers503 stalls the configmaps in storage: requests
// that need it answer 503 with Retry-After after --storage-timeout, shorter
// than the request deadline, and the stalled create changed nothing.
func TestStorageStalledAnswers503(t *testing.T) {
	const storageTimeout = 300 * time.Millisecond
	srv, f, _ := startFaulty(t, func(c *app.Config) { c.StorageTimeout = storageTimeout })
	c := dialRaw(t, srv)
	f.Inject(onKeys(cmKeys, storagetest.Stall))

	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/namespaces/default/configmaps/x", ""},
		{"GET", "/api/v1/namespaces/default/configmaps", ""},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"stalled"}}`},
	} {
		start := time.Now()
		resp, body := c.do(tc.method, tc.path, srv.Token, tc.body)
		took := time.Since(start)
		wantStatus(t, resp, body, 503, "ServiceUnavailable", "1")
		if took < storageTimeout || took > storageTimeout+30*time.Second {
			t.Errorf("%s %s answered after %s, want about %s", tc.method, tc.path, took, storageTimeout)
		}
	}

	f.Inject(nil)
	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps/stalled", srv.Token, ""); resp.StatusCode != 404 {
		t.Fatalf("the create answered 503 was stored: %d %s", resp.StatusCode, body)
	}
}

// TestStorageClosedUnderAuthorization503: a user whose permissions RBAC
// must read from storage gets 503 too when storage is closed, not the 500
// of a failed authorization, and not a wait for caches that cannot catch
// up.
func TestStorageClosedUnderAuthorization503(t *testing.T) {
	tokens := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(tokens, []byte("alice-token,alice,alice-uid,\"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const storageTimeout = 500 * time.Millisecond
	srv, f, _ := startFaulty(t, func(c *app.Config) { c.TokenFile = tokens; c.StorageTimeout = storageTimeout })
	c := dialRaw(t, srv)
	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps", "alice-token", ""); resp.StatusCode != 403 {
		t.Fatalf("alice before closing: %d %s, want 403", resp.StatusCode, body)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/v1/namespaces/default/configmaps", "/api/v1/namespaces/default/configmaps?resourceVersion=0"} {
		// The authorizer reads the policy from the watch cache, which
		// learns of the closed storage when its watch ends: until then it
		// may still decide from the policy it holds (the same 403 as
		// before the close), never allow. Then it cannot decide: 503.
		deadline := time.Now().Add(30 * time.Second)
		for {
			start := time.Now()
			resp, body := c.do("GET", p, "alice-token", "")
			if took := time.Since(start); took > storageTimeout+30*time.Second {
				t.Errorf("GET %s answered after %s", p, took)
			}
			if resp.StatusCode == 403 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			wantStatus(t, resp, body, 503, "ServiceUnavailable", "1")
			break
		}
	}
}

// TestStorageClosedCacheReadsDoNotWait: with storage closed right after
// start, resourceVersion=0 lists of kinds nothing was written to answer
// within the storage timeout: from the cache (203) where it can serve, 503
// where it cannot until storage is back (a cache that had seen no revision
// yet must list again first), never a wait for the request deadline.
func TestStorageClosedCacheReadsDoNotWait(t *testing.T) {
	const storageTimeout = 500 * time.Millisecond
	srv, f, _ := startFaulty(t, func(c *app.Config) { c.StorageTimeout = storageTimeout })
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, srv)
	for _, p := range []string{
		"/apis/apps/v1/namespaces/default/deployments?resourceVersion=0",
		"/apis/batch/v1/jobs?resourceVersion=0",
		"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings?resourceVersion=0",
	} {
		start := time.Now()
		resp, body := c.do("GET", p, srv.Token, "")
		took := time.Since(start)
		switch resp.StatusCode {
		case 203:
		case 503:
			wantStatus(t, resp, body, 503, "ServiceUnavailable", "1")
		default:
			t.Errorf("GET %s: %d %s, want 203 or 503", p, resp.StatusCode, body)
		}
		if took > storageTimeout+30*time.Second {
			t.Errorf("GET %s answered after %s", p, took)
		}
		t.Logf("GET %s: %d after %s", p, resp.StatusCode, took.Round(time.Millisecond))
	}
}

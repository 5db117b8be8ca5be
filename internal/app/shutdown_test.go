package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// conn is one HTTP/1.1 connection to a child server, so a test can say
// which requests share a connection.
type conn struct {
	t     *testing.T
	c     net.Conn
	r     *bufio.Reader
	token string
}

func dial(t *testing.T, cfg *rest.Config) *conn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cfg.CAData)
	c, err := tls.Dial("tcp", strings.TrimPrefix(cfg.Host, "https://"), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &conn{t: t, c: c, r: bufio.NewReader(c), token: cfg.BearerToken}
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// head sends a request head (no body) for path.
func (c *conn) head(method, path string, extra string) {
	c.send(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: cella\r\nAuthorization: Bearer %s\r\n%s\r\n", method, path, c.token, extra))
}

// read reads one response; the caller reads and closes its body.
func (c *conn) read(method string) *http.Response {
	c.t.Helper()
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	return resp
}

// get sends a GET and reads the whole answer.
func (c *conn) get(path string) (*http.Response, string) {
	c.t.Helper()
	c.head("GET", path, "")
	resp := c.read("GET")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: body: %v", path, err)
	}
	return resp, string(body)
}

// want503 checks a draining answer: 503 ServiceUnavailable, Retry-After,
// and Connection: close.
func want503(t *testing.T, what string, resp *http.Response, body string) {
	t.Helper()
	var st metav1.Status
	_ = json.Unmarshal([]byte(body), &st)
	if resp.StatusCode != 503 || st.Reason != metav1.StatusReasonServiceUnavailable || st.Code != 503 {
		t.Fatalf("%s: %d %s, want 503 ServiceUnavailable", what, resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("%s: Retry-After %q, Connection close %v; want 1 and close", what, resp.Header.Get("Retry-After"), resp.Close)
	}
}

// waitExit waits for the child to exit and returns when it did and its
// exit code.
func waitExit(t *testing.T, child *exec.Cmd, within time.Duration) (time.Time, int) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return time.Now(), code
	case <-time.After(within):
		t.Fatalf("the child did not exit within %s", within)
		return time.Time{}, 0
	}
}

// TestSIGTERMDrains sends SIGTERM to a serving child while it holds a
// request in flight (its body half sent), a raw watch, a client-go watch
// and idle kept-alive connections, and checks the whole drain:
//
//   - /readyz turns 503 with Retry-After (this is where it can be seen: the
//     listener opens only after storage is open);
//   - a new request on a kept-alive connection, and on a new connection
//     while the listener is still open, answers 503 ServiceUnavailable with
//     Retry-After and Connection: close; /healthz and /livez stay 200;
//   - both watches end cleanly: the chunked stream ends with its last
//     chunk, client-go's result channel closes, no ERROR event;
//   - the request in flight completes with its own 201;
//   - the process exits 0 within the grace period, and the port is closed.
func TestSIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child server")
	}
	const grace = 15 * time.Second
	// The body idle timeout is far longer than the test, so only the grace
	// period can end the stuck request.
	cfg, child := startChildConfig(t, filepath.Join(t.TempDir(), "data"), "--shutdown-grace-period", grace.String(), "--body-idle-timeout", "10m")
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// Connections that have served a request and are kept alive.
	probe, api, health := dial(t, cfg), dial(t, cfg), dial(t, cfg)
	for _, c := range []*conn{probe, api, health} {
		if resp, body := c.get("/api/v1/namespaces/default"); resp.StatusCode != 200 {
			t.Fatalf("before SIGTERM: %d %s", resp.StatusCode, body)
		}
	}
	// A create whose head was accepted (100 Continue: its handler is
	// reading the body) and whose body is not sent yet.
	inflight := dial(t, cfg)
	body := `{"metadata":{"name":"in-flight"}}`
	inflight.head("POST", "/api/v1/namespaces/default/configmaps",
		fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n", len(body)))
	if resp := inflight.read("POST"); resp.StatusCode != 100 {
		t.Fatalf("in-flight create: %d, want 100 Continue first", resp.StatusCode)
	}
	// A raw watch, headers received.
	rawWatch := dial(t, cfg)
	rawWatch.head("GET", "/api/v1/namespaces/default/configmaps?watch=true", "")
	wresp := rawWatch.read("GET")
	if wresp.StatusCode != 200 {
		t.Fatalf("watch: %d", wresp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cw, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cw.Stop()

	signalled := time.Now()
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// /readyz on a kept-alive connection, until the drain has begun.
	for {
		resp, body := probe.get("/readyz")
		if resp.StatusCode == 200 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		want503(t, "/readyz while draining", resp, body)
		break
	}
	if _, err := probe.r.ReadByte(); err != io.EOF {
		t.Fatalf("the connection of a 503 was not closed: %v", err)
	}
	resp, b := api.get("/api/v1/namespaces/default/configmaps")
	want503(t, "new request on a kept-alive connection", resp, b)
	resp, b = dial(t, cfg).get("/api/v1/namespaces")
	want503(t, "new request on a new connection", resp, b)
	for _, p := range []string{"/healthz", "/livez"} {
		if resp, b := health.get(p); resp.StatusCode != 200 {
			t.Fatalf("%s while draining: %d %s", p, resp.StatusCode, b)
		}
	}

	events, err := io.ReadAll(wresp.Body)
	if err != nil {
		t.Fatalf("raw watch did not end cleanly: %v", err)
	}
	if strings.Contains(string(events), `"ERROR"`) {
		t.Fatalf("raw watch got an ERROR event: %s", events)
	}
	for ev := range cw.ResultChan() {
		if ev.Type == watch.Error {
			t.Fatalf("client-go watch got an error event: %+v", ev.Object)
		}
	}

	inflight.send(body)
	if resp := inflight.read("POST"); resp.StatusCode != 201 {
		t.Fatalf("in-flight create finished with %d, want 201", resp.StatusCode)
	}

	exited, code := waitExit(t, child, grace)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	t.Logf("exited %s after SIGTERM", exited.Sub(signalled).Round(time.Millisecond))
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(cfg.Host, "https://"), time.Second); err == nil {
		t.Fatal("the port still accepts connections after exit")
	}
}

// TestSIGTERMGracePeriodCutsStuckRequest: a request that never finishes
// (its body never comes) does not hold the process: it exits 0 once the
// grace period is over, and the stuck connection is closed.
func TestSIGTERMGracePeriodCutsStuckRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child server")
	}
	const grace = 2 * time.Second
	// The body idle timeout is far longer than the test, so only the grace
	// period can end the stuck request.
	cfg, child := startChildConfig(t, filepath.Join(t.TempDir(), "data"), "--shutdown-grace-period", grace.String(), "--body-idle-timeout", "10m")
	stuck := dial(t, cfg)
	stuck.head("POST", "/api/v1/namespaces/default/configmaps", "Content-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n")
	if resp := stuck.read("POST"); resp.StatusCode != 100 {
		t.Fatalf("stuck create: %d, want 100 Continue first", resp.StatusCode)
	}

	signalled := time.Now()
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// How soon after the grace period the process is gone depends on the
	// machine's load; that it goes at all, long before the stuck request
	// could end by itself, is what is proven.
	exited, code := waitExit(t, child, grace+60*time.Second)
	took := exited.Sub(signalled)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if took < grace {
		t.Fatalf("exited %s after SIGTERM, before the %s grace period was over", took, grace)
	}
	t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	if _, err := stuck.r.ReadByte(); err == nil {
		t.Fatal("the stuck request got an answer; want its connection closed")
	}
}

// TestSIGTERMShutdownDelay: with nothing in flight the listener still
// stays open for --shutdown-delay, answering 503 on new connections, then
// the process exits 0.
func TestSIGTERMShutdownDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child server")
	}
	const delay = 1500 * time.Millisecond
	cfg, child := startChildConfig(t, filepath.Join(t.TempDir(), "data"), "--shutdown-delay", delay.String())
	signalled := time.Now()
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for {
		resp, body := dial(t, cfg).get("/readyz")
		if resp.StatusCode == 503 {
			want503(t, "/readyz during the shutdown delay", resp, body)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if time.Since(signalled) < delay {
		resp, body := dial(t, cfg).get("/api/v1/namespaces")
		want503(t, "a new connection during the shutdown delay", resp, body)
	}
	exited, code := waitExit(t, child, delay+10*time.Second)
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if took := exited.Sub(signalled); took < delay {
		t.Fatalf("exited %s after SIGTERM, before the %s delay", took, delay)
	}
}

package apiserver_test

import (
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
		if took < storageTimeout || took > 5*time.Second {
			t.Errorf("%s %s answered after %s, want about %s", tc.method, tc.path, took, storageTimeout)
		}
	}

	f.Inject(nil)
	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps/stalled", srv.Token, ""); resp.StatusCode != 404 {
		t.Fatalf("the create answered 503 was stored: %d %s", resp.StatusCode, body)
	}
}

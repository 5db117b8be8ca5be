package apiserver_test

import (
	"io"
	"net/http"
	"testing"

	"cella.dev/cella/internal/servertest"
)

// TestHealthVerbose: /healthz, /livez and /readyz list their checks with
// ?verbose as kube-apiserver does, serve each check on its own path, leave
// out ?exclude'd ones, and answer 404 for a check they do not have.
func TestHealthVerbose(t *testing.T) {
	srv := servertest.Start(t)
	hc := srv.HTTPClient()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := hc.Do(srv.Request(http.MethodGet, path, nil))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok"},
		{"/livez?verbose", 200, "[+]ping ok\n[+]log ok\nlivez check passed\n"},
		{"/healthz?verbose=1", 200, "[+]ping ok\n[+]log ok\nhealthz check passed\n"},
		{"/readyz?verbose", 200, "[+]ping ok\n[+]log ok\n[+]storage ok\nreadyz check passed\n"},
		{"/readyz?verbose&exclude=log", 200, "[+]ping ok\n[+]log excluded: ok\n[+]storage ok\nreadyz check passed\n"},
		{"/readyz/storage", 200, "ok"},
		{"/livez/ping", 200, "ok"},
		{"/livez/storage", 404, ""},
		{"/healthz/nothing", 404, ""},
	} {
		code, body := get(tc.path)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

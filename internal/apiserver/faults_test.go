package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/servertest"
	"cella.dev/cella/internal/storage/storagetest"
)

// This file holds what the 5xx tests share: a server whose storage a test
// can break (storagetest.Faulty under the watch caches), a copy of its
// logs, and whole request/response exchanges on one raw connection, so a
// test can show the next request on the same connection is served.

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startFaulty starts a server on a Faulty store, logging at debug level
// into the returned buffer. The fault is cleared when the test ends, before
// the server stops.
func startFaulty(t *testing.T, opts ...servertest.Option) (*servertest.Server, *storagetest.Faulty, *logBuffer) {
	t.Helper()
	f := &storagetest.Faulty{}
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := servertest.StartLogged(t, log, append(opts, servertest.WithStorage(f.Wrap))...)
	t.Cleanup(func() { f.Inject(nil) })
	return srv, f, logs
}

// onKeys is a Fault that applies fault to calls whose key or prefix starts
// with prefix, and lets the rest through.
func onKeys(prefix string, fault storagetest.Fault) storagetest.Fault {
	return func(ctx context.Context, op, key string) error {
		if strings.HasPrefix(key, prefix) {
			return fault(ctx, op, key)
		}
		return nil
	}
}

// do sends one request on c and reads the whole response.
func (c *rawConn) do(method, path, token, body string) (*http.Response, []byte) {
	c.t.Helper()
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: cella\r\n", method, path)
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	c.send(req + "\r\n" + body)
	resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("%s %s: reading the response: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp, data
}

// wantStatus checks a Status answer: code, reason, Retry-After.
func wantStatus(t *testing.T, resp *http.Response, body []byte, code int, reason metav1.StatusReason, retryAfter string) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("%d answer is not a Status: %v: %s", resp.StatusCode, err, body)
	}
	if resp.StatusCode != code || st.Code != int32(code) || st.Reason != reason || st.Kind != "Status" || st.Status != metav1.StatusFailure {
		t.Fatalf("got %d %s (body code %d, kind %q), want %d %s: %s", resp.StatusCode, st.Reason, st.Code, st.Kind, code, reason, body)
	}
	if got := resp.Header.Get("Retry-After"); got != retryAfter {
		t.Fatalf("Retry-After %q, want %q", got, retryAfter)
	}
	return st
}

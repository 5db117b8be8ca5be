package apiserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// The 500 tests make storage misbehave through storagetest.Faulty, which
// the server takes only through Config.WrapStorage (no flag sets it) and
// which the cella binary does not link: the release build has no path
// that panics on request.

// panicValue and diskError are what the faults carry; neither may reach a
// response body.
const (
	panicValue = "fault injected: boom at 0xdeadbeef"
	diskError  = "read /var/lib/cella/cella.db: input/output error at sector 7"
)

// TestHandlerPanicAnswers500: a panic while serving a request is
// recovered, logged with its stack, answered 500 InternalError with no
// internals in the body, and the server (and the same connection) keeps
// serving.
func TestHandlerPanicAnswers500(t *testing.T) {
	srv, f, logs := startFaulty(t)
	f.Inject(onKeys(cmKeys+"default/boom", func(context.Context, string, string) error { panic(panicValue) }))
	c := dialRaw(t, srv)

	resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps/boom", srv.Token, "")
	wantStatus(t, resp, body, 500, "InternalError", "")
	for _, leak := range []string{"boom at", "deadbeef", "panic", "goroutine", ".go:", "storagetest"} {
		if strings.Contains(string(body), leak) {
			t.Errorf("500 body names internals (%q): %s", leak, body)
		}
	}
	log := logs.String()
	for _, want := range []string{"panic serving request", panicValue, "goroutine ", "storagetest.(*Faulty).Get"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}

	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps/other", srv.Token, ""); resp.StatusCode != 404 {
		t.Fatalf("next request on the same connection: %d %s", resp.StatusCode, body)
	}
	if resp, body := c.do("POST", "/api/v1/namespaces/default/configmaps", srv.Token, `{"metadata":{"name":"after"}}`); resp.StatusCode != 201 {
		t.Fatalf("create after the panic: %d %s", resp.StatusCode, body)
	}
}

// TestUnmappedStorageErrorAnswers500: a storage error that is none of the
// storage sentinels is answered 500 InternalError without its text, which
// goes to the log.
func TestUnmappedStorageErrorAnswers500(t *testing.T) {
	srv, f, logs := startFaulty(t)
	f.Inject(onKeys(cmKeys+"default/broken", func(context.Context, string, string) error { return errors.New(diskError) }))
	c := dialRaw(t, srv)

	for _, r := range [][3]string{
		{"GET", "/api/v1/namespaces/default/configmaps/broken", ""},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"broken"}}`},
	} {
		resp, body := c.do(r[0], r[1], srv.Token, r[2])
		wantStatus(t, resp, body, 500, "InternalError", "")
		if strings.Contains(string(body), "sector") || strings.Contains(string(body), "cella.db") {
			t.Errorf("%s %s: 500 body names internals: %s", r[0], r[1], body)
		}
	}
	if !strings.Contains(logs.String(), diskError) {
		t.Errorf("the log lacks the storage error:\n%s", logs)
	}
	if resp, body := c.do("GET", "/api/v1/namespaces/default/configmaps/fine", srv.Token, ""); resp.StatusCode != 404 {
		t.Fatalf("next request: %d %s", resp.StatusCode, body)
	}
}

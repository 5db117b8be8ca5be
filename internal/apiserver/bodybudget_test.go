package apiserver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// paddedConfigMapBody is a ConfigMap create body of exactly n bytes.
func paddedConfigMapBody(name string, n int) string {
	prefix, suffix := `{"metadata":{"name":"`+name+`"},"data":{"k":"`, `"}}`
	return prefix + strings.Repeat("x", n-len(prefix)-len(suffix)) + suffix
}

// createHead is the head of a ConfigMap create that declares n body bytes
// and asks for 100 Continue.
func createHead(srv *servertest.Server, n int) string {
	return fmt.Sprintf("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", srv.Token, n)
}

// tooLarge decodes a 413's Status.
func tooLarge(t *testing.T, resp *http.Response, body []byte) metav1.Status {
	t.Helper()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("got %s %s, want 413 without a 100 Continue first", resp.Status, body)
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if st.Reason != metav1.StatusReasonRequestEntityTooLarge {
		t.Errorf("reason %q, want RequestEntityTooLarge", st.Reason)
	}
	if !resp.Close {
		t.Errorf("the 413 has no Connection: close")
	}
	return st
}

// TestBodyBudgetFullIs413WithRetryAfter: while one request holds most of
// --max-inflight-request-bytes, another whose declared length does not fit
// is answered 413 with Retry-After and is not asked for its body; once the
// first finishes, it is accepted.
func TestBodyBudgetFullIs413WithRetryAfter(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) {
		c.MaxRequestBytes = 1000
		c.MaxInflightRequestBytes = 1000
		c.BodyIdleTimeout = 2 * time.Minute
	})

	// The 100 Continue says the first request's handler is reading its
	// body, so its 600 bytes are reserved; it then stalls mid-body.
	first := dialStall(t, srv)
	firstBody := paddedConfigMapBody("first", 600)
	first.send(createHead(srv, len(firstBody)))
	if resp, body := first.response(); resp.StatusCode != http.StatusContinue {
		t.Fatalf("first request: got %s %s, want 100 Continue", resp.Status, body)
	}
	first.send(firstBody[:10])

	second := dialStall(t, srv)
	secondBody := paddedConfigMapBody("second", 500)
	second.send(createHead(srv, len(secondBody)))
	resp, body := second.response()
	st := tooLarge(t, resp, body)
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if st.Details == nil || st.Details.RetryAfterSeconds != 1 {
		t.Errorf("details %+v, want retryAfterSeconds 1", st.Details)
	}

	// Budget is taken only after authentication: a caller without
	// credentials is told 401, not 413.
	anon := dialStall(t, srv)
	anon.send(strings.Replace(createHead(srv, len(secondBody)), "Authorization: Bearer "+srv.Token+"\r\n", "", 1))
	if resp, body := anon.response(); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: got %s %s, want 401", resp.Status, body)
	}

	first.send(firstBody[10:])
	if resp, body := first.response(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first request: got %s %s, want 201", resp.Status, body)
	}

	// The first request's bytes are given back when its handler returns,
	// which may be a moment after its answer arrives: retry as told.
	deadline := time.Now().Add(answerWait)
	for {
		c := dialStall(t, srv)
		c.send(createHead(srv, len(secondBody)))
		resp, body := c.response()
		if resp.StatusCode == http.StatusContinue {
			c.send(secondBody)
			if resp, body := c.response(); resp.StatusCode != http.StatusCreated {
				t.Fatalf("second request, retried: got %s %s, want 201", resp.Status, body)
			}
			return
		}
		tooLarge(t, resp, body)
		if time.Now().After(deadline) {
			t.Fatalf("the budget was not given back within %s", answerWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBodyOverLimitIs413WithoutRetryAfter: a declared length over
// --max-request-bytes is a permanent 413: no Retry-After, no 100 Continue,
// the body not read.
func TestBodyOverLimitIs413WithoutRetryAfter(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) {
		c.MaxRequestBytes = 1000
		c.MaxInflightRequestBytes = 1000
	})
	c := dialStall(t, srv)
	c.send(createHead(srv, 1001))
	resp, body := c.response()
	st := tooLarge(t, resp, body)
	if got := resp.Header.Get("Retry-After"); got != "" {
		t.Errorf("Retry-After %q on a permanent 413", got)
	}
	if st.Details != nil && st.Details.RetryAfterSeconds != 0 {
		t.Errorf("details %+v: retryAfterSeconds on a permanent 413", st.Details)
	}
}

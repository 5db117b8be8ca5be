package apiserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestClientCancellationIs499: a request whose client goes away while it
// is served (here: a GET waiting on stalled storage, canceled by the
// client, which over HTTP/2 resets the stream) is counted as code 499, not
// as a 500 server error, and logged at debug level, not as an error.
func TestClientCancellationIs499(t *testing.T) {
	srv, f, logs := startFaulty(t)
	reached := make(chan struct{}, 1)
	f.Inject(onKeys(cmKeys+"default/slow", func(ctx context.Context, _, _ string) error {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-ctx.Done()
		return ctx.Err()
	}))
	c := srv.HTTPClient()
	ctx, cancel := context.WithCancel(context.Background())
	req := srv.Request("GET", "/api/v1/namespaces/default/configmaps/slow", nil).WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the request never reached storage")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want its own cancellation", err)
	}
	f.Inject(nil)
	want := `apiserver_request_total{code="499",group="",resource="configmaps",subresource="",verb="get"} 1`
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := call(t, c, srv.Request("GET", "/metrics", nil))
		if strings.Contains(string(m.body), want) {
			if strings.Contains(string(m.body), `code="500"`) {
				t.Fatalf("a canceled request counted as 500:\n%s", m.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never counted the canceled request as 499:\n%s", m.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "level=ERROR") {
			t.Errorf("a client cancellation logged as an error: %s", line)
		}
	}
}

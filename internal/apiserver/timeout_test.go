package apiserver_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/storage/storagetest"
)

// checkTimeoutAnswers sends each request on one connection with the
// configmaps stalled in storage and wants 504 Timeout with Retry-After,
// once, in about the time allowed: the next request on the connection is
// answered normally, and the server logged no second WriteHeader.
func checkTimeoutAnswers(t *testing.T, c *rawConn, token string, logs *logBuffer, allowed time.Duration, reqs [][3]string) {
	t.Helper()
	for _, r := range reqs {
		start := time.Now()
		resp, body := c.do(r[0], r[1], token, r[2])
		took := time.Since(start)
		wantStatus(t, resp, body, 504, metav1.StatusReasonTimeout, "1")
		if took < allowed || took > allowed+30*time.Second {
			t.Errorf("%s %s answered after %s, want about %s", r[0], r[1], took, allowed)
		}
		// Nothing written late: the connection is in step.
		if resp, body := c.do("GET", "/api/v1/namespaces/default", token, ""); resp.StatusCode != 200 {
			t.Fatalf("next request on the connection: %d %s", resp.StatusCode, body)
		}
	}
	if strings.Contains(logs.String(), "superfluous") {
		t.Fatalf("the server wrote a response twice:\n%s", logs)
	}
}

// TestTimeoutParameterAnswers504: ?timeout= shorter than the storage
// timeout gives 504 reason Timeout when storage does not answer in time.
func TestTimeoutParameterAnswers504(t *testing.T) {
	srv, f, logs := startFaulty(t)
	c := dialRaw(t, srv)
	f.Inject(onKeys(cmKeys, storagetest.Stall))
	checkTimeoutAnswers(t, c, srv.Token, logs, 100*time.Millisecond, [][3]string{
		{"GET", "/api/v1/namespaces/default/configmaps/x?timeout=100ms", ""},
		{"GET", "/api/v1/namespaces/default/configmaps?timeout=100ms", ""},
		{"POST", "/api/v1/namespaces/default/configmaps?timeout=100ms", `{"metadata":{"name":"late"}}`},
	})
}

// TestRequestTimeoutFlagAnswers504: --request-timeout bounds requests that
// set no timeout of their own.
func TestRequestTimeoutFlagAnswers504(t *testing.T) {
	const requestTimeout = 300 * time.Millisecond
	srv, f, logs := startFaulty(t, func(c *app.Config) { c.RequestTimeout = requestTimeout })
	c := dialRaw(t, srv)
	f.Inject(onKeys(cmKeys, storagetest.Stall))
	checkTimeoutAnswers(t, c, srv.Token, logs, requestTimeout, [][3]string{
		{"GET", "/api/v1/namespaces/default/configmaps/x", ""},
		{"PUT", "/api/v1/namespaces/default/configmaps/x", `{"metadata":{"name":"x"}}`},
	})
}

// TestWatchTimeoutSecondsEndsCleanly: a watch with timeoutSeconds=1 is not
// cut by the request deadline; it answers 200 and its chunked stream ends
// with the terminating chunk after about a second, with no ERROR event, and
// the connection serves the next request. client-go sees its result channel
// close.
func TestWatchTimeoutSecondsEndsCleanly(t *testing.T) {
	srv, _, _ := startFaulty(t, func(c *app.Config) { c.RequestTimeout = 300 * time.Millisecond })
	c := dialRaw(t, srv)
	start := time.Now()
	c.send("GET /api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1 HTTP/1.1\r\nHost: cella\r\nAuthorization: Bearer " + srv.Token + "\r\n\r\n")
	resp, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("watch answered %d %v, want 200 chunked", resp.StatusCode, resp.TransferEncoding)
	}
	// ReadAll fails with io.ErrUnexpectedEOF unless the stream ends with its
	// last chunk.
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("watch stream did not end cleanly: %v", err)
	}
	if took := time.Since(start); took < time.Second || took > 30*time.Second {
		t.Errorf("watch ended after %s, want about 1s", took)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		var ev struct {
			Type watch.EventType `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Type == watch.Error {
			t.Fatalf("unexpected event %q (%v)", sc.Text(), err)
		}
	}
	if resp, body := c.do("GET", "/api/v1/namespaces/default", srv.Token, ""); resp.StatusCode != 200 {
		t.Fatalf("next request on the watch's connection: %d %s", resp.StatusCode, body)
	}

	one := int64(1)
	w, err := srv.Clientset().CoreV1().ConfigMaps("default").Watch(ctxT(t), metav1.ListOptions{TimeoutSeconds: &one})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				t.Fatalf("client-go watch got an error event: %+v", ev.Object)
			}
		case <-deadline:
			t.Fatal("client-go watch with timeoutSeconds=1 did not end in 10s")
		}
	}
}

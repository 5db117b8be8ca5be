package app_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// readStatus reads one HTTP/1.1 response from br and checks that it is a
// Status of the given code whose reason is reason.
func readStatus(t *testing.T, br *bufio.Reader, code int, reason string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	checkStatus(t, resp, body, code, reason)
}

func checkStatus(t *testing.T, resp *http.Response, body []byte, code int, reason string) {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("%d answer is not a Status: %q (%v)", resp.StatusCode, body, err)
	}
	if resp.StatusCode != code || int(st.Code) != code || string(st.Reason) != reason || st.Message == "" {
		t.Fatalf("want %d %s, got %d %+v", code, reason, resp.StatusCode, st)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

// dialRaw opens a raw HTTP/1.1 connection to the server: TLS (without
// ALPN h2) when it serves TLS.
func dialRaw(t *testing.T, srv *servertest.Server) net.Conn {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	if u.Scheme == "http" {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	c, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bigHead is a GET head of about size bytes, in header fields of 4 KiB.
func bigHead(path string, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("f", 4096))
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestErrorBodiesAreStatus: the answers the server gives before any handler
// looks at a request, for a request target or head that is too long, are
// Status objects with their code, as every other error: 414, and 431
// whether the head is just over the limit (answered by the filter) or far
// over it (answered by the connection, before net/http's own plain-text
// 431), over TLS, plain HTTP and HTTP/2. The 412 of the OpenAPI document is
// a Status too.
func TestErrorBodiesAreStatus(t *testing.T) {
	const limit = 64 << 10
	for _, useTLS := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			srv := servertest.Start(t, func(c *app.Config) { c.TLS = useTLS; c.MaxHeaderBytes = limit })
			t.Run("414", func(t *testing.T) {
				c := dialRaw(t, srv)
				defer c.Close()
				fmt.Fprintf(c, "GET /api/v1/namespaces?x=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", strings.Repeat("a", 9000))
				readStatus(t, bufio.NewReader(c), http.StatusRequestURITooLong, "RequestURITooLong")
			})
			for _, size := range []int{limit + 20<<10, 5 * limit} {
				t.Run(fmt.Sprintf("431-%dKiB", size>>10), func(t *testing.T) {
					c := dialRaw(t, srv)
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(30 * time.Second))
					// Write from another goroutine: the server may answer
					// before the whole head is sent.
					go func() { _, _ = io.WriteString(c, bigHead("/version", size)) }()
					readStatus(t, bufio.NewReader(c), http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge")
				})
			}
			t.Run("under the limit", func(t *testing.T) {
				c := dialRaw(t, srv)
				defer c.Close()
				_, _ = io.WriteString(c, bigHead("/version", limit-8<<10))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("a head under the limit: %v %v", err, resp)
				}
			})
		})
	}

	srv := servertest.Start(t, func(c *app.Config) { c.MaxHeaderBytes = limit })
	hc := srv.HTTPClient()
	t.Run("431 over HTTP/2", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(srv.CAPEM)
		h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
		defer h2.CloseIdleConnections()
		req := srv.Request(http.MethodGet, "/version", nil)
		req.Header.Set("X-Filler", strings.Repeat("f", limit+1000))
		resp, err := h2.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("want HTTP/2, got %s", resp.Proto)
		}
		body, _ := io.ReadAll(resp.Body)
		checkStatus(t, resp, body, http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge")
	})
	t.Run("412 of /openapi/v2", func(t *testing.T) {
		req := srv.Request(http.MethodGet, "/openapi/v2", nil)
		req.Header.Set("If-Match", `"not-the-etag"`)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		checkStatus(t, resp, body, http.StatusPreconditionFailed, "PreconditionFailed")
		if resp.Header.Get("ETag") == "" {
			t.Error("412 without the current ETag")
		}
	})
}

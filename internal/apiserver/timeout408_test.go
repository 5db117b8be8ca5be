package apiserver_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// The timeouts these tests stall past are short; every wait for the
// server's answer is long, so a slow, loaded machine fails nothing.
const (
	shortTimeout = 300 * time.Millisecond
	answerWait   = 30 * time.Second
)

// stallConn is an HTTP/1.1 connection to the test server, over TLS or not
// as the server serves, that sends exactly what it is told.
type stallConn struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialStall(t *testing.T, srv *servertest.Server) *stallConn {
	t.Helper()
	var conn net.Conn
	var err error
	if addr, ok := strings.CutPrefix(srv.URL, "https://"); ok {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(srv.CAPEM)
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	} else {
		conn, err = net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(answerWait))
	return &stallConn{t: t, Conn: conn, r: bufio.NewReader(conn)}
}

func (c *stallConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one whole response.
func (c *stallConn) response() (*http.Response, []byte) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading the response body: %v", err)
	}
	return resp, body
}

// expectClosed asserts the server closes the connection with nothing
// (more) to say.
func (c *stallConn) expectClosed() {
	c.t.Helper()
	b, err := c.r.ReadByte()
	if err == nil {
		rest, _ := c.r.Peek(c.r.Buffered())
		c.t.Fatalf("the server sent %q, want the connection closed", append([]byte{b}, rest...))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("the connection stayed open for %s", answerWait)
	}
}

// expect408 reads the 408 for a stalled request and asserts that the
// connection closes after it.
func (c *stallConn) expect408() {
	c.t.Helper()
	resp, body := c.response()
	if resp.StatusCode != http.StatusRequestTimeout {
		c.t.Fatalf("got %s %s, want 408", resp.Status, body)
	}
	if !resp.Close { // http.ReadResponse turns Connection: close into Close
		c.t.Errorf("the 408 has no Connection: close")
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		c.t.Fatalf("body %q: %v", body, err)
	}
	if st.Kind != "Status" || st.Code != http.StatusRequestTimeout || st.Reason != metav1.StatusReasonTimeout {
		c.t.Errorf("Status %+v, want kind Status, code 408, reason Timeout", st)
	}
	c.expectClosed()
}

func withHeadTimeouts(tlsOn bool) servertest.Option {
	return func(c *app.Config) {
		c.TLS = tlsOn
		c.ReadHeaderTimeout = shortTimeout
		c.BodyIdleTimeout = shortTimeout
	}
}

// TestStalledHeadIs408: a client that sent part of a request head and then
// stalled past --read-header-timeout is answered 408 with Connection:
// close, on a fresh connection and on a kept-alive one, with TLS and
// without.
func TestStalledHeadIs408(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			srv := servertest.Start(t, withHeadTimeouts(tlsOn))
			t.Run("first head", func(t *testing.T) {
				c := dialStall(t, srv)
				c.send("GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
				c.expect408()
			})
			t.Run("head after a kept-alive request", func(t *testing.T) {
				c := dialStall(t, srv)
				c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
				if resp, body := c.response(); resp.StatusCode != http.StatusOK {
					t.Fatalf("first request: %s %s", resp.Status, body)
				}
				c.send("GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n")
				c.expect408()
			})
			t.Run("request line cut short", func(t *testing.T) {
				c := dialStall(t, srv)
				c.send("GET /api/v1/name")
				c.expect408()
			})
		})
	}
}

// TestIdleConnectionClosedWithout408: a connection that sends nothing is
// closed at the header timeout without an answer, while a kept-alive one
// may stay idle longer than that (up to the idle timeout) and still be
// used.
func TestIdleConnectionClosedWithout408(t *testing.T) {
	for _, tlsOn := range []bool{true, false} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			srv := servertest.Start(t, withHeadTimeouts(tlsOn))
			t.Run("nothing sent", func(t *testing.T) {
				c := dialStall(t, srv)
				c.expectClosed()
			})
			t.Run("kept alive past the header timeout", func(t *testing.T) {
				c := dialStall(t, srv)
				for i := range 2 {
					if i > 0 {
						time.Sleep(3 * shortTimeout)
					}
					c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp, body := c.response(); resp.StatusCode != http.StatusOK {
						t.Fatalf("request %d: %s %s", i, resp.Status, body)
					}
				}
			})
		})
	}
}

// TestStalledBodyIs408: a client that declared a body and stopped sending
// it for --body-idle-timeout is answered 408 with Connection: close.
func TestStalledBodyIs408(t *testing.T) {
	srv := servertest.Start(t, withHeadTimeouts(true))
	head := "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + srv.Token +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n"
	t.Run("body", func(t *testing.T) {
		c := dialStall(t, srv)
		c.send(head + "\r\n" + `{"metadata`)
		c.expect408()
	})
	t.Run("body after 100 Continue", func(t *testing.T) {
		c := dialStall(t, srv)
		c.send(head + "Expect: 100-continue\r\n\r\n")
		if resp, _ := c.response(); resp.StatusCode != http.StatusContinue {
			t.Fatalf("got %s, want 100 Continue", resp.Status)
		}
		c.send(`{"metadata`)
		c.expect408()
	})
	t.Run("HTTP/2", func(t *testing.T) {
		client := srv.HTTPClient()
		client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
		pr, pw := io.Pipe()
		defer pw.Close()
		req := srv.Request(http.MethodPost, "/api/v1/namespaces/default/configmaps", nil)
		req.Header.Set("Content-Type", "application/json")
		req.Body, req.ContentLength = pr, 100
		go func() { _, _ = io.WriteString(pw, `{"metadata`) }()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("got %s %s %s, want HTTP/2 408", resp.Proto, resp.Status, body)
		}
	})
}

// TestHTTP2UnaffectedByHeadTimeouts: HTTP/2 is still negotiated over TLS,
// and an HTTP/2 connection idle past the header timeout is not answered
// 408 or closed; client-go works as before.
func TestHTTP2UnaffectedByHeadTimeouts(t *testing.T) {
	srv := servertest.Start(t, withHeadTimeouts(true))
	client := srv.HTTPClient()
	client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	for i := range 2 {
		if i > 0 {
			time.Sleep(3 * shortTimeout)
		}
		resp, err := client.Do(srv.Request(http.MethodGet, "/api/v1/namespaces", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: got %s %s %s, want HTTP/2 200", i, resp.Proto, resp.Status, body)
		}
	}
	if _, err := srv.Clientset().CoreV1().Namespaces().List(ctxT(t), metav1.ListOptions{}); err != nil {
		t.Fatalf("client-go list: %v", err)
	}
}

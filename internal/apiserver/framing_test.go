package apiserver_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/servertest"
)

// rawConn is an HTTP/1.1 connection over TLS to the test server, for
// framing-level checks no client library lets us make.
type rawConn struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, srv *servertest.Server) *rawConn {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	addr := strings.TrimPrefix(srv.URL, "https://")
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// status reads one response head and returns its status code and headers.
func (c *rawConn) status() (int, http.Header) {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading the status line: %v", err)
	}
	var proto string
	var code int
	if _, err := fmt.Sscanf(line, "%s %d", &proto, &code); err != nil {
		c.t.Fatalf("status line %q: %v", line, err)
	}
	h := http.Header{}
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatal(err)
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	return code, h
}

func TestExpectContinueThenCreated(t *testing.T) {
	srv := servertest.Start(t)
	c := dialRaw(t, srv)
	body := `{"metadata":{"name":"continued"}}`
	c.send(fmt.Sprintf("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", srv.Token, len(body)))
	if code, _ := c.status(); code != 100 {
		t.Fatalf("first answer %d, want 100 Continue", code)
	}
	c.send(body)
	if code, _ := c.status(); code != 201 {
		t.Fatalf("after the body: %d, want 201", code)
	}
}

func TestExpectContinueRejectedHeadGetsNo100(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name, head string
		want       int
	}{
		{"no credentials", "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", 401},
		{"declared too large", fmt.Sprintf("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\nExpect: 100-continue\r\n\r\n", srv.Token), 413},
		{"unsupported media type", fmt.Sprintf("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n", srv.Token), 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv)
			c.send(tc.head)
			if code, _ := c.status(); code != tc.want {
				t.Fatalf("got %d, want %d without a 100 first", code, tc.want)
			}
		})
	}
}

func TestFramingErrors(t *testing.T) {
	srv := servertest.Start(t)
	auth := "Authorization: Bearer " + srv.Token + "\r\n"
	for _, tc := range []struct {
		name, req string
		want      int
	}{
		{"expect other than 100-continue", "GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n" + auth + "Expect: 200-ok\r\n\r\n", 417},
		{"chunked create", "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 411},
		{"HTTP/3.0 request line", "GET /api/v1/namespaces HTTP/3.0\r\nHost: x\r\n\r\n", 505},
		{"method not implemented", "BREW /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 501},
		{"request target too long", "GET /api/v1/namespaces?x=" + strings.Repeat("a", 9000) + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 414},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, srv)
			c.send(tc.req)
			if code, _ := c.status(); code != tc.want {
				t.Fatalf("got %d, want %d", code, tc.want)
			}
		})
	}
}

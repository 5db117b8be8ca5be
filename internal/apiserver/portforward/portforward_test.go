package portforward_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	clientpf "k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"cella.dev/cella/internal/apiserver/portforward"
)

// Ports of the fake pod: echo answers what it is sent, refused fails to
// connect as a dial would.
const (
	echoPort    = 7
	refusedPort = 9
)

// fakeForward is a pod with an echo server on port 7 and nothing on the
// others.
func fakeForward(_ context.Context, port int32, stream io.ReadWriteCloser) error {
	if port != echoPort {
		return errors.New("dial tcp 127.1.0.9:" + strconv.Itoa(int(port)) + ": connect: connection refused")
	}
	_, _ = io.Copy(stream, stream)
	return stream.Close()
}

// server serves the protocol both ways, as the API server does: a
// WebSocket handshake is tunneled, anything else upgraded to SPDY.
func server(t *testing.T) *httptest.Server {
	t.Helper()
	opts := portforward.Options{Forward: fakeForward, Pod: "web", UID: "uid-1", StreamCreationTimeout: 200 * time.Millisecond}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if websocket.IsWebSocketUpgrade(r) {
			u := websocket.Upgrader{Subprotocols: []string{portforward.TunnelProtocolV1}}
			ws, err := u.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			_ = portforward.ServeConn(r.Context(), portforward.NewWebSocketConn(ws, 0), opts)
			return
		}
		if !portforward.IsSPDYUpgrade(r) || !portforward.OffersProtocol(r) {
			http.Error(w, "not a port-forward upgrade", http.StatusBadRequest)
			return
		}
		portforward.ServeUpgrade(r.Context(), w, r, opts)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// dialers are client-go's two ways in: SPDY tunneled in a WebSocket
// (kubectl's first choice) and a plain SPDY upgrade (its fallback).
func dialers(t *testing.T, srv *httptest.Server) map[string]httpstream.Dialer {
	t.Helper()
	cfg := &rest.Config{Host: srv.URL}
	u, _ := url.Parse(srv.URL + "/portforward")
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := clientpf.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]httpstream.Dialer{
		"websocket": ws,
		"spdy":      spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u),
	}
}

// streams opens the pair of request id for port.
func streams(t *testing.T, conn httpstream.Connection, id string, port int) (errStream, data httpstream.Stream) {
	t.Helper()
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, id)
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.Fatalf("error stream: %v", err)
	}
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err = conn.CreateStream(h)
	if err != nil {
		t.Fatalf("data stream: %v", err)
	}
	return errStream, data
}

// readAll reads r to its end, failing the test after a generous wait.
func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		ch <- result{b, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("read: %v", res.err)
		}
		return string(res.b)
	case <-time.After(30 * time.Second):
		t.Fatal("read: no end of stream")
		return ""
	}
}

// TestProtocol: over both transports the server negotiates
// portforward.k8s.io, connects a data stream to its port, pairs streams by
// requestID, words a failed forward as the kubelet does, tells a client
// whose pair never completes, and refuses a stream without a type.
func TestProtocol(t *testing.T) {
	srv := server(t)
	for name, d := range dialers(t, srv) {
		t.Run(name, func(t *testing.T) {
			conn, proto, err := d.Dial(portforward.ProtocolV1)
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			defer conn.Close()
			if proto != portforward.ProtocolV1 {
				t.Errorf("negotiated %q", proto)
			}

			// Two forwards at once, each echoed on its own stream.
			e1, d1 := streams(t, conn, "1", echoPort)
			e2, d2 := streams(t, conn, "2", echoPort)
			for i, d := range []httpstream.Stream{d1, d2} {
				if _, err := io.WriteString(d, "hello "+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
				_ = d.Close()
			}
			for i, d := range []httpstream.Stream{d1, d2} {
				if got := readAll(t, d); got != "hello "+strconv.Itoa(i) {
					t.Errorf("echo %d: %q", i, got)
				}
			}
			for _, e := range []httpstream.Stream{e1, e2} {
				if msg := readAll(t, e); msg != "" {
					t.Errorf("error stream of a good forward: %q", msg)
				}
			}

			// Nothing listens: the error stream says so.
			e3, d3 := streams(t, conn, "3", refusedPort)
			_ = d3.Close()
			want := "error forwarding port 9 to pod web, uid uid-1: dial tcp 127.1.0.9:9: connect: connection refused"
			if msg := readAll(t, e3); msg != want {
				t.Errorf("error stream:\n got %q\nwant %q", msg, want)
			}

			// An error stream whose data stream never comes.
			h := http.Header{}
			h.Set(corev1.StreamType, corev1.StreamTypeError)
			h.Set(corev1.PortHeader, "7")
			h.Set(corev1.PortForwardRequestIDHeader, "4")
			e4, err := conn.CreateStream(h)
			if err != nil {
				t.Fatal(err)
			}
			if msg := readAll(t, e4); !strings.Contains(msg, "timed out waiting for the streams of request 4") {
				t.Errorf("incomplete pair: %q", msg)
			}

			// A stream without a type is refused.
			if _, err := conn.CreateStream(http.Header{corev1.PortHeader: {"7"}}); err == nil {
				t.Error("a stream without streamType was accepted")
			}
		})
	}
}

// TestClientGoPortForwarder: client-go's PortForwarder, what kubectl runs,
// forwards a local port through each transport.
func TestClientGoPortForwarder(t *testing.T) {
	srv := server(t)
	for name, d := range dialers(t, srv) {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := clientpf.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(echoPort)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				<-done
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("forwarding: %v", err)
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
				if err != nil {
					t.Fatal(err)
				}
				msg := "ping " + strconv.Itoa(i)
				_, _ = io.WriteString(c, msg)
				_ = c.(*net.TCPConn).CloseWrite()
				if got := readAll(t, c); got != msg {
					t.Errorf("connection %d: %q", i, got)
				}
				_ = c.Close()
			}
		})
	}
}

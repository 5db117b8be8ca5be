package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// WebSocket upgrades (101 Switching Protocols): watches, a followed pod
// log, pods/exec and pods/attach (podexec.go, with the remote command
// subprotocols of package remotecommand) and pods/portforward
// (portforward.go, SPDY tunneled in the WebSocket) use upgradeWebSocket.
// The proxy subresources pass a pod's own upgrade on (proxy.go).
//
// An upgrade happens inside the handler, so authentication, rate limits and
// authorization have run on the handshake like on any request, and the
// handler's own checks (parameters, opening its source) come before the
// switch: their errors are ordinary HTTP answers with a Status body. Only
// then does the handler call upgradeWebSocket.

const (
	// wsWriteTimeout bounds one message to the client; a client that does
	// not take a message in this time is dropped.
	wsWriteTimeout = 30 * time.Second
	// wsCloseGrace is how long the server waits for the client's answer to
	// its close frame before it closes the connection.
	wsCloseGrace = 2 * time.Second
)

// errSwitchFailed reports a connection lost while the 101 was being written:
// there is no one left to answer.
var errSwitchFailed = errors.New("apiserver: connection lost while switching to WebSocket")

// isWebSocketRequest reports a request asking to switch to WebSocket
// (Connection: Upgrade and Upgrade: websocket).
func isWebSocketRequest(r *http.Request) bool {
	return websocket.IsWebSocketUpgrade(r)
}

// webSocketServed reports the requests that may switch to WebSocket. Any
// other upgrade request is answered 400 at routing, rather than served as
// if it were a plain request and left for the client to puzzle over.
func webSocketServed(info *RequestInfo) bool {
	if info == nil || !info.IsResourceRequest {
		return false
	}
	if info.Verb == "watch" || isProxyRequest(info) {
		// A proxy passes the pod's own upgrade on.
		return true
	}
	if info.APIGroup != "" || info.Resource != "pods" {
		return false
	}
	switch info.Subresource {
	case "log":
		return info.Verb == "get"
	case "exec", "attach", "portforward":
		return true
	}
	return false
}

// errUpgradeNotServed is the 400 for an upgrade request to a path that
// does not switch protocols.
func errUpgradeNotServed(r *http.Request) error {
	return apierrors.NewBadRequest(fmt.Sprintf("%s %s does not switch to WebSocket: only watch requests (?watch=true or a /watch/ path), a followed pod log, pods/exec, pods/attach, pods/portforward and the proxy subresources do", r.Method, r.URL.Path))
}

// negotiateSubprotocol picks the first subprotocol the client offered that
// the endpoint speaks, in the client's order as kube-apiserver does. A
// client that offers none is admitted when supported lists "". ok is false
// when nothing fits.
func negotiateSubprotocol(offered, supported []string) (chosen string, ok bool) {
	if len(offered) == 0 {
		offered = []string{""}
	}
	for _, p := range offered {
		for _, s := range supported {
			if p == s {
				return p, true
			}
		}
	}
	return "", false
}

// wsConn is a connection switched to WebSocket. Its owner reads and writes
// through conn (one reader and one writer at a time; control frames may be
// written by either) and calls close or closeWith once when done.
type wsConn struct {
	conn *websocket.Conn
	// protocol is the negotiated subprotocol, "" for none.
	protocol string

	once    sync.Once
	release func()
}

// upgradeWebSocket switches the connection to WebSocket: it negotiates a
// subprotocol among supported ("" admits a client that offers none) and
// answers 101 Switching Protocols with Upgrade, Connection,
// Sec-WebSocket-Accept and, when one was chosen, Sec-WebSocket-Protocol.
//
// A handshake that cannot switch returns a Status error (400 for a
// malformed handshake or no shared subprotocol, 503 while the server
// drains) that the caller returns like any other, with nothing written. A
// connection lost after it was taken over from net/http returns
// errSwitchFailed, and there is nothing to answer.
//
// The connection is taken over from net/http, whose Shutdown no longer sees
// it: Server.WaitStreams waits for every wsConn to be closed.
func (s *Server) upgradeWebSocket(w http.ResponseWriter, r *http.Request, supported []string) (*wsConn, error) {
	if r.Method != http.MethodGet {
		return nil, apierrors.NewBadRequest("a WebSocket handshake must be a GET request")
	}
	if r.ProtoMajor != 1 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("WebSocket upgrades need HTTP/1.1, not %s: dial with ALPN http/1.1", r.Proto))
	}
	offered := websocket.Subprotocols(r)
	chosen, ok := negotiateSubprotocol(offered, supported)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("none of the offered WebSocket subprotocols %q is served here; choose from %q", offered, nonEmpty(supported)))
	}
	if !s.streams.add() {
		return nil, apierrors.NewServiceUnavailable("the server is shutting down")
	}
	var rejected error
	u := websocket.Upgrader{
		HandshakeTimeout: wsWriteTimeout,
		// Credentials are bearer tokens in the Authorization header, which
		// a browser page cannot attach to another origin's WebSocket, so the
		// origin proves nothing here. kube-apiserver accepts any origin too
		// (it refuses a missing one, which Cella admits: non-browser
		// clients send none).
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(_ http.ResponseWriter, _ *http.Request, code int, reason error) {
			// Called only for failures before the switch, with nothing
			// written yet.
			if code == http.StatusBadRequest {
				rejected = apierrors.NewBadRequest(reason.Error())
			} else {
				rejected = fmt.Errorf("websocket upgrade: %w", reason)
			}
		},
	}
	var hdr http.Header
	if chosen != "" {
		// With Upgrader.Subprotocols unset, the response header names the
		// protocol chosen above.
		hdr = http.Header{"Sec-Websocket-Protocol": {chosen}}
	}
	conn, err := u.Upgrade(w, r, hdr)
	if err != nil {
		s.streams.done()
		if rejected != nil {
			return nil, rejected
		}
		s.log.Debug("websocket upgrade failed after the switch", "path", r.URL.Path, "err", err)
		return nil, errSwitchFailed
	}
	return &wsConn{conn: conn, protocol: chosen, release: s.streams.done}, nil
}

func nonEmpty(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// close closes the connection without a closing handshake (the client has
// gone, or a write failed).
func (c *wsConn) close() {
	c.once.Do(func() {
		_ = c.conn.Close()
		c.release()
	})
}

// closeWith ends the connection with a close frame carrying code and text,
// waits up to wsCloseGrace for the client's answer (replied is closed by
// whoever reads the connection when the client's close frame or an error
// arrives), then closes it.
func (c *wsConn) closeWith(code int, text string, replied <-chan struct{}) {
	msg := websocket.FormatCloseMessage(code, text)
	if err := c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseGrace)); err == nil {
		t := time.NewTimer(wsCloseGrace)
		select {
		case <-replied:
		case <-t.C:
		}
		t.Stop()
	}
	c.close()
}

// streamTracker counts connections taken over from net/http, which
// http.Server.Shutdown does not wait for. Its zero value is ready.
type streamTracker struct {
	mu sync.Mutex
	// n, closing and idle are guarded by mu. idle is made by wait and
	// closed when closing and n is zero.
	n       int
	closing bool
	idle    chan struct{}
}

// add counts a new stream; false once wait has been called.
func (t *streamTracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.n++
	return true
}

func (t *streamTracker) done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	if t.closing && t.n == 0 {
		close(t.idle)
	}
}

// wait refuses new streams and waits for the running ones to end.
func (t *streamTracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if !t.closing {
		t.closing = true
		t.idle = make(chan struct{})
		if t.n == 0 {
			close(t.idle)
		}
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitStreams refuses new WebSocket upgrades (503) and waits until every
// WebSocket stream has ended, or ctx is done. Call it after Shutdown, which
// makes watches end, and after http.Server.Shutdown, which does not wait
// for connections switched to another protocol.
func (s *Server) WaitStreams(ctx context.Context) error {
	return s.streams.wait(ctx)
}

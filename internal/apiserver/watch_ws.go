package apiserver

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"
)

// A watch over WebSocket, as kube-apiserver serves it: the same events as
// the chunked stream (bookmarks, sendInitialEvents, the in-band 410 ERROR),
// each sent as one message holding the bytes the chunked stream would send
// for it, the JSON event {"type":...,"object":...} and its newline.
//
//   - Frames are text, because every encoding Cella watches in (JSON, YAML)
//     is text; kube-apiserver sends binary frames only for protobuf.
//   - The subprotocol is echoed and changes nothing in the messages:
//     kube-apiserver does not base64 watch events even when the client
//     offered base64.binary.k8s.io, and browser clients (Headlamp and the
//     like) offer that protocol for watches and parse the messages as JSON.
//     base64.binary.k8s.io encodes the raw byte streams (logs) only.
//   - Messages from the client are read and discarded; pings are answered.
//   - The server ends the stream with a close frame: 1000 (normal) when
//     timeoutSeconds passes, after the in-band ERROR event, or when the
//     source ends; 1001 (going away) when the server shuts down. When the
//     client closes, the server answers its close frame and stops.

// watchWebSocketProtocols are the subprotocols a watch accepts: none, or
// the one-way stream protocols of kube-apiserver.
var watchWebSocketProtocols = []string{"", "binary.k8s.io", "base64.binary.k8s.io"}

// wsWatch is a watchStream over a WebSocket.
type wsWatch struct {
	c *wsConn
	// gone is closed by the reader when the client has closed or the
	// connection has failed.
	gone chan struct{}
}

var _ watchStream = (*wsWatch)(nil)

// upgradeWatch switches a watch request to WebSocket and starts the reader
// that notices the client leaving. Errors are as for upgradeWebSocket.
func (h *resourceHandler) upgradeWatch(w http.ResponseWriter, r *http.Request) (*wsWatch, error) {
	c, err := h.s.upgradeWebSocket(w, r, watchWebSocketProtocols)
	if err != nil {
		return nil, err
	}
	ws := &wsWatch{c: c, gone: make(chan struct{})}
	go ws.discard()
	return ws, nil
}

// discard reads until the connection ends, which answers the client's
// pings and close frame; a watch client has nothing to say.
func (ws *wsWatch) discard() {
	defer close(ws.gone)
	for {
		if _, _, err := ws.c.conn.NextReader(); err != nil {
			return
		}
	}
}

// Write sends p, one event, as one text message.
func (ws *wsWatch) Write(p []byte) (int, error) {
	if err := ws.c.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout)); err != nil {
		return 0, err
	}
	if err := ws.c.conn.WriteMessage(websocket.TextMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush does nothing: every message is written whole.
func (ws *wsWatch) flush() {}

func (ws *wsWatch) clientGone() <-chan struct{} { return ws.gone }

// end closes the connection as the reason for ending asks, and waits for
// the reader.
func (ws *wsWatch) end(why watchEnd) {
	switch why {
	case watchClientGone, watchWriteFailed:
		ws.c.close()
	case watchShutdown:
		ws.c.closeWith(websocket.CloseGoingAway, "the server is shutting down", ws.gone)
	default:
		ws.c.closeWith(websocket.CloseNormalClosure, "", ws.gone)
	}
	<-ws.gone
}

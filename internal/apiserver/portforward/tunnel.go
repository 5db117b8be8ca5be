package portforward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is a WebSocket that carries a byte stream in binary messages: a
// read takes bytes from the current message and moves to the next when it
// is used up; each write is one message. It is what SPDY runs over when
// the client tunnels it (TunnelProtocolV1).
type wsConn struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	// cur is the message being read; owned by the one reader.
	cur io.Reader
	// wmu keeps writes whole; gorilla allows one writer at a time.
	wmu       sync.Mutex
	closeOnce sync.Once
}

var _ net.Conn = (*wsConn)(nil)

// NewWebSocketConn returns ws as a net.Conn. A write that the client does
// not take within writeTimeout fails (and with it the connection); zero
// means no limit. Close sends a normal close frame and closes ws. The
// caller keeps ownership of anything it tracks about ws.
func NewWebSocketConn(ws *websocket.Conn, writeTimeout time.Duration) net.Conn {
	return &wsConn{ws: ws, writeTimeout: writeTimeout}
}

// Read reads from the binary messages in turn. A normal close is io.EOF;
// a text message breaks the stream.
func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.cur == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
					return 0, io.EOF
				}
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, fmt.Errorf("portforward: a tunnel carries binary messages, got message type %d", typ)
			}
			c.cur = r
		}
		n, err := c.cur.Read(p)
		if errors.Is(err, io.EOF) {
			c.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeTimeout > 0 {
		_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a normal close frame (best effort, within a second) and
// closes the connection.
func (c *wsConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		err = c.ws.Close()
	})
	return err
}

func (c *wsConn) LocalAddr() net.Addr  { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.ws.SetReadDeadline(t), c.ws.SetWriteDeadline(t))
}
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

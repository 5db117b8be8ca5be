// Package netutil holds small networking helpers shared by the server and
// its test harness.
package netutil

import (
	"context"
	"net"
	"sync"
)

// ConnSet dials connections and can close all of them at once. The server
// dials its controllers' loopback connections through one and closes them
// when the controllers stop: closing only the idle ones (http.Transport's
// CloseIdleConnections, which for client-go's HTTP/2 transport does not
// even reach them) races with the informers' last watch responses, and an
// HTTP/2 connection left open holds http.Server.Shutdown for its GOAWAY
// round trip, about a second.
type ConnSet struct {
	dialer net.Dialer
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Dial dials like net.Dialer.DialContext and remembers the connection
// until it is closed. After CloseAll it fails with net.ErrClosed.
func (s *ConnSet) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return &trackedConn{Conn: c, set: s}, nil
}

// CloseAll closes every connection and refuses new ones.
func (s *ConnSet) CloseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

type trackedConn struct {
	net.Conn
	set  *ConnSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.conns, c.Conn)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

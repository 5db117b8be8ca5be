package app

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A stalled request head is answered 408.
//
// net/http enforces --read-header-timeout with a read deadline on the
// connection and, when it expires, closes the connection without a word
// (isCommonNetReadError in net/http/server.go). The status-code contract
// wants "408 Request Timeout" with "Connection: close" when a client sent
// part of a request head and then stalled; a connection that sent nothing
// is still just closed.
//
// headWatch adds that answer and nothing else: net/http keeps every
// deadline, every read and the closing of the connection. Each accepted TCP
// connection is wrapped in a headConn, beneath TLS when TLS is on, so
// net/http still gets a *tls.Conn and still negotiates HTTP/2 by ALPN. The
// http.Server's ConnState hook tells each headConn what net/http is doing
// with it, and the 408 is written, through the connection net/http serves
// (the *tls.Conn or the headConn itself), at one of two moments, both on
// net/http's own goroutine for that connection:
//
//   - The first head of a connection. net/http reports StateActive once it
//     has read any byte of a head, even when reading the head then fails.
//     So a StateActive that follows a Read that timed out is a partial head
//     that stalled; the hook writes the 408 before net/http closes.
//     (The Read itself cannot answer: beneath TLS it may be a read of the
//     TLS handshake, when writing would deadlock.)
//   - A later head on a kept-alive connection. After StateIdle net/http
//     waits for the first bytes of the next head with the idle timeout, then
//     reads the head with the header timeout; the bytes that woke it may be
//     the whole partial head, so no StateActive follows. A Read that times
//     out after bytes arrived in StateIdle writes the 408 itself. Beneath
//     TLS that is a Write on the *tls.Conn from inside its Read, which
//     crypto/tls allows (a Write may run while a Read is blocked) once the
//     handshake is done, as it is by StateIdle.
//
// The 408 is the last thing written on the connection: net/http reads a
// stalled, cut-off line as a whole one and answers "400 Bad Request" to
// the malformed head, and that answer is dropped.
//
// HTTP/2 connections and hijacked ones are left alone: HTTP/2 reads frames,
// not heads, and has its own timeouts. A partial head that arrived pipelined
// behind the previous request, before StateIdle, is closed silently, as
// before.

// headWatch answers stalled request heads with 408: its listener wraps
// accepted connections, its connState is the http.Server's ConnState hook.
type headWatch struct {
	log *slog.Logger
	// response is the whole 408 answer, built once; never modified.
	response []byte
}

// headWriteTimeout bounds writing the 408 to a client that does not read.
const headWriteTimeout = 5 * time.Second

func newHeadWatch(log *slog.Logger) *headWatch {
	body, _ := json.Marshal(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: http.StatusRequestTimeout, Reason: metav1.StatusReasonTimeout,
		Message: "the request head was not completed within the server's read timeout",
	})
	head := fmt.Sprintf("HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
	return &headWatch{log: log, response: append([]byte(head), body...)}
}

// listener wraps every connection ln accepts in a headConn. Wrap the TCP
// listener, beneath any TLS listener.
func (hw *headWatch) listener(ln net.Listener) net.Listener {
	return &headListener{Listener: ln, hw: hw}
}

// connState is the http.Server's ConnState hook.
func (hw *headWatch) connState(nc net.Conn, st http.ConnState) {
	c := headConnOf(nc)
	if c == nil {
		return
	}
	switch st {
	case http.StateNew:
		// Runs before net/http's goroutine for nc starts, which so sees upper.
		c.upper = nc
		return
	case http.StateHijacked, http.StateClosed:
		c.phase.Store(phaseOff)
		return
	}
	switch c.phase.Load() {
	case phaseOff:
		return
	case phaseFirst:
		if tc, ok := nc.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			c.phase.Store(phaseOff)
			return
		}
		if st == http.StateActive && c.timedOut.Load() {
			c.answer()
		}
	}
	if st == http.StateIdle {
		c.arrived.Store(false)
		c.phase.Store(phaseIdle)
	} else {
		c.phase.Store(phaseActive)
	}
}

// headListener accepts headConns.
type headListener struct {
	net.Listener
	hw *headWatch
}

func (l *headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headConn{Conn: c, hw: l.hw}, nil
}

// Phases of a headConn, from the ConnState hook.
const (
	phaseFirst  int32 = iota // accepted: TLS handshake, then the first head
	phaseActive              // a head was read; the request is being served
	phaseIdle                // kept alive: waiting for, then reading, the next head
	phaseOff                 // HTTP/2, hijacked or closed: never answer
)

// headConn is an accepted TCP connection that can answer a stalled head.
type headConn struct {
	net.Conn
	hw *headWatch
	// upper is the connection net/http serves: the *tls.Conn over this
	// one, or this one. Set once by the StateNew hook.
	upper net.Conn
	// phase is set by the ConnState hook and read by Read.
	phase atomic.Int32
	// arrived records that bytes were read in phaseIdle.
	arrived atomic.Bool
	// timedOut records that a Read in phaseFirst hit its deadline.
	timedOut atomic.Bool
	// answered makes sure the 408 is written at most once; sealed, set
	// once it is written, makes every later Write fail.
	answered, sealed atomic.Bool
}

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	phase := c.phase.Load()
	if n > 0 && phase == phaseIdle {
		c.arrived.Store(true)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		switch phase {
		case phaseFirst:
			c.timedOut.Store(true) // the StateActive hook answers, if bytes were read
		case phaseIdle:
			if c.arrived.Load() {
				c.answer()
			}
		}
	}
	return n, err
}

func (c *headConn) Write(p []byte) (int, error) {
	if c.sealed.Load() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

// CloseWrite keeps net/http's half-close before closing (which lets a
// client read an error answer before the reset) on plain connections.
func (c *headConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// answer writes the 408; net/http closes the connection next.
func (c *headConn) answer() {
	if c.upper == nil || !c.answered.CompareAndSwap(false, true) {
		return
	}
	_ = c.upper.SetWriteDeadline(time.Now().Add(headWriteTimeout))
	_, err := c.upper.Write(c.hw.response)
	c.sealed.Store(true)
	if err != nil {
		c.hw.log.Debug("writing 408 for a stalled request head", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.hw.log.Debug("answered a stalled request head with 408", "remote", c.RemoteAddr().String())
}

// headConnOf finds the headConn beneath a connection net/http serves.
func headConnOf(nc net.Conn) *headConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*headConn)
	return c
}

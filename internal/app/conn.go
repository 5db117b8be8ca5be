package app

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// A request head that is too large is answered 431 with a Status body.
//
// The limit itself is the --max-header-bytes filter's
// (filters.WithMaxHeaderBytes), which measures the head net/http parsed and
// answers 431 like any other error. net/http must accept somewhat larger
// heads for that filter to see them (headLimits), but past its own limit it
// answers "431 Request Header Fields Too Large" in plain text, written
// straight to the connection (beneath TLS, as ciphertext, out of reach).
// So a headConn counts the bytes it reads for each HTTP/1 head, from the
// connection's start or from StateIdle until the handler chain starts
// (headRead), and well before net/http's limit could be reached (what TLS
// adds only makes the count larger) it writes the 431 Status itself, through
// the connection net/http serves, as it writes a 408, and ends the
// connection. HTTP/2 heads are limited by the HTTP/2 server (the same
// MaxHeaderBytes): a header list between the filter's limit and that one
// gets the filter's Status, a larger one the HTTP/2 server's own 431.

// headLimits returns, for the filter's limit, the counting limit of a
// headConn and the http.Server's MaxHeaderBytes. The slack covers what is
// read with a head but is not part of it: the TLS handshake and record
// overhead, and the read-ahead of net/http's and crypto/tls's buffers.
func headLimits(filter int) (count int64, server int) {
	const slack = 64 << 10
	return int64(filter) + slack, filter + 2*slack
}

// headWatch answers stalled request heads with 408, and heads that are too
// large with 431: its listener wraps accepted connections, its connState is
// the http.Server's ConnState hook.
type headWatch struct {
	log *slog.Logger
	// response is the whole 408 answer, built once; never modified.
	response []byte
	// tooLarge is the whole 431 answer, built once; never modified.
	tooLarge []byte
	// maxHead is the most bytes a headConn reads for one head.
	maxHead int64
}

// headWriteTimeout bounds writing the 408 to a client that does not read.
const headWriteTimeout = 5 * time.Second

func newHeadWatch(log *slog.Logger, maxHeaderBytes int) *headWatch {
	count, _ := headLimits(maxHeaderBytes)
	return &headWatch{
		log: log,
		response: rawStatus(metav1.Status{
			Code: http.StatusRequestTimeout, Reason: metav1.StatusReasonTimeout,
			Message: "the request head was not completed within the server's read timeout",
		}),
		tooLarge: rawStatus(metav1.Status{
			Code: http.StatusRequestHeaderFieldsTooLarge, Reason: "RequestHeaderFieldsTooLarge",
			Message: fmt.Sprintf("the request head is larger than the server's limit of %d bytes", maxHeaderBytes),
		}),
		maxHead: count,
	}
}

// rawStatus is a whole HTTP/1.1 response carrying st as its body, ending
// the connection.
func rawStatus(st metav1.Status) []byte {
	st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
	st.Status = metav1.StatusFailure
	body, _ := json.Marshal(st)
	head := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-cache, private\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
		st.Code, http.StatusText(int(st.Code)), len(body))
	return append([]byte(head), body...)
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
		c.headBytes.Store(0)
		c.inHead.Store(true)
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
	hc := &headConn{Conn: c, hw: l.hw}
	hc.inHead.Store(true)
	return hc, nil
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
	// answered makes sure the 408 or 431 is written at most once; sealed,
	// set once it is written, makes every later Write fail.
	answered, sealed atomic.Bool
	// inHead is set while a head is being read (from the start and from
	// StateIdle until headRead); headBytes counts the bytes read meanwhile.
	inHead    atomic.Bool
	headBytes atomic.Int64
}

// headRead tells the connection that net/http has read a whole head and
// the handler chain runs: the bytes read from now on are a body.
func (c *headConn) headRead() { c.inHead.Store(false) }

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	phase := c.phase.Load()
	if phase != phaseOff && c.inHead.Load() && c.headBytes.Add(int64(n)) > c.hw.maxHead {
		// Answer before net/http's own limit, whose answer is plain text.
		// An EOF makes net/http close the connection without a word.
		c.answerWith(c.hw.tooLarge, "431 for a request head that is too large")
		c.lingerAfterAnswer()
		return 0, io.EOF
	}
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
	c.answerWith(c.hw.response, "408 for a stalled request head")
}

// answerWith writes resp as the connection's last answer, once.
func (c *headConn) answerWith(resp []byte, what string) {
	if c.upper == nil || !c.answered.CompareAndSwap(false, true) {
		return
	}
	_ = c.upper.SetWriteDeadline(time.Now().Add(headWriteTimeout))
	_, err := c.upper.Write(resp)
	c.sealed.Store(true)
	if err != nil {
		c.hw.log.Debug("writing "+what, "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	c.hw.log.Debug("answered "+what, "remote", c.RemoteAddr().String())
}

// lingerAfterAnswer lets a client that is still sending read the answer:
// closing a socket with unread bytes makes the kernel send a reset, which
// may destroy the answer before the client reads it. So, as net/http does
// before closing on an error, the write side is shut and what the client
// still sends is read and dropped for a short while.
func (c *headConn) lingerAfterAnswer() {
	if tc, ok := c.upper.(*tls.Conn); ok {
		_ = tc.CloseWrite()
	}
	_ = c.CloseWrite()
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	buf := make([]byte, 32<<10)
	for n := 0; n < lingerBytes; {
		m, err := c.Conn.Read(buf)
		n += m
		if err != nil {
			return
		}
	}
}

// lingerTime and lingerBytes bound lingerAfterAnswer.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

// connKey is the context key under which the http.Server's ConnContext
// hook stores the connection a request arrived on.
type connKey struct{}

// withHeadRead tells each request's connection that its head was read
// before the handler chain runs (see headRead).
func withHeadRead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if nc, ok := r.Context().Value(connKey{}).(net.Conn); ok {
			if c := headConnOf(nc); c != nil {
				c.headRead()
			}
		}
		next.ServeHTTP(w, r)
	})
}

// headConnOf finds the headConn beneath a connection net/http serves.
func headConnOf(nc net.Conn) *headConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*headConn)
	return c
}

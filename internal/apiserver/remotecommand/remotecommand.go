// Package remotecommand is the server side of the remote command
// protocols, which pods/exec and pods/attach speak: Serve runs a Session
// (from the node that runs the pod) over a connection the API server has
// switched to WebSocket, ServeSPDY over one switched to SPDY (spdy.go),
// as kube-apiserver and the kubelet serve `kubectl exec` and `kubectl
// attach`.
//
// # Protocols over WebSocket
//
// Every message is binary and starts with a channel byte: 0 stdin, 1
// stdout, 2 stderr, 3 error, 4 resize; the rest is the channel's data.
// The subprotocols, in the order the server prefers them (the client's
// order decides):
//
//	v5.channel.k8s.io         v4, and a close message: 255 followed by a
//	                          channel number half-closes that channel (the
//	                          client's stdin ends)
//	v4.channel.k8s.io         the error channel carries a JSON metav1.Status:
//	                          Success, or Failure (NonZeroExitCode with an
//	                          ExitCode cause for an exit code, otherwise the
//	                          error's own Status)
//	v4.base64.channel.k8s.io  v4 in text messages: the channel as an ASCII
//	                          digit, the data in base64
//	channel.k8s.io, ""        the first version: the error channel carries
//	                          the text of a failure, nothing for a success
//	base64.channel.k8s.io     channel.k8s.io in base64 text messages
//
// Resize messages carry JSON terminal sizes ({"Width":80,"Height":24}), one
// after the other. Once the connection is open the server sends an empty
// message on the lowest channel it writes (stdout, else stderr, else
// error), as the kubelet does. When the session ends the server writes
// its status on the error channel, sends a close frame (1000) and waits
// for the client to answer it (client-go does once it has read everything
// before it), up to finishTimeout; the caller then closes the connection.
// A client that goes away (its connection breaks, or a write to it fails)
// ends the session's context.
package remotecommand

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Subprotocols of the remote command protocols.
const (
	ProtocolV5       = "v5.channel.k8s.io"
	ProtocolV4       = "v4.channel.k8s.io"
	ProtocolV4Base64 = "v4.base64.channel.k8s.io"
	ProtocolV1       = "channel.k8s.io"
	ProtocolBase64   = "base64.channel.k8s.io"
)

// Protocols are the subprotocols Serve speaks; "" admits a client that
// offers none (it gets channel.k8s.io).
var Protocols = []string{ProtocolV5, ProtocolV4, ProtocolV4Base64, ProtocolV1, ProtocolBase64, ""}

// Channels.
const (
	chanStdin  = 0
	chanStdout = 1
	chanStderr = 2
	chanError  = 3
	chanResize = 4
	// closeSignal starts a v5 close message.
	closeSignal = 255
)

// Limits of a connection.
const (
	// writeTimeout bounds one message to the client: a client that takes
	// nothing for this long is gone.
	writeTimeout = 60 * time.Second
	// finishTimeout bounds how long the server waits, once the session
	// has ended, for the client to read what is still on its way and
	// answer the close frame.
	finishTimeout = 15 * time.Minute
	// maxMessage bounds one message from the client.
	maxMessage = 1 << 20
)

// Kind is what a session does, which words its failures.
type Kind int

const (
	Exec Kind = iota
	Attach
)

// Options are the streams a request asked for (ParseExecOptions,
// ParseAttachOptions), and its command (exec only).
type Options struct {
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

// Serve runs sess over conn, a connection upgraded with protocol (one of
// Protocols), with the streams o asks for, and returns once the session
// has ended and the client has been told how (see the package doc). The
// caller owns conn and closes it afterwards.
func Serve(ctx context.Context, conn *websocket.Conn, protocol string, kind Kind, o Options, sess Session) {
	c := &connection{
		conn:   conn,
		base64: protocol == ProtocolV4Base64 || protocol == ProtocolBase64,
		status: protocol == ProtocolV5 || protocol == ProtocolV4 || protocol == ProtocolV4Base64,
		closes: protocol == ProtocolV5,
	}
	conn.SetReadLimit(maxMessage)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.gone = cancel

	s := Streams{TTY: o.TTY}
	var stdinR, resizeR *io.PipeReader
	if o.Stdin {
		stdinR, c.stdin = io.Pipe()
		s.Stdin = stdinR
	}
	if o.Stdout {
		s.Stdout = c.writer(chanStdout)
	}
	if o.Stderr && !o.TTY {
		s.Stderr = c.writer(chanStderr)
	}
	var sizes sync.WaitGroup
	sizesCtx, stopSizes := context.WithCancel(ctx)
	defer stopSizes()
	if o.TTY {
		resizeR, c.resize = io.Pipe()
		ch := make(chan TerminalSize)
		s.Resize = ch
		sizes.Go(func() { decodeSizes(sizesCtx, resizeR, ch) })
	}

	// The empty message that tells the client its streams are open.
	first := byte(chanError)
	switch {
	case s.Stdout != nil:
		first = chanStdout
	case s.Stderr != nil:
		first = chanStderr
	}
	if err := c.write(first, nil); err != nil {
		cancel()
	}

	readDone := make(chan struct{})
	go func() { // joined: readDone is waited for below
		defer close(readDone)
		c.read(cancel)
	}()

	var err error
	if ctx.Err() == nil {
		err = sess(ctx, s)
	}
	// Whatever still reads the client's input or sizes stops now.
	stopSizes()
	if stdinR != nil {
		stdinR.Close()
	}
	if resizeR != nil {
		resizeR.Close()
	}
	sizes.Wait()
	if ctx.Err() == nil {
		c.finish(kind, o, err, readDone)
	}
	// The client is gone, or has answered the close, or finishTimeout
	// passed: the read loop ends when the caller closes conn, except that
	// it must not be left reading a connection already closed.
	_ = conn.SetReadDeadline(time.Now())
	<-readDone
}

// connection is one upgraded connection.
type connection struct {
	conn           *websocket.Conn
	base64         bool // text messages, channel digit and base64 data
	status         bool // the error channel carries a metav1.Status (v4, v5)
	closes         bool // the client half-closes channels (v5)
	gone           context.CancelFunc
	stdin, resize  *io.PipeWriter // nil when not asked for
	wmu            sync.Mutex     // serializes writes
	closeFrameSent bool           // guarded by wmu
}

// write sends p on channel ch.
func (c *connection) write(ch byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeFrameSent {
		return websocket.ErrCloseSent
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	var err error
	if c.base64 {
		msg := make([]byte, 1+base64.StdEncoding.EncodedLen(len(p)))
		msg[0] = '0' + ch
		base64.StdEncoding.Encode(msg[1:], p)
		err = c.conn.WriteMessage(websocket.TextMessage, msg)
	} else {
		msg := make([]byte, 1+len(p))
		msg[0] = ch
		copy(msg[1:], p)
		err = c.conn.WriteMessage(websocket.BinaryMessage, msg)
	}
	if err != nil {
		// The client cannot be reached: the session ends.
		c.gone()
	}
	return err
}

// writer is an io.Writer onto channel ch.
func (c *connection) writer(ch byte) io.Writer {
	return channelWriter{c, ch}
}

type channelWriter struct {
	c  *connection
	ch byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := w.c.write(w.ch, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// read reads the client's messages into the stdin and resize pipes until
// the connection ends (the client's close, an error, or the read deadline
// Serve sets at its end); a client that leaves before the session ends
// ends the session (gone).
func (c *connection) read(gone context.CancelFunc) {
	defer func() {
		if c.stdin != nil {
			c.stdin.CloseWithError(io.ErrUnexpectedEOF)
		}
		if c.resize != nil {
			c.resize.Close()
		}
	}()
	for {
		typ, msg, err := c.conn.ReadMessage()
		if err != nil {
			gone()
			return
		}
		if len(msg) == 0 {
			continue
		}
		var ch byte
		var data []byte
		switch {
		case c.base64 && typ == websocket.TextMessage:
			ch = msg[0] - '0'
			data, err = base64.StdEncoding.DecodeString(string(msg[1:]))
			if err != nil {
				continue // not the protocol: dropped, as the kubelet drops it
			}
		case !c.base64 && typ == websocket.BinaryMessage:
			if c.closes && msg[0] == closeSignal {
				if len(msg) == 2 {
					c.halfClose(msg[1])
				}
				continue
			}
			ch, data = msg[0], msg[1:]
		default:
			continue
		}
		var w *io.PipeWriter
		switch ch {
		case chanStdin:
			w = c.stdin
		case chanResize:
			w = c.resize
		}
		if w != nil {
			// Blocks until the session takes it; an error means it has
			// stopped taking input: the rest is dropped.
			_, _ = w.Write(data)
		}
	}
}

// halfClose ends the client's stream on channel ch.
func (c *connection) halfClose(ch byte) {
	switch {
	case ch == chanStdin && c.stdin != nil:
		c.stdin.Close()
	case ch == chanResize && c.resize != nil:
		c.resize.Close()
	}
}

// finish tells the client how the session ended: the status on the error
// channel, then the close frame; it waits until the client answers it
// (readDone) or finishTimeout passes.
func (c *connection) finish(kind Kind, o Options, err error, readDone <-chan struct{}) {
	st := statusOf(kind, o, err)
	if c.status {
		b, merr := json.Marshal(st)
		if merr == nil {
			_ = c.write(chanError, b)
		}
	} else if st.Status != metav1.StatusSuccess {
		_ = c.write(chanError, []byte(st.Message))
	}
	c.wmu.Lock()
	c.closeFrameSent = true
	werr := c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(writeTimeout))
	c.wmu.Unlock()
	if werr != nil {
		return
	}
	t := time.NewTimer(finishTimeout)
	defer t.Stop()
	select {
	case <-readDone:
	case <-t.C:
	}
}

// statusOf is the status a session's end is reported with, worded as the
// kubelet words it.
func statusOf(kind Kind, o Options, err error) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var exit ExitError
	if errors.As(err, &exit) {
		return metav1.Status{
			Status:  metav1.StatusFailure,
			Reason:  NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command %v, exit code %d", o.Command, exit.Code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type:    ExitCodeCauseType,
				Message: strconv.Itoa(exit.Code),
			}}},
		}
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return se.Status()
	}
	what := "error executing command in container"
	if kind == Attach {
		what = "error attaching to container"
	}
	return apierrors.NewInternalError(fmt.Errorf("%s: %v", what, err)).ErrStatus
}

// The reason and cause type of a non-zero exit, as client-go reads them.
const (
	NonZeroExitCodeReason = metav1.StatusReason("NonZeroExitCode")
	ExitCodeCauseType     = metav1.CauseType("ExitCode")
)

// decodeSizes decodes the JSON sizes the client sends on the resize
// channel into ch, until r ends or ctx does; it closes ch.
func decodeSizes(ctx context.Context, r io.Reader, ch chan<- TerminalSize) {
	defer close(ch)
	dec := json.NewDecoder(r)
	for {
		var sz TerminalSize
		if err := dec.Decode(&sz); err != nil {
			return
		}
		select {
		case ch <- sz:
		case <-ctx.Done():
			return
		}
	}
}

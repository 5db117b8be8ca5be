package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/apiserver/remotecommand"
)

// servePodStream answers pods/{name}/exec and pods/{name}/attach, GET or
// POST as kube-apiserver takes them:
//
//	101  Switching Protocols to WebSocket, with a remote command
//	     subprotocol (remotecommand.Protocols); the session runs over it
//	101  Switching Protocols to SPDY/3.1 for a POST that asks for it
//	     (kubectl before 1.31; later ones fall back to it when the
//	     WebSocket handshake fails, and print the answer to the SPDY
//	     request: the checks below come first, so that it is the same)
//	400  the query is invalid (no stream, no command), the container is
//	     not the pod's or does not run, the pod is on no node; then a
//	     request that asks to switch to neither ("Upgrade request
//	     required"), or to SPDY with no subprotocol Cella speaks
//	503  the server runs no pods
//
// The answers before the switch are Status bodies; after it the session's
// end is told on the error channel.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, info *RequestInfo, pod *corev1.Pod) error {
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable("this server runs no pods (started with --runtime none): there is nothing to " + info.Subresource)
	}
	var (
		sess remotecommand.Session
		kind remotecommand.Kind
		o    remotecommand.Options
	)
	q := r.URL.Query()
	if info.Subresource == "exec" {
		opts, err := remotecommand.ParseExecOptions(q)
		if err != nil {
			return err
		}
		if sess, err = s.cfg.Pods.Exec(r.Context(), pod, opts); err != nil {
			return err
		}
		kind, o = remotecommand.Exec, remotecommand.Options{Command: opts.Command, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY}
	} else {
		opts, err := remotecommand.ParseAttachOptions(q)
		if err != nil {
			return err
		}
		if sess, err = s.cfg.Pods.Attach(r.Context(), pod, opts); err != nil {
			return err
		}
		kind, o = remotecommand.Attach, remotecommand.Options{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, TTY: opts.TTY}
	}
	switch {
	case isWebSocketRequest(r):
		ws, err := s.upgradeWebSocket(w, r, remotecommand.Protocols)
		if err != nil {
			if errors.Is(err, errSwitchFailed) {
				return nil
			}
			return err
		}
		defer ws.close()
		s.runSession(r, func(ctx context.Context) {
			remotecommand.Serve(ctx, ws.conn, ws.protocol, kind, o, sess)
		})
		return nil
	case remotecommand.IsSPDYRequest(r):
		return s.serveSPDY(w, r, kind, o, sess)
	}
	return apierrors.NewBadRequest("Upgrade request required")
}

// serveSPDY switches to SPDY/3.1 and runs sess over it.
func (s *Server) serveSPDY(w http.ResponseWriter, r *http.Request, kind remotecommand.Kind, o remotecommand.Options, sess remotecommand.Session) error {
	if r.ProtoMajor != 1 {
		return apierrors.NewBadRequest(fmt.Sprintf("SPDY upgrades need HTTP/1.1, not %s", r.Proto))
	}
	protocol, err := remotecommand.NegotiateSPDY(r, w.Header())
	if err != nil {
		return err
	}
	if !s.streams.add() {
		return apierrors.NewServiceUnavailable("the server is shutting down")
	}
	defer s.streams.done()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("switching to SPDY: %w", err)
	}
	defer conn.Close()
	if _, err := brw.WriteString(remotecommand.SwitchingSPDY(protocol)); err != nil {
		return nil
	}
	if err := brw.Flush(); err != nil {
		return nil
	}
	var c net.Conn = conn
	if brw.Reader.Buffered() > 0 {
		// Frames the client sent before it read the 101.
		c = bufferedConn{conn, brw.Reader}
	}
	s.runSession(r, func(ctx context.Context) {
		remotecommand.ServeSPDY(ctx, c, protocol, kind, o, sess)
	})
	return nil
}

// bufferedConn is a connection whose first bytes were read into r.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// runSession runs serve with a context that ends when the server shuts
// down: net/http no longer watches a connection it handed over, and
// Server.WaitStreams waits for it. (The session also ends when its client
// goes away, which serve sees.)
func (s *Server) runSession(r *http.Request, serve func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(r.Context())
	ended := make(chan struct{})
	go func() { // joined below
		defer close(ended)
		select {
		case <-s.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	serve(ctx)
	cancel()
	<-ended
}

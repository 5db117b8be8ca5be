package apiserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/apiserver/remotecommand"
)

// servePodStream answers pods/{name}/exec and pods/{name}/attach, GET or
// POST as kube-apiserver takes them:
//
//	101  Switching Protocols to WebSocket, with a remote command
//	     subprotocol (remotecommand.Protocols); the session runs over it
//	400  the query is invalid (no stream, no command), the container is
//	     not the pod's or does not run, the pod is on no node; then a
//	     request that does not ask to switch to WebSocket ("Upgrade
//	     request required"), and one that asks for SPDY, which Cella does
//	     not speak (kubectl before 1.31; later ones fall back to it only
//	     when the WebSocket handshake fails, after which they print the
//	     answer to the SPDY request: the checks above come first so that
//	     it is the same)
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
	if !isWebSocketRequest(r) {
		if strings.HasPrefix(strings.ToUpper(r.Header.Get("Upgrade")), "SPDY/") {
			return apierrors.NewBadRequest("SPDY is not supported by this server: pods/" + info.Subresource + " is served over WebSocket (subprotocol " + remotecommand.ProtocolV5 + "), which kubectl 1.31 and later use")
		}
		return apierrors.NewBadRequest("Upgrade request required")
	}
	ws, err := s.upgradeWebSocket(w, r, remotecommand.Protocols)
	if err != nil {
		if errors.Is(err, errSwitchFailed) {
			return nil
		}
		return err
	}
	defer ws.close()
	// The session ends when its client goes away (Serve sees that) or the
	// server shuts down: net/http no longer watches a connection it handed
	// over, and Server.WaitStreams waits for it.
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
	remotecommand.Serve(ctx, ws.conn, ws.protocol, kind, o, sess)
	cancel()
	<-ended
	return nil
}

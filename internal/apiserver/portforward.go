package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/apiserver/portforward"
)

// servePodPortForward answers pods/{name}/portforward with 101 Switching
// Protocols and serves the port-forward protocol (package portforward) on
// the connection, each data stream connected to its port of the pod by
// the PodConnector:
//
//	Upgrade: websocket, subprotocol SPDY/3.1+portforward.k8s.io
//	    SPDY tunneled in the WebSocket (kubectl and client-go since 1.31);
//	    besides get, the caller must be allowed create on pods/portforward,
//	    as kube-apiserver checks a WebSocket upgrade (authorize, server.go,
//	    checks it with exec and attach)
//	Upgrade: SPDY/3.1, X-Stream-Protocol-Version: portforward.k8s.io
//	    plain SPDY (the fallback, older clients)
//
// Anything else is 400 "Upgrade request required"; a SPDY upgrade that
// does not offer portforward.k8s.io is 403 with
// X-Accepted-Stream-Protocol-Versions, as the kubelet answers. Errors of
// a forward (nothing listening on the port, say) go on the error stream of
// its pair, as the kubelet words them. The session ends when the client
// closes the connection or the server shuts down.
func (s *Server) servePodPortForward(w http.ResponseWriter, r *http.Request, pod *corev1.Pod) error {
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable("this server runs no pods (started with --runtime none): there is nothing to forward to")
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	opts := portforward.Options{
		Pod: pod.Name, UID: string(pod.UID), Logger: s.log,
		Forward: func(ctx context.Context, port int32, stream io.ReadWriteCloser) error {
			return s.cfg.Pods.PortForward(ctx, pod, port, stream)
		},
	}
	switch {
	case isWebSocketRequest(r):
		ws, err := s.upgradeWebSocket(w, r, []string{portforward.TunnelProtocolV1})
		if err != nil {
			if errors.Is(err, errSwitchFailed) {
				return nil
			}
			return err
		}
		defer ws.close()
		ctx, stop := s.streamContext(r.Context())
		defer stop()
		if err := portforward.ServeConn(ctx, portforward.NewWebSocketConn(ws.conn, wsWriteTimeout), opts); err != nil {
			s.log.Debug("port-forward over WebSocket failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
		return nil
	case portforward.IsSPDYUpgrade(r):
		if r.ProtoMajor != 1 {
			return apierrors.NewBadRequest(fmt.Sprintf("SPDY upgrades need HTTP/1.1, not %s: dial with ALPN http/1.1", r.Proto))
		}
		if !portforward.OffersProtocol(r) {
			w.Header().Set(portforward.HeaderAcceptedProtocolVersions, portforward.ProtocolV1)
			return &apierrors.StatusError{ErrStatus: metav1.Status{
				Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
				Message: fmt.Sprintf("unable to upgrade: unable to negotiate protocol: client supports %q, server accepts %q",
					r.Header.Values(portforward.HeaderProtocolVersion), []string{portforward.ProtocolV1}),
			}}
		}
		if !s.streams.add() {
			return apierrors.NewServiceUnavailable("the server is shutting down")
		}
		defer s.streams.done()
		ctx, stop := s.streamContext(r.Context())
		defer stop()
		portforward.ServeUpgrade(ctx, w, r, opts)
		return nil
	}
	return apierrors.NewBadRequest("Upgrade request required")
}

// streamContext is parent, also ended when the server starts shutting
// down: streams switched away from HTTP end then, as watches do.
func (s *Server) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case <-s.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

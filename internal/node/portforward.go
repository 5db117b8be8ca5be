package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/podruntime"
)

// The agent reaches its pods' ports for the API server: pods/portforward
// streams (PortForward) and the proxy subresources and forward proxy
// (DialPod). Both dial the IP of the pod's sandbox from this process, the
// way the kubelet's probes reach a pod: a loopback address without
// isolation, the pod's address on the bridge with it.

// dialTimeout bounds the TCP handshake with a pod. A pod that does not
// listen refuses at once; one that is not there (its address gone) fails
// here rather than hanging the caller.
const dialTimeout = 10 * time.Second

// DialPod opens a TCP connection to port of pod. A pod not bound to this
// node is a 400; a pod whose sandbox does not exist (not started yet, or
// gone) and a port nothing listens on are plain errors whose text says so,
// as the dialer words it ("dial tcp 127.1.2.3:80: connect: connection
// refused").
func (a *Agent) DialPod(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error) {
	if pod.Spec.NodeName != a.cfg.NodeName {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %q is not running on this node", pod.Name))
	}
	st, err := a.rt.Status(ctx, string(pod.UID))
	if errors.Is(err, podruntime.ErrNotFound) || (err == nil && st.Sandbox.IP == "") {
		return nil, fmt.Errorf("pod %s/%s has no sandbox on node %s", pod.Namespace, pod.Name, a.cfg.NodeName)
	}
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(st.Sandbox.IP, strconv.Itoa(int(port)))
	if a.rt.Info().Name == "sim" {
		// Simulated pods have addresses no one listens on: say so at once
		// instead of waiting for a dial that cannot succeed.
		return nil, fmt.Errorf("dial tcp %s: the sim runtime runs no processes, so nothing listens in its pods", addr)
	}
	d := net.Dialer{Timeout: dialTimeout}
	return d.DialContext(ctx, "tcp", addr)
}

// PortForward connects stream to port of pod and copies both ways: what
// the client sends until it closes its side (then the pod's side is closed
// for writing), what the pod sends until it closes (then stream is
// closed). It returns when both directions are done, or ctx ends. Only a
// failure to connect is an error: a connection the pod or the client cuts
// short is the end of the forward, not a failure to report, since a
// client-go client drops the whole port-forward on any reported error.
func (a *Agent) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	conn, err := a.DialPod(ctx, pod, port)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		_, _ = io.Copy(conn, stream)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		_, _ = io.Copy(stream, conn)
		_ = stream.Close()
	}()
	stop := ctx.Done()
	for n := 0; n < 2; {
		select {
		case <-done:
			n++
		case <-stop:
			// The connection to the client is going away, and with it
			// the stream (whose reads then end); closing conn ends the
			// reads from the pod.
			stop = nil
			_ = conn.Close()
		}
	}
	return nil
}

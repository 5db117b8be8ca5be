package apiserver

import (
	"context"
	"io"
	"net"

	corev1 "k8s.io/api/core/v1"

	"cella.dev/cella/internal/apiserver/remotecommand"
)

// PodConnector reaches the node that runs a pod, for the pod subresources
// that stream (logs, exec, attach and port-forward) and for the proxies
// into pods (pods/proxy, services/proxy and the forward proxy: proxy.go
// and forwardproxy.go). The node agent of this process implements it;
// with several nodes an authenticated hop to the pod's node sits behind
// the same interface. Errors are Status errors (400 for a container that
// is not there or not started) or plain errors (a 500).
type PodConnector interface {
	// Logs opens the log of a container of pod, as opts ask.
	Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error)
	// TruncateLog empties the log of a container of pod.
	TruncateLog(ctx context.Context, pod *corev1.Pod, container string) error
	// Exec checks that opts.Command can run in a running container of
	// pod (opts.Container, or the pod's only container) and returns the
	// session that runs it once the connection has switched protocols.
	// Its errors come before the switch, as the HTTP answer.
	Exec(ctx context.Context, pod *corev1.Pod, opts *corev1.PodExecOptions) (remotecommand.Session, error)
	// Attach is Exec for an attachment to the container's own streams.
	Attach(ctx context.Context, pod *corev1.Pod, opts *corev1.PodAttachOptions) (remotecommand.Session, error)
	// PortForward connects stream to port of pod and copies both ways
	// until both sides are done or ctx ends; only a failure to connect is
	// an error, reported to the client as the kubelet words it.
	PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error
	// DialPod opens a TCP connection to port of pod, for the proxies.
	DialPod(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error)
}

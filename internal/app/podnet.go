package app

import (
	"context"
	"io"
	"net"

	corev1 "k8s.io/api/core/v1"
)

// The network half of podConnector: port-forward and the proxies reach
// pods through the node agent, which dials them.

func (c *podConnector) PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error {
	a, err := c.get()
	if err != nil {
		return err
	}
	return a.PortForward(ctx, pod, port, stream)
}

func (c *podConnector) DialPod(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error) {
	a, err := c.get()
	if err != nil {
		return nil, err
	}
	return a.DialPod(ctx, pod, port)
}

package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/apiserver/remotecommand"
	"cella.dev/cella/internal/podruntime"
)

// Exec checks that a command can run in a container of pod and returns
// the session that runs it (the pods/exec subresource).
func (a *Agent) Exec(ctx context.Context, pod *corev1.Pod, opts *corev1.PodExecOptions) (remotecommand.Session, error) {
	name, err := a.streamContainer(ctx, pod, opts.Container)
	if err != nil {
		return nil, err
	}
	uid, cmd := string(pod.UID), slices.Clone(opts.Command)
	return func(ctx context.Context, s remotecommand.Streams) error {
		rs, stop := runtimeStreams(s)
		defer stop()
		code, err := a.rt.Exec(ctx, uid, name, cmd, rs)
		switch {
		case errors.Is(err, podruntime.ErrNotFound):
			return errContainerNotFound(name)
		case err != nil:
			return err
		case code != 0:
			return remotecommand.ExitError{Code: code}
		}
		return nil
	}, nil
}

// Attach checks that a container of pod runs and returns the session that
// attaches to it (the pods/attach subresource).
func (a *Agent) Attach(ctx context.Context, pod *corev1.Pod, opts *corev1.PodAttachOptions) (remotecommand.Session, error) {
	name, err := a.streamContainer(ctx, pod, opts.Container)
	if err != nil {
		return nil, err
	}
	uid := string(pod.UID)
	return func(ctx context.Context, s remotecommand.Streams) error {
		rs, stop := runtimeStreams(s)
		defer stop()
		err := a.rt.Attach(ctx, uid, name, rs)
		if errors.Is(err, podruntime.ErrNotFound) {
			return errContainerNotFound(name)
		}
		return err
	}, nil
}

// streamContainer names the container an exec or attach is for, as
// kube-apiserver does: the one asked, which must be the pod's (an init
// container counts), or the pod's only container. It must run now, as the
// kubelet checks.
func (a *Agent) streamContainer(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	switch pod.Spec.NodeName {
	case "":
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	case a.cfg.NodeName:
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %q is not running on this node", pod.Name))
	}
	switch {
	case name != "":
		if containerSpec(pod, name) == nil {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
		}
	case len(pod.Spec.Containers) == 1:
		name = pod.Spec.Containers[0].Name
	default:
		return "", errChooseContainer(pod)
	}
	st, err := a.rt.Status(ctx, string(pod.UID))
	if errors.Is(err, podruntime.ErrNotFound) {
		return "", errContainerNotFound(name)
	}
	if err != nil {
		return "", err
	}
	for _, c := range st.Containers {
		if c.Name == name && c.State == podruntime.StateRunning {
			return name, nil
		}
	}
	return "", errContainerNotFound(name)
}

// errContainerNotFound is the 400 for a container that does not run, in
// the words kubectl prints when the kubelet refuses the stream.
func errContainerNotFound(name string) error {
	return apierrors.NewBadRequest(fmt.Sprintf("unable to upgrade connection: container not found (%q)", name))
}

// runtimeStreams are s for the runtime, and a function that stops passing
// on terminal sizes, which the caller calls once the runtime has returned.
func runtimeStreams(s remotecommand.Streams) (podruntime.Streams, func()) {
	rs := podruntime.Streams{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr, TTY: s.TTY}
	if s.Resize == nil {
		return rs, func() {}
	}
	sizes := make(chan podruntime.TerminalSize)
	rs.Resize = sizes
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case sz, ok := <-s.Resize:
				if !ok {
					close(sizes)
					return
				}
				select {
				case sizes <- podruntime.TerminalSize{Width: sz.Width, Height: sz.Height}:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	})
	return rs, func() {
		close(done)
		wg.Wait()
	}
}

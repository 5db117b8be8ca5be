package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/podruntime"
)

// The agent serves its pods' logs to the API server (which reaches it
// through apiserver.PodConnector); exec and attach are in stream.go.
// Errors are Status errors worded as the kubelet and kube-apiserver word
// them, so kubectl prints what it would.

// Logs opens the log of a container of pod as opts ask.
func (a *Agent) Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	name, err := a.logContainer(pod, opts.Container, opts.Previous)
	if err != nil {
		return nil, err
	}
	o := podruntime.LogOptions{Previous: opts.Previous, Follow: opts.Follow, Timestamps: opts.Timestamps, TailLines: -1}
	if opts.TailLines != nil {
		o.TailLines = *opts.TailLines
	}
	if opts.LimitBytes != nil {
		o.LimitBytes = *opts.LimitBytes
	}
	switch {
	case opts.SinceTime != nil:
		o.SinceTime = opts.SinceTime.Time
	case opts.SinceSeconds != nil:
		o.SinceTime = a.now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	rc, err := a.rt.Logs(ctx, string(pod.UID), name, o)
	if errors.Is(err, podruntime.ErrNotFound) {
		if opts.Previous {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", name, pod.Name))
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod.Name, waitingReason(pod, name)))
	}
	return rc, err
}

// TruncateLog empties the log of a container of pod.
func (a *Agent) TruncateLog(ctx context.Context, pod *corev1.Pod, container string) error {
	name, err := a.logContainer(pod, container, false)
	if err != nil {
		return err
	}
	err = a.rt.TruncateLog(ctx, string(pod.UID), name)
	if errors.Is(err, podruntime.ErrNotFound) {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", name, pod.Name, waitingReason(pod, name)))
	}
	return err
}

// logContainer names the container a log request is for: the one asked,
// or the only one, or the one kubectl's default-container annotation
// names.
func (a *Agent) logContainer(pod *corev1.Pod, name string, previous bool) (string, error) {
	if pod.Spec.NodeName != a.cfg.NodeName {
		return "", apierrors.NewBadRequest(fmt.Sprintf("pod %q is not running on this node", pod.Name))
	}
	if name != "" {
		if containerSpec(pod, name) == nil {
			return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
		}
		return name, nil
	}
	if def := pod.Annotations["kubectl.kubernetes.io/default-container"]; def != "" && containerSpec(pod, def) != nil {
		return def, nil
	}
	if len(pod.Spec.Containers) == 1 {
		return pod.Spec.Containers[0].Name, nil
	}
	return "", errChooseContainer(pod)
}

// errChooseContainer is the 400 for a request that names no container of
// a pod with several.
func errChooseContainer(pod *corev1.Pod) error {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " "))
	if len(pod.Spec.InitContainers) > 0 {
		var inits []string
		for _, c := range pod.Spec.InitContainers {
			inits = append(inits, c.Name)
		}
		msg += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
	}
	return apierrors.NewBadRequest(msg)
}

// waitingReason is the reason the pod's status gives for a container not
// yet running.
func waitingReason(pod *corev1.Pod, name string) string {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name == name && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				return cs.State.Waiting.Reason
			}
		}
	}
	return "ContainerCreating"
}

package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/podruntime"
)

// The conditions the agent owns; others (PodScheduled, readiness gates')
// are kept as the API has them.
var ownConditions = []corev1.PodConditionType{
	corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady,
}

// status computes the pod's status from what the runtime reports and the
// worker knows, as the kubelet does.
func (w *podWorker) status(pod *corev1.Pod, rs podruntime.PodStatus) corev1.PodStatus {
	st := corev1.PodStatus{
		QOSClass:  pod.Status.QOSClass,
		StartTime: w.startTime,
		HostIP:    w.a.hostIP, HostIPs: []corev1.HostIP{{IP: w.a.hostIP}},
	}
	if w.sandbox != nil && w.sandbox.IP != "" {
		st.PodIP = w.sandbox.IP
		st.PodIPs = []corev1.PodIP{{IP: w.sandbox.IP}}
	}
	initDone, initFailed := true, false
	for _, c := range pod.Spec.InitContainers {
		cs := w.containerStatus(pod, &c, findStatus(&rs, c.Name), true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if t := cs.State.Terminated; t != nil && t.ExitCode == 0 {
			continue
		}
		initDone = false
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && cs.State.Terminated != nil {
			initFailed = true
		}
	}
	allReady := true
	for _, c := range pod.Spec.Containers {
		cs := w.containerStatus(pod, &c, findStatus(&rs, c.Name), false)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
	}
	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case !initDone:
		st.Phase = corev1.PodPending
	default:
		st.Phase = phase(pod.Spec.RestartPolicy, st.ContainerStatuses)
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		allReady = false
	}
	prev := pod.Status.Conditions
	now := apiTime(w.a.now())
	cond := func(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
		c := corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, LastTransitionTime: now}
		if ok {
			c.Status, c.Reason = corev1.ConditionTrue, ""
		}
		for _, p := range prev {
			if p.Type == t && p.Status == c.Status {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
		return c
	}
	notReady := ""
	if !allReady {
		notReady = "ContainersNotReady"
		if st.Phase == corev1.PodSucceeded {
			notReady = "PodCompleted"
		}
	}
	initReason := ""
	if !initDone {
		initReason = "ContainersNotInitialized"
	} else if st.Phase == corev1.PodSucceeded && len(pod.Spec.InitContainers) > 0 {
		initReason = "PodCompleted"
	}
	ready := cond(corev1.PodReady, allReady && gatesPass(pod), notReady)
	containersReady := cond(corev1.ContainersReady, allReady, notReady)
	if !allReady {
		msg := notReadyMessage(st.ContainerStatuses)
		ready.Message, containersReady.Message = msg, msg
	}
	initialized := cond(corev1.PodInitialized, initDone, initReason)
	if !initDone {
		initialized.Message = notInitializedMessage(st.InitContainerStatuses)
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, w.sandbox != nil, ""),
		initialized, ready, containersReady,
	}
	return st
}

// containerStatus is one container's status.
func (w *podWorker) containerStatus(pod *corev1.Pod, c *corev1.Container, rt *podruntime.ContainerStatus, init bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	if cs.Image == "" {
		cs.Image = "none"
	}
	info := w.a.rt.Info()
	if rt == nil {
		waiting := corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		if init {
			waiting.Reason = "PodInitializing"
		}
		if wt, ok := w.waiting[c.Name]; ok {
			waiting = wt
		}
		cs.State.Waiting = &waiting
		return cs
	}
	cs.ContainerID = fmt.Sprintf("%s://%s-%s-%d", info.Name, pod.UID, c.Name, rt.Attempt)
	cs.RestartCount = int32(rt.Attempt)
	switch rt.State {
	case podruntime.StateRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: apiTime(rt.StartedAt)}
		// Before its probes start (the status may be written between the
		// start and the next sync), a container with a startup or
		// readiness probe is neither started nor ready yet: it has not
		// passed them.
		p := w.probes[c.Name]
		started, ready := c.StartupProbe == nil, c.StartupProbe == nil && c.ReadinessProbe == nil
		if p != nil {
			started, ready = p.started(), p.ready()
		}
		cs.Started = ptrBool(started)
		cs.Ready = !init && ready
	case podruntime.StateExited:
		term := &corev1.ContainerStateTerminated{
			ExitCode: int32(rt.ExitCode), Reason: rt.Reason, Message: rt.Message,
			StartedAt: apiTime(rt.StartedAt), FinishedAt: apiTime(rt.FinishedAt), ContainerID: cs.ContainerID,
		}
		cs.Started = ptrBool(false)
		if wt, ok := w.waiting[c.Name]; ok {
			// Restarting (after its back-off): the exit is its last state.
			cs.State.Waiting = &wt
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
		}
	}
	return cs
}

// phase is the pod phase from its containers, by the kubelet's rules: a
// container not yet started keeps the pod Pending; one running makes it
// Running; when all have exited, the restart policy decides.
func phase(policy corev1.RestartPolicy, statuses []corev1.ContainerStatus) corev1.PodPhase {
	var waiting, running, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch policy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		}
		if stopped == succeeded {
			return corev1.PodSucceeded
		}
		return corev1.PodFailed
	}
	return corev1.PodPending
}

// failedStatus is the pod's status once the agent failed it (its deadline
// passed): phase Failed with reason and message.
func (w *podWorker) failedStatus(ctx context.Context, pod *corev1.Pod, reason, msg string) corev1.PodStatus {
	rs, _ := w.a.rt.Status(ctx, string(pod.UID))
	st := w.status(pod, rs)
	st.Phase, st.Reason, st.Message = corev1.PodFailed, reason, msg
	for i := range st.Conditions {
		if st.Conditions[i].Type == corev1.PodReady || st.Conditions[i].Type == corev1.ContainersReady {
			st.Conditions[i].Status = corev1.ConditionFalse
		}
	}
	return st
}

// gatesPass reports whether every readiness gate's condition is True.
func gatesPass(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// mergeForeignConditions returns st with the conditions of cur that the
// agent does not own (PodScheduled, readiness gates', DisruptionTarget)
// kept, before the agent's own.
func mergeForeignConditions(st, cur corev1.PodStatus) corev1.PodStatus {
	out := st
	out.Conditions = nil
	for _, c := range cur.Conditions {
		if !owned(c.Type) {
			out.Conditions = append(out.Conditions, c)
		}
	}
	for _, c := range st.Conditions {
		if owned(c.Type) {
			out.Conditions = append(out.Conditions, c)
		}
	}
	out.NominatedNodeName = cur.NominatedNodeName
	if out.QOSClass == "" {
		out.QOSClass = cur.QOSClass
	}
	return out
}

func owned(t corev1.PodConditionType) bool {
	for _, o := range ownConditions {
		if o == t {
			return true
		}
	}
	return false
}

func notReadyMessage(statuses []corev1.ContainerStatus) string {
	var names []string
	for _, cs := range statuses {
		if !cs.Ready {
			names = append(names, cs.Name)
		}
	}
	return fmt.Sprintf("containers with unready status: [%s]", strings.Join(names, " "))
}

func notInitializedMessage(statuses []corev1.ContainerStatus) string {
	var names []string
	for _, cs := range statuses {
		if t := cs.State.Terminated; t == nil || t.ExitCode != 0 {
			names = append(names, cs.Name)
		}
	}
	return fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(names, " "))
}

func ptrBool(b bool) *bool { return &b }

// apiTime is t as the API keeps it: whole seconds in UTC, so that a status
// computed again equals the one read back and is not written again.
func apiTime(t time.Time) metav1.Time {
	return metav1.NewTime(t.Truncate(time.Second).UTC())
}

package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"cella.dev/cella/internal/podruntime"
)

// Kubernetes' restart back-off: 10 s, doubling up to 5 min, forgotten once
// a container has run for 10 min.
const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
	backoffReset   = 10 * time.Minute
)

// podWorker is the one goroutine that acts on one pod. Everything but mu's
// fields is touched only by that goroutine.
type podWorker struct {
	a               *Agent
	uid             types.UID
	namespace, name string
	wakeCh          chan struct{}

	sandbox *podruntime.Sandbox
	// attempts counts the starts of each container (the next attempt).
	attempts map[string]int
	backoff  map[string]*backoff
	// waiting holds, per container, why it is not running when the
	// runtime cannot say (CreateContainerConfigError, CrashLoopBackOff).
	waiting map[string]corev1.ContainerStateWaiting
	// probes are those of each container's current attempt.
	probes map[string]*containerProbes
	// startTime is when the agent first acted on the pod.
	startTime *metav1.Time
	// isolationReported is set once the isolation-off event is written.
	isolationReported bool
	// deadlineExceeded is set once activeDeadlineSeconds has passed.
	deadlineExceeded bool
	// written is the pod as the API returned it after the worker's latest
	// status write, and superseded the resourceVersions that write and the
	// ones before it replaced. The informer's copy lags the worker's own
	// writes: while it still has a superseded version, written is the
	// newer, and the worker syncs from it rather than write the same
	// status again on a stale version (a 409, a GET and a second write).
	written    *corev1.Pod
	superseded map[string]bool

	mu    sync.Mutex
	timer *time.Timer // guarded by mu
}

type backoff struct {
	delay time.Duration
	until time.Time
}

func newPodWorker(a *Agent, uid types.UID, namespace, name string) *podWorker {
	return &podWorker{
		a: a, uid: uid, namespace: namespace, name: name,
		wakeCh:   make(chan struct{}, 1),
		attempts: map[string]int{}, backoff: map[string]*backoff{},
		waiting: map[string]corev1.ContainerStateWaiting{}, probes: map[string]*containerProbes{},
	}
}

// signal asks the worker to sync; signals coalesce.
func (w *podWorker) signal() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// wakeAfter schedules a sync after d (replacing an earlier schedule only
// when d comes sooner).
func (w *podWorker) wakeAfter(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = time.AfterFunc(d, w.signal)
}

func (w *podWorker) run(ctx context.Context) {
	defer w.stopAllProbes()
	defer func() {
		w.mu.Lock()
		if w.timer != nil {
			w.timer.Stop()
		}
		w.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
		}
		done, next := w.sync(ctx)
		if done {
			return
		}
		if next > 0 {
			w.wakeAfter(next)
		}
	}
}

func (w *podWorker) log() string { return w.namespace + "/" + w.name }

// sync brings the pod one step closer to what its spec asks. done ends the
// worker; next, when positive, is when to look again without a signal.
func (w *podWorker) sync(ctx context.Context) (done bool, next time.Duration) {
	pod := w.a.pod(w.uid)
	if pod != nil {
		pod = w.fresher(pod)
	}
	if pod == nil {
		// Deleted from the API (at once, or after the graceful stop below):
		// nothing of it may run on.
		w.stopAllProbes()
		if err := w.a.rt.RemoveSandbox(ctx, string(w.uid)); err != nil {
			w.a.log.Error("removing the sandbox of a deleted pod", "pod", w.log(), "err", err)
			return false, time.Second
		}
		w.a.removePodDir(w.uid)
		return true, 0
	}
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod)
	}
	if terminal(pod) {
		return false, 0
	}
	if w.startTime == nil {
		if pod.Status.StartTime != nil {
			w.startTime = pod.Status.StartTime.DeepCopy()
		} else {
			t := apiTime(w.a.now())
			w.startTime = &t
		}
	}
	next = w.checkDeadline(ctx, pod)
	if w.deadlineExceeded {
		w.writeStatus(ctx, pod, w.failedStatus(ctx, pod, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"))
		return false, 0
	}
	if w.sandbox == nil {
		var cidr string
		if w.a.rt.Info().Isolated {
			var err error
			if cidr, err = w.a.networkCIDR(ctx, pod.Namespace); err != nil {
				return false, w.retry("network", err)
			}
		}
		sb, err := w.a.rt.RunSandbox(ctx, podruntime.Pod{
			UID: string(pod.UID), Namespace: pod.Namespace, Name: pod.Name,
			Hostname: hostname(pod), Annotations: pod.Annotations, Resources: podLimits(pod),
			CIDR: cidr,
		})
		if err != nil {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return false, w.retry("sandbox", err)
		}
		w.sandbox = &sb
		if info := w.a.rt.Info(); !info.Isolated && info.Why != "" && !w.isolationReported {
			w.isolationReported = true
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "IsolationOff", "The pod runs without isolation: %s", info.Why)
		}
	}
	rs, err := w.a.rt.Status(ctx, string(pod.UID))
	if err != nil {
		return false, w.retry("status", err)
	}
	w.adoptAttempts(rs)
	next = minPositive(next, w.runContainers(ctx, pod, &rs))
	// Read again: starts and stops above changed it.
	if rs, err = w.a.rt.Status(ctx, string(pod.UID)); err != nil {
		return false, w.retry("status", err)
	}
	w.writeStatus(ctx, pod, w.status(pod, rs))
	return false, next
}

// retry logs a failed step and says when to try again.
func (w *podWorker) retry(step string, err error) time.Duration {
	if !errors.Is(err, context.Canceled) {
		w.a.log.Warn("pod step failed; retrying", "pod", w.log(), "step", step, "err", err)
	}
	return 2 * time.Second
}

// adoptAttempts takes the attempt numbers the runtime knows (a Cella
// restart in between) so that restart counts stay true.
func (w *podWorker) adoptAttempts(rs podruntime.PodStatus) {
	for _, c := range rs.Containers {
		if c.Attempt+1 > w.attempts[c.Name] {
			w.attempts[c.Name] = c.Attempt + 1
		}
	}
}

// runContainers starts, restarts and stops containers as the spec says:
// init containers one at a time, in order, each to a successful exit; then
// every container, kept running by the restart policy.
func (w *podWorker) runContainers(ctx context.Context, pod *corev1.Pod, rs *podruntime.PodStatus) (next time.Duration) {
	policy := pod.Spec.RestartPolicy
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := findStatus(rs, c.Name)
		switch {
		case st != nil && st.State == podruntime.StateExited && st.ExitCode == 0:
			continue
		case st != nil && st.State == podruntime.StateRunning:
			return next
		case st != nil && st.State == podruntime.StateExited:
			if policy == corev1.RestartPolicyNever {
				return next // the pod has failed (status.go)
			}
			return w.restart(ctx, pod, c, st)
		default:
			return w.start(ctx, pod, c)
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st := findStatus(rs, c.Name)
		switch {
		case st == nil:
			next = minPositive(next, w.start(ctx, pod, c))
		case st.State == podruntime.StateRunning:
			p := w.probes[c.Name]
			if p == nil || p.attempt != st.Attempt {
				w.startProbes(ctx, pod, c, st.Attempt)
				continue
			}
			if why := p.killReason(); why != "" {
				w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", c.Name, why)
				w.stopContainer(ctx, pod, c.Name, gracePeriod(pod, nil))
				next = minPositive(next, 10*time.Millisecond)
			}
		case st.State == podruntime.StateExited:
			w.stopProbes(c.Name)
			if restarts(policy, st.ExitCode) {
				next = minPositive(next, w.restart(ctx, pod, c, st))
			}
		}
	}
	return next
}

// restarts reports whether a container that exited with code is started
// again under policy.
func restarts(policy corev1.RestartPolicy, code int) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// restart starts an exited container again once its back-off has passed.
func (w *podWorker) restart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, st *podruntime.ContainerStatus) time.Duration {
	b := w.backoff[c.Name]
	if b == nil {
		b = &backoff{}
		w.backoff[c.Name] = b
	}
	now := w.a.now()
	if !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() && st.FinishedAt.Sub(st.StartedAt) >= backoffReset {
		b.delay, b.until = 0, time.Time{}
	}
	if now.Before(b.until) {
		msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.delay, c.Name, pod.Name, pod.Namespace, pod.UID)
		if cur, ok := w.waiting[c.Name]; !ok || cur.Message != msg {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}
		return b.until.Sub(now)
	}
	switch {
	case b.delay == 0 && b.until.IsZero():
		// The first restart is at once; the back-off starts with it.
		b.delay = backoffInitial
	default:
		b.delay = min(2*b.delay, backoffMax)
	}
	b.until = now.Add(b.delay)
	return w.start(ctx, pod, c)
}

// start resolves and starts one container.
func (w *podWorker) start(ctx context.Context, pod *corev1.Pod, c *corev1.Container) time.Duration {
	cfg, err := w.a.resolve(ctx, pod, c, w.sandbox)
	if err == nil {
		err = w.a.rt.StartContainer(ctx, string(pod.UID), cfg, w.attempts[c.Name])
	}
	if err != nil {
		reason := "RunContainerError"
		var ce *configError
		if errors.As(err, &ce) || errors.Is(err, podruntime.ErrInvalid) {
			reason = "CreateContainerConfigError"
		}
		msg := err.Error()
		if cur, ok := w.waiting[c.Name]; !ok || cur.Message != msg {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", msg)
		}
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reason, Message: msg}
		return w.retry("start "+c.Name, err)
	}
	delete(w.waiting, c.Name)
	w.attempts[c.Name]++
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if ok, why := w.a.runHook(ctx, pod, c, c.Lifecycle.PostStart, gracePeriod(pod, nil)); !ok {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", why)
			w.stopContainer(ctx, pod, c.Name, gracePeriod(pod, nil))
		}
	}
	return 10 * time.Millisecond
}

// stopContainer runs the preStop hook, then stops the container within
// grace.
func (w *podWorker) stopContainer(ctx context.Context, pod *corev1.Pod, name string, grace time.Duration) {
	w.stopProbes(name)
	start := w.a.now()
	if c := containerSpec(pod, name); c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if ok, why := w.a.runHook(ctx, pod, c, c.Lifecycle.PreStop, grace); !ok {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", why)
		}
	}
	left := grace - w.a.now().Sub(start)
	if left < 0 {
		left = 0
	}
	if err := w.a.rt.StopContainer(ctx, string(pod.UID), name, left); err != nil && !errors.Is(err, context.Canceled) {
		w.a.log.Warn("stopping a container", "pod", w.log(), "container", name, "err", err)
	}
}

// terminate stops a pod being deleted, gracefully, then deletes it from
// the API for good.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod) (bool, time.Duration) {
	w.stopAllProbes()
	grace := gracePeriod(pod, pod.DeletionGracePeriodSeconds)
	if rs, err := w.a.rt.Status(ctx, string(pod.UID)); err == nil {
		var wg sync.WaitGroup
		for _, c := range rs.Containers {
			if c.State != podruntime.StateRunning {
				continue
			}
			w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			wg.Add(1)
			go func(name string) {
				defer wg.Done()
				w.stopContainer(ctx, pod, name, grace)
			}(c.Name)
		}
		wg.Wait()
	} else if !errors.Is(err, podruntime.ErrNotFound) {
		return false, w.retry("terminate", err)
	}
	if err := w.a.rt.RemoveSandbox(ctx, string(pod.UID)); err != nil {
		return false, w.retry("remove sandbox", err)
	}
	w.sandbox = nil
	w.a.removePodDir(pod.UID)
	zero := int64(0)
	err := w.a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, w.retry("delete", err)
	}
	// The informer reports the pod gone next, and the worker ends.
	return false, 0
}

// checkDeadline applies activeDeadlineSeconds: once passed, every
// container is stopped and the pod fails. It returns when to look again.
func (w *podWorker) checkDeadline(ctx context.Context, pod *corev1.Pod) time.Duration {
	ads := pod.Spec.ActiveDeadlineSeconds
	if ads == nil || w.deadlineExceeded {
		return 0
	}
	left := w.startTime.Add(time.Duration(*ads) * time.Second).Sub(w.a.now())
	if left > 0 {
		return left
	}
	w.deadlineExceeded = true
	w.stopAllProbes()
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
	if rs, err := w.a.rt.Status(ctx, string(pod.UID)); err == nil {
		for _, c := range rs.Containers {
			if c.State == podruntime.StateRunning {
				w.stopContainer(ctx, pod, c.Name, gracePeriod(pod, nil))
			}
		}
	}
	return 0
}

// fresher returns the newer of pod, the informer's copy, and the pod the
// worker's own status writes last returned.
func (w *podWorker) fresher(pod *corev1.Pod) *corev1.Pod {
	if w.written == nil {
		return pod
	}
	if w.superseded[pod.ResourceVersion] {
		return w.written
	}
	// The informer has caught up with the worker's writes, or someone
	// wrote after them: its copy is the newest.
	w.written, w.superseded = nil, nil
	return pod
}

// wrote records that the API answered a status write with p, which
// supersedes the versions from.
func (w *podWorker) wrote(p *corev1.Pod, from ...string) {
	if w.superseded == nil {
		w.superseded = map[string]bool{}
	}
	for _, rv := range from {
		w.superseded[rv] = true
	}
	w.written = p
}

// needsWrite reports whether st differs from the status of cur.
func needsWrite(cur *corev1.Pod, st corev1.PodStatus) bool {
	return !equality.Semantic.DeepEqual(cur.Status, mergeForeignConditions(st, cur.Status))
}

// writeStatus writes st as the pod's status when it differs from what the
// API has, retrying conflicts on a fresh read.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) {
	if !needsWrite(pod, st) {
		return
	}
	pods := w.a.client.CoreV1().Pods(pod.Namespace)
	p := pod.DeepCopy()
	for range 5 {
		p.Status = mergeForeignConditions(st, p.Status)
		got, err := pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		switch {
		case err == nil:
			w.wrote(got, pod.ResourceVersion, p.ResourceVersion)
			return
		case apierrors.IsConflict(err):
			from := p.ResourceVersion
			if p, err = pods.Get(ctx, pod.Name, metav1.GetOptions{}); err != nil || p.UID != pod.UID {
				return
			}
			if !needsWrite(p, st) {
				// Written already, by a write the copy at hand predates.
				w.wrote(p, pod.ResourceVersion, from)
				return
			}
		case apierrors.IsNotFound(err):
			return
		default:
			if ctx.Err() == nil {
				w.a.log.Warn("writing pod status", "pod", w.log(), "err", err)
			}
			w.wakeAfter(time.Second)
			return
		}
	}
	w.wakeAfter(100 * time.Millisecond)
}

func findStatus(rs *podruntime.PodStatus, name string) *podruntime.ContainerStatus {
	for i := range rs.Containers {
		if rs.Containers[i].Name == name {
			return &rs.Containers[i]
		}
	}
	return nil
}

func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// gracePeriod is override when set, else the pod's
// terminationGracePeriodSeconds, else Kubernetes' 30 s.
func gracePeriod(pod *corev1.Pod, override *int64) time.Duration {
	switch {
	case override != nil:
		return time.Duration(*override) * time.Second
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

func hostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// podLimits are the pod's CPU and memory limits, as the kubelet sets its
// pod cgroup: the sum of the containers' limits, or the largest of an
// init container's if that is more; unlimited (zero) when a container
// has no limit.
func podLimits(pod *corev1.Pod) podruntime.Resources {
	var sum, initMax podruntime.Resources
	cpuUnlimited, memUnlimited := false, false
	add := func(c corev1.Container, to *podruntime.Resources, isInit bool) {
		cpu, mem := c.Resources.Limits.Cpu().MilliValue(), c.Resources.Limits.Memory().Value()
		cpuUnlimited = cpuUnlimited || cpu == 0
		memUnlimited = memUnlimited || mem == 0
		if isInit {
			to.MilliCPU, to.MemoryBytes = max(to.MilliCPU, cpu), max(to.MemoryBytes, mem)
		} else {
			to.MilliCPU, to.MemoryBytes = to.MilliCPU+cpu, to.MemoryBytes+mem
		}
	}
	for _, c := range pod.Spec.InitContainers {
		add(c, &initMax, true)
	}
	for _, c := range pod.Spec.Containers {
		add(c, &sum, false)
	}
	r := podruntime.Resources{MilliCPU: max(sum.MilliCPU, initMax.MilliCPU), MemoryBytes: max(sum.MemoryBytes, initMax.MemoryBytes)}
	if cpuUnlimited {
		r.MilliCPU = 0
	}
	if memUnlimited {
		r.MemoryBytes = 0
	}
	return r
}

func minPositive(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	}
	return min(a, b)
}

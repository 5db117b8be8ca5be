package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// OpPods measures how fast pods start: it creates Config.Pods pods,
// Config.Concurrency creates at a time, and times each from just before
// its create to the watch event that first shows it Running. The rate is
// pods Running per second, from the first create to the last pod Running.
// Its notes split the latency at the watch event that first shows the pod
// bound to a node (spec.nodeName): the scheduler's part, then the node's.
// It needs a server that runs pods (Cella with --runtime sim or process),
// so it is not among the default operations.
const OpPods = "pods"

// podsGrace is how long the pods operation waits, after its last create,
// for pods still starting.
const podsGrace = 60 * time.Second

// benchPod is one pod of the pods operation: it runs command, and with
// sized it takes the smallest CCI instance specification (0.25 core,
// 1 GiB), which the cci profile requires; unsized pods (BestEffort) fit
// any number to a node.
func benchPod(name string, command []string, sized bool) *corev1.Pod {
	var limits corev1.ResourceList
	if sized {
		limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "cella-bench"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox", Command: command,
				Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits},
			}},
		},
	}
}

func podName(i int) string { return fmt.Sprintf("pod-%06d", i) }

func (b *bench) runPods(ctx context.Context) (Result, error) {
	n := b.cfg.Pods
	pods := b.cs.CoreV1().Pods(b.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("watching pods: %w", err)
	}
	defer w.Stop()

	// sent[i] is when the create of podName(i) began, as 1 + nanoseconds
	// since base; 0 means not yet.
	base := time.Now()
	sent := make([]atomic.Int64, n)
	var running tally
	var runningCount atomic.Int64
	done := make(chan struct{})
	lastRunning := atomic.Int64{}
	var wg sync.WaitGroup
	// toBound and boundToRunning split each latency at the first watch
	// event that shows the pod bound; the watcher alone touches them
	// until wg.Wait.
	var toBound, boundToRunning Recorder
	wg.Go(func() {
		seen := make([]bool, n)
		bound := make([]time.Duration, n) // since base; 0: not seen bound
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Spec.NodeName == "" {
				continue
			}
			var i int
			if _, err := fmt.Sscanf(p.Name, "pod-%06d", &i); err != nil || i < 0 || i >= n || seen[i] {
				continue
			}
			s := sent[i].Load()
			if s == 0 {
				continue
			}
			at := time.Since(base)
			if bound[i] == 0 {
				bound[i] = at
				toBound.Add(at - time.Duration(s-1))
			}
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			seen[i] = true
			boundToRunning.Add(at - bound[i])
			running.rec.Add(at - time.Duration(s-1))
			lastRunning.Store(int64(at))
			if runningCount.Add(1) == int64(n) {
				close(done)
				return
			}
		}
	})

	creates := make([]tally, b.cfg.Concurrency)
	next := atomic.Int64{}
	var cw sync.WaitGroup
	for c := range creates {
		t := &creates[c]
		cw.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if !b.paceCreate(ctx, base, i) {
					return
				}
				sent[i].Store(int64(time.Since(base)) + 1)
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				_, err := pods.Create(rctx, benchPod(podName(i), b.cfg.PodCommand, !b.cfg.PodsUnsized), metav1.CreateOptions{})
				cancel()
				if err != nil && ctx.Err() == nil {
					t.fail(fmt.Errorf("creating a pod: %w", err))
				}
			}
		})
	}
	cw.Wait()
	select {
	case <-done:
	case <-ctx.Done():
	case <-time.After(podsGrace):
	}
	w.Stop()
	wg.Wait()
	elapsed := time.Duration(lastRunning.Load())
	res := merge(OpPods, elapsed, append(creates, running))
	if missing := int64(n) - runningCount.Load() - int64(res.Errors); missing > 0 && ctx.Err() == nil {
		res.Errors += int(missing)
		if res.FirstError == "" {
			res.FirstError = fmt.Sprintf("%d pods not Running %v after the last create", missing, podsGrace)
		}
	}
	b1, b2 := toBound.Summary(), boundToRunning.Summary()
	paced := ""
	if b.cfg.PodsRate > 0 {
		paced = fmt.Sprintf(", created at %g/s", b.cfg.PodsRate)
	}
	res.Notes = fmt.Sprintf("%d pods%s, create to Running; rate over the whole run; create to bound p50 %v p99 %v, bound to Running p50 %v p99 %v",
		n, paced, b1.P50.Round(time.Millisecond), b1.P99.Round(time.Millisecond), b2.P50.Round(time.Millisecond), b2.P99.Round(time.Millisecond))
	return res, ctx.Err()
}

// paceCreate waits, with Config.PodsRate set, until pod i's turn to be
// created, base being when the operation began; false means ctx ended.
func (b *bench) paceCreate(ctx context.Context, base time.Time, i int) bool {
	if b.cfg.PodsRate <= 0 {
		return true
	}
	d := time.Until(base.Add(time.Duration(float64(i) / b.cfg.PodsRate * float64(time.Second))))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

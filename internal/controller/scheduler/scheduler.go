// Package scheduler binds pods to nodes, as kube-scheduler does, through
// the pods/binding subresource and nothing else: like every Cella
// controller it talks to the API only through client-go.
//
// Steps for each pod with no spec.nodeName, not being deleted, not
// finished, whose spec.schedulerName is this scheduler's ("default-scheduler"
// or empty):
//  1. Filter the nodes: Ready and schedulable, the pod's requests fit in
//     what the node's allocatable leaves after the pods bound to it,
//     nodeSelector, required node affinity, taints the pod tolerates
//     (NoSchedule and NoExecute).
//  2. Score those left by the share of CPU and memory they would still have
//     free (kube-scheduler's "least allocated"); the name breaks ties.
//  3. Bind to the best (POST pods/binding). The API answers 409 when the
//     pod was bound meanwhile: nothing to do. As in kube-scheduler, the
//     pod is assumed on its node (counted) at once and the binding runs
//     on its own goroutine, so the next pod is placed while the API makes
//     the binding durable; up to maxBinding bindings are in flight, and
//     one that fails uncounts its pod and queues it again.
//  4. When no node fits, set PodScheduled=False, reason Unschedulable, with
//     kube-scheduler's message ("0/N nodes are available: ..."), record a
//     FailedScheduling event, and try again when nodes or pods change
//     (and at least every 30 seconds).
//
// Before step 1, a pod whose PersistentVolumeClaims are missing or not
// bound yet fits no node (volumes.go): step 4 with kube-scheduler's
// PreFilter message, tried again when a claim changes.
//
// The pods a node runs are counted from the scheduler's own cache of bound
// pods, plus the bindings it made and has not seen back yet, so two pods
// scheduled in a row do not both take the last room.
package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"cella.dev/cella/internal/controller/recorder"
)

// Name is the scheduler's name, which pods name in spec.schedulerName.
const Name = corev1.DefaultSchedulerName

// retryUnschedulable is how often a pod no node fits is tried again
// without any change that could make it fit.
const retryUnschedulable = 30 * time.Second

// maxBinding bounds the bindings in flight. Each is a durable write; many
// at once share the store's commits (group commit) instead of queueing
// behind one another, which is what bounds a scheduler that binds one pod
// at a time.
const maxBinding = 64

// Scheduler binds pending pods to nodes.
type Scheduler struct {
	client   kubernetes.Interface
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	pods     cache.Indexer
	nodes    cache.Indexer
	claims   cache.Indexer // PersistentVolumeClaims (volumes.go)
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder events.EventRecorder
	events   *recorder.Events
	// binding holds a token per binding in flight (at most maxBinding);
	// bindings counts their goroutines, which Run joins.
	binding  chan struct{}
	bindings sync.WaitGroup

	mu sync.Mutex
	// counted holds, by pod key, what each pod that takes room on a node
	// requests: the pods bound in the cache that have not finished, and
	// the ones this scheduler bound and has not seen bound yet. used holds
	// the sums by node. Both are guarded by mu.
	counted map[string]placed
	used    map[string]usage
}

// placed is a pod's node and requests.
type placed struct {
	node string
	use  usage
}

// usage is what pods request of a node: CPU in millicores, memory in
// bytes, and how many pods they are.
type usage struct {
	milliCPU, memory int64
	pods             int
}

func (u usage) plus(v usage) usage {
	return usage{u.milliCPU + v.milliCPU, u.memory + v.memory, u.pods + v.pods}
}

func (u usage) minus(v usage) usage {
	return usage{u.milliCPU - v.milliCPU, u.memory - v.memory, u.pods - v.pods}
}

// requestsOf is what pod takes of a node.
func requestsOf(pod *corev1.Pod) usage {
	req := podRequests(pod)
	return usage{milliCPU: req.Cpu().MilliValue(), memory: req.Memory().Value(), pods: 1}
}

// count records that the pod key takes p (nil: nothing any more) and keeps
// the sums by node. It must be called with mu held.
func (s *Scheduler) countLocked(key string, p *placed) {
	if old, ok := s.counted[key]; ok {
		s.used[old.node] = s.used[old.node].minus(old.use)
		delete(s.counted, key)
	}
	if p != nil {
		s.counted[key] = *p
		s.used[p.node] = s.used[p.node].plus(p.use)
	}
}

// New returns a scheduler using client.
func New(client kubernetes.Interface, log *slog.Logger) *Scheduler {
	factory := informers.NewSharedInformerFactory(client, 0)
	podInf := factory.Core().V1().Pods().Informer()
	nodeInf := factory.Core().V1().Nodes().Informer()
	rec := recorder.NewEvents(client, Name)
	s := &Scheduler{
		client: client, log: log, factory: factory,
		pods: podInf.GetIndexer(), nodes: nodeInf.GetIndexer(),
		synced: []cache.InformerSynced{podInf.HasSynced, nodeInf.HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](20*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "scheduler"}),
		events:   rec,
		recorder: rec.Recorder(),
		binding:  make(chan struct{}, maxBinding),
		counted:  map[string]placed{},
		used:     map[string]usage{},
	}
	_, _ = podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.podChanged,
		UpdateFunc: func(_, obj any) { s.podChanged(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				key, _ := cache.MetaNamespaceKeyFunc(p)
				s.mu.Lock()
				s.countLocked(key, nil)
				s.mu.Unlock()
			}
			s.requeuePending()
		},
	})
	_, _ = nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.requeuePending() },
		UpdateFunc: func(any, any) { s.requeuePending() },
	})
	s.watchClaims(factory)
	return s
}

// Run schedules until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.queue.ShutDown()
	s.events.Start(ctx)
	defer s.events.Shutdown()
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		s.queue.ShutDown()
	}()
	for s.next(ctx) {
	}
	s.bindings.Wait()
	wg.Wait()
}

// next places the next pod of the queue. The key stays processing (the
// queue hands it to no one else) until its binding, if any, has ended.
func (s *Scheduler) next(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	b, again, err := s.schedule(ctx, key)
	if b == nil {
		s.done(ctx, key, again, err)
		return true
	}
	s.binding <- struct{}{}
	s.bindings.Add(1)
	go func() {
		defer s.bindings.Done()
		defer func() { <-s.binding }()
		s.done(ctx, key, false, s.bind(ctx, key, b))
	}()
	return true
}

// done ends the processing of key: err queues it again with back-off,
// again after retryUnschedulable.
func (s *Scheduler) done(ctx context.Context, key string, again bool, err error) {
	defer s.queue.Done(key)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.log.Debug("scheduling failed; retrying", "pod", key, "err", err)
		}
		s.queue.AddRateLimited(key)
	case again:
		s.queue.Forget(key)
		s.queue.AddAfter(key, retryUnschedulable)
	default:
		s.queue.Forget(key)
	}
}

// pending reports whether the scheduler should place p.
func pending(p *corev1.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
		(p.Spec.SchedulerName == "" || p.Spec.SchedulerName == Name)
}

func (s *Scheduler) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	key, _ := cache.MetaNamespaceKeyFunc(p)
	if p.Spec.NodeName != "" {
		s.mu.Lock()
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			s.countLocked(key, nil)
		} else if c, ok := s.counted[key]; !ok || c.node != p.Spec.NodeName {
			s.countLocked(key, &placed{node: p.Spec.NodeName, use: requestsOf(p)})
		}
		s.mu.Unlock()
		return
	}
	if pending(p) {
		s.queue.Add(key)
	}
}

// requeuePending queues every pending pod: something changed that may let
// an unschedulable one fit.
func (s *Scheduler) requeuePending() {
	for _, obj := range s.pods.List() {
		if p := obj.(*corev1.Pod); pending(p) {
			key, _ := cache.MetaNamespaceKeyFunc(p)
			s.queue.Add(key)
		}
	}
}

// binding is a pod the scheduler assumed on a node and has yet to bind.
type binding struct {
	pod  *corev1.Pod
	node string
}

// schedule places one pod: it returns the binding to make, with the pod
// already counted on its node, or again when it fits nowhere yet. It runs
// on the scheduling loop only, so that each pod is placed knowing where
// the ones before it went.
func (s *Scheduler) schedule(ctx context.Context, key string) (b *binding, again bool, err error) {
	obj, exists, err := s.pods.GetByKey(key)
	if err != nil || !exists {
		return nil, false, err
	}
	pod := obj.(*corev1.Pod)
	if !pending(pod) {
		return nil, false, nil
	}
	s.mu.Lock()
	_, bound := s.counted[key]
	s.mu.Unlock()
	if bound {
		return nil, false, nil
	}
	if msg := s.unboundClaims(pod); msg != "" {
		return nil, true, s.unschedulable(ctx, pod, preFilterError(len(s.nodes.ListKeys()), msg))
	}
	node, reasons, total := s.pick(pod)
	if node == "" {
		return nil, true, s.unschedulable(ctx, pod, fitError(total, reasons))
	}
	s.mu.Lock()
	s.countLocked(key, &placed{node: node, use: requestsOf(pod)})
	s.mu.Unlock()
	return &binding{pod: pod, node: node}, false, nil
}

// bind writes b through pods/binding; when that fails the pod is no longer
// counted on the node.
func (s *Scheduler) bind(ctx context.Context, key string, b *binding) error {
	pod := b.pod
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: b.node},
	}, metav1.CreateOptions{})
	if err != nil {
		s.mu.Lock()
		// Unless the cache shows the pod bound already (a 409 because
		// it was), in which case podChanged counts it where it is.
		if obj, ok, _ := s.pods.GetByKey(key); !ok || obj.(*corev1.Pod).Spec.NodeName == "" {
			s.countLocked(key, nil)
		}
		s.mu.Unlock()
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			// Bound or deleted meanwhile: the informer will tell.
			return nil
		}
		return err
	}
	s.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding",
		"Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, b.node)
	return nil
}

// pick returns the best node for pod, or "" with, for each reason a node
// was filtered out, how many nodes it ruled out, and the number of nodes.
func (s *Scheduler) pick(pod *corev1.Pod) (best string, reasons map[string]int, total int) {
	reasons = map[string]int{}
	req := requestsOf(pod)
	bestScore := -1.0
	nodes := s.nodes.List()
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].(*corev1.Node).Name < nodes[j].(*corev1.Node).Name })
	for _, obj := range nodes {
		n := obj.(*corev1.Node)
		s.mu.Lock()
		used := s.used[n.Name]
		s.mu.Unlock()
		if why := filter(pod, n, req, used); why != "" {
			reasons[why]++
			continue
		}
		if sc := score(n, req, used); sc > bestScore {
			best, bestScore = n.Name, sc
		}
	}
	return best, reasons, len(nodes)
}

// Reasons a node is filtered out, in kube-scheduler's words.
const (
	reasonNotReady      = "node(s) were not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonTooManyPods   = "Too many pods"
	reasonCPU           = "Insufficient cpu"
	reasonMemory        = "Insufficient memory"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonTaint         = "node(s) had untolerated taint"
)

// filter returns why n cannot run pod, which requests req, with what used
// of it already, or "".
func filter(pod *corev1.Pod, n *corev1.Node, req, used usage) string {
	if !nodeReady(n) {
		return reasonNotReady
	}
	if n.Spec.Unschedulable && !tolerates(pod.Spec.Tolerations, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}) {
		return reasonUnschedulable
	}
	if !matchesNode(pod, n) {
		return reasonSelector
	}
	for _, t := range n.Spec.Taints {
		if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !tolerates(pod.Spec.Tolerations, t) {
			return reasonTaint
		}
	}
	alloc := n.Status.Allocatable
	if max, ok := alloc[corev1.ResourcePods]; ok && int64(used.pods+1) > max.Value() {
		return reasonTooManyPods
	}
	if have, ok := alloc[corev1.ResourceCPU]; ok && req.milliCPU > 0 && used.milliCPU+req.milliCPU > have.MilliValue() {
		return reasonCPU
	}
	if have, ok := alloc[corev1.ResourceMemory]; ok && req.memory > 0 && used.memory+req.memory > have.Value() {
		return reasonMemory
	}
	return ""
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// matchesNode checks nodeSelector and required node affinity.
func matchesNode(pod *corev1.Pod, n *corev1.Node) bool {
	if len(pod.Spec.NodeSelector) > 0 && !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(labels.Set(n.Labels)) {
		return false
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// The terms are ORed; the expressions of one term ANDed.
	for _, term := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, n) {
			return true
		}
	}
	return false
}

func termMatches(term corev1.NodeSelectorTerm, n *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, e := range term.MatchExpressions {
		if !requirementMatches(e, labels.Set(n.Labels)) {
			return false
		}
	}
	for _, e := range term.MatchFields {
		if !requirementMatches(e, labels.Set{"metadata.name": n.Name}) {
			return false
		}
	}
	return true
}

func requirementMatches(e corev1.NodeSelectorRequirement, set labels.Set) bool {
	var op selection.Operator
	switch e.Operator {
	case corev1.NodeSelectorOpIn:
		op = selection.In
	case corev1.NodeSelectorOpNotIn:
		op = selection.NotIn
	case corev1.NodeSelectorOpExists:
		op = selection.Exists
	case corev1.NodeSelectorOpDoesNotExist:
		op = selection.DoesNotExist
	case corev1.NodeSelectorOpGt:
		op = selection.GreaterThan
	case corev1.NodeSelectorOpLt:
		op = selection.LessThan
	default:
		return false
	}
	r, err := labels.NewRequirement(e.Key, op, e.Values)
	if err != nil {
		return false
	}
	return r.Matches(set)
}

// tolerates reports whether some toleration tolerates taint, by
// Kubernetes' rules (an empty key with Exists tolerates everything; an
// empty effect matches every effect).
func tolerates(tols []corev1.Toleration, taint corev1.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(klog.Background(), &taint, true) {
			return true
		}
	}
	return false
}

// score is the share of CPU and memory n would have left, averaged: more
// free room scores higher.
func score(n *corev1.Node, req, used usage) float64 {
	var sum float64
	var parts int
	after := used.plus(req)
	if have := n.Status.Allocatable.Cpu(); !have.IsZero() {
		sum += max(1-float64(after.milliCPU)/float64(have.MilliValue()), 0)
		parts++
	}
	if have := n.Status.Allocatable.Memory(); !have.IsZero() {
		sum += max(1-float64(after.memory)/float64(have.Value()), 0)
		parts++
	}
	if parts == 0 {
		return 0
	}
	return sum / float64(parts)
}

// podRequests returns what pod requests of CPU and memory, as the scheduler
// counts it: the larger of the sum of its containers and its largest init
// container, plus its overhead.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		add(out, c.Resources.Requests)
	}
	for _, c := range pod.Spec.InitContainers {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[name]; ok {
				if cur, ok := out[name]; !ok || q.Cmp(cur) > 0 {
					out[name] = q.DeepCopy()
				}
			}
		}
	}
	add(out, pod.Spec.Overhead)
	return out
}

func add(to, l corev1.ResourceList) {
	for name, q := range l {
		if name != corev1.ResourceCPU && name != corev1.ResourceMemory {
			continue
		}
		cur, ok := to[name]
		if !ok {
			cur = *resource.NewQuantity(0, q.Format)
		}
		cur.Add(q)
		to[name] = cur
	}
}

// fitError is kube-scheduler's message for a pod no node fits.
func fitError(total int, reasons map[string]int) string {
	if total == 0 {
		return "no nodes available to schedule pods"
	}
	parts := make([]string, 0, len(reasons))
	for why, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, why))
	}
	slices.Sort(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

// unschedulable records that pod fits nowhere: PodScheduled=False with
// reason Unschedulable, and a FailedScheduling event when the message is new.
func (s *Scheduler) unschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable && c.Message == msg {
			return nil
		}
	}
	s.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", msg)
	cond := corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
		Message: msg, LastTransitionTime: metav1.Now(),
	}
	patch := fmt.Sprintf(`{"status":{"conditions":[%s]}}`, mustJSON(cond))
	_, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

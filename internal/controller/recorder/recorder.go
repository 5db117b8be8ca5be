// Package recorder gives Cella's controllers and its node agent their
// Event recorders, made with client-go as kube-controller-manager, the
// kubelet and kube-scheduler make theirs, and owned like every other
// goroutine here: a recorder starts with its component's Run and its
// Shutdown returns only once no write to the API is in flight, and none
// starts after it, so nothing is written once the component has stopped
// (the server closes its listener after its controllers stop).
//
// Two kinds, as in Kubernetes:
//
//   - Legacy writes core/v1 Events through client-go's tools/record: the
//     EventCorrelator aggregates repeats of one event into one object
//     whose count rises (a PATCH), and its spam filter allows a burst of 25
//     events per source, object and type, then one every five minutes. The
//     kubelet and most of kube-controller-manager write this way.
//   - Events writes events.k8s.io/v1 Events through client-go's
//     tools/events: repeats become one object whose series.count rises.
//     kube-scheduler writes this way.
//
// Under a burst, tools/record loses events: one goroutine writes them one
// at a time, each waiting for a durable commit, behind a queue of about
// 2,000 (1,000 waiting to be distributed and 1,000 for the writer) that
// drops what does not fit. The kubelet lives with that (its events client
// is even limited to 50 writes a second, EventRecordQPS); a node of Cella's
// sim runtime starts a thousand pods at once. So Legacy runs several
// client-go broadcasters and gives each involved object to one of them by
// its UID: everything the correlator keys on (source, involved object)
// stays within one broadcaster, so aggregation and the spam filter behave
// exactly as with one, while the writes of different objects go in
// parallel and share the store's commits. Loopback clients have no client
// rate limit (QPS -1), and none is added here: a limit would only turn a
// burst into drops.
package recorder

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record"
)

// shards is how many client-go broadcasters a Legacy recorder runs: how
// many objects' events it writes at once. Each holds up to about 2,000
// events waiting.
const shards = 16

// errStopped is what a sink answers once its recorder has shut down.
var errStopped = errors.New("recorder: shut down")

// gate counts the sink calls in flight and refuses new ones once closed,
// so that a Shutdown can wait until no write is in flight and none starts
// after it. Safe for concurrent use.
type gate struct {
	mu     sync.Mutex
	closed bool // guarded by mu
	wg     sync.WaitGroup
}

// enter reports whether a call may go ahead; if so the caller must call
// wg.Done when it ends.
func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

// close refuses new calls and waits for those in flight.
func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Legacy records core/v1 Events (tools/record). It implements
// record.EventRecorder; events recorded before Start or after Shutdown are
// dropped, as client-go drops events no sink takes.
type Legacy struct {
	client typedcorev1.EventsGetter
	shards [shards]struct {
		b record.EventBroadcaster
		r record.EventRecorder
	}
	gate gate
	once sync.Once
}

var _ record.EventRecorder = (*Legacy)(nil)

// NewLegacy returns a recorder whose events carry source (the component,
// and the host for a node's component), as the kubelet's carry
// {kubelet, <node name>}.
func NewLegacy(client kubernetes.Interface, source corev1.EventSource) *Legacy {
	l := &Legacy{client: client.CoreV1()}
	for i := range l.shards {
		b := record.NewBroadcaster()
		l.shards[i].b = b
		l.shards[i].r = b.NewRecorder(scheme.Scheme, source)
	}
	return l
}

// Start begins writing events to the API.
func (l *Legacy) Start() {
	sink := &legacySink{EventSinkImpl: typedcorev1.EventSinkImpl{Interface: l.client.Events("")}, gate: &l.gate}
	for i := range l.shards {
		l.shards[i].b.StartRecordingToSink(sink)
	}
}

// Shutdown stops writing: events still queued are dropped, and it returns
// once no write is in flight. It may be called more than once.
func (l *Legacy) Shutdown() {
	l.once.Do(func() {
		for i := range l.shards {
			l.shards[i].b.Shutdown()
		}
		l.gate.close()
	})
}

// shard returns the recorder for the events of object: by UID, or by
// namespace and name for an object without one.
func (l *Legacy) shard(object runtime.Object) record.EventRecorder {
	h := fnv.New32a()
	switch o := object.(type) {
	case *corev1.ObjectReference:
		key(h, string(o.UID), o.Namespace, o.Name)
	default:
		if m, err := meta.Accessor(object); err == nil {
			key(h, string(m.GetUID()), m.GetNamespace(), m.GetName())
		}
	}
	return l.shards[h.Sum32()%shards].r
}

func key(h interface{ Write([]byte) (int, error) }, uid, namespace, name string) {
	if uid != "" {
		_, _ = h.Write([]byte(uid))
		return
	}
	_, _ = h.Write([]byte(namespace + "/" + name))
}

// Event records an event about object (see record.EventRecorder).
func (l *Legacy) Event(object runtime.Object, eventtype, reason, message string) {
	l.shard(object).Event(object, eventtype, reason, message)
}

// Eventf is Event with a formatted message.
func (l *Legacy) Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	l.shard(object).Eventf(object, eventtype, reason, messageFmt, args...)
}

// AnnotatedEventf is Eventf with annotations on the Event.
func (l *Legacy) AnnotatedEventf(object runtime.Object, annotations map[string]string, eventtype, reason, messageFmt string, args ...any) {
	l.shard(object).AnnotatedEventf(object, annotations, eventtype, reason, messageFmt, args...)
}

// legacySink is client-go's core/v1 sink behind the gate.
type legacySink struct {
	typedcorev1.EventSinkImpl
	gate *gate
}

func (s *legacySink) Create(e *corev1.Event) (*corev1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Create(e)
}

func (s *legacySink) Update(e *corev1.Event) (*corev1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Update(e)
}

func (s *legacySink) Patch(e *corev1.Event, data []byte) (*corev1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Patch(e, data)
}

// Events records events.k8s.io/v1 Events (tools/events), as kube-scheduler
// does. Its Recorder is valid from NewEvents on; events recorded before
// Start or after Shutdown are dropped.
type Events struct {
	b    events.EventBroadcaster
	r    events.EventRecorder
	gate gate
	once sync.Once
}

// NewEvents returns a recorder whose events name controller as their
// reportingController (and, as client-go makes it, controller-<host name>
// as their reportingInstance).
func NewEvents(client kubernetes.Interface, controller string) *Events {
	e := &Events{}
	e.b = events.NewBroadcaster(&eventsSink{EventSinkImpl: events.EventSinkImpl{Interface: client.EventsV1()}, gate: &e.gate})
	e.r = e.b.NewRecorder(scheme.Scheme, controller)
	return e
}

// Recorder is the recorder to record events with.
func (e *Events) Recorder() events.EventRecorder { return e.r }

// Start begins writing events to the API until ctx ends or Shutdown.
func (e *Events) Start(ctx context.Context) {
	// It fails only on a broadcaster already shut down, which records
	// nothing anyway.
	_ = e.b.StartRecordingToSinkWithContext(ctx)
}

// Shutdown stops writing: events still queued are dropped, and it returns
// once no write is in flight. The context given to Start must end too, to
// stop client-go's series refresh loops. It may be called more than once.
func (e *Events) Shutdown() {
	e.once.Do(func() {
		e.b.Shutdown()
		e.gate.close()
	})
}

// eventsSink is client-go's events.k8s.io/v1 sink behind the gate.
type eventsSink struct {
	events.EventSinkImpl
	gate *gate
}

func (s *eventsSink) Create(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Create(ctx, e)
}

func (s *eventsSink) Update(ctx context.Context, e *eventsv1.Event) (*eventsv1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Update(ctx, e)
}

func (s *eventsSink) Patch(ctx context.Context, e *eventsv1.Event, data []byte) (*eventsv1.Event, error) {
	if !s.gate.enter() {
		return nil, errStopped
	}
	defer s.gate.wg.Done()
	return s.EventSinkImpl.Patch(ctx, e, data)
}

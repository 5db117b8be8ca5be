package convert

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEventRoundTrip(t *testing.T) {
	t.Run("events/v1", func(t *testing.T) { roundTrip(t, EventV1ToCore, EventCoreToV1) })
	t.Run("core", func(t *testing.T) { roundTrip(t, EventCoreToV1, EventV1ToCore) })
	t.Run("list events/v1", func(t *testing.T) { roundTrip(t, EventListV1ToCore, EventListCoreToV1) })
	t.Run("list core", func(t *testing.T) { roundTrip(t, EventListCoreToV1, EventListV1ToCore) })
}

func TestEventV1ToCore(t *testing.T) {
	first := metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	last := metav1.Date(2026, 1, 2, 3, 5, 5, 0, time.UTC)
	now := metav1.NewMicroTime(time.Date(2026, 1, 2, 3, 5, 5, 123000, time.UTC))
	pod := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web-0", UID: "u1"}
	node := &corev1.ObjectReference{Kind: "Node", Name: "cella"}
	in := &eventsv1.Event{
		ObjectMeta:               metav1.ObjectMeta{Name: "web-0.1", Namespace: "default"},
		EventTime:                now,
		Series:                   &eventsv1.EventSeries{Count: 4, LastObservedTime: now},
		ReportingController:      "cella.dev/node",
		ReportingInstance:        "cella-0",
		Action:                   "Pulling",
		Reason:                   "Pulling",
		Regarding:                pod,
		Related:                  node,
		Note:                     "Pulling image busybox",
		Type:                     corev1.EventTypeNormal,
		DeprecatedSource:         corev1.EventSource{Component: "kubelet", Host: "cella-0"},
		DeprecatedFirstTimestamp: first,
		DeprecatedLastTimestamp:  last,
		DeprecatedCount:          5,
	}
	want := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: "v1", Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      pod,
		Reason:              "Pulling",
		Message:             "Pulling image busybox",
		Source:              corev1.EventSource{Component: "kubelet", Host: "cella-0"},
		FirstTimestamp:      first,
		LastTimestamp:       last,
		Count:               5,
		Type:                corev1.EventTypeNormal,
		EventTime:           now,
		Series:              &corev1.EventSeries{Count: 4, LastObservedTime: now},
		Action:              "Pulling",
		Related:             node,
		ReportingController: "cella.dev/node",
		ReportingInstance:   "cella-0",
	}
	got := EventV1ToCore(in)
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("EventV1ToCore =\n%s\nwant\n%s", mustJSON(got), mustJSON(want))
	}
	back := EventCoreToV1(got)
	checkTypeMeta(t, back, "events.k8s.io/v1", "Event")
	back.TypeMeta = metav1.TypeMeta{}
	if !apiequality.Semantic.DeepEqual(back, in) {
		t.Errorf("EventCoreToV1 =\n%s\nwant\n%s", mustJSON(back), mustJSON(in))
	}
	list := EventListCoreToV1(&corev1.EventList{Items: []corev1.Event{*want}})
	checkTypeMeta(t, list, "events.k8s.io/v1", "EventList")
	checkItemsTypeMeta(t, list)
}

package convert

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Events are one stored object served in two shapes. The fields map one to
// one, as Kubernetes maps them:
//
//	events.k8s.io/v1          core v1
//	regarding                 involvedObject
//	note                      message
//	reportingController       reportingComponent
//	reportingInstance         reportingInstance
//	deprecatedSource          source (component, host)
//	deprecatedFirstTimestamp  firstTimestamp
//	deprecatedLastTimestamp   lastTimestamp
//	deprecatedCount           count
//	eventTime, series, action, reason, related, type: the same
//
// Neither direction fills one field from another (for example source from
// reportingController): that would not survive a round trip. Readers that
// want a fallback, such as a table printer's SOURCE column, apply it.

// EventV1ToCore converts an events.k8s.io/v1 Event to a core v1 Event.
func EventV1ToCore(in *eventsv1.Event) *corev1.Event {
	in = in.DeepCopy()
	out := &corev1.Event{
		TypeMeta:            metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if s := in.Series; s != nil {
		out.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

// EventCoreToV1 converts a core v1 Event to an events.k8s.io/v1 Event.
func EventCoreToV1(in *corev1.Event) *eventsv1.Event {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		TypeMeta:                 metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "Event"},
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if s := in.Series; s != nil {
		out.Series = &eventsv1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

// EventListV1ToCore converts a list with EventV1ToCore.
func EventListV1ToCore(in *eventsv1.EventList) *corev1.EventList {
	return &corev1.EventList{
		TypeMeta: metav1.TypeMeta{APIVersion: corev1.SchemeGroupVersion.String(), Kind: "EventList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, EventV1ToCore),
	}
}

// EventListCoreToV1 converts a list with EventCoreToV1.
func EventListCoreToV1(in *corev1.EventList) *eventsv1.EventList {
	return &eventsv1.EventList{
		TypeMeta: metav1.TypeMeta{APIVersion: eventsv1.SchemeGroupVersion.String(), Kind: "EventList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, EventCoreToV1),
	}
}

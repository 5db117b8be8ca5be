package kinds

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// eventColumns are Kubernetes' columns for Events, core/v1 and
// events.k8s.io/v1 alike (one stored object): the name comes last and,
// like the subobject, source, first seen and count, only with -o wide.
var eventColumns = []metav1.TableColumnDefinition{
	col("Last Seen", "string", "Time when this Event was last observed."),
	col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future."),
	col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
	col("Object", "string", "The object that this event is about."),
	wide("Subobject", "string", "The field of the object that this event is about (involvedObject.fieldPath)."),
	wide("Source", "string", "The component reporting this event."),
	col("Message", "string", "A human-readable description of the status of this operation."),
	wide("First Seen", "string", "The time at which the event was first recorded."),
	wide("Count", "integer", "The number of times this event has occurred."),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: "Name must be unique within a namespace."},
}

// eventRow is an Event's row, as Kubernetes prints it: an events.k8s.io
// writer's event has no first and last timestamps and no count, so its
// eventTime and series stand in, and a single event counts 1.
func (b *builder) eventRow(e *corev1.Event) []any {
	first := b.ago(e.FirstTimestamp.Time)
	if e.FirstTimestamp.IsZero() {
		first = b.ago(e.EventTime.Time)
	}
	last := first
	if !e.LastTimestamp.IsZero() {
		last = b.ago(e.LastTimestamp.Time)
	}
	count := e.Count
	if e.Series != nil {
		last = b.ago(e.Series.LastObservedTime.Time)
		count = e.Series.Count
	} else if count == 0 {
		count = 1
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	return []any{
		last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath,
		eventSource(e), strings.TrimSpace(e.Message), first, int64(count), e.Name,
	}
}

// eventSource is the Source cell: component and host, or the
// events.k8s.io writer's reporting controller and instance.
func eventSource(e *corev1.Event) string {
	component, instance := e.Source.Component, e.Source.Host
	if component == "" {
		component = e.ReportingController
	}
	if instance == "" {
		instance = e.ReportingInstance
	}
	if instance == "" {
		return component
	}
	return component + ", " + instance
}

// ago renders the time since t, "<unknown>" for the zero time.
func (b *builder) ago(t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(b.cfg.Now().Sub(t))
}

package eventttl_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/controller/eventttl"
	"cella.dev/cella/internal/servertest"
)

// TestSweep: Events whose last time is past the TTL are deleted, by
// whichever time they carry; recent ones, and one repeated recently
// though first seen long ago, stay.
func TestSweep(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := context.Background()
	now := time.Now()
	old, recent := metav1.NewTime(now.Add(-2*time.Hour)), metav1.NewTime(now.Add(-time.Minute))
	events := map[string]*corev1.Event{
		"old-last":      {LastTimestamp: old, FirstTimestamp: old},
		"old-eventtime": {EventTime: metav1.NewMicroTime(old.Time), ReportingController: "test", ReportingInstance: "t", Action: "Test"},
		"recent":        {LastTimestamp: recent, FirstTimestamp: recent},
		"repeated":      {FirstTimestamp: old, LastTimestamp: recent, Count: 5},
		"old-series": {EventTime: metav1.NewMicroTime(old.Time), ReportingController: "test", ReportingInstance: "t", Action: "Test",
			Series: &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(old.Time)}},
		"recent-series": {EventTime: metav1.NewMicroTime(old.Time), ReportingController: "test", ReportingInstance: "t", Action: "Test",
			Series: &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(recent.Time)}},
	}
	for name, ev := range events {
		ev.Name = name
		ev.InvolvedObject = corev1.ObjectReference{Kind: "ConfigMap", Name: "x", Namespace: "default"}
		ev.Reason, ev.Message, ev.Type = "Tested", "a test event", corev1.EventTypeNormal
		if _, err := cs.CoreV1().Events("default").Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	c := eventttl.New(cs, slog.New(slog.DiscardHandler), eventttl.Options{TTL: time.Hour})
	n, err := c.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("swept %d events, want 3", n)
	}
	for name := range events {
		_, err := cs.CoreV1().Events("default").Get(ctx, name, metav1.GetOptions{})
		gone := apierrors.IsNotFound(err)
		if want := name == "old-last" || name == "old-eventtime" || name == "old-series"; gone != want {
			t.Errorf("%s: gone %v, want %v (err %v)", name, gone, want, err)
		}
	}
}

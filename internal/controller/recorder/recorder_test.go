package recorder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/controller/recorder"
	"cella.dev/cella/internal/servertest"
)

// These tests run client-go's recorders, through this package, against
// the real server, and read what they wrote through both views of the one
// stored Event: core/v1 and events.k8s.io/v1.

// eventually polls cond for up to 30 s; nothing here asserts speed.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

func configMap(t *testing.T, cs kubernetes.Interface, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("default").Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Kind, cm.APIVersion = "ConfigMap", "v1"
	return cm
}

// tableCells returns the cells of the wide Table row of the core/v1
// Event name, by column name.
func tableCells(t *testing.T, cs kubernetes.Interface, name string) map[string]any {
	t.Helper()
	raw, err := cs.CoreV1().RESTClient().Get().Namespace("default").Resource("events").Name(name).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Rows) != 1 {
		t.Fatalf("table rows: %d", len(table.Rows))
	}
	cells := map[string]any{}
	for i, c := range table.ColumnDefinitions {
		cells[c.Name] = table.Rows[0].Cells[i]
	}
	return cells
}

// TestLegacyRepeatsAreOneEventWithACount: a tools/record recorder that
// emits one event five times leaves one Event with count 5 (its
// correlator creates, then patches). Viewed as events.k8s.io/v1 it is
// the same object, its count in deprecatedCount and no series, as
// Kubernetes converts it; a patch through that view is seen through core.
func TestLegacyRepeatsAreOneEventWithACount(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	cm := configMap(t, cs, "legacy")
	rec := recorder.NewLegacy(cs, corev1.EventSource{Component: "test-controller", Host: "node-1"})
	rec.Start()
	defer rec.Shutdown()
	for range 5 {
		rec.Eventf(cm, corev1.EventTypeWarning, "Tested", "the same %s", "message")
	}

	var ev corev1.Event
	eventually(t, "one Event with count 5", func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=legacy,involvedObject.kind=ConfigMap"})
		if err != nil || len(l.Items) != 1 {
			return false, err
		}
		ev = l.Items[0]
		return ev.Count == 5, nil
	})
	if ev.InvolvedObject.UID != cm.UID || ev.Source.Component != "test-controller" || ev.Source.Host != "node-1" ||
		ev.ReportingController != "test-controller" || ev.Message != "the same message" {
		t.Errorf("core view: %+v", ev)
	}

	v1, err := cs.EventsV1().Events("default").Get(t.Context(), ev.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v1.DeprecatedCount != 5 || v1.Series != nil || v1.Note != "the same message" || v1.Regarding.UID != cm.UID ||
		v1.DeprecatedSource.Component != "test-controller" || v1.ReportingController != "test-controller" ||
		v1.ReportingInstance != "node-1" || v1.ResourceVersion != ev.ResourceVersion ||
		!v1.DeprecatedFirstTimestamp.Equal(&ev.FirstTimestamp) || !v1.DeprecatedLastTimestamp.Equal(&ev.LastTimestamp) {
		t.Errorf("events.k8s.io view: %+v", v1)
	}
	cells := tableCells(t, cs, ev.Name)
	if cells["Count"] != float64(5) || cells["Source"] != "test-controller, node-1" || cells["Object"] != "configmap/legacy" {
		t.Errorf("table: %v", cells)
	}

	// The events.k8s.io view selects with its own field names, as
	// Kubernetes maps them onto the core ones.
	l, err := cs.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{FieldSelector: "regarding.name=legacy,reportingController=test-controller"})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("regarding.name selector: %v, %v", l, err)
	}
	_, err = cs.EventsV1().Events("default").List(t.Context(), metav1.ListOptions{FieldSelector: "involvedObject.name=legacy"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "field label not supported: involvedObject.name") {
		t.Errorf("core field name on events.k8s.io: %v", err)
	}

	patched, err := cs.EventsV1().Events("default").Patch(t.Context(), ev.Name, types.MergePatchType,
		[]byte(`{"note":"patched through events.k8s.io","deprecatedCount":7}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	back, err := cs.CoreV1().Events("default").Get(t.Context(), ev.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Message != "patched through events.k8s.io" || back.Count != 7 || back.ResourceVersion != patched.ResourceVersion {
		t.Errorf("core view after the patch: %+v", back)
	}
}

// TestEventsRepeatsAreOneSeries: a tools/events recorder that emits one
// event again makes it a series (series.count 2, written at once; later
// repeats are counted by client-go and written with its periodic
// refresh). The core/v1 view carries the same series and no count, as in
// Kubernetes; its table shows the series' count.
func TestEventsRepeatsAreOneSeries(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	cm := configMap(t, cs, "series")
	rec := recorder.NewEvents(cs, "test-scheduler")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec.Start(ctx)
	defer rec.Shutdown()
	var ev eventsv1.Event
	// The repeat follows the first event's write: client-go patches a
	// repeat, and a repeat that finds no event yet waits out its retry
	// interval (10 s) before writing again.
	for i, want := range []int32{0, 2} {
		rec.Recorder().Eventf(cm, nil, corev1.EventTypeNormal, "Tested", "Testing", "a note about %s", cm.Name)
		eventually(t, fmt.Sprintf("event %d written", i+1), func(ctx context.Context) (bool, error) {
			l, err := cs.EventsV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=series"})
			if err != nil || len(l.Items) != 1 {
				return false, err
			}
			ev = l.Items[0]
			if want == 0 {
				return ev.Series == nil, nil
			}
			return ev.Series != nil && ev.Series.Count == want, nil
		})
	}
	core, err := cs.CoreV1().Events("default").Get(t.Context(), ev.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if core.Series == nil || core.Series.Count != 2 || !core.Series.LastObservedTime.Equal(&ev.Series.LastObservedTime) ||
		core.Count != 0 || core.Message != "a note about series" || core.Action != "Testing" ||
		core.ReportingController != "test-scheduler" || core.InvolvedObject.UID != cm.UID || core.EventTime.IsZero() {
		t.Errorf("core view: %+v", core)
	}
	l, err := cs.CoreV1().Events("default").List(t.Context(), metav1.ListOptions{FieldSelector: "source=test-scheduler,reportingComponent=test-scheduler"})
	if err != nil || len(l.Items) != 1 {
		t.Errorf("source selector on an events.k8s.io writer's event: %v, %v", l, err)
	}
	cells := tableCells(t, cs, ev.Name)
	if cells["Count"] != float64(2) || !strings.HasPrefix(cells["Source"].(string), "test-scheduler, test-scheduler-") {
		t.Errorf("table: %v", cells)
	}

	// Written through core/v1 and read back through events.k8s.io.
	created, err := cs.CoreV1().Events("default").Create(t.Context(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "by-hand"},
		InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: "default", Name: "series", UID: cm.UID, APIVersion: "v1"},
		Reason:         "Tested", Message: "by hand", Type: corev1.EventTypeNormal, Count: 3,
		Series: &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NowMicro()},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cs.EventsV1().Events("default").Get(t.Context(), created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.DeprecatedCount != 3 || got.Series == nil || got.Series.Count != 4 || got.Note != "by hand" {
		t.Errorf("events.k8s.io view of a core write: %+v", got)
	}
}

// TestShutdownStopsWriting: once Shutdown returns no write is in flight
// and none starts, and client-go's goroutines of the recorders end.
func TestShutdownStopsWriting(t *testing.T) {
	srv := servertest.Start(t)
	var writes, inFlight atomic.Int64
	cfg := srv.RestConfig()
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			if !strings.Contains(r.URL.Path, "/events") {
				return rt.RoundTrip(r)
			}
			writes.Add(1)
			inFlight.Add(1)
			defer inFlight.Add(-1)
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cm := configMap(t, srv.Clientset(), "shutdown")
	// The server's own controllers run recorders too, started as they
	// start: count theirs once the count holds still.
	var before int
	for still := 0; still < 5; {
		n := recorderGoroutines()
		if n == before {
			still++
		} else {
			before, still = n, 0
		}
		time.Sleep(20 * time.Millisecond)
	}

	legacy := recorder.NewLegacy(cs, corev1.EventSource{Component: "test-controller"})
	events := recorder.NewEvents(cs, "test-scheduler")
	ctx, cancel := context.WithCancel(t.Context())
	legacy.Start()
	events.Start(ctx)
	for i := range 50 {
		legacy.Eventf(cm, corev1.EventTypeNormal, "Tested", "message %d", i)
		events.Recorder().Eventf(cm, nil, corev1.EventTypeNormal, "Tested", "Testing", "note %d", i)
	}
	eventually(t, "some events written", func(context.Context) (bool, error) { return writes.Load() > 0, nil })
	cancel()
	legacy.Shutdown()
	events.Shutdown()
	if n := inFlight.Load(); n != 0 {
		t.Errorf("%d writes in flight after Shutdown", n)
	}
	done := writes.Load()
	legacy.Eventf(cm, corev1.EventTypeNormal, "Tested", "after shutdown")
	events.Recorder().Eventf(cm, nil, corev1.EventTypeNormal, "Tested", "Testing", "after shutdown")
	eventually(t, "the recorders' goroutines ended", func(context.Context) (bool, error) {
		return recorderGoroutines() <= before, nil
	})
	if n := writes.Load(); n != done {
		t.Errorf("%d writes after Shutdown", n-done)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// recorderGoroutines counts the goroutines running client-go's recorder
// code (its watch broadcasters included).
func recorderGoroutines() int {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "k8s.io/client-go/tools/record.") || strings.Contains(g, "k8s.io/client-go/tools/events.") ||
			strings.Contains(g, "k8s.io/apimachinery/pkg/watch.(*Broadcaster)") {
			n++
		}
	}
	return n
}

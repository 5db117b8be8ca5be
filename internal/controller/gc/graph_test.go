package gc

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

var configMaps = &resource{namespaced: true}

func object(uid types.UID, name string, owners ...types.UID) *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: uid}}
	for _, o := range owners {
		m.OwnerReferences = append(m.OwnerReferences, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: string(o), UID: o})
	}
	return m
}

// TestGraphReplace checks what a relist does to the graph: objects missing
// from the list are removed as if deleted, waking their dependents.
func TestGraphReplace(t *testing.T) {
	var queued []types.UID
	g := newGraph(func(uid types.UID) { queued = append(queued, uid) })
	s := &sink{g: g, res: configMaps}
	_ = s.Add(object("a", "a"))
	_ = s.Add(object("b", "b", "a"))
	_ = s.Add(object("c", "c", "z")) // z was never seen: c may be garbage
	if !slices.Equal(queued, []types.UID{"c"}) {
		t.Fatalf("queued %v after adds, want [c]", queued)
	}
	queued = nil

	if err := s.Replace([]any{object("b", "b", "a"), object("c", "c", "z")}, "9"); err != nil {
		t.Fatal(err)
	}
	if !s.hasSynced() {
		t.Error("not synced after Replace")
	}
	if g.get("a") != nil {
		t.Error("a is still in the graph after a relist without it")
	}
	if !slices.Contains(queued, "b") {
		t.Errorf("queued %v, want b: its owner left", queued)
	}
	if deps := g.dependentsOf("a", &node{res: configMaps, namespace: g.get("b").namespace}); len(deps) != 1 || deps[0].uid != "b" {
		t.Errorf("dependents of a = %v, want [b]", deps)
	}

	_ = s.Update(object("b", "b")) // b drops its owner
	if _, ok := g.dependents["a"]; ok {
		t.Errorf("a still has dependents %v after b dropped it", g.dependents["a"])
	}
	_ = s.Delete(object("c", "c", "z"))
	if len(g.nodes) != 1 || len(g.dependents) != 0 {
		t.Errorf("graph holds %d nodes and %d owners, want 1 and 0", len(g.nodes), len(g.dependents))
	}
}

// BenchmarkGraphMemory reports the heap the graph holds per object for
// objects without owners, as the server's 10,000 ConfigMaps are.
func BenchmarkGraphMemory(b *testing.B) {
	const n = 10000
	uids := make([]string, n)
	for i := range uids {
		uids[i] = string(uuid.NewUUID())
	}
	var perObject float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g := newGraph(func(types.UID) {})
		for i, uid := range uids {
			// Fresh strings, as decoding a watch event makes them.
			g.upsert(configMaps, object(types.UID(strings.Clone(uid)), fmt.Sprintf("rss-%07d", i)))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perObject = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(g)
	}
	b.ReportMetric(perObject, "B/object")
}

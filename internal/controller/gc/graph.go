package gc

import (
	"slices"
	"sync"
	"sync/atomic"
	"unique"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// resource is one watched (or owner-resolvable) API resource. Resources
// are found once, before any goroutine starts, and never change.
type resource struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// Bits of node.flags.
const (
	deleting   uint8 = 1 << iota // metadata.deletionTimestamp is set
	foreground                   // finalizer foregroundDeletion
	orphan                       // finalizer orphan
)

// owner is one ownerReference of a node: enough to find the owner again
// with a GET when the graph does not know its uid.
type owner struct {
	uid        types.UID
	apiVersion string
	kind       string
	name       string
}

// node is what the graph keeps of one object. A node is never changed once
// it is in graph.nodes: an update replaces it, so a *node read under the
// lock may be used after the lock is released.
type node struct {
	res       *resource
	namespace unique.Handle[string] // interned: most objects share a few namespaces
	name      string
	owners    []owner // nil for most objects
	flags     uint8
}

func (n *node) waitingForDependents() bool {
	return n.flags&(deleting|foreground) == deleting|foreground
}

func (n *node) needsFinalizing() bool {
	return n.flags&deleting != 0 && n.flags&(foreground|orphan) != 0
}

// ownedBy reports whether an ownerReference of dep may name o: a namespaced
// dependent's owner is in its namespace or cluster-scoped; a cluster-scoped
// dependent's owner is cluster-scoped.
func ownedBy(dep, o *node) bool {
	return !o.res.namespaced || dep.namespace == o.namespace
}

// dependent is a node and its uid, as the graph hands them out.
type dependent struct {
	uid types.UID
	*node
}

// graph indexes every object of the watched resources by uid, and the
// reverse of their ownerReferences. It keeps no object bodies: a node is a
// few pointers and the name (about 170 bytes an object with its map slots;
// see BenchmarkGraphMemory), which is what lets the server hold many
// objects in little memory. The reflectors write it through their sinks;
// the workers read it.
type graph struct {
	// enqueue asks a worker to look at a uid. It is called with mu held
	// and must not block or call back into the graph (workqueue.Add).
	enqueue func(types.UID)

	mu sync.Mutex
	// nodes holds every observed object. Guarded by mu.
	nodes map[types.UID]*node
	// dependents maps an owner uid, observed or not, to the uids of the
	// nodes whose ownerReferences name it. Guarded by mu.
	dependents map[types.UID][]types.UID
}

func newGraph(enqueue func(types.UID)) *graph {
	return &graph{
		enqueue:    enqueue,
		nodes:      make(map[types.UID]*node),
		dependents: make(map[types.UID][]types.UID),
	}
}

// newNode returns the node of an object's metadata.
func newNode(res *resource, m metav1.Object) *node {
	n := &node{res: res, namespace: unique.Make(m.GetNamespace()), name: m.GetName()}
	if refs := m.GetOwnerReferences(); len(refs) > 0 {
		n.owners = make([]owner, len(refs))
		for i, r := range refs {
			n.owners[i] = owner{uid: r.UID, apiVersion: r.APIVersion, kind: r.Kind, name: r.Name}
		}
	}
	if m.GetDeletionTimestamp() != nil {
		n.flags |= deleting
	}
	for _, f := range m.GetFinalizers() {
		switch f {
		case metav1.FinalizerDeleteDependents:
			n.flags |= foreground
		case metav1.FinalizerOrphanDependents:
			n.flags |= orphan
		}
	}
	return n
}

// get returns the node of uid, or nil.
func (g *graph) get(uid types.UID) *node {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.nodes[uid]
}

// upsert records an added or changed object.
func (g *graph) upsert(res *resource, m metav1.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.upsertLocked(m.GetUID(), newNode(res, m))
}

func (g *graph) upsertLocked(uid types.UID, n *node) {
	old := g.nodes[uid]
	g.nodes[uid] = n
	if old != nil {
		for _, o := range old.owners {
			if !slices.ContainsFunc(n.owners, func(x owner) bool { return x.uid == o.uid }) {
				g.unlinkLocked(uid, o.uid)
			}
		}
	}
	for _, o := range n.owners {
		if !slices.Contains(g.dependents[o.uid], uid) {
			g.dependents[o.uid] = append(g.dependents[o.uid], uid)
		}
	}
	if n.needsFinalizing() || g.mayBeGarbageLocked(n) {
		g.enqueue(uid)
	}
}

// mayBeGarbage reports whether a worker should look at n as a dependent.
func (g *graph) mayBeGarbage(n *node) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mayBeGarbageLocked(n)
}

// mayBeGarbageLocked reports whether a worker should look at n as a
// dependent: an owner is unknown, or waits for its dependents to go.
func (g *graph) mayBeGarbageLocked(n *node) bool {
	if n.flags&deleting != 0 {
		return false
	}
	for _, r := range n.owners {
		o := g.nodes[r.uid]
		if o == nil || !ownedBy(n, o) || o.waitingForDependents() {
			return true
		}
	}
	return false
}

// unlinkLocked drops dep from the dependents of ownerUID, and wakes the
// owner if it waits for its dependents.
func (g *graph) unlinkLocked(dep, ownerUID types.UID) {
	deps := slices.DeleteFunc(g.dependents[ownerUID], func(u types.UID) bool { return u == dep })
	if len(deps) == 0 {
		delete(g.dependents, ownerUID)
	} else {
		g.dependents[ownerUID] = deps
	}
	if o := g.nodes[ownerUID]; o != nil && o.waitingForDependents() {
		g.enqueue(ownerUID)
	}
}

// remove records a deleted object: its dependents lose an owner and its
// waiting owners may lose their last dependent.
func (g *graph) remove(uid types.UID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(uid)
}

func (g *graph) removeLocked(uid types.UID) {
	n := g.nodes[uid]
	if n == nil {
		return
	}
	delete(g.nodes, uid)
	for _, o := range n.owners {
		g.unlinkLocked(uid, o.uid)
	}
	// The dependents keep naming uid: the entry stays until they change.
	for _, d := range g.dependents[uid] {
		g.enqueue(d)
	}
}

// replace makes the nodes of res exactly objs (a relist).
func (g *graph) replace(res *resource, objs []metav1.Object) {
	present := make(map[types.UID]struct{}, len(objs))
	for _, m := range objs {
		present[m.GetUID()] = struct{}{}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for uid, n := range g.nodes {
		if _, ok := present[uid]; !ok && n.res == res {
			g.removeLocked(uid)
		}
	}
	for _, m := range objs {
		g.upsertLocked(m.GetUID(), newNode(res, m))
	}
}

// dependentsOf returns the nodes whose ownerReferences may name the owner
// o of uid (see ownedBy).
func (g *graph) dependentsOf(uid types.UID, o *node) []dependent {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []dependent
	for _, d := range g.dependents[uid] {
		if n := g.nodes[d]; n != nil && ownedBy(n, o) {
			out = append(out, dependent{uid: d, node: n})
		}
	}
	return out
}

// enqueueAll queues every node a worker may have to act on: it runs once
// the graph is complete, for what happened before the workers started.
func (g *graph) enqueueAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for uid, n := range g.nodes {
		if n.needsFinalizing() || g.mayBeGarbageLocked(n) {
			g.enqueue(uid)
		}
	}
}

// sink is the store of one resource's reflector: it writes the events
// into the graph and keeps nothing itself.
type sink struct {
	g      *graph
	res    *resource
	synced atomic.Bool // set by the first Replace (the initial list)
	// gone is set when the resource is no longer watched: events its
	// stopping reflector still delivers are dropped.
	gone atomic.Bool
}

var _ cache.ReflectorStore = (*sink)(nil)

func (s *sink) Add(obj any) error { return s.Update(obj) }

func (s *sink) Update(obj any) error {
	if s.gone.Load() {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	s.g.upsert(s.res, m)
	return nil
}

func (s *sink) Delete(obj any) error {
	if s.gone.Load() {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	s.g.remove(m.GetUID())
	return nil
}

func (s *sink) Replace(objs []any, _ string) error {
	if s.gone.Load() {
		return nil
	}
	ms := make([]metav1.Object, 0, len(objs))
	for _, obj := range objs {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		ms = append(ms, m)
	}
	s.g.replace(s.res, ms)
	s.synced.Store(true)
	return nil
}

// Resync does nothing: the reflectors run without a resync period.
func (s *sink) Resync() error { return nil }

func (s *sink) hasSynced() bool { return s.synced.Load() }

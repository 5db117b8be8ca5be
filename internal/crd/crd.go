// Package crd serves custom resources, as kube-apiserver's
// apiextensions-apiserver does: for every CustomResourceDefinition it
// builds, from the definition's schema, a Store and an Endpoint per served
// version and hands them to the API server, which routes, lists in
// discovery and authorizes them like any kind of the catalogue. It also
// keeps each definition's status (acceptedNames, the NamesAccepted and
// Established conditions) and, when a definition is deleted, deletes its
// custom resources and then lets the definition go.
//
// The Manager is part of the API server, not a controller over client-go:
// the Stores it builds are the server's own, and a definition is marked
// Established only once its endpoints are served, so a client that sees
// Established finds them in discovery. It reads and writes definitions
// through their Store and follows them with a watch on it.
//
// What the schema says is enforced with k8s.io/apiextensions-apiserver's
// own packages: structural pruning (unknown fields, judged by
// fieldValidation), defaulting, schema validation with ratcheting, CEL
// rules, list types (validate.go); the table of additionalPrinterColumns
// is Cella's (table.go). The served versions are published in the
// OpenAPI documents (openapi.go), and server-side apply merges by their
// schemas. Versions convert by apiVersion alone (conversion strategy
// None): a definition asking for a conversion webhook is served the same
// way, without calling it.
package crd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
	"cella.dev/cella/internal/storage"
)

// EndpointServer is the API server's side: it serves the endpoints of an
// owner (a definition's name) in place of the ones it served before.
type EndpointServer interface {
	SetDynamicEndpoints(owner string, eps []*registry.Endpoint) error
}

// StorageFor gives a custom resource its storage for a key prefix (in the
// server, a watch cache over the backend) and a release that stops it.
type StorageFor func(prefix string) (st storage.Interface, release func(), err error)

// Config is what the Manager needs.
type Config struct {
	// Catalog holds the definitions' Store and makes custom resources'
	// Stores with the catalogue's shared rules.
	Catalog *kinds.Catalog
	// Storage gives each custom resource its storage.
	Storage StorageFor
	// Server serves the endpoints.
	Server EndpointServer
	// Builtin reports resources the catalogue serves, which no definition
	// may take.
	Builtin func(group, plural string) bool
	// OpenAPI, if set, publishes the served versions in the OpenAPI
	// documents, before a definition is marked Established.
	OpenAPI OpenAPIPublisher
	Logger  *slog.Logger
}

// Manager serves the custom resources of every definition.
type Manager struct {
	cfg   Config
	crds  *registry.Store
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]

	mu sync.Mutex
	// served is guarded by mu.
	served map[string]*definition
}

// definition is what is served for one definition.
type definition struct {
	uid types.UID
	// built is the spec and accepted names the endpoints were built from.
	built       *apiextensionsv1.CustomResourceDefinition
	storage     storage.Interface
	release     func()
	stores      []*registry.Store
	terminating atomic.Bool
}

// New returns a Manager; Run starts it.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		cfg:    cfg,
		crds:   cfg.Catalog.Store("apiextensions.k8s.io", "customresourcedefinitions"),
		log:    cfg.Logger,
		served: map[string]*definition{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "customresourcedefinitions"}),
	}
}

// Run follows the definitions until ctx ends, then stops serving their
// resources' storage.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m.next(ctx) {
		}
	}()
	m.follow(ctx)
	m.queue.ShutDown()
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.served {
		d.release()
	}
	m.served = map[string]*definition{}
}

// Prime serves the definitions stored now, before the server takes
// requests, so that custom resources served before a restart are served
// from the first request on. Errors are left for Run to retry.
func (m *Manager) Prime(ctx context.Context) {
	list, err := m.crds.List(ctx, "", registry.ListOptions{})
	if err != nil {
		m.log.Warn("listing CustomResourceDefinitions", "err", err)
		return
	}
	for _, raw := range list.Items {
		obj, err := m.crds.Decode(raw.JSON)
		if err != nil {
			continue
		}
		name := obj.(*apiextensionsv1.CustomResourceDefinition).Name
		if _, err := m.sync(ctx, name); err != nil {
			m.log.Warn("serving a CustomResourceDefinition", "name", name, "err", err)
		}
	}
}

// follow queues every definition that changes, rewatching when a watch
// ends, until ctx ends.
func (m *Manager) follow(ctx context.Context) {
	for ctx.Err() == nil {
		events, stop, err := m.crds.Watch(ctx, "", registry.WatchOptions{})
		if err != nil {
			m.log.Warn("watching CustomResourceDefinitions", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for ev := range events {
			if ev.Type == watch.Error {
				break
			}
			obj, err := m.crds.Decode(ev.JSON)
			if err != nil {
				continue
			}
			m.queue.Add(obj.(*apiextensionsv1.CustomResourceDefinition).Name)
		}
		stop()
	}
}

func (m *Manager) next(ctx context.Context) bool {
	name, shutdown := m.queue.Get()
	if shutdown {
		return false
	}
	defer m.queue.Done(name)
	again, err := m.sync(ctx, name)
	switch {
	case err != nil && ctx.Err() == nil:
		m.log.Warn("serving a CustomResourceDefinition", "name", name, "err", err)
		m.queue.AddRateLimited(name)
	case again > 0:
		m.queue.Forget(name)
		m.queue.AddAfter(name, again)
	default:
		m.queue.Forget(name)
	}
	return true
}

// sync brings what is served for the definition name in line with it. It
// returns a delay after which to look again (a deletion under way).
func (m *Manager) sync(ctx context.Context, name string) (time.Duration, error) {
	obj, err := m.crds.GetObject(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return 0, m.unserve(name)
	}
	if err != nil {
		return 0, err
	}
	crd := obj.(*apiextensionsv1.CustomResourceDefinition)
	m.mu.Lock()
	d := m.served[name]
	m.mu.Unlock()
	if d != nil && d.uid != crd.UID {
		// Deleted and made again between two looks.
		if err := m.unserve(name); err != nil {
			return 0, err
		}
		d = nil
	}

	want := crd.DeepCopy()
	accepted, cond := m.acceptNames(ctx, crd)
	if d != nil && d.built != nil {
		// Names accepted once stay accepted (as Kubernetes keeps
		// serving them), whatever a later change of the spec asks.
		accepted = d.built.Status.AcceptedNames
	}
	want.Status.AcceptedNames = accepted
	apihelpers.SetCRDCondition(want, cond)
	if cond.Status == apiextensionsv1.ConditionTrue || d != nil {
		if d, err = m.serve(want, d); err != nil {
			return 0, err
		}
		apihelpers.SetCRDCondition(want, apiextensionsv1.CustomResourceDefinitionCondition{
			Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue,
			Reason: "InitialNamesAccepted", Message: "the initial names have been accepted",
		})
	}
	if crd.DeletionTimestamp != nil && d != nil {
		return m.cleanUp(ctx, want, d)
	}
	return 0, m.writeStatus(ctx, crd, want)
}

// acceptNames checks the definition's names against the other
// definitions of its group and the catalogue, as kube-apiserver's naming
// controller does: the names it may have and the NamesAccepted
// condition.
func (m *Manager) acceptNames(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (apiextensionsv1.CustomResourceDefinitionNames, apiextensionsv1.CustomResourceDefinitionCondition) {
	names := crd.Spec.Names
	ok := apiextensionsv1.CustomResourceDefinitionCondition{
		Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue,
		Reason: "NoConflicts", Message: "no conflicts found",
	}
	conflict := func(reason, msg string) (apiextensionsv1.CustomResourceDefinitionNames, apiextensionsv1.CustomResourceDefinitionCondition) {
		return crd.Status.AcceptedNames, apiextensionsv1.CustomResourceDefinitionCondition{
			Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse, Reason: reason, Message: msg,
		}
	}
	if m.cfg.Builtin != nil && m.cfg.Builtin(crd.Spec.Group, names.Plural) {
		return conflict("PluralConflict", fmt.Sprintf("%q is already in use", names.Plural))
	}
	others, err := m.others(ctx, crd)
	if err != nil {
		return conflict("Error", err.Error())
	}
	for _, o := range others {
		on := o.Status.AcceptedNames
		taken := map[string]bool{on.Plural: true, on.Singular: true}
		for _, s := range on.ShortNames {
			taken[s] = true
		}
		switch {
		case taken[names.Plural]:
			return conflict("PluralConflict", fmt.Sprintf("%q is already in use", names.Plural))
		case taken[names.Singular]:
			return conflict("SingularConflict", fmt.Sprintf("%q is already in use", names.Singular))
		case on.Kind == names.Kind || on.ListKind == names.Kind:
			return conflict("KindConflict", fmt.Sprintf("%q is already in use", names.Kind))
		case on.Kind == names.ListKind || on.ListKind == names.ListKind:
			return conflict("ListKindConflict", fmt.Sprintf("%q is already in use", names.ListKind))
		}
		for _, s := range names.ShortNames {
			if taken[s] {
				return conflict("ShortNamesConflict", fmt.Sprintf("%q is already in use", s))
			}
		}
	}
	return names, ok
}

// others returns the other definitions of crd's group.
func (m *Manager) others(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	list, err := m.crds.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, raw := range list.Items {
		obj, err := m.crds.Decode(raw.JSON)
		if err != nil {
			continue
		}
		o := obj.(*apiextensionsv1.CustomResourceDefinition)
		if o.Name != crd.Name && o.Spec.Group == crd.Spec.Group {
			out = append(out, o)
		}
	}
	return out, nil
}

// serve builds and serves the endpoints of want (the definition with its
// accepted names) unless what is served was built from the same.
func (m *Manager) serve(want *apiextensionsv1.CustomResourceDefinition, d *definition) (*definition, error) {
	if d != nil && equality.Semantic.DeepEqual(d.built.Spec, want.Spec) && equality.Semantic.DeepEqual(d.built.Status.AcceptedNames, want.Status.AcceptedNames) {
		return d, nil
	}
	fresh := d == nil
	if fresh {
		prefix := registry.KeyPrefix(&registry.Resource{Group: want.Spec.Group, Plural: want.Status.AcceptedNames.Plural})
		st, release, err := m.cfg.Storage(prefix)
		if err != nil {
			return nil, err
		}
		d = &definition{uid: want.UID, storage: st, release: release}
	}
	s, err := buildServing(want, d.storage, m.cfg.Catalog.NewStore, d.terminating.Load)
	if err == nil {
		err = m.cfg.Server.SetDynamicEndpoints(want.Name, s.endpoints)
	}
	if err != nil {
		if fresh {
			d.release()
		}
		return nil, err
	}
	m.publish(want.Name, s)
	d.built = want.DeepCopy()
	d.stores = d.stores[:0]
	for _, ep := range s.endpoints {
		d.stores = append(d.stores, ep.Store)
	}
	if fresh {
		m.mu.Lock()
		m.served[want.Name] = d
		m.mu.Unlock()
	}
	return d, nil
}

// unserve stops serving a definition that is gone.
func (m *Manager) unserve(name string) error {
	m.mu.Lock()
	d := m.served[name]
	delete(m.served, name)
	m.mu.Unlock()
	if d == nil {
		return nil
	}
	err := m.cfg.Server.SetDynamicEndpoints(name, nil)
	m.publish(name, nil)
	d.release()
	return err
}

// writeStatus writes want's status over crd's when it differs.
func (m *Manager) writeStatus(ctx context.Context, crd, want *apiextensionsv1.CustomResourceDefinition) error {
	if statusEqual(crd.Status, want.Status) {
		return nil
	}
	_, err := m.crds.Update(ctx, "", crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*apiextensionsv1.CustomResourceDefinition).DeepCopy()
		if c.UID != want.UID {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: "apiextensions.k8s.io", Resource: "customresourcedefinitions"}, crd.Name, errors.New("the definition was replaced"))
		}
		c.Status.AcceptedNames = want.Status.AcceptedNames
		for _, cond := range want.Status.Conditions {
			apihelpers.SetCRDCondition(c, cond)
		}
		return c, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// statusEqual compares two statuses, ignoring when conditions changed.
func statusEqual(a, b apiextensionsv1.CustomResourceDefinitionStatus) bool {
	if !equality.Semantic.DeepEqual(a.AcceptedNames, b.AcceptedNames) || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for _, c := range b.Conditions {
		o := apihelpers.FindCRDCondition(&apiextensionsv1.CustomResourceDefinition{Status: a}, c.Type)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason || o.Message != c.Message {
			return false
		}
	}
	return true
}

// cleanUp deletes the custom resources of a definition being deleted,
// then removes the cleanup finalizer so that the definition goes. Creates
// are refused from the first look on. Resources that wait for finalizers
// of their own are looked at again later.
func (m *Manager) cleanUp(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, d *definition) (time.Duration, error) {
	d.terminating.Store(true)
	if !apihelpers.CRDHasFinalizer(crd, kinds.CRDCleanupFinalizer) {
		return 0, nil
	}
	store := d.stores[0]
	list, err := store.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return 0, err
	}
	var failed []string
	for _, raw := range list.Items {
		obj, err := store.Decode(raw.JSON)
		if err != nil {
			continue
		}
		om, _ := meta.Accessor(obj)
		if om.GetDeletionTimestamp() != nil {
			continue
		}
		if _, err := store.Delete(ctx, om.GetNamespace(), om.GetName(), &metav1.DeleteOptions{}, registry.WriteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			failed = append(failed, err.Error())
		}
	}
	left, err := store.List(ctx, "", registry.ListOptions{Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(left.Items) > 0 || len(failed) > 0 {
		cond := apiextensionsv1.CustomResourceDefinitionCondition{
			Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
			Reason: "InstanceDeletionInProgress", Message: "CustomResource deletion is in progress",
		}
		if len(failed) > 0 {
			cond.Reason, cond.Message = "InstanceDeletionFailed", fmt.Sprintf("could not delete instances: %v", failed)
		}
		want := crd.DeepCopy()
		apihelpers.SetCRDCondition(want, cond)
		if err := m.writeStatus(ctx, crd, want); err != nil {
			return 0, err
		}
		return 2 * time.Second, nil
	}
	_, err = m.crds.Update(ctx, "", crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*apiextensionsv1.CustomResourceDefinition).DeepCopy()
		apihelpers.CRDRemoveFinalizer(c, kinds.CRDCleanupFinalizer)
		return c, nil
	}, registry.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		err = nil
	}
	return 0, err
}

// methodNotAllowed refuses a create of a custom resource whose definition
// is being deleted, in kube-apiserver's words (405).
func methodNotAllowed(gr schema.GroupResource) error {
	err := apierrors.NewMethodNotSupported(gr, "create")
	err.ErrStatus.Message = "create not allowed while custom resource definition is terminating"
	return err
}

// Package registry is Cella's generic object store: it turns the storage
// contract's keys and bytes into Kubernetes objects, and runs every write
// through one fixed sequence of rules.
//
// A Resource describes one kind (names, scope, per-kind hooks, table columns,
// field selectors). A Store serves one Resource on top of a storage.Interface
// (in the server, a watch cache in front of the backend). Every error the
// storage layer returns is converted to an apimachinery StatusError here, in
// errors.go, and nowhere else: the HTTP layer only ever sees Status errors or
// unexpected failures (which it answers as a 500 with no internals).
//
// Write order, as in kube-apiserver's BeforeCreate/BeforeUpdate:
//
//	create: metadata fill (uid, creationTimestamp, generation) -> PrepareForCreate
//	        (may mutate) -> the write's field manager (WriteOptions.Track) ->
//	        GenerateForCreate (may mutate) -> Validate (must not) ->
//	        ValidateObjectMeta -> AdmitWrite (RBAC escalation) -> Admission
//	        (ResourceQuota; may charge, undone if the write fails) -> encode ->
//	        storage
//	update: preconditions -> PrepareForUpdate (may mutate; keeps status or spec
//	        depending on the subresource) -> generation bump -> ValidateUpdate ->
//	        AdmitWrite -> storage
//	delete: preconditions -> ValidateDelete -> grace period (GracefulDelete, as
//	        BeforeDelete: mark, shorten or leave a graceful deletion) ->
//	        finalizers and propagation policy -> storage (remove, or write the
//	        marks and answer Pending)
package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one stored kind. Hooks that are nil are skipped.
type Resource struct {
	// GroupVersion and Kind of the stored (and primary served) version.
	Group, Version, Kind string
	// Plural is the resource name in URLs ("deployments"); Singular is its
	// lower-case singular ("deployment").
	Plural, Singular string
	Namespaced       bool
	ShortNames       []string
	Categories       []string

	// New returns an empty object of the stored kind; NewList an empty list.
	New     func() runtime.Object
	NewList func() runtime.Object

	// ValidateName checks metadata.name; nil means a DNS subdomain, the
	// Kubernetes default. Path-segment rules always apply as well.
	ValidateName func(name string, prefix bool) []string

	// HasSpec marks kinds with a spec field: metadata.generation starts at 1
	// and is bumped when anything outside metadata and status changes.
	HasSpec bool
	// HasStatus marks kinds with a status subresource: updates of the main
	// resource keep the stored status, updates of /status keep everything else.
	HasStatus bool

	// PrepareForCreate normalises a new object (defaults, initial status).
	PrepareForCreate func(ctx context.Context, obj runtime.Object)
	// GenerateForCreate fills what the server generates for a new object,
	// as opposed to the defaults PrepareForCreate fills: it runs after the
	// write's field manager has recorded the write, so that the creator
	// does not come to own these fields, as kube-apiserver generates them
	// after its handlers' field managers ran (a Job's selector and the
	// labels that tie its pods to it). A client that later applies the
	// object without them (a client-side apply moved to server-side
	// apply) then leaves them alone instead of removing them.
	GenerateForCreate func(ctx context.Context, obj runtime.Object)
	// Validate checks a new object. It must not mutate it.
	Validate func(ctx context.Context, obj runtime.Object) field.ErrorList
	// PrepareForUpdate normalises an updated object given the stored one.
	PrepareForUpdate func(ctx context.Context, obj, old runtime.Object)
	// ValidateUpdate checks an update. It must not mutate either object.
	ValidateUpdate func(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// AdmitWrite may refuse a create (old is nil) or an update once it has
	// passed validation, before anything is written, with a Status error:
	// the RBAC kinds refuse grants the writer does not hold (403). Unlike
	// Validate it may read other objects and the user in ctx. It must not
	// mutate either object.
	AdmitWrite func(ctx context.Context, obj, old runtime.Object) error
	// ValidateDelete may refuse a delete (for example an EIPPool in use).
	ValidateDelete func(ctx context.Context, obj runtime.Object) error
	// GracefulDelete, when set, makes deletes of the kind graceful, as
	// Kubernetes' CheckGracefulDelete does for pods: it returns the grace
	// period, in seconds, of a delete of obj with opts, which it must not
	// change (opts.GracePeriodSeconds, when set, is never negative). A
	// grace period above zero marks the object (deletionTimestamp now plus
	// the grace period, deletionGracePeriodSeconds the grace period) and
	// leaves it in place for its owner (the node agent) to finish the
	// delete with a grace period of 0; zero deletes it at once, finalizers
	// permitting. A later delete may only shorten a grace period under way.
	GracefulDelete func(obj runtime.Object, opts *metav1.DeleteOptions) int64
	// PrepareForDelete, when set, runs on the first delete of an object
	// (one not yet marked for deletion), after ValidateDelete: it may add
	// finalizers and status that the removal then waits for, as
	// kube-apiserver's CustomResourceDefinition delete adds its cleanup
	// finalizer and Terminating condition.
	PrepareForDelete func(obj runtime.Object)
	// ReturnDeletedObject makes a completed delete answer the object, as
	// kube-apiserver does for pods, rather than a Status.
	ReturnDeletedObject bool

	// Finalized, when set, must also hold before an object marked for
	// deletion is removed (namespaces wait for spec.finalizers to empty).
	Finalized func(obj runtime.Object) bool

	// Scale, when set, serves the /scale subresource.
	Scale *ScaleFuncs

	// SubresourceUpdates are the subresources whose updates keep their
	// own part of the object, by name: /approval of certificate signing
	// requests, and /status where a kind keeps less or more than its
	// status there. One named here is served (get, update, patch) and
	// takes the place of the Store's own rule for that name.
	SubresourceUpdates map[string]*SubresourceUpdate

	// Fields returns the field-selector fields of an object beyond
	// metadata.name and metadata.namespace, which are always available.
	Fields func(obj runtime.Object) fields.Set

	// Columns and Row render the server-side Table (kubectl get). Row
	// returns the cells after the name, or every cell when NamedRow is set
	// (Events: Kubernetes prints their name last, in -o wide); nil Columns
	// gives Name and Age.
	Columns  []metav1.TableColumnDefinition
	Row      func(obj runtime.Object) []any
	NamedRow bool
}

// SubresourceUpdate is what an update through one subresource may change.
type SubresourceUpdate struct {
	// Fields is the path of the field the subresource writes (["status",
	// "conditions"]): the field managers of the subresource own only it.
	Fields []string
	// Prepare takes onto stored, a copy of the stored object, what the
	// subresource may change of written, the object the client sent. It
	// runs in place of PrepareForUpdate; ValidateUpdate follows, with
	// SubresourceOf(ctx) naming the subresource.
	Prepare func(ctx context.Context, stored, written runtime.Object)
}

// ScaleFuncs reads and writes the replica count of a scalable kind.
type ScaleFuncs struct {
	// Get returns spec replicas, status replicas and the label selector in
	// its string form.
	Get func(obj runtime.Object) (spec, status int32, selector string)
	// Set changes spec replicas.
	Set func(obj runtime.Object, replicas int32)
}

// GroupResource names the resource for errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Plural}
}

// GroupVersionKind of the stored version.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// KeyPrefix is the storage prefix of all objects of r:
// /registry/{group or "core"}/{plural}/.
func KeyPrefix(r *Resource) string {
	g := r.Group
	if g == "" {
		g = "core"
	}
	return "/registry/" + g + "/" + r.Plural + "/"
}

package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/storage"
)

// Raw is one stored object as JSON in its stored version, with
// metadata.resourceVersion set.
type Raw struct {
	JSON []byte
	// ResourceVersion is the object's mod revision.
	ResourceVersion int64
	// ModTime is when the write at ResourceVersion committed; zero when
	// storage does not know (see storage.KeyValue.ModTime). Only Get sets
	// it.
	ModTime time.Time
}

// NamespaceChecker tells whether objects may be created in a namespace. It
// returns a NotFound Status error for a missing namespace and a Forbidden one
// for a terminating namespace.
type NamespaceChecker func(ctx context.Context, namespace string) error

// Admission runs on a new object after validation and before it is
// written, as kube-apiserver's validating admission does; s is the Store
// the object goes to. It returns a Status error to refuse the object (403
// Forbidden for a ResourceQuota overrun), and a refusal leaves storage as it
// was. It may record, before the write, what the object will consume (a
// quota charge): undo, when not nil, takes that record back, and the Store
// calls it when the write then fails. With dryRun it only checks. It must
// be safe for concurrent use.
type Admission func(ctx context.Context, s *Store, obj runtime.Object, dryRun bool) (undo func(), err error)

// Store serves one Resource over storage. It is safe for concurrent use.
type Store struct {
	Resource *Resource
	storage  storage.Interface
	prefix   string
	// checkNamespace is nil for cluster-scoped resources and for namespaces.
	checkNamespace NamespaceChecker
	// admit is nil when creates are admitted without checks.
	admit Admission
	now   func() time.Time

	// Logger receives the one report of each damaged object (damaged.go);
	// nil discards it. Set it before the Store serves.
	Logger *slog.Logger
	// reported holds "key@revision" of the damaged values already logged.
	reported sync.Map
}

// NewStore returns a Store for r on s. checkNamespace guards creates of
// namespaced kinds; admit, when not nil, runs on every create after
// validation; now is the clock for timestamps.
func NewStore(r *Resource, s storage.Interface, checkNamespace NamespaceChecker, admit Admission, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{Resource: r, storage: s, prefix: KeyPrefix(r), checkNamespace: checkNamespace, admit: admit, now: now}
}

// Storage returns the storage the store writes to (the watch cache in the
// server).
func (s *Store) Storage() storage.Interface { return s.storage }

// Prefix is the storage key prefix of every object of the resource.
func (s *Store) Prefix() string { return s.prefix }

// KeyFor returns the storage key of an object.
func (s *Store) KeyFor(namespace, name string) string {
	if s.Resource.Namespaced {
		return s.prefix + namespace + "/" + name
	}
	return s.prefix + name
}

// listPrefix is the prefix for a list in namespace ("" = all namespaces).
func (s *Store) listPrefix(namespace string) string {
	if s.Resource.Namespaced && namespace != "" {
		return s.prefix + namespace + "/"
	}
	return s.prefix
}

func (s *Store) notFound(name string) error {
	return apierrors.NewNotFound(s.Resource.GroupResource(), name)
}

// Decode decodes stored or response JSON into a new object of the kind.
func (s *Store) Decode(data []byte) (runtime.Object, error) {
	obj := s.Resource.New()
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, fmt.Errorf("decoding stored %s: %w", s.Resource.Kind, err)
	}
	return obj, nil
}

// MaxObjectBytes is the largest stored form of an object: etcd's default
// request limit (--max-request-bytes, 1.5 MiB), so that what one backend
// takes the other takes too. A write whose object would be larger is a 413.
const MaxObjectBytes = 3 << 19

// encode returns the stored form of obj: JSON in the stored version, with no
// resourceVersion (see withResourceVersion). An object over MaxObjectBytes
// is a 413 RequestEntityTooLarge.
func (s *Store) encode(obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(s.Resource.GroupVersionKind())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	data, err := json.Marshal(obj)
	m.SetResourceVersion(rv)
	if err == nil && len(data) > MaxObjectBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the %s would take %d bytes in storage, more than the limit of %d bytes", s.Resource.Singular, len(data), MaxObjectBytes))
	}
	return data, err
}

// decodeKV decodes a stored value and sets its resourceVersion. A value
// that does not decode is a damaged object (damaged.go).
func (s *Store) decodeKV(kv storage.KeyValue) (runtime.Object, error) {
	obj, err := s.Decode(kv.Value)
	if err != nil {
		return nil, s.damaged(kv, err)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	m.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
	return obj, nil
}

// Get returns the stored JSON of one object.
func (s *Store) Get(ctx context.Context, namespace, name string) (Raw, error) {
	kv, err := s.storage.Get(ctx, s.KeyFor(namespace, name))
	if err != nil {
		return Raw{}, interpretError(err, s.Resource.GroupResource(), name)
	}
	if err := s.checkStored(kv); err != nil {
		return Raw{}, err
	}
	return Raw{JSON: withResourceVersion(kv.Value, kv.ModRevision), ResourceVersion: kv.ModRevision, ModTime: kv.ModTime}, nil
}

// GetStale returns one object as Get does, but lets the watch cache answer
// from memory (Kubernetes' resourceVersion=0 "any version" read); fromCache
// says whether it did. A cache answer may lag storage and carries no
// ModTime.
func (s *Store) GetStale(ctx context.Context, namespace, name string) (raw Raw, fromCache bool, err error) {
	key := s.KeyFor(namespace, name)
	// The first key at or after key under the prefix key is key itself
	// when it exists: a one-item stale list is a stale get.
	res, err := s.storage.List(ctx, key, storage.ListOptions{Stale: true, Limit: 1})
	if err != nil {
		return Raw{}, false, interpretError(err, s.Resource.GroupResource(), name)
	}
	if len(res.Items) == 0 || res.Items[0].Key != key {
		return Raw{}, res.FromCache, apierrors.NewNotFound(s.Resource.GroupResource(), name)
	}
	kv := res.Items[0]
	if err := s.checkStored(kv); err != nil {
		return Raw{}, res.FromCache, err
	}
	return Raw{JSON: withResourceVersion(kv.Value, kv.ModRevision), ResourceVersion: kv.ModRevision, ModTime: kv.ModTime}, res.FromCache, nil
}

// GetObject returns one object decoded.
func (s *Store) GetObject(ctx context.Context, namespace, name string) (runtime.Object, error) {
	kv, err := s.storage.Get(ctx, s.KeyFor(namespace, name))
	if err != nil {
		return nil, interpretError(err, s.Resource.GroupResource(), name)
	}
	return s.decodeKV(kv)
}

// ListOptions are the parsed list parameters.
type ListOptions struct {
	Labels labels.Selector
	Fields fields.Selector
	Limit  int64
	// Continue is the continue token of a previous page.
	Continue string
	// ResourceVersion and Match as in metav1.ListOptions.
	ResourceVersion string
	Match           metav1.ResourceVersionMatch
}

// ListResult is one page of a list.
type ListResult struct {
	Items              []Raw
	ResourceVersion    int64
	Continue           string
	RemainingItemCount *int64
	// FromCache is set when the page came from the watch cache
	// (resourceVersion=0), which may lag storage.
	FromCache bool
}

// List returns the objects in namespace ("" for all) that match the
// selectors.
func (s *Store) List(ctx context.Context, namespace string, o ListOptions) (*ListResult, error) {
	gr := s.Resource.GroupResource()
	so := storage.ListOptions{Limit: o.Limit, Continue: o.Continue}
	if o.ResourceVersion != "" {
		rv, err := strconv.ParseInt(o.ResourceVersion, 10, 64)
		if err != nil || rv < 0 {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a non-negative integer", o.ResourceVersion))
		}
		switch {
		case o.Continue != "":
			// The token carries its own revision.
		case rv == 0:
			so.Stale = true
		case o.Match == metav1.ResourceVersionMatchExact:
			so.Revision = rv
		default:
			// NotOlderThan (or legacy unset): the current state is never
			// older than rv, as long as rv is not in the future.
			cur, err := s.storage.CurrentRevision(ctx)
			if err != nil {
				return nil, interpretError(err, gr, "")
			}
			if rv > cur {
				return nil, interpretError(storage.ErrFutureRevision, gr, "")
			}
		}
	}
	if o.Continue != "" && o.ResourceVersion != "" && o.ResourceVersion != "0" {
		return nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	filter := s.filterFor(namespace, o)
	if filter != nil {
		// Filtering happens after paging in storage; page by hand so that
		// Limit counts matching items, as Kubernetes does.
		so.Limit = 0
	}
	prefix := s.listPrefix(namespace)
	res, err := s.storage.List(ctx, prefix, so)
	if err != nil {
		if errors.Is(err, storage.ErrCompacted) && o.Continue != "" {
			return nil, s.expiredContinue(ctx, prefix, o.Continue)
		}
		return nil, interpretError(err, gr, "")
	}
	out := &ListResult{ResourceVersion: res.Revision, Continue: res.Continue, FromCache: res.FromCache}
	if res.RemainingItemCount >= 0 && res.Continue != "" {
		n := res.RemainingItemCount
		out.RemainingItemCount = &n
	}
	out.Items = make([]Raw, 0, len(res.Items))
	for i, kv := range res.Items {
		if filter != nil {
			ok, err := filter(kv)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			if o.Limit > 0 && int64(len(out.Items)) == o.Limit {
				out.Continue = storage.EncodeContinue(prefix, res.Items[i-1].Key, res.Revision)
				break
			}
		} else if err := s.checkStored(kv); err != nil {
			return nil, err
		}
		out.Items = append(out.Items, Raw{JSON: withResourceVersion(kv.Value, kv.ModRevision), ResourceVersion: kv.ModRevision})
	}
	return out, nil
}

// expiredContinue builds the 410 for a compacted continue token, with a
// fresh token at the current revision.
func (s *Store) expiredContinue(ctx context.Context, prefix, token string) error {
	after, _, err := storage.DecodeContinue(prefix, token)
	if err != nil {
		return interpretError(err, s.Resource.GroupResource(), "")
	}
	cur, err := s.storage.CurrentRevision(ctx)
	if err != nil {
		return interpretError(err, s.Resource.GroupResource(), "")
	}
	return errExpiredContinue(storage.EncodeContinue(prefix, after, cur))
}

// filterFor returns a predicate on stored values, or nil when every object
// under the prefix matches.
func (s *Store) filterFor(namespace string, o ListOptions) func(storage.KeyValue) (bool, error) {
	lsel, fsel := o.Labels, o.Fields
	if lsel != nil && lsel.Empty() {
		lsel = nil
	}
	if fsel != nil && fsel.Empty() {
		fsel = nil
	}
	if lsel == nil && fsel == nil {
		return nil
	}
	return func(kv storage.KeyValue) (bool, error) {
		obj, err := s.Decode(kv.Value)
		if err != nil {
			return false, s.damaged(kv, err)
		}
		return s.Matches(obj, lsel, fsel), nil
	}
}

// Matches reports whether obj matches the selectors (nil matches all).
func (s *Store) Matches(obj runtime.Object, lsel labels.Selector, fsel fields.Selector) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if lsel != nil && !lsel.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if fsel != nil && !fsel.Matches(s.FieldSet(obj)) {
		return false
	}
	return true
}

// FieldSet returns the field-selector fields of obj.
func (s *Store) FieldSet(obj runtime.Object) fields.Set {
	m, _ := meta.Accessor(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if s.Resource.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if s.Resource.Fields != nil {
		for k, v := range s.Resource.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// WriteOptions apply to every write.
type WriteOptions struct {
	// DryRun runs every check and returns the result without storing it.
	DryRun bool
	// ManagedFields says that the caller maintains metadata.managedFields
	// (the API handlers' field managers, fieldmanager.go in apiserver):
	// the object's are stored as they are, through the main resource and
	// its subresources alike. Otherwise a create starts with none and an
	// update keeps the stored ones.
	ManagedFields bool
	// Track, when set, records the write in metadata.managedFields, and
	// implies ManagedFields. It is called once the object is prepared
	// (PrepareForCreate or PrepareForUpdate, so defaults and normalized
	// fields are seen as kube-apiserver's field managers see them after
	// decoding), before a create's GenerateForCreate (what the server
	// generates is nobody's) and before it is validated, with the stored
	// object before the write (nil for a create; it must not be changed)
	// and the prepared one, and returns the object to go on with.
	Track func(live, obj runtime.Object) (runtime.Object, error)
}

// keepsManagedFields reports whether the caller maintains managedFields.
func (o WriteOptions) keepsManagedFields() bool { return o.ManagedFields || o.Track != nil }

// Create stores a new object. The namespace must already be set on obj for
// namespaced kinds.
func (s *Store) Create(ctx context.Context, obj runtime.Object, o WriteOptions) (_ runtime.Object, err error) {
	r := s.Resource
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if !r.Namespaced {
		m.SetNamespace("")
	}
	if r.Namespaced && s.checkNamespace != nil {
		if err := s.checkNamespace(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	generated := m.GetName() == "" && m.GetGenerateName() != ""
	if generated {
		m.SetName(m.GetGenerateName() + randomSuffix(5))
	}
	m.SetUID(types.UID(uuid.NewString()))
	m.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetResourceVersion("")
	m.SetSelfLink("")
	if !o.keepsManagedFields() {
		m.SetManagedFields(nil)
	}
	if r.HasSpec {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if r.PrepareForCreate != nil {
		r.PrepareForCreate(ctx, obj)
	}
	if o.Track != nil {
		if obj, err = o.Track(nil, obj); err != nil {
			return nil, err
		}
		if m, err = meta.Accessor(obj); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	if r.GenerateForCreate != nil {
		r.GenerateForCreate(ctx, obj)
	}
	if errs := s.validateCreate(ctx, obj, m); len(errs) > 0 {
		return nil, apierrors.NewInvalid(r.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	if r.AdmitWrite != nil {
		if err := r.AdmitWrite(ctx, obj, nil); err != nil {
			return nil, err
		}
	}
	if s.admit != nil {
		undo, refused := s.admit(ctx, s, obj, o.DryRun)
		if refused != nil {
			return nil, refused
		}
		if undo != nil {
			defer func() {
				if err != nil { // the result: the write failed
					undo()
				}
			}()
		}
	}
	for attempt := 0; ; attempt++ {
		data, err := s.encode(obj)
		if err != nil {
			return nil, err
		}
		key := s.KeyFor(m.GetNamespace(), m.GetName())
		if o.DryRun {
			if _, err := s.storage.Get(ctx, key); err == nil {
				return nil, apierrors.NewAlreadyExists(r.GroupResource(), m.GetName())
			}
			return obj, nil
		}
		kv, err := s.storage.Create(ctx, key, data)
		if errors.Is(err, storage.ErrExists) && generated && attempt < 8 {
			// Like Kubernetes, a generated name that collides is retried
			// with a fresh suffix rather than reported.
			m.SetName(m.GetGenerateName() + randomSuffix(5))
			continue
		}
		if err != nil {
			return nil, interpretError(err, r.GroupResource(), m.GetName())
		}
		m.SetResourceVersion(strconv.FormatInt(kv.ModRevision, 10))
		return obj, nil
	}
}

func (s *Store) validateCreate(ctx context.Context, obj runtime.Object, m metav1.Object) field.ErrorList {
	r := s.Resource
	errs := metavalidation.ValidateObjectMetaAccessor(m, r.Namespaced, nameValidator(r), field.NewPath("metadata"))
	if r.Validate != nil {
		errs = append(errs, r.Validate(ctx, obj)...)
	}
	return errs
}

// nameValidator returns the name rule of a kind: path segment rules for
// every kind, DNS subdomain by default.
func nameValidator(r *Resource) metavalidation.ValidateNameFunc {
	return func(name string, prefix bool) []string {
		if msgs := path.IsValidPathSegmentName(name); len(msgs) > 0 {
			return msgs
		}
		if r.ValidateName != nil {
			return r.ValidateName(name, prefix)
		}
		return metavalidation.NameIsDNSSubdomain(name, prefix)
	}
}

// UpdateFunc computes the new object from the current one. It may return
// the current object modified in place.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// UpdateOptions say how an update is applied.
type UpdateOptions struct {
	WriteOptions
	// Subresource is "" for the main resource, else the subresource
	// written through ("status", "finalize", or one of the Resource's
	// SubresourceUpdates).
	Subresource string
	// Preconditions are checked against the current object on every try.
	Preconditions *metav1.Preconditions
}

// Update changes one object: it reads the current object, applies fn,
// checks, and writes guarded by the read revision. When the caller did not
// name a resourceVersion a conflicting concurrent write is retried with a
// fresh read; when it did, a mismatch is a 409 Conflict.
func (s *Store) Update(ctx context.Context, namespace, name string, fn UpdateFunc, o UpdateOptions) (runtime.Object, error) {
	r := s.Resource
	gr := r.GroupResource()
	key := s.KeyFor(namespace, name)
	for attempt := 0; ; attempt++ {
		kv, cur, curMeta, err := s.readForUpdate(ctx, key, name, o.Preconditions)
		if err != nil {
			return nil, err
		}
		old := cur.DeepCopyObject()
		obj, err := fn(cur)
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if m.GetName() != name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
		}
		wantRV := m.GetResourceVersion()
		if wantRV != "" && wantRV != curMeta.GetResourceVersion() {
			return nil, apierrors.NewConflict(gr, name, errors.New(ConflictMessage))
		}
		if wantRV == "" {
			// An unconditional update (kubectl replace of a file without a
			// resourceVersion), which Kubernetes allows for every built-in
			// kind: it applies to the current object.
			m.SetResourceVersion(curMeta.GetResourceVersion())
		}
		s.prepareForUpdate(ctx, obj, old, o.Subresource, o.keepsManagedFields())
		if o.Track != nil {
			if obj, err = o.Track(old, obj); err != nil {
				return nil, err
			}
			if m, err = meta.Accessor(obj); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		vctx := context.WithValue(ctx, subresourceKey{}, o.Subresource)
		if errs := s.validateUpdate(vctx, obj, old); len(errs) > 0 {
			return nil, apierrors.NewInvalid(r.GroupVersionKind().GroupKind(), name, errs)
		}
		if r.AdmitWrite != nil {
			if err := r.AdmitWrite(vctx, obj, old); err != nil {
				return nil, err
			}
		}
		data, err := s.encode(obj)
		if err != nil {
			return nil, err
		}
		if bytes.Equal(data, kv.Value) {
			// Nothing changed: like Kubernetes, answer the stored object
			// without a write, so the resourceVersion stays.
			return old, nil
		}
		if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && (r.Finalized == nil || r.Finalized(obj)) && !inGracePeriod(m) {
			// The last finalizer went away from an object being deleted:
			// the update completes the delete. An object in a grace
			// period (a terminating pod) stays until a delete ends it,
			// so that its owner can still write its status.
			if o.DryRun {
				return obj, nil
			}
			dkv, err := s.storage.Delete(ctx, key, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) && wantRV == "" && attempt < 16 {
				continue
			}
			if err != nil {
				return nil, interpretError(err, gr, name)
			}
			m.SetResourceVersion(strconv.FormatInt(dkv.ModRevision, 10))
			return obj, nil
		}
		if o.DryRun {
			return obj, nil
		}
		nkv, err := s.storage.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) && wantRV == "" && attempt < 16 {
			continue
		}
		if err != nil {
			return nil, interpretError(err, gr, name)
		}
		m.SetResourceVersion(strconv.FormatInt(nkv.ModRevision, 10))
		return obj, nil
	}
}

// GuaranteedUpdate changes one object through fn, as kube-apiserver's
// storage GuaranteedUpdate does for the subresources that own their rules
// (pods/binding): it reads the current object, checks the preconditions,
// lets fn change it in place, and writes it guarded by the revision read,
// starting again from a fresh read when a concurrent write won. It runs none
// of the Resource's hooks, so fn must leave the object valid; an error from
// fn is returned as it is. With DryRun nothing is written. It returns the
// object as written.
func (s *Store) GuaranteedUpdate(ctx context.Context, namespace, name string, p *metav1.Preconditions, fn func(cur runtime.Object) error, o WriteOptions) (runtime.Object, error) {
	gr := s.Resource.GroupResource()
	key := s.KeyFor(namespace, name)
	for attempt := 0; ; attempt++ {
		kv, obj, m, err := s.readForUpdate(ctx, key, name, p)
		if err != nil {
			return nil, err
		}
		if err := fn(obj); err != nil {
			return nil, err
		}
		data, err := s.encode(obj)
		if err != nil {
			return nil, err
		}
		if o.DryRun || bytes.Equal(data, kv.Value) {
			return obj, nil
		}
		nkv, err := s.storage.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) && attempt < 16 {
			continue
		}
		if err != nil {
			return nil, interpretError(err, gr, name)
		}
		m.SetResourceVersion(strconv.FormatInt(nkv.ModRevision, 10))
		return obj, nil
	}
}

// readForUpdate is the read of each try of a read-modify-write: the
// current value of key decoded, checked against the preconditions. A
// context that ended (the deadline passed, or the client left, while an
// earlier try worked) starts no further try.
func (s *Store) readForUpdate(ctx context.Context, key, name string, p *metav1.Preconditions) (storage.KeyValue, runtime.Object, metav1.Object, error) {
	gr := s.Resource.GroupResource()
	if err := ctx.Err(); err != nil {
		return storage.KeyValue{}, nil, nil, interpretError(err, gr, name)
	}
	kv, err := s.storage.Get(ctx, key)
	if err != nil {
		return storage.KeyValue{}, nil, nil, interpretError(err, gr, name)
	}
	obj, err := s.decodeKV(kv)
	if err != nil {
		return storage.KeyValue{}, nil, nil, err
	}
	m, _ := meta.Accessor(obj)
	if err := checkPreconditions(p, m, gr, name); err != nil {
		return storage.KeyValue{}, nil, nil, err
	}
	return kv, obj, m, nil
}

// prepareForUpdate keeps what the caller may not change through this
// endpoint and bumps the generation. The object's managedFields are kept
// when the caller maintains them (keepManaged), else the stored ones.
func (s *Store) prepareForUpdate(ctx context.Context, obj, old runtime.Object, subresource string, keepManaged bool) {
	r := s.Resource
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	if keepManaged {
		managed := m.GetManagedFields()
		defer func() {
			// The subresource cases below replace obj by a copy of old.
			m, _ := meta.Accessor(obj)
			m.SetManagedFields(managed)
		}()
	}
	// System fields are the server's.
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	m.SetSelfLink("")
	m.SetManagedFields(om.GetManagedFields())
	if !r.Namespaced {
		m.SetNamespace("")
	}
	switch u := r.SubresourceUpdates[subresource]; {
	case u != nil && subresource != "":
		// The subresource's own rule: only what it writes changes.
		fresh := old.DeepCopyObject()
		fm, _ := meta.Accessor(fresh)
		u.Prepare(ctx, fresh, obj)
		fm.SetResourceVersion(m.GetResourceVersion())
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(fresh).Elem())
		return
	case subresource == "finalize":
		// Only spec changes through /finalize (namespaces' spec.finalizers).
		fresh := old.DeepCopyObject()
		fm, _ := meta.Accessor(fresh)
		if sp := fieldValue(obj, "Spec"); sp.IsValid() {
			fieldValue(fresh, "Spec").Set(sp)
		}
		fm.SetResourceVersion(m.GetResourceVersion())
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(fresh).Elem())
		return
	case subresource == "status":
		// Only status (and the metadata keepMeta names) changes through
		// /status: take it onto the old object.
		fresh := old.DeepCopyObject()
		fm, _ := meta.Accessor(fresh)
		copyStatus(fresh, obj)
		KeepMeta(fm, m)
		fm.SetResourceVersion(m.GetResourceVersion())
		reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(fresh).Elem())
		return
	case r.HasStatus:
		copyStatus(obj, old)
	}
	if r.PrepareForUpdate != nil {
		r.PrepareForUpdate(ctx, obj, old)
	}
	if r.HasSpec && specChanged(obj, old) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
}

func (s *Store) validateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	r := s.Resource
	m, _ := meta.Accessor(obj)
	om, _ := meta.Accessor(old)
	errs := metavalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
	errs = append(errs, metavalidation.ValidateObjectMetaAccessor(m, r.Namespaced, nameValidator(r), field.NewPath("metadata"))...)
	if r.ValidateUpdate != nil {
		errs = append(errs, r.ValidateUpdate(ctx, obj, old)...)
	} else if r.Validate != nil {
		errs = append(errs, r.Validate(ctx, obj)...)
	}
	return errs
}

// fieldValue returns the named top-level field of a struct pointer, or the
// zero Value.
func fieldValue(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// KeepMeta carries onto fresh the metadata a write through /status may
// change: labels, annotations, finalizers and owner references, as
// kube-apiserver's status strategies keep the request's metadata (the
// system fields were reset to the stored ones before). A kind's own
// SubresourceUpdates decide for themselves (the CSRs' /status and
// /approval keep it).
func KeepMeta(fresh, req metav1.Object) {
	fresh.SetLabels(req.GetLabels())
	fresh.SetAnnotations(req.GetAnnotations())
	fresh.SetFinalizers(req.GetFinalizers())
	fresh.SetOwnerReferences(req.GetOwnerReferences())
}

// copyStatus sets dst's status to src's (typed kinds: the Status field;
// unstructured ones: the "status" key, removed when src has none).
func copyStatus(dst, src runtime.Object) {
	if du, ok := dst.(*unstructured.Unstructured); ok {
		su := src.(*unstructured.Unstructured)
		if st, ok := su.Object["status"]; ok {
			du.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(du.Object, "status")
		}
		return
	}
	if st := fieldValue(src, "Status"); st.IsValid() {
		fieldValue(dst, "Status").Set(st)
	}
}

// specChanged reports whether anything outside metadata and status differs.
func specChanged(obj, old runtime.Object) bool {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// Custom resources: as kube-apiserver's strategy compares them,
		// everything but metadata (status included when it is not a
		// subresource of its own: then it is the old one here).
		ou := old.(*unstructured.Unstructured)
		return !equality.Semantic.DeepEqual(withoutMeta(u.Object), withoutMeta(ou.Object))
	}
	v, ov := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !equality.Semantic.DeepEqual(v.Field(i).Interface(), ov.Field(i).Interface()) {
			return true
		}
	}
	return false
}

func checkPreconditions(p *metav1.Preconditions, m metav1.Object, gr schema.GroupResource, name string) error {
	if p == nil {
		return nil
	}
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}

// DeleteResult says how a delete ended.
type DeleteResult struct {
	// Object is the deleted object, or the object marked for deletion.
	Object runtime.Object
	// Pending is true when the object still exists with a deletionTimestamp
	// (finalizers, foreground deletion, a grace period): HTTP 202.
	Pending bool
}

// inGracePeriod reports an object marked for a graceful deletion that has
// not ended: deletionGracePeriodSeconds above zero. Only a delete ends it.
func inGracePeriod(m metav1.Object) bool {
	g := m.GetDeletionGracePeriodSeconds()
	return m.GetDeletionTimestamp() != nil && g != nil && *g > 0
}

// graceStep is what a delete does to an object of a kind with graceful
// deletion, decided as kube-apiserver's BeforeDelete decides it.
type graceStep int

const (
	// graceNone: the kind has no graceful deletion, or a deletion with no
	// grace period left is under way; finalizers alone decide.
	graceNone graceStep = iota
	// graceMark: the delete sets the deletion marks (deadline and grace
	// period); a grace period of zero then deletes, finalizers permitting.
	graceMark
	// gracePending: a graceful deletion is under way and this delete does
	// not shorten it; nothing changes.
	gracePending
)

// gracePeriod decides a delete of obj (metadata m) with opts, whose grace
// period is not negative. For graceMark it returns the new deletionTimestamp
// and deletionGracePeriodSeconds; it changes nothing itself.
func (s *Store) gracePeriod(obj runtime.Object, m metav1.Object, opts *metav1.DeleteOptions) (graceStep, metav1.Time, int64) {
	if s.Resource.GracefulDelete == nil {
		return graceNone, metav1.Time{}, 0
	}
	if ts := m.GetDeletionTimestamp(); ts != nil {
		cur := m.GetDeletionGracePeriodSeconds()
		if cur == nil || *cur <= 0 {
			// Marked with no grace left (or by a finalizer-only delete):
			// nothing is waited for but finalizers.
			return graceNone, metav1.Time{}, 0
		}
		// Only a shorter grace period may be given; the deadline moves
		// back by the difference.
		if g := opts.GracePeriodSeconds; g != nil && *g < *cur {
			return graceMark, metav1.NewTime(ts.Add(time.Duration(*g-*cur) * time.Second)), *g
		}
		return gracePending, metav1.Time{}, 0
	}
	g := s.Resource.GracefulDelete(obj, opts)
	return graceMark, metav1.NewTime(s.now().Truncate(time.Second).Add(time.Duration(g) * time.Second)), g
}

// Delete removes one object, or marks it for deletion when finalizers, the
// propagation policy or a grace period (Resource.GracefulDelete) make it
// wait.
func (s *Store) Delete(ctx context.Context, namespace, name string, opts *metav1.DeleteOptions, o WriteOptions) (DeleteResult, error) {
	r := s.Resource
	gr := r.GroupResource()
	key := s.KeyFor(namespace, name)
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return DeleteResult{}, apierrors.NewBadRequest("using both OrphanDependents and PropagationPolicy is not allowed")
	}
	policy := metav1.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
		switch policy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return DeleteResult{}, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy %q is not supported: use Foreground, Background or Orphan", policy))
		}
	} else if opts.OrphanDependents != nil && *opts.OrphanDependents {
		policy = metav1.DeletePropagationOrphan
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		// As in Kubernetes, a negative grace period means one second. The
		// caller's options are not changed: DeleteCollection shares them.
		c := *opts
		one := int64(1)
		c.GracePeriodSeconds = &one
		opts = &c
	}
	for attempt := 0; ; attempt++ {
		kv, err := s.storage.Get(ctx, key)
		if err != nil {
			return DeleteResult{}, interpretError(err, gr, name)
		}
		obj, err := s.decodeKV(kv)
		if isDamaged(err) {
			// Nothing of it can be read, so no finalizer holds it and only
			// a resourceVersion precondition can be checked.
			if p := opts.Preconditions; p != nil && p.UID != nil {
				return DeleteResult{}, err
			}
			if p := opts.Preconditions; p != nil && p.ResourceVersion != nil && *p.ResourceVersion != strconv.FormatInt(kv.ModRevision, 10) {
				return DeleteResult{}, apierrors.NewConflict(gr, name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, kv.ModRevision))
			}
			if o.DryRun {
				return DeleteResult{Object: s.placeholder(namespace, name, kv.ModRevision)}, nil
			}
			dkv, derr := s.storage.Delete(ctx, key, kv.ModRevision)
			if errors.Is(derr, storage.ErrConflict) && attempt < 16 {
				continue
			}
			if derr != nil {
				return DeleteResult{}, interpretError(derr, gr, name)
			}
			return DeleteResult{Object: s.placeholder(namespace, name, dkv.ModRevision)}, nil
		}
		if err != nil {
			return DeleteResult{}, err
		}
		m, _ := meta.Accessor(obj)
		if err := checkPreconditions(opts.Preconditions, m, gr, name); err != nil {
			return DeleteResult{}, err
		}
		if r.ValidateDelete != nil {
			if err := r.ValidateDelete(ctx, obj); err != nil {
				return DeleteResult{}, err
			}
		}
		if r.PrepareForDelete != nil && m.GetDeletionTimestamp() == nil {
			r.PrepareForDelete(obj)
		}
		step, deadline, grace := s.gracePeriod(obj, m, opts)
		if step == gracePending {
			// As in Kubernetes, finalizers cannot be changed through
			// DeleteOptions once a graceful deletion has begun.
			return DeleteResult{Object: obj, Pending: true}, nil
		}
		finalizers := m.GetFinalizers()
		switch policy {
		case metav1.DeletePropagationForeground:
			finalizers = addString(finalizers, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			finalizers = addString(finalizers, metav1.FinalizerOrphanDependents)
		}
		// Namespaces drain before they go: they wait for spec.finalizers.
		nsPending := r.Finalized != nil && !r.Finalized(obj)
		if len(finalizers) == 0 && !nsPending && (step != graceMark || grace == 0) {
			if o.DryRun {
				return DeleteResult{Object: obj}, nil
			}
			dkv, err := s.storage.Delete(ctx, key, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) && attempt < 16 {
				continue
			}
			if err != nil {
				return DeleteResult{}, interpretError(err, gr, name)
			}
			m.SetResourceVersion(strconv.FormatInt(dkv.ModRevision, 10))
			return DeleteResult{Object: obj}, nil
		}
		// Mark for deletion and let the finalizers' owners, or the owner
		// of the grace period, finish it.
		switch {
		case step == graceMark:
			if m.GetDeletionTimestamp() == nil && m.GetGeneration() > 0 {
				// As Kubernetes does on the first graceful mark: the
				// object's controllers see a new generation.
				m.SetGeneration(m.GetGeneration() + 1)
			}
			m.SetDeletionTimestamp(&deadline)
			m.SetDeletionGracePeriodSeconds(&grace)
		case m.GetDeletionTimestamp() != nil && len(finalizers) == len(m.GetFinalizers()):
			return DeleteResult{Object: obj, Pending: true}, nil
		case m.GetDeletionTimestamp() == nil:
			now := metav1.NewTime(s.now().Truncate(time.Second))
			m.SetDeletionTimestamp(&now)
			zero := int64(0)
			m.SetDeletionGracePeriodSeconds(&zero)
		}
		m.SetFinalizers(finalizers)
		if nsPending {
			// The phase is the namespace's only status field; set it
			// without importing core types here.
			if st := fieldValue(obj, "Status"); st.IsValid() {
				if ph := st.FieldByName("Phase"); ph.IsValid() && ph.Kind() == reflect.String {
					ph.SetString("Terminating")
				}
			}
		}
		if o.DryRun {
			return DeleteResult{Object: obj, Pending: true}, nil
		}
		data, err := s.encode(obj)
		if err != nil {
			return DeleteResult{}, err
		}
		nkv, err := s.storage.Update(ctx, key, data, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) && attempt < 16 {
			continue
		}
		if err != nil {
			return DeleteResult{}, interpretError(err, gr, name)
		}
		m.SetResourceVersion(strconv.FormatInt(nkv.ModRevision, 10))
		return DeleteResult{Object: obj, Pending: true}, nil
	}
}

// DeleteCollection deletes, as Delete does each, every object in namespace
// ("" for all) that the selectors of lo match, and returns what was deleted
// or marked for deletion, and the revision of the list it started from.
// Objects deleted meanwhile by someone else are skipped. Without selectors
// damaged objects are deleted too (damaged.go); with selectors a damaged
// object fails the request, since whether it matches cannot be told.
func (s *Store) DeleteCollection(ctx context.Context, namespace string, lo ListOptions, opts *metav1.DeleteOptions, o WriteOptions) ([]runtime.Object, int64, error) {
	gr := s.Resource.GroupResource()
	filter := s.filterFor(namespace, lo)
	res, err := s.storage.List(ctx, s.listPrefix(namespace), storage.ListOptions{})
	if err != nil {
		return nil, 0, interpretError(err, gr, "")
	}
	out := make([]runtime.Object, 0, len(res.Items))
	for _, kv := range res.Items {
		if filter != nil {
			ok, err := filter(kv)
			if err != nil {
				return nil, 0, err
			}
			if !ok {
				continue
			}
		}
		ns, name := s.splitKey(kv.Key)
		dr, err := s.Delete(ctx, ns, name, opts, o)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		out = append(out, dr.Object)
	}
	return out, res.Revision, nil
}

// splitKey returns the namespace and name of a key under the Store's prefix.
func (s *Store) splitKey(key string) (namespace, name string) {
	rest := strings.TrimPrefix(key, s.prefix)
	if !s.Resource.Namespaced {
		return "", rest
	}
	namespace, name, _ = strings.Cut(rest, "/")
	return namespace, name
}

func addString(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(append([]string(nil), list...), s)
}

// withoutMeta is a shallow copy of an unstructured object without its
// metadata and type fields: what a change of bumps the generation.
func withoutMeta(obj map[string]any) map[string]any {
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		switch k {
		case "metadata", "apiVersion", "kind":
			continue
		}
		out[k] = v
	}
	return out
}

type subresourceKey struct{}

// SubresourceOf returns the subresource an update came through ("" for
// the object itself), in the context the Store gives a Resource's
// ValidateUpdate and AdmitWrite.
func SubresourceOf(ctx context.Context) string {
	s, _ := ctx.Value(subresourceKey{}).(string)
	return s
}

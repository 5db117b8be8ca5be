// Package kinds is the catalogue of what Cella serves: one registry.Resource
// per stored kind, with its rules (defaults, validation, CCI profile rules),
// its table columns and its field selectors, and the Endpoints that serve
// each of them in one or more API versions.
//
// Files are per API group: core.go, apps.go, batch.go, coordination.go, ...;
// the pod lifecycle rules that core.go's pods use (binding, graceful
// deletion, QoS class) are in pods.go and the node rules in nodes.go. Each
// resource's rules run in the registry's fixed order (prepare, validate).
package kinds

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/cci"
	"cella.dev/cella/internal/storage"
)

// Profile names a set of validation rules.
type Profile string

const (
	// ProfileCCI applies CCI's rules on top of Kubernetes' (the default).
	ProfileCCI Profile = "cci"
	// ProfileKubernetes applies Kubernetes' rules only.
	ProfileKubernetes Profile = "kubernetes"
)

// Config chooses the rules of the catalogue.
type Config struct {
	Profile Profile
	// Flavors are the allowed instance specifications (profile cci).
	Flavors cci.Flavors
	// RunsPods says that a runtime runs the pods (a node agent and the
	// scheduler serve this server). Without one, the zero value, a new pod
	// is given PodScheduled=False with reason NoRuntime, saying it will
	// not run; with one it starts Pending with no conditions, for the
	// scheduler to bind.
	RunsPods bool
	// Now is the clock for ages and timestamps.
	Now func() time.Time
	// Admission, when set, builds the admission that every create of a
	// namespaced kind passes after validation (ResourceQuota enforcement).
	// Build calls it once, with the finished catalogue.
	Admission func(*Catalog) registry.Admission
	// PolicyAdmission, when set, builds the check every create and update
	// of Roles, ClusterRoles, RoleBindings and ClusterRoleBindings passes
	// after validation: in the server, RBAC's escalation prevention
	// (auth.EscalationGuard.Admit). Build calls it once, with the finished
	// catalogue. Without it those writes are not checked.
	PolicyAdmission func(*Catalog) func(ctx context.Context, obj, old runtime.Object) error
	// LimitRanger, when set, builds the LimitRange admission of pods and
	// persistent volume claims (admission.LimitRanger). Build calls it once,
	// with the finished catalogue. Without it LimitRanges are stored and
	// not applied.
	LimitRanger func(*Catalog) LimitRanger
	// ServiceAccounts, when set, builds the ServiceAccount admission of
	// new pods (admission.ServiceAccounts). Build calls it once, with the
	// finished catalogue. Without it a pod's serviceAccountName defaults
	// to "default" and nothing else is checked or added.
	ServiceAccounts func(*Catalog) ServiceAccountAdmission
	// PodSecurity, when set, builds the PodSecurity admission of pods,
	// namespaces and the kinds with pod templates
	// (admission.PodSecurity). Build calls it once, with the finished
	// catalogue, and fails with its error.
	PodSecurity func(*Catalog) (PodSecurityAdmission, error)
	// Authorizer, when set, builds the authorizer that certificate
	// writes ask whether their user may approve, sign or attest for a
	// signer (CertificateApproval, CertificateSigning and
	// ClusterTrustBundleAttest admission). Build calls it once, with the
	// finished catalogue, after PolicyAdmission. Without it those writes
	// are not checked.
	Authorizer func(*Catalog) auth.Authorizer
	// Logger receives what the Stores report (damaged objects); nil
	// discards it.
	Logger *slog.Logger
}

func (c *Config) cci() bool { return c.Profile != ProfileKubernetes }

// Verbs of an ordinary stored resource.
var (
	allVerbs      = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	readOnlyVerbs = []string{"get", "list", "watch"}
)

// Catalog is every Store and Endpoint of the server.
type Catalog struct {
	// Stores by resource plural and group ("apps/deployments", "/pods").
	Stores    map[string]*registry.Store
	Endpoints []*registry.Endpoint
	builder   *builder
}

// NewStore makes a Store for a kind the catalogue does not hold (a custom
// resource) with the rules the catalogue's stores share: namespaced
// creates need a live namespace and pass admission (quota). The Store is
// not added to Stores.
func (c *Catalog) NewStore(r *registry.Resource, st storage.Interface) *registry.Store {
	return c.builder.newStore(r, st)
}

// Store returns the store of group/plural ("" group for core).
func (c *Catalog) Store(group, plural string) *registry.Store {
	return c.Stores[group+"/"+plural]
}

// StorageFor gives each resource its storage (in the server, a watch cache
// over the backend for the resource's key prefix).
type StorageFor func(prefix string) (storage.Interface, error)

// builder accumulates the catalogue.
type builder struct {
	cfg     *Config
	cat     *Catalog
	storeOf StorageFor
	checkNS registry.NamespaceChecker
	// admit and admitPolicy are set at the end of Build, before any Store
	// serves.
	admit       registry.Admission
	admitPolicy func(ctx context.Context, obj, old runtime.Object) error
	limits      LimitRanger
	accounts    ServiceAccountAdmission
	podSecurity PodSecurityAdmission
	authz       auth.Authorizer
	err         error
}

// ServiceAccountAdmission is the ServiceAccount admission of new pods:
// Default names the pod's ServiceAccount and mounts its token (after the
// write's field manager, before validation), Admit refuses a pod whose
// ServiceAccount does not exist (403, after validation).
type ServiceAccountAdmission interface {
	Default(ctx context.Context, pod *corev1.Pod)
	Admit(ctx context.Context, pod *corev1.Pod) error
}

// PodSecurityAdmission checks the writes of the resources it Handles
// against the Pod Security Standards, after validation: Admit refuses a
// create (old is nil) or update with a Status error and adds warnings to
// the request (warning.Add).
type PodSecurityAdmission interface {
	Handles(gr schema.GroupResource) bool
	Admit(ctx context.Context, gr schema.GroupResource, gvk schema.GroupVersionKind, obj, old runtime.Object) error
}

// LimitRanger is LimitRange admission: Default fills a new pod's missing
// requests and limits (before validation), Admit refuses a new pod or
// claim that breaks a min, max or ratio (403, after validation).
type LimitRanger interface {
	Default(ctx context.Context, pod *corev1.Pod)
	Admit(ctx context.Context, obj runtime.Object) error
}

// admitLimits is the AdmitWrite of pods and claims: LimitRange admission
// on creates (old is nil); updates pass, as resources do not change.
func (b *builder) admitLimits(ctx context.Context, obj, old runtime.Object) error {
	if old != nil || b.limits == nil {
		return nil
	}
	return b.limits.Admit(ctx, obj)
}

// admitPod is the AdmitWrite of pods: ServiceAccount admission, then
// LimitRange admission, on creates; updates pass.
func (b *builder) admitPod(ctx context.Context, obj, old runtime.Object) error {
	if old != nil {
		return nil
	}
	if b.accounts != nil {
		if err := b.accounts.Admit(ctx, obj.(*corev1.Pod)); err != nil {
			return err
		}
	}
	return b.admitLimits(ctx, obj, old)
}

// checkPodSecurity makes r's writes pass PodSecurity admission after its
// own AdmitWrite, when r is one that PodSecurity handles.
func (b *builder) checkPodSecurity(r *registry.Resource) {
	own, gr, gvk := r.AdmitWrite, r.GroupResource(), r.GroupVersionKind()
	r.AdmitWrite = func(ctx context.Context, obj, old runtime.Object) error {
		if own != nil {
			if err := own(ctx, obj, old); err != nil {
				return err
			}
		}
		if b.podSecurity == nil || !b.podSecurity.Handles(gr) {
			return nil
		}
		return b.podSecurity.Admit(ctx, gr, gvk, obj, old)
	}
}

// stored adds a stored resource served in its own version.
func (b *builder) stored(r *registry.Resource, subresources ...string) *registry.Store {
	if b.err != nil {
		return nil
	}
	st, err := b.storeOf(registry.KeyPrefix(r))
	if err != nil {
		b.err = err
		return nil
	}
	if b.cfg.PodSecurity != nil {
		b.checkPodSecurity(r)
	}
	s := b.newStore(r, st)
	b.cat.Stores[r.Group+"/"+r.Plural] = s
	b.cat.Endpoints = append(b.cat.Endpoints, &registry.Endpoint{
		Group: r.Group, Version: r.Version, Kind: r.Kind, Store: s, Resource: r,
		New: r.New, NewList: r.NewList, Subresources: subresources, Verbs: allVerbs,
	})
	return s
}

// newStore makes the Store of r on st with the rules every namespaced
// kind shares: the namespace must exist and not be terminating, and
// creates pass admission (quota).
func (b *builder) newStore(r *registry.Resource, st storage.Interface) *registry.Store {
	var check registry.NamespaceChecker
	var admit registry.Admission
	if r.Namespaced {
		check = func(ctx context.Context, ns string) error { return b.checkNS(ctx, ns) }
		admit = func(ctx context.Context, s *registry.Store, obj runtime.Object, dryRun bool) (func(), error) {
			if b.admit == nil {
				return nil, nil
			}
			return b.admit(ctx, s, obj, dryRun)
		}
	}
	s := registry.NewStore(r, st, check, admit, b.cfg.Now)
	s.Logger = b.cfg.Logger
	return s
}

// alias serves a stored resource in another group/version through
// converters.
func (b *builder) alias(s *registry.Store, group, version, kind string, newObj, newList func() runtime.Object,
	toStored, fromStored func(runtime.Object) (runtime.Object, error), subresources ...string) {
	if b.err != nil || s == nil {
		return
	}
	b.cat.Endpoints = append(b.cat.Endpoints, &registry.Endpoint{
		Group: group, Version: version, Kind: kind, Store: s, Resource: s.Resource,
		New: newObj, NewList: newList, ToStored: toStored, FromStored: fromStored,
		Subresources: subresources, Verbs: allVerbs,
	})
}

// age is the Age cell of an object.
func (b *builder) age(m metav1.Object) string {
	ts := m.GetCreationTimestamp()
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(b.cfg.Now().Sub(ts.Time))
}

// since renders a duration since t, or "<none>".
func (b *builder) since(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "<none>"
	}
	return duration.HumanDuration(b.cfg.Now().Sub(t.Time))
}

// invalidEach turns the messages of one of apimachinery's validation.Is…
// checks of value into field errors at p.
func invalidEach(p *field.Path, value any, msgs []string) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(p, value, msg))
	}
	return errs
}

// col is a table column.
func col(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc}
}

// wide is a column shown only with -o wide.
func wide(name, typ, desc string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: 1}
}

var ageColumn = col("Age", "string", "CreationTimestamp is the time the object was created.")

// noValidation is a Validate hook for kinds without rules of their own.
func noValidation(context.Context, runtime.Object) field.ErrorList { return nil }

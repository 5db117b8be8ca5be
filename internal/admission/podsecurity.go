package admission

import (
	"context"
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psadmission "k8s.io/pod-security-admission/admission"
	psaconfig "k8s.io/pod-security-admission/admission/api"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/warning"
)

// PodSecurityLevel is a Pod Security Standard.
type PodSecurityLevel string

// The Pod Security Standards, from least to most restricted.
const (
	Privileged PodSecurityLevel = "privileged"
	Baseline   PodSecurityLevel = "baseline"
	Restricted PodSecurityLevel = "restricted"
)

// PodSecurity is kube-apiserver's PodSecurity admission plugin, the
// evaluation being k8s.io/pod-security-admission's own. A namespace's
// labels pod-security.kubernetes.io/enforce, warn and audit (each with an
// optional -version) choose the Pod Security Standard its pods are held
// to; a namespace without them gets the server's defaults.
//
//   - Pods (create, and updates that change an image or add an ephemeral
//     container): one that breaks the enforce level is refused, 403
//     `pods "x" is forbidden: violates PodSecurity "restricted:latest":
//     ...`; one that breaks the warn level is admitted with a Warning.
//   - Kinds with a pod template (Deployments, ReplicaSets, StatefulSets,
//     DaemonSets, Jobs, CronJobs, ReplicationControllers, PodTemplates):
//     warnings only, for the enforce and warn levels alike, as in
//     Kubernetes. An update is looked at when the template changed (a
//     write through /status or /scale changes none).
//   - Namespaces: labels naming no level or version are refused (422); a
//     stricter enforce level warns of the existing pods that break it.
//
// Audit levels are evaluated by the library but not recorded: Cella has
// no audit log, where kube-apiserver writes them as audit annotations.
// Namespaces and pods are read from the watch caches.
type PodSecurity struct {
	psa        *psadmission.Admission
	namespaces *registry.Store
	pods       *registry.Store
}

// NewPodSecurity returns PodSecurity admission reading namespaces and pods
// (their Stores). enforce, warn and audit are the defaults for namespaces
// that do not say, at the latest version; Kubernetes' defaults are all
// privileged. No user, namespace or runtime class is exempt.
func NewPodSecurity(namespaces, pods *registry.Store, enforce, warn, audit PodSecurityLevel) (*PodSecurity, error) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, err
	}
	p := &PodSecurity{namespaces: namespaces, pods: pods}
	p.psa = &psadmission.Admission{
		Configuration: &psaconfig.PodSecurityConfiguration{Defaults: psaconfig.PodSecurityDefaults{
			Enforce: string(enforce), EnforceVersion: psapi.VersionLatest,
			Warn: string(warn), WarnVersion: psapi.VersionLatest,
			Audit: string(audit), AuditVersion: psapi.VersionLatest,
		}},
		Evaluator:       evaluator,
		Metrics:         noMetrics{},
		NamespaceGetter: p,
		PodLister:       p,
	}
	if err := p.psa.CompleteConfiguration(); err != nil {
		return nil, err
	}
	if err := p.psa.ValidateConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security defaults: %w", err)
	}
	return p, nil
}

// Handles reports whether writes of gr are PodSecurity's to check.
func (p *PodSecurity) Handles(gr schema.GroupResource) bool {
	return gr == podsResource || gr == namespacesResource || p.psa.PodSpecExtractor.HasPodSpec(gr)
}

var (
	podsResource       = schema.GroupResource{Resource: "pods"}
	namespacesResource = schema.GroupResource{Resource: "namespaces"}
)

// Admit checks a create (old is nil) or an update of obj, an object of
// resource gr and kind gvk that Handles: nil, or the Status error the
// library decided on (403 Forbidden, 422 Invalid for namespace labels).
// Warnings go to the request in ctx (warning.Add).
func (p *PodSecurity) Admit(ctx context.Context, gr schema.GroupResource, gvk schema.GroupVersionKind, obj, old runtime.Object) error {
	if old != nil && !p.significant(gr, obj, old) {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	attrs := &psapi.AttributesRecord{
		Name: m.GetName(), Namespace: m.GetNamespace(),
		Kind: gvk, Resource: gr.WithVersion(gvk.Version),
		Operation: admissionv1.Create, Object: obj,
	}
	if gr == podsResource {
		attrs.Name = requestName(m)
	}
	if gr == namespacesResource {
		// As kube-apiserver's attributes of a namespace name it twice.
		attrs.Namespace = m.GetName()
	}
	if old != nil {
		attrs.Operation, attrs.OldObject = admissionv1.Update, old
	}
	res := p.psa.Validate(ctx, attrs)
	for _, w := range res.Warnings {
		warning.Add(ctx, w)
	}
	if res.Allowed {
		return nil
	}
	if res.Result == nil {
		return apierrors.NewForbidden(gr, attrs.Name, fmt.Errorf("Not allowed by PodSecurity"))
	}
	return &apierrors.StatusError{ErrStatus: *res.Result}
}

// significant reports whether an update can change what PodSecurity
// decides, so that the frequent writes that cannot (status, scale,
// bindings, labels) cost no namespace read: a pod's images or ephemeral
// containers (the library's own test, repeated here to come first), a
// template's metadata or spec, a namespace's labels.
func (p *PodSecurity) significant(gr schema.GroupResource, obj, old runtime.Object) bool {
	switch gr {
	case podsResource:
		pod, prev := obj.(*corev1.Pod), old.(*corev1.Pod)
		return imagesChanged(pod.Spec.Containers, prev.Spec.Containers) ||
			imagesChanged(pod.Spec.InitContainers, prev.Spec.InitContainers) ||
			len(pod.Spec.EphemeralContainers) != len(prev.Spec.EphemeralContainers) ||
			ephemeralImagesChanged(pod.Spec.EphemeralContainers, prev.Spec.EphemeralContainers)
	case namespacesResource:
		return !labelsEqual(obj.(*corev1.Namespace).Labels, old.(*corev1.Namespace).Labels)
	}
	m1, s1, err1 := p.psa.PodSpecExtractor.ExtractPodSpec(obj)
	m0, s0, err0 := p.psa.PodSpecExtractor.ExtractPodSpec(old)
	if err1 != nil || err0 != nil {
		return true
	}
	return !equality.Semantic.DeepEqual(m1, m0) || !equality.Semantic.DeepEqual(s1, s0)
}

func imagesChanged(cs, old []corev1.Container) bool {
	if len(cs) != len(old) {
		return true
	}
	for i := range cs {
		if cs[i].Image != old[i].Image {
			return true
		}
	}
	return false
}

func ephemeralImagesChanged(cs, old []corev1.EphemeralContainer) bool {
	for i := range cs {
		if cs[i].Name != old[i].Name || cs[i].Image != old[i].Image {
			return true
		}
	}
	return false
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// GetNamespace is the library's NamespaceGetter, from the watch cache.
func (p *PodSecurity) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	raw, _, err := p.namespaces.GetStale(ctx, "", name)
	if err != nil {
		return nil, err
	}
	obj, err := p.namespaces.Decode(raw.JSON)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

// ListPods is the library's PodLister, from the watch cache.
func (p *PodSecurity) ListPods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	res, err := p.pods.List(ctx, namespace, registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(res.Items))
	for _, raw := range res.Items {
		obj, err := p.pods.Decode(raw.JSON)
		if err != nil {
			return nil, err
		}
		pods = append(pods, obj.(*corev1.Pod))
	}
	return pods, nil
}

// requestName is the name kube-apiserver's admission attributes carry for
// a create: none when the name is generated.
func requestName(m metav1.Object) string {
	if generatedName(m.GetName(), m.GetGenerateName()) {
		return ""
	}
	return m.GetName()
}

// noMetrics records nothing: Cella does not export PodSecurity's metrics.
type noMetrics struct{}

func (noMetrics) RecordEvaluation(metrics.Decision, psapi.LevelVersion, metrics.Mode, psapi.Attributes) {
}
func (noMetrics) RecordExemption(psapi.Attributes)   {}
func (noMetrics) RecordError(bool, psapi.Attributes) {}

// Package apis assembles the runtime.Scheme of every API group Cella serves:
// the Kubernetes groups from k8s.io/api and Cella's own groups from the
// packages below this one.
package apis

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	eipv1 "cella.dev/cella/internal/apis/eip/v1"
	metricsv1beta1 "cella.dev/cella/internal/apis/metrics/v1beta1"
	ccinetworkingv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
	volcanov1alpha1 "cella.dev/cella/internal/apis/volcano/v1alpha1"
)

// NewScheme returns a new scheme holding every kind Cella serves, the
// metav1 option types (ListOptions, DeleteOptions, WatchEvent, ...) in each
// of their group-versions, Status and the discovery types, and the
// meta.k8s.io/v1 Table and PartialObjectMetadata kinds.
//
// Each call builds a fresh scheme; callers own it and may add to it.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	// Each k8s.io/api AddToScheme also calls metav1.AddToGroupVersion for
	// its group-version, as Cella's own packages do.
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme,
		appsv1.AddToScheme,
		batchv1.AddToScheme,
		batchv1beta1.AddToScheme,
		autoscalingv1.AddToScheme,
		autoscalingv2.AddToScheme,
		networkingv1.AddToScheme,
		addExtensionsIngress,
		rbacv1.AddToScheme,
		storagev1.AddToScheme,
		eventsv1.AddToScheme,
		authorizationv1.AddToScheme,
		authenticationv1.AddToScheme,
		policyv1.AddToScheme,
		coordinationv1.AddToScheme,
		nodev1.AddToScheme,
		discoveryv1.AddToScheme,
		apiextensionsv1.AddToScheme,
		certificatesv1.AddToScheme,
		flowcontrolv1.AddToScheme,
		resourcev1.AddToScheme,
		storagemigrationv1.AddToScheme,

		ccinetworkingv1beta1.AddToScheme,
		eipv1.AddToScheme,
		volcanov1alpha1.AddToScheme,
		metricsv1beta1.AddToScheme,

		metav1.AddMetaToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addExtensionsIngress registers only Ingress from extensions/v1beta1.
// extensionsv1beta1.AddToScheme would also register that group's
// Deployment, DaemonSet, ReplicaSet and NetworkPolicy, which Cella does not
// serve; anything that walks the scheme (discovery, OpenAPI) would then
// see them.
func addExtensionsIngress(s *runtime.Scheme) error {
	gv := extensionsv1beta1.SchemeGroupVersion
	s.AddKnownTypes(gv, &extensionsv1beta1.Ingress{}, &extensionsv1beta1.IngressList{})
	metav1.AddToGroupVersion(s, gv)
	return nil
}

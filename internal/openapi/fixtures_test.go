package openapi

import (
	"encoding/json"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Network is a CRD-ish local kind, served as networking.cci.io/v1beta1.
type Network struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NetworkSpec   `json:"spec,omitempty"`
	Status NetworkStatus `json:"status,omitempty"`
}

func (Network) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "Network binds a namespace to a VPC subnet.",
		"metadata": "Standard object's metadata.",
		"spec":     "Spec is the desired network.",
		"status":   "Status is the observed network.",
	}
}

// NetworkSpec exercises the field rules.
type NetworkSpec struct {
	AttachedVPC string             `json:"attachedVPC"`
	CIDR        string             `json:"cidr,omitempty"`
	Port        intstr.IntOrString `json:"port,omitempty"`
	Subnets     []Subnet           `json:"subnets,omitempty" patchStrategy:"merge" patchMergeKey:"subnetID"`
	Labels      map[string]string  `json:"labels,omitempty"`
	Extra       json.RawMessage    `json:"extra,omitempty"`
	Anything    any                `json:"anything,omitempty"`
	Certificate []byte             `json:"certificate,omitempty"`
	Validation  *Schema            `json:"validation,omitempty"`
	Inline      struct {
		Enabled bool `json:"enabled"`
	} `json:"inline"`
	Timeout metav1.Duration `json:"timeout,omitempty"`
	//lint:ignore U1000 an unexported field, which the schema must leave out
	internal string
	Skipped  string `json:"-"`
	Promoted `json:",inline"`
}

// Promoted is embedded in NetworkSpec; its fields are flattened.
type Promoted struct {
	Zone string `json:"availableZone,omitempty"`
}

type Subnet struct {
	SubnetID string `json:"subnetID"`
}

type NetworkStatus struct {
	State string      `json:"state,omitempty"`
	Since metav1.Time `json:"since,omitempty"`
}

// NetworkList is the list of Network.
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Network `json:"items"`
}

// Schema is recursive, like JSONSchemaProps.
type Schema struct {
	Type       string            `json:"type,omitempty"`
	Properties map[string]Schema `json:"properties,omitempty"`
	Items      *Schema           `json:"items,omitempty"`
	AllOf      []Schema          `json:"allOf,omitempty"`
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

var (
	allVerbs     = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	statusSub    = []string{"get", "update", "patch"}
	createOnly   = []string{"create"}
	namespacedNS = true
)

func res[T, L any](group, version, kind, plural string, namespaced bool, subs ...Subresource) Resource {
	r := Resource{Group: group, Version: version, Kind: kind, Resource: plural, Namespaced: namespaced,
		Verbs: allVerbs, Type: typeOf[T](), ListType: typeOf[L](), Subresources: subs}
	return r
}

func status[T any]() Subresource {
	return Subresource{Name: "status", Type: typeOf[T](), Verbs: statusSub}
}

func scale() Subresource {
	return Subresource{Name: "scale", Type: typeOf[autoscalingv1.Scale](), Verbs: statusSub}
}

// testResources is about what Cella serves: 41 resources.
func testResources() []Resource {
	ns := namespacedNS
	return []Resource{
		res[corev1.Namespace, corev1.NamespaceList]("", "v1", "Namespace", "namespaces", false, status[corev1.Namespace](),
			Subresource{Name: "finalize", Type: typeOf[corev1.Namespace](), Verbs: []string{"update"}}),
		res[corev1.Pod, corev1.PodList]("", "v1", "Pod", "pods", ns, status[corev1.Pod](),
			Subresource{Name: "log", Type: typeOf[corev1.PodLogOptions](), Verbs: []string{"get"}},
			Subresource{Name: "exec", Kind: "PodExecOptions", Type: typeOf[corev1.PodExecOptions](), Verbs: []string{"get", "create"}},
			Subresource{Name: "attach", Type: typeOf[corev1.PodAttachOptions](), Verbs: []string{"get", "create"}},
			Subresource{Name: "proxy", Type: typeOf[corev1.PodProxyOptions](), Verbs: []string{"get", "create", "update", "patch", "delete"}},
			Subresource{Name: "eviction", Type: typeOf[policyv1.Eviction](), Verbs: createOnly},
			Subresource{Name: "binding", Type: typeOf[corev1.Binding](), Verbs: createOnly}),
		res[corev1.Service, corev1.ServiceList]("", "v1", "Service", "services", ns, status[corev1.Service](),
			Subresource{Name: "proxy", Type: typeOf[corev1.ServiceProxyOptions](), Verbs: []string{"get", "create"}}),
		//lint:ignore SA1019 Cella serves core/v1 endpoints, as CCI 1.0 did
		res[corev1.Endpoints, corev1.EndpointsList]("", "v1", "Endpoints", "endpoints", ns),
		res[corev1.ConfigMap, corev1.ConfigMapList]("", "v1", "ConfigMap", "configmaps", ns),
		res[corev1.Secret, corev1.SecretList]("", "v1", "Secret", "secrets", ns),
		res[corev1.ServiceAccount, corev1.ServiceAccountList]("", "v1", "ServiceAccount", "serviceaccounts", ns),
		res[corev1.PersistentVolumeClaim, corev1.PersistentVolumeClaimList]("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", ns, status[corev1.PersistentVolumeClaim]()),
		res[corev1.PersistentVolume, corev1.PersistentVolumeList]("", "v1", "PersistentVolume", "persistentvolumes", false, status[corev1.PersistentVolume]()),
		res[corev1.ResourceQuota, corev1.ResourceQuotaList]("", "v1", "ResourceQuota", "resourcequotas", ns, status[corev1.ResourceQuota]()),
		res[corev1.LimitRange, corev1.LimitRangeList]("", "v1", "LimitRange", "limitranges", ns),
		res[corev1.Event, corev1.EventList]("", "v1", "Event", "events", ns),
		res[corev1.Node, corev1.NodeList]("", "v1", "Node", "nodes", false, status[corev1.Node]()),
		res[corev1.PodTemplate, corev1.PodTemplateList]("", "v1", "PodTemplate", "podtemplates", ns),
		res[corev1.ReplicationController, corev1.ReplicationControllerList]("", "v1", "ReplicationController", "replicationcontrollers", ns, status[corev1.ReplicationController](), scale()),
		res[appsv1.Deployment, appsv1.DeploymentList]("apps", "v1", "Deployment", "deployments", ns, status[appsv1.Deployment](), scale()),
		res[appsv1.StatefulSet, appsv1.StatefulSetList]("apps", "v1", "StatefulSet", "statefulsets", ns, status[appsv1.StatefulSet](), scale()),
		res[appsv1.ReplicaSet, appsv1.ReplicaSetList]("apps", "v1", "ReplicaSet", "replicasets", ns, status[appsv1.ReplicaSet](), scale()),
		res[appsv1.DaemonSet, appsv1.DaemonSetList]("apps", "v1", "DaemonSet", "daemonsets", ns, status[appsv1.DaemonSet]()),
		res[appsv1.ControllerRevision, appsv1.ControllerRevisionList]("apps", "v1", "ControllerRevision", "controllerrevisions", ns),
		res[batchv1.Job, batchv1.JobList]("batch", "v1", "Job", "jobs", ns, status[batchv1.Job]()),
		res[batchv1.CronJob, batchv1.CronJobList]("batch", "v1", "CronJob", "cronjobs", ns, status[batchv1.CronJob]()),
		res[batchv1beta1.CronJob, batchv1beta1.CronJobList]("batch", "v1beta1", "CronJob", "cronjobs", ns, status[batchv1beta1.CronJob]()),
		res[autoscalingv1.HorizontalPodAutoscaler, autoscalingv1.HorizontalPodAutoscalerList]("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", ns, status[autoscalingv1.HorizontalPodAutoscaler]()),
		res[autoscalingv2.HorizontalPodAutoscaler, autoscalingv2.HorizontalPodAutoscalerList]("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", ns, status[autoscalingv2.HorizontalPodAutoscaler]()),
		res[networkingv1.Ingress, networkingv1.IngressList]("networking.k8s.io", "v1", "Ingress", "ingresses", ns, status[networkingv1.Ingress]()),
		res[networkingv1.IngressClass, networkingv1.IngressClassList]("networking.k8s.io", "v1", "IngressClass", "ingressclasses", false),
		res[networkingv1.NetworkPolicy, networkingv1.NetworkPolicyList]("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", ns),
		res[extensionsv1beta1.Ingress, extensionsv1beta1.IngressList]("extensions", "v1beta1", "Ingress", "ingresses", ns, status[extensionsv1beta1.Ingress]()),
		res[rbacv1.Role, rbacv1.RoleList]("rbac.authorization.k8s.io", "v1", "Role", "roles", ns),
		res[rbacv1.RoleBinding, rbacv1.RoleBindingList]("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", ns),
		res[rbacv1.ClusterRole, rbacv1.ClusterRoleList]("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
		res[rbacv1.ClusterRoleBinding, rbacv1.ClusterRoleBindingList]("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
		res[storagev1.StorageClass, storagev1.StorageClassList]("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
		res[eventsv1.Event, eventsv1.EventList]("events.k8s.io", "v1", "Event", "events", ns),
		res[policyv1.PodDisruptionBudget, policyv1.PodDisruptionBudgetList]("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", ns, status[policyv1.PodDisruptionBudget]()),
		res[coordinationv1.Lease, coordinationv1.LeaseList]("coordination.k8s.io", "v1", "Lease", "leases", ns),
		{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectAccessReview", Resource: "selfsubjectaccessreviews",
			Verbs: createOnly, Type: typeOf[authorizationv1.SelfSubjectAccessReview]()},
		{Group: "authorization.k8s.io", Version: "v1", Kind: "SelfSubjectRulesReview", Resource: "selfsubjectrulesreviews",
			Verbs: createOnly, Type: typeOf[authorizationv1.SelfSubjectRulesReview]()},
		{Group: "authentication.k8s.io", Version: "v1", Kind: "SelfSubjectReview", Resource: "selfsubjectreviews",
			Verbs: createOnly, Type: typeOf[authenticationv1.SelfSubjectReview]()},
		res[Network, NetworkList]("networking.cci.io", "v1beta1", "Network", "networks", ns, status[Network]()),
	}
}

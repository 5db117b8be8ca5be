package apis

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

func TestNewSchemeKinds(t *testing.T) {
	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	served := map[schema.GroupVersion][]string{
		{Version: "v1"}: {"Namespace", "Pod", "Service", "Endpoints", "ConfigMap", "Secret", "ServiceAccount",
			"PersistentVolumeClaim", "ResourceQuota", "LimitRange", "Event", "Binding", "Node", "PodLogOptions", "PodExecOptions",
			"PodAttachOptions", "PodProxyOptions", "ServiceProxyOptions"},
		{Group: "apps", Version: "v1"}:                      {"Deployment", "StatefulSet", "ReplicaSet"},
		{Group: "batch", Version: "v1"}:                     {"Job", "CronJob"},
		{Group: "batch", Version: "v1beta1"}:                {"CronJob"},
		{Group: "autoscaling", Version: "v1"}:               {"HorizontalPodAutoscaler", "Scale"},
		{Group: "autoscaling", Version: "v2"}:               {"HorizontalPodAutoscaler"},
		{Group: "networking.k8s.io", Version: "v1"}:         {"Ingress"},
		{Group: "extensions", Version: "v1beta1"}:           {"Ingress"},
		{Group: "rbac.authorization.k8s.io", Version: "v1"}: {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"},
		{Group: "storage.k8s.io", Version: "v1"}:            {"StorageClass"},
		{Group: "events.k8s.io", Version: "v1"}:             {"Event"},
		{Group: "authorization.k8s.io", Version: "v1"}:      {"SelfSubjectAccessReview", "SelfSubjectRulesReview"},
		{Group: "authentication.k8s.io", Version: "v1"}:     {"SelfSubjectReview"},
		{Group: "policy", Version: "v1"}:                    {"Eviction"},
		{Group: "coordination.k8s.io", Version: "v1"}:       {"Lease"},
		{Group: "networking.cci.io", Version: "v1beta1"}:    {"Network"},
		{Group: "crd.yangtse.cni", Version: "v1"}:           {"EIPPool"},
		{Group: "batch.volcano.sh", Version: "v1alpha1"}:    {"Job"},
		{Group: "metrics.k8s.io", Version: "v1beta1"}:       {"PodMetrics"},
		{Group: "meta.k8s.io", Version: "v1"}:               {"Table", "PartialObjectMetadata", "PartialObjectMetadataList"},
	}
	for gv, kinds := range served {
		for _, kind := range kinds {
			if !s.Recognizes(gv.WithKind(kind)) {
				t.Errorf("scheme does not recognize %v", gv.WithKind(kind))
			}
		}
		if gv.Group == "meta.k8s.io" {
			continue
		}
		for _, kind := range []string{"ListOptions", "GetOptions", "DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions", "WatchEvent"} {
			if !s.Recognizes(gv.WithKind(kind)) {
				t.Errorf("scheme does not recognize %v", gv.WithKind(kind))
			}
		}
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "extensions", Version: "v1beta1", Kind: "Deployment"},
		{Group: "extensions", Version: "v1beta1", Kind: "DaemonSet"},
	} {
		if s.Recognizes(gvk) {
			t.Errorf("scheme recognizes %v, which Cella does not serve", gvk)
		}
	}
}

func TestNewSchemeDecodes(t *testing.T) {
	s, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(s).UniversalDeserializer()
	for _, doc := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}`,
		`{"apiVersion":"extensions/v1beta1","kind":"Ingress","metadata":{"name":"i"}}`,
		`{"apiVersion":"networking.cci.io/v1beta1","kind":"Network","metadata":{"name":"n"},"spec":{"subnetID":"s"}}`,
		`{"apiVersion":"crd.yangtse.cni/v1","kind":"EIPPool","metadata":{"name":"e"},"spec":{"amount":0}}`,
		`{"apiVersion":"batch.volcano.sh/v1alpha1","kind":"Job","metadata":{"name":"j"},"spec":{"tasks":[{"name":"t"}]}}`,
		`{"apiVersion":"metrics.k8s.io/v1beta1","kind":"PodMetrics","metadata":{"name":"m"},"timestamp":null,"window":"30s","containers":[]}`,
		`{"apiVersion":"v1","kind":"DeleteOptions","propagationPolicy":"Foreground"}`,
		`{"apiVersion":"batch.volcano.sh/v1alpha1","kind":"DeleteOptions","gracePeriodSeconds":0}`,
		`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p"}}`,
	} {
		obj, gvk, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Errorf("decode %s: %v", doc, err)
			continue
		}
		if kinds, _, err := s.ObjectKinds(obj); err != nil || len(kinds) == 0 {
			t.Errorf("decoded %v into %T, which the scheme cannot name: %v", gvk, obj, err)
		}
	}
}

func TestNewSchemeIsFresh(t *testing.T) {
	a, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	a.AddKnownTypeWithName(schema.GroupVersionKind{Group: "x", Version: "v1", Kind: "Extra"}, &runtime.Unknown{})
	if b.Recognizes(schema.GroupVersionKind{Group: "x", Version: "v1", Kind: "Extra"}) {
		t.Error("NewScheme returned schemes that share state")
	}
}

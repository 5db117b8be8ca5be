package convert

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestIngressRoundTrip(t *testing.T) {
	t.Run("v1beta1", func(t *testing.T) { roundTrip(t, IngressV1beta1ToV1, IngressV1ToV1beta1) })
	t.Run("v1", func(t *testing.T) { roundTrip(t, IngressV1ToV1beta1, IngressV1beta1ToV1) })
	t.Run("list v1beta1", func(t *testing.T) { roundTrip(t, IngressListV1beta1ToV1, IngressListV1ToV1beta1) })
	t.Run("list v1", func(t *testing.T) { roundTrip(t, IngressListV1ToV1beta1, IngressListV1beta1ToV1) })
}

func TestIngressV1beta1ToV1(t *testing.T) {
	prefix := extensionsv1beta1.PathTypePrefix
	class := "nginx"
	errText := "no ports"
	in := &extensionsv1beta1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "extensions/v1beta1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}, ResourceVersion: "7"},
		Spec: extensionsv1beta1.IngressSpec{
			IngressClassName: &class,
			Backend:          &extensionsv1beta1.IngressBackend{ServiceName: "default-svc", ServicePort: intstr.FromInt32(80)},
			TLS:              []extensionsv1beta1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "tls"}},
			Rules: []extensionsv1beta1.IngressRule{{
				Host: "a.example",
				IngressRuleValue: extensionsv1beta1.IngressRuleValue{HTTP: &extensionsv1beta1.HTTPIngressRuleValue{Paths: []extensionsv1beta1.HTTPIngressPath{
					{Path: "/api", PathType: &prefix, Backend: extensionsv1beta1.IngressBackend{ServiceName: "api", ServicePort: intstr.FromString("http")}},
					{Path: "/static", Backend: extensionsv1beta1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "StorageBucket", Name: "static"}}},
				}}},
			}},
		},
		Status: extensionsv1beta1.IngressStatus{LoadBalancer: extensionsv1beta1.IngressLoadBalancerStatus{
			Ingress: []extensionsv1beta1.IngressLoadBalancerIngress{{IP: "10.0.0.1", Hostname: "lb.example",
				Ports: []extensionsv1beta1.IngressPortStatus{{Port: 443, Protocol: corev1.ProtocolTCP, Error: &errText}}}},
		}},
	}
	v1Prefix := networkingv1.PathTypePrefix
	want := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: in.ObjectMeta,
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: "default-svc", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "tls"}},
			Rules: []networkingv1.IngressRule{{
				Host: "a.example",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/api", PathType: &v1Prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "api", Port: networkingv1.ServiceBackendPort{Name: "http"}}}},
					{Path: "/static", Backend: networkingv1.IngressBackend{Resource: &corev1.TypedLocalObjectReference{Kind: "StorageBucket", Name: "static"}}},
				}}},
			}},
		},
		Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{
			Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1", Hostname: "lb.example",
				Ports: []networkingv1.IngressPortStatus{{Port: 443, Protocol: corev1.ProtocolTCP, Error: &errText}}}},
		}},
	}
	got := IngressV1beta1ToV1(in)
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("IngressV1beta1ToV1 =\n%s\nwant\n%s", mustJSON(got), mustJSON(want))
	}
	if back := IngressV1ToV1beta1(got); !apiequality.Semantic.DeepEqual(back, in) {
		t.Errorf("IngressV1ToV1beta1 =\n%s\nwant\n%s", mustJSON(back), mustJSON(in))
	}
}

func TestIngressBackendPorts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   extensionsv1beta1.IngressBackend
		want *networkingv1.IngressServiceBackend
	}{
		{"number", extensionsv1beta1.IngressBackend{ServiceName: "s", ServicePort: intstr.FromInt32(8080)},
			&networkingv1.IngressServiceBackend{Name: "s", Port: networkingv1.ServiceBackendPort{Number: 8080}}},
		{"name", extensionsv1beta1.IngressBackend{ServiceName: "s", ServicePort: intstr.FromString("web")},
			&networkingv1.IngressServiceBackend{Name: "s", Port: networkingv1.ServiceBackendPort{Name: "web"}}},
		{"no service", extensionsv1beta1.IngressBackend{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &extensionsv1beta1.Ingress{Spec: extensionsv1beta1.IngressSpec{Backend: &tc.in}}
			got := IngressV1beta1ToV1(in).Spec.DefaultBackend.Service
			if !apiequality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("service = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIngressTypeMeta(t *testing.T) {
	checkTypeMeta(t, IngressV1beta1ToV1(&extensionsv1beta1.Ingress{}), "networking.k8s.io/v1", "Ingress")
	checkTypeMeta(t, IngressV1ToV1beta1(&networkingv1.Ingress{}), "extensions/v1beta1", "Ingress")

	v1 := IngressListV1beta1ToV1(&extensionsv1beta1.IngressList{
		ListMeta: metav1.ListMeta{ResourceVersion: "9", Continue: "c"},
		Items:    []extensionsv1beta1.Ingress{{TypeMeta: metav1.TypeMeta{APIVersion: "extensions/v1beta1", Kind: "Ingress"}}},
	})
	checkTypeMeta(t, v1, "networking.k8s.io/v1", "IngressList")
	checkItemsTypeMeta(t, v1)
	if v1.ResourceVersion != "9" || v1.Continue != "c" {
		t.Errorf("list metadata = %+v, want resourceVersion 9 and continue c", v1.ListMeta)
	}
	v1beta1 := IngressListV1ToV1beta1(&networkingv1.IngressList{Items: []networkingv1.Ingress{{}}})
	checkTypeMeta(t, v1beta1, "extensions/v1beta1", "IngressList")
	checkItemsTypeMeta(t, v1beta1)
}

package convert

import (
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// IngressV1beta1ToV1 converts an extensions/v1beta1 Ingress to
// networking.k8s.io/v1: spec.backend becomes spec.defaultBackend, and each
// backend's serviceName and servicePort become service.name and
// service.port.number (an integer port) or service.port.name (a named one).
func IngressV1beta1ToV1(in *extensionsv1beta1.Ingress) *networkingv1.Ingress {
	in = in.DeepCopy()
	out := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "Ingress"},
		ObjectMeta: in.ObjectMeta,
		Spec: networkingv1.IngressSpec{
			IngressClassName: in.Spec.IngressClassName,
		},
	}
	if b := in.Spec.Backend; b != nil {
		out.Spec.DefaultBackend = new(backendToV1(*b))
	}
	for _, tls := range in.Spec.TLS {
		out.Spec.TLS = append(out.Spec.TLS, networkingv1.IngressTLS{Hosts: tls.Hosts, SecretName: tls.SecretName})
	}
	for _, r := range in.Spec.Rules {
		rule := networkingv1.IngressRule{Host: r.Host}
		if http := r.HTTP; http != nil {
			rule.HTTP = &networkingv1.HTTPIngressRuleValue{}
			if http.Paths != nil {
				rule.HTTP.Paths = make([]networkingv1.HTTPIngressPath, 0, len(http.Paths))
			}
			for _, p := range http.Paths {
				rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
					Path:     p.Path,
					PathType: (*networkingv1.PathType)(p.PathType),
					Backend:  backendToV1(p.Backend),
				})
			}
		}
		out.Spec.Rules = append(out.Spec.Rules, rule)
	}
	for _, lb := range in.Status.LoadBalancer.Ingress {
		ing := networkingv1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname}
		for _, p := range lb.Ports {
			ing.Ports = append(ing.Ports, networkingv1.IngressPortStatus{Port: p.Port, Protocol: p.Protocol, Error: p.Error})
		}
		out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, ing)
	}
	return out
}

// IngressV1ToV1beta1 converts a networking.k8s.io/v1 Ingress to
// extensions/v1beta1, the inverse of IngressV1beta1ToV1. A service port
// with a name becomes a string servicePort, otherwise its number.
func IngressV1ToV1beta1(in *networkingv1.Ingress) *extensionsv1beta1.Ingress {
	in = in.DeepCopy()
	out := &extensionsv1beta1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: extensionsv1beta1.SchemeGroupVersion.String(), Kind: "Ingress"},
		ObjectMeta: in.ObjectMeta,
		Spec: extensionsv1beta1.IngressSpec{
			IngressClassName: in.Spec.IngressClassName,
		},
	}
	if b := in.Spec.DefaultBackend; b != nil {
		out.Spec.Backend = new(backendToV1beta1(*b))
	}
	for _, tls := range in.Spec.TLS {
		out.Spec.TLS = append(out.Spec.TLS, extensionsv1beta1.IngressTLS{Hosts: tls.Hosts, SecretName: tls.SecretName})
	}
	for _, r := range in.Spec.Rules {
		rule := extensionsv1beta1.IngressRule{Host: r.Host}
		if http := r.HTTP; http != nil {
			rule.HTTP = &extensionsv1beta1.HTTPIngressRuleValue{}
			if http.Paths != nil {
				rule.HTTP.Paths = make([]extensionsv1beta1.HTTPIngressPath, 0, len(http.Paths))
			}
			for _, p := range http.Paths {
				rule.HTTP.Paths = append(rule.HTTP.Paths, extensionsv1beta1.HTTPIngressPath{
					Path:     p.Path,
					PathType: (*extensionsv1beta1.PathType)(p.PathType),
					Backend:  backendToV1beta1(p.Backend),
				})
			}
		}
		out.Spec.Rules = append(out.Spec.Rules, rule)
	}
	for _, lb := range in.Status.LoadBalancer.Ingress {
		ing := extensionsv1beta1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname}
		for _, p := range lb.Ports {
			ing.Ports = append(ing.Ports, extensionsv1beta1.IngressPortStatus{Port: p.Port, Protocol: p.Protocol, Error: p.Error})
		}
		out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, ing)
	}
	return out
}

// backendToV1 converts a backend that IngressV1beta1ToV1 has already copied.
func backendToV1(b extensionsv1beta1.IngressBackend) networkingv1.IngressBackend {
	out := networkingv1.IngressBackend{Resource: b.Resource}
	if b.ServiceName != "" || b.ServicePort != (intstr.IntOrString{}) {
		out.Service = &networkingv1.IngressServiceBackend{Name: b.ServiceName}
		if b.ServicePort.Type == intstr.String {
			out.Service.Port.Name = b.ServicePort.StrVal
		} else {
			out.Service.Port.Number = b.ServicePort.IntVal
		}
	}
	return out
}

// backendToV1beta1 converts a backend that IngressV1ToV1beta1 has already
// copied.
func backendToV1beta1(b networkingv1.IngressBackend) extensionsv1beta1.IngressBackend {
	out := extensionsv1beta1.IngressBackend{Resource: b.Resource}
	if s := b.Service; s != nil {
		out.ServiceName = s.Name
		if s.Port.Name != "" {
			out.ServicePort = intstr.FromString(s.Port.Name)
		} else {
			out.ServicePort = intstr.FromInt32(s.Port.Number)
		}
	}
	return out
}

// IngressListV1beta1ToV1 converts a list with IngressV1beta1ToV1.
func IngressListV1beta1ToV1(in *extensionsv1beta1.IngressList) *networkingv1.IngressList {
	return &networkingv1.IngressList{
		TypeMeta: metav1.TypeMeta{APIVersion: networkingv1.SchemeGroupVersion.String(), Kind: "IngressList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, IngressV1beta1ToV1),
	}
}

// IngressListV1ToV1beta1 converts a list with IngressV1ToV1beta1.
func IngressListV1ToV1beta1(in *networkingv1.IngressList) *extensionsv1beta1.IngressList {
	return &extensionsv1beta1.IngressList{
		TypeMeta: metav1.TypeMeta{APIVersion: extensionsv1beta1.SchemeGroupVersion.String(), Kind: "IngressList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, IngressV1ToV1beta1),
	}
}

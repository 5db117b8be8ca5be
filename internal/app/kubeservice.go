package app

import (
	"context"
	"fmt"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// ensureKubernetesService keeps the `kubernetes` Service of the default
// namespace, with its Endpoints and EndpointSlice naming this server's
// address and port, as kube-apiserver's endpoint reconciler keeps them:
// clients inside a cluster (and the Kubernetes e2e framework, which looks
// it up before any test) find the API there. The Service's cluster IP is
// the first of the service range, which the allocator never hands out;
// the port is 443 with the server's own port as targetPort. They are
// written at every start, since the address may have changed, and only
// when they differ. Pods reach the address through the node once
// Services route (issue 11).
func ensureKubernetesService(ctx context.Context, cat *kinds.Catalog, ip net.IP, port int) error {
	const name, ns = "kubernetes", "default"
	labels := map[string]string{"component": "apiserver", "provider": "kubernetes"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: kinds.KubernetesServiceIP().String(),
			Ports: []corev1.ServicePort{{
				Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port)),
			}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	err := upsert(ctx, cat.Store("", "services"), svc, func(cur runtime.Object) {
		cur.(*corev1.Service).Spec.Ports = svc.Spec.Ports
	})
	if err != nil {
		return fmt.Errorf("the kubernetes Service: %w", err)
	}
	ports := []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}
	addresses := []corev1.EndpointAddress{{IP: ip.String()}}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets:    []corev1.EndpointSubset{{Addresses: addresses, Ports: ports}},
	}
	err = upsert(ctx, cat.Store("", "endpoints"), ep, func(cur runtime.Object) {
		cur.(*corev1.Endpoints).Subsets = ep.Subsets
	})
	if err != nil {
		return fmt.Errorf("the kubernetes Endpoints: %w", err)
	}
	https, tcp, ready := "https", corev1.ProtocolTCP, true
	slicePort := int32(port)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &https, Port: &slicePort, Protocol: &tcp}},
	}
	if ip.To4() == nil {
		slice.AddressType = discoveryv1.AddressTypeIPv6
	}
	err = upsert(ctx, cat.Store("discovery.k8s.io", "endpointslices"), slice, func(cur runtime.Object) {
		if c := cur.(*discoveryv1.EndpointSlice); c.AddressType == slice.AddressType {
			c.Endpoints, c.Ports = slice.Endpoints, slice.Ports
		}
	})
	if err != nil {
		return fmt.Errorf("the kubernetes EndpointSlice: %w", err)
	}
	return nil
}

// upsert creates obj, or when it exists lets change bring the stored one
// in line, through the Store's rules. As bootstrap's objects, it reads
// first, so a restart that changes nothing writes nothing and passes no
// admission; an update that changes nothing writes nothing either.
func upsert(ctx context.Context, st *registry.Store, obj runtime.Object, change func(cur runtime.Object)) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if _, err := st.Get(ctx, m.GetNamespace(), m.GetName()); apierrors.IsNotFound(err) {
		_, err = st.Create(ctx, obj, registry.WriteOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return err // created, or failed
		}
	} else if err != nil {
		return err
	}
	_, err = st.Update(ctx, m.GetNamespace(), m.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		c := cur.DeepCopyObject()
		change(c)
		return c, nil
	}, registry.UpdateOptions{})
	return err
}

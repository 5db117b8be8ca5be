package app

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	netv1beta1 "cella.dev/cella/internal/apis/networking/v1beta1"
	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/controller/volume"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
)

// bootstrap creates what a fresh Cella starts with: the default,
// kube-system, kube-public and kube-node-lease namespaces (each with the
// CCI flavor annotation, which the cci profile requires; kube-node-lease
// holds the node agents' Leases), a default Network in default, the default
// StorageClass "standard" (local-path volumes), the built-in priority
// classes, the flow schemas and priority levels of API Priority and
// Fairness, the ServiceCIDR "kubernetes" and the built-in RBAC policy. Objects that already exist are
// left as they are, so a restart changes nothing, and a data directory made
// before kube-node-lease existed gets it at its next start.
func bootstrap(ctx context.Context, cat *kinds.Catalog) error {
	create := func(group, plural string, obj runtime.Object) error {
		st := cat.Store(group, plural)
		m, _ := meta.Accessor(obj)
		// Read first: a restart then costs no write at all.
		if _, err := st.Get(ctx, m.GetNamespace(), m.GetName()); err == nil {
			return nil
		}
		_, err := st.Create(ctx, obj, registry.WriteOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", plural, err)
		}
		return nil
	}
	for _, name := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{kinds.FlavorAnnotation: "general-computing"}}}
		if err := create("", "namespaces", ns); err != nil {
			return err
		}
	}
	network := &netv1beta1.Network{
		ObjectMeta: metav1.ObjectMeta{Name: "default-network", Namespace: "default"},
		Spec: netv1beta1.NetworkSpec{
			AttachedVPC: "cella-vpc", NetworkID: "cella-network", SubnetID: "cella-subnet",
			CIDR: "10.88.0.0/16", NetworkType: "underlay_neutron",
		},
	}
	if err := create(netv1beta1.GroupName, "networks", network); err != nil {
		return err
	}
	// The default class: claims without a class get it (kinds'
	// DefaultStorageClass defaulting) and the volume controller provisions
	// its claims. Data directories made before volumes were provisioned
	// have it with the provisioner cella.dev/local, which the controller
	// serves as well (a provisioner cannot be changed).
	deletePolicy, immediate := corev1.PersistentVolumeReclaimDelete, storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{kinds.IsDefaultClassAnnotation: "true"}},
		Provisioner:       volume.Provisioner,
		ReclaimPolicy:     &deletePolicy,
		VolumeBindingMode: &immediate,
	}
	if err := create("storage.k8s.io", "storageclasses", sc); err != nil {
		return err
	}
	for _, pc := range kinds.BuiltinPriorityClasses() {
		if err := create("scheduling.k8s.io", "priorityclasses", pc); err != nil {
			return err
		}
	}
	// API Priority and Fairness' configuration, as kube-apiserver creates
	// it: the priority levels first, then the flow schemas naming them.
	levels, schemas := kinds.DefaultFlowControl()
	for _, pl := range levels {
		if err := create(flowcontrolv1.GroupName, "prioritylevelconfigurations", pl); err != nil {
			return err
		}
	}
	for _, fs := range schemas {
		if err := create(flowcontrolv1.GroupName, "flowschemas", fs); err != nil {
			return err
		}
	}
	if err := bootstrapServiceCIDR(ctx, cat, create); err != nil {
		return err
	}
	for _, r := range auth.BootstrapClusterRoles() {
		if err := create(rbacv1.GroupName, "clusterroles", r); err != nil {
			return err
		}
	}
	for _, b := range auth.BootstrapClusterRoleBindings() {
		if err := create(rbacv1.GroupName, "clusterrolebindings", b); err != nil {
			return err
		}
	}
	return nil
}

// bootstrapServiceCIDR creates the ServiceCIDR "kubernetes" of Cella's
// cluster IPs and marks it Ready, as kube-apiserver's default ServiceCIDR
// controller does.
func bootstrapServiceCIDR(ctx context.Context, cat *kinds.Catalog, create func(group, plural string, obj runtime.Object) error) error {
	def := kinds.DefaultServiceCIDR()
	if err := create(networkingv1.GroupName, "servicecidrs", def); err != nil {
		return err
	}
	st := cat.Store(networkingv1.GroupName, "servicecidrs")
	obj, err := st.GetObject(ctx, "", def.Name)
	if err != nil {
		return fmt.Errorf("servicecidrs: %w", err)
	}
	if len(obj.(*networkingv1.ServiceCIDR).Status.Conditions) > 0 {
		return nil
	}
	_, err = st.Update(ctx, "", def.Name, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*networkingv1.ServiceCIDR)
		c.Status.Conditions = []metav1.Condition{{
			Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue,
			Message: "Kubernetes default Service CIDR is ready", LastTransitionTime: metav1.Now(),
		}}
		return c, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if err != nil {
		return fmt.Errorf("servicecidrs/status: %w", err)
	}
	return nil
}

package kinds

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/cci"
)

// Build returns every Store and Endpoint of the catalogue.
func Build(cfg Config, storeOf StorageFor) (*Catalog, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Profile == "" {
		cfg.Profile = ProfileCCI
	}
	if cfg.Flavors.CPUStep.IsZero() {
		cfg.Flavors = cci.DefaultFlavors()
	}
	b := &builder{cfg: &cfg, cat: &Catalog{Stores: map[string]*registry.Store{}}, storeOf: storeOf}
	b.cat.builder = b
	b.checkNS = b.namespaceUsable
	b.core()
	b.apps()
	b.batch()
	b.autoscaling()
	b.networking()
	b.coordination()
	b.rbac()
	b.storageClasses()
	b.persistentVolumes()
	b.cciKinds()
	b.moreKinds()
	b.apiExtensions()
	b.platform()
	b.certificates()
	b.flowControl()
	b.serviceIPs()
	b.dynamicResources()
	b.storageMigrations()
	if b.err != nil {
		return nil, fmt.Errorf("building the catalogue: %w", b.err)
	}
	if cfg.Admission != nil {
		b.admit = cfg.Admission(b.cat)
	}
	if cfg.PolicyAdmission != nil {
		b.admitPolicy = cfg.PolicyAdmission(b.cat)
	}
	if cfg.Authorizer != nil {
		b.authz = cfg.Authorizer(b.cat)
	}
	if cfg.LimitRanger != nil {
		b.limits = cfg.LimitRanger(b.cat)
	}
	if cfg.ServiceAccounts != nil {
		b.accounts = cfg.ServiceAccounts(b.cat)
	}
	if cfg.PodSecurity != nil {
		ps, err := cfg.PodSecurity(b.cat)
		if err != nil {
			return nil, fmt.Errorf("building PodSecurity admission: %w", err)
		}
		b.podSecurity = ps
	}
	return b.cat, nil
}

// namespaceUsable refuses creates in a namespace that does not exist (404)
// or is terminating (403), as Kubernetes' NamespaceLifecycle admission does.
func (b *builder) namespaceUsable(ctx context.Context, name string) error {
	nsStore := b.cat.Store("", "namespaces")
	obj, err := nsStore.GetObject(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
	}
	if err != nil {
		return err
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, name,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", name))
	}
	return nil
}

package kinds

import (
	"context"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// coordination serves coordination.k8s.io/v1 leases: the node agent renews
// its Node's Lease in kube-node-lease, and clients use them for leader
// election.
func (b *builder) coordination() {
	b.stored(&registry.Resource{
		Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", Plural: "leases", Singular: "lease", Namespaced: true,
		New:     func() runtime.Object { return &coordinationv1.Lease{} },
		NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			dropCoordinatedLeaseFields(&obj.(*coordinationv1.Lease).Spec, nil)
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			dropCoordinatedLeaseFields(&obj.(*coordinationv1.Lease).Spec, &old.(*coordinationv1.Lease).Spec)
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateLeaseSpec(&obj.(*coordinationv1.Lease).Spec, field.NewPath("spec"))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Holder", "string", "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			l := obj.(*coordinationv1.Lease)
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return []any{holder, b.age(l)}
		},
	})
}

// dropCoordinatedLeaseFields clears strategy and preferredHolder, as
// Kubernetes does while its CoordinatedLeaderElection feature is off (the
// default), unless the stored lease old already uses them.
func dropCoordinatedLeaseFields(s, old *coordinationv1.LeaseSpec) {
	if old != nil && (old.Strategy != nil || old.PreferredHolder != nil) {
		return
	}
	s.Strategy, s.PreferredHolder = nil, nil
}

// validateLeaseSpec checks a lease as Kubernetes does (ValidateLeaseSpec).
func validateLeaseSpec(s *coordinationv1.LeaseSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.LeaseDurationSeconds != nil && *s.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("leaseDurationSeconds"), *s.LeaseDurationSeconds, "must be greater than 0"))
	}
	if s.LeaseTransitions != nil && *s.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(p.Child("leaseTransitions"), *s.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if s.PreferredHolder != nil && *s.PreferredHolder != "" && (s.Strategy == nil || *s.Strategy == "") {
		errs = append(errs, field.Forbidden(p.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

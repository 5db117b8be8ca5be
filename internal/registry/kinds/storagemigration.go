package kinds

import (
	"context"

	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// storageMigrations serves storagemigration.k8s.io/v1's
// StorageVersionMigrations (GA in 1.37): requests to rewrite every object
// of a resource in its storage version. Cella stores them; nothing
// migrates, as Cella stores each kind in its one version.
func (b *builder) storageMigrations() {
	b.stored(&registry.Resource{
		Group: "storagemigration.k8s.io", Version: "v1", Kind: "StorageVersionMigration",
		Plural: "storageversionmigrations", Singular: "storageversionmigration",
		New:     func() runtime.Object { return &storagemigrationv1.StorageVersionMigration{} },
		NewList: func() runtime.Object { return &storagemigrationv1.StorageVersionMigrationList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			obj.(*storagemigrationv1.StorageVersionMigration).Status = storagemigrationv1.StorageVersionMigrationStatus{}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			m := obj.(*storagemigrationv1.StorageVersionMigration)
			if m.Spec.Resource.Resource == "" {
				return field.ErrorList{field.Required(field.NewPath("spec", "resource", "resource"), "")}
			}
			return nil
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			m, o := obj.(*storagemigrationv1.StorageVersionMigration), old.(*storagemigrationv1.StorageVersionMigration)
			if registry.SubresourceOf(ctx) == "status" {
				return validateMigrationStatus(&m.Status, &o.Status)
			}
			return apivalidation.ValidateImmutableField(m.Spec, o.Spec, field.NewPath("spec"))
		},
	}, "status")
}

// validateMigrationStatus checks the conditions (well formed; Succeeded
// and Failed never both True, nor Running with either) and keeps the
// resourceVersion once the migrator has set it.
func validateMigrationStatus(s, old *storagemigrationv1.StorageVersionMigrationStatus) field.ErrorList {
	p := field.NewPath("status")
	errs := metavalidation.ValidateConditions(s.Conditions, p.Child("conditions"))
	isTrue := func(t storagemigrationv1.MigrationConditionType) bool {
		return meta.IsStatusConditionTrue(s.Conditions, string(t))
	}
	succeeded, failed := isTrue(storagemigrationv1.MigrationSucceeded), isTrue(storagemigrationv1.MigrationFailed)
	if succeeded && failed {
		errs = append(errs, field.Invalid(p.Child("conditions"), s.Conditions, "Both success and failed conditions cannot be true at the same time"))
	}
	if isTrue(storagemigrationv1.MigrationRunning) && (succeeded || failed) {
		errs = append(errs, field.Invalid(p.Child("conditions"), s.Conditions, "Running condition cannot be true when success or failed is true"))
	}
	if old.ResourceVersion != "" {
		errs = append(errs, apivalidation.ValidateImmutableField(s.ResourceVersion, old.ResourceVersion, p.Child("resourceVersion"))...)
	}
	return errs
}

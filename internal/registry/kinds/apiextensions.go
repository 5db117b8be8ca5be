package kinds

import (
	"context"
	"slices"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// CRDCleanupFinalizer holds a deleted CustomResourceDefinition until its
// custom resources are gone (internal/crd removes it).
const CRDCleanupFinalizer = apiextensionsv1.CustomResourceCleanupFinalizer

// crdScheme converts CustomResourceDefinitions between v1, the served and
// stored version, and the internal version that apiextensions-apiserver's
// validation works on, and holds v1's defaulting functions.
var crdScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := apiextensions.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// toInternalCRD converts a v1 CustomResourceDefinition to the internal
// version, for validation.
func toInternalCRD(crd *apiextensionsv1.CustomResourceDefinition) (*apiextensions.CustomResourceDefinition, error) {
	out := &apiextensions.CustomResourceDefinition{}
	if err := crdScheme.Convert(crd, out, nil); err != nil {
		return nil, err
	}
	return out, nil
}

// apiExtensions serves apiextensions.k8s.io/v1 CustomResourceDefinitions
// with kube-apiserver's rules: defaults, validation and the stored-version
// bookkeeping of its strategy, taken from k8s.io/apiextensions-apiserver.
// Serving the custom resources a definition describes is internal/crd's.
func (b *builder) apiExtensions() {
	b.stored(&registry.Resource{
		Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition",
		Plural: "customresourcedefinitions", Singular: "customresourcedefinition",
		ShortNames: []string{"crd", "crds"}, Categories: []string{"api-extensions"},
		HasSpec: true, HasStatus: true,
		New:     func() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} },
		NewList: func() runtime.Object { return &apiextensionsv1.CustomResourceDefinitionList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			crdScheme.Default(crd)
			crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
			addStoredVersion(crd)
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			// The Store has kept the stored status (or, through /status,
			// the stored spec).
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			crdScheme.Default(crd)
			addStoredVersion(crd)
		},
		Validate: func(ctx context.Context, obj runtime.Object) field.ErrorList {
			in, err := toInternalCRD(obj.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return validation.ValidateCustomResourceDefinition(ctx, in)
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			in, err := toInternalCRD(obj.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			oldIn, err := toInternalCRD(old.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return validation.ValidateCustomResourceDefinitionUpdate(ctx, in, oldIn)
		},
		PrepareForDelete: func(obj runtime.Object) {
			// As kube-apiserver: the first delete holds the definition
			// until its custom resources are deleted.
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !slices.Contains(crd.Finalizers, CRDCleanupFinalizer) {
				crd.Finalizers = append(crd.Finalizers, CRDCleanupFinalizer)
			}
			apihelpers.SetCRDCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
				Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
				Reason:  "InstanceDeletionPending",
				Message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
			})
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Created At", Type: "date", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
		},
		Row: func(obj runtime.Object) []any {
			m := obj.(*apiextensionsv1.CustomResourceDefinition)
			return []any{m.CreationTimestamp.UTC().Format(time.RFC3339)}
		},
	}, "status")
}

// addStoredVersion records the storage version in status.storedVersions,
// as kube-apiserver's strategy does on every write.
func addStoredVersion(crd *apiextensionsv1.CustomResourceDefinition) {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			if !slices.Contains(crd.Status.StoredVersions, v.Name) {
				crd.Status.StoredVersions = append(crd.Status.StoredVersions, v.Name)
			}
			return
		}
	}
}

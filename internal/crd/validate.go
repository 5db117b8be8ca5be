package crd

import (
	"context"
	"fmt"
	"math"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"k8s.io/client-go/util/jsonpath"
)

// validator checks custom resources of one version against its schema, as
// kube-apiserver's custom resource strategy does, from the same
// packages of k8s.io/apiextensions-apiserver: the OpenAPI schema (with
// ratcheting on updates: a value that was already invalid and did not
// change is let through), the x-kubernetes-validations CEL rules, the list
// types, the metadata of embedded resources, and the replicas the scale
// subresource reads. The metadata of the object itself is the Store's to
// check.
type validator struct {
	structural *structuralschema.Structural // nil without a schema
	schema     apiservervalidation.SchemaValidator
	status     apiservervalidation.SchemaValidator // nil without a status subresource
	cel        *cel.Validator                      // nil without rules
	scale      *apiextensionsv1.CustomResourceSubresourceScale
	selectable []selectableField
}

// selectableField is a field a field selector may name (spec.versions[].
// selectableFields), read by its JSONPath.
type selectableField struct {
	name string
	path *jsonpath.JSONPath
}

func newSelectableFields(fs []apiextensionsv1.SelectableField) []selectableField {
	var out []selectableField
	for _, f := range fs {
		p := jsonpath.New("selectableField")
		p.AllowMissingKeys(true)
		if err := p.Parse("{" + f.JSONPath + "}"); err != nil {
			continue // validation of the definition refuses these
		}
		out = append(out, selectableField{name: strings.TrimPrefix(f.JSONPath, "."), path: p})
	}
	return out
}

// fields returns the selectable fields of u, as strings.
func (v *validator) fields(u *unstructured.Unstructured) fields.Set {
	set := fields.Set{}
	for _, f := range v.selectable {
		results, err := f.path.FindResults(u.Object)
		if err != nil || len(results) == 0 || len(results[0]) == 0 {
			set[f.name] = ""
			continue
		}
		set[f.name] = fmt.Sprint(results[0][0].Interface())
	}
	return set
}

// validate checks a new object.
func (v *validator) validate(ctx context.Context, u *unstructured.Unstructured) field.ErrorList {
	errs := apiservervalidation.ValidateCustomResource(nil, u.Object, v.schema)
	errs = append(errs, v.checkScale(u, true)...)
	errs = append(errs, v.structuralChecks(ctx, u.Object)...)
	if v.structural != nil {
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u.Object)...)
	}
	return v.withRules(ctx, errs, u.Object, nil)
}

// validateUpdate checks an update (status is old's unless it came through
// /status, when everything else is old's).
func (v *validator) validateUpdate(ctx context.Context, u, old *unstructured.Unstructured, statusOnly bool) field.ErrorList {
	var correlated *common.CorrelatedObject
	var opts []apiservervalidation.ValidationOption
	if v.structural != nil {
		correlated = common.NewCorrelatedObject(u.Object, old.Object, &model.Structural{Structural: v.structural})
	}
	var errs field.ErrorList
	if statusOnly {
		if st, ok := u.Object["status"]; ok && v.status != nil {
			if correlated != nil {
				opts = append(opts, apiservervalidation.WithRatcheting(correlated.Key("status")))
			}
			errs = apiservervalidation.ValidateCustomResourceUpdate(field.NewPath("status"), st, old.Object["status"], v.status, opts...)
		}
		errs = append(errs, v.checkScale(u, false)...)
	} else {
		if correlated != nil {
			opts = append(opts, apiservervalidation.WithRatcheting(correlated))
		}
		errs = apiservervalidation.ValidateCustomResourceUpdate(nil, u.Object, old.Object, v.schema, opts...)
		errs = append(errs, v.checkScale(u, true)...)
		errs = append(errs, v.structuralChecks(ctx, u.Object)...)
	}
	if v.structural != nil {
		// Ratcheting: list invariants an old object already broke do not
		// fail its updates.
		if newErrs := structurallisttype.ValidateListSetsAndMaps(nil, v.structural, u.Object); len(newErrs) > 0 {
			if len(structurallisttype.ValidateListSetsAndMaps(nil, v.structural, old.Object)) == 0 {
				errs = append(errs, newErrs...)
			}
		}
	}
	return v.withRules(ctx, errs, u.Object, old.Object, cel.WithRatcheting(correlated))
}

// structuralChecks checks the metadata of embedded resources.
func (v *validator) structuralChecks(ctx context.Context, obj map[string]any) field.ErrorList {
	if v.structural == nil {
		return nil
	}
	return schemaobjectmeta.Validate(ctx, nil, obj, v.structural, false)
}

// withRules adds the CEL rules' errors to errs, unless errs already holds
// one that makes the rules meaningless (a wrong type, a missing required
// field, a value out of an enum or too long), when it says so instead, as
// Kubernetes does.
func (v *validator) withRules(ctx context.Context, errs field.ErrorList, obj, old any, opts ...cel.Option) field.ErrorList {
	if v.cel == nil {
		return errs
	}
	for _, e := range errs {
		switch e.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return append(errs, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
		}
	}
	if old == nil {
		opts = nil
	}
	ruleErrs, _ := v.cel.Validate(ctx, nil, v.structural, obj, old, celconfig.RuntimeCELCostBudget, opts...)
	return append(errs, ruleErrs...)
}

// checkScale checks the replicas (and selector) the scale subresource
// reads: whole numbers from 0 to MaxInt32.
func (v *validator) checkScale(u *unstructured.Unstructured, spec bool) field.ErrorList {
	if v.scale == nil {
		return nil
	}
	var errs field.ErrorList
	replicas := func(p string) {
		n, _, err := unstructured.NestedInt64(u.Object, splitPath(p)...)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(field.NewPath(p), n, err.Error()))
		case n < 0:
			errs = append(errs, field.Invalid(field.NewPath(p), n, "should be a non-negative integer"))
		case n > math.MaxInt32:
			errs = append(errs, field.Invalid(field.NewPath(p), n, fmt.Sprintf("should be less than or equal to %v", math.MaxInt32)))
		}
	}
	if spec {
		replicas(v.scale.SpecReplicasPath)
	}
	replicas(v.scale.StatusReplicasPath)
	if p := v.scale.LabelSelectorPath; p != nil {
		if s, _, err := unstructured.NestedString(u.Object, splitPath(*p)...); err != nil {
			errs = append(errs, field.Invalid(field.NewPath(*p), s, err.Error()))
		}
	}
	return errs
}

// splitPath turns ".spec.replicas" into its keys.
func splitPath(p string) []string {
	return strings.Split(strings.TrimPrefix(p, "."), ".")
}

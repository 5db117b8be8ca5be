package crd

import (
	"fmt"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"

	"cella.dev/cella/internal/openapi"
)

// OpenAPIPublisher is the side of the OpenAPI documents: it publishes the
// custom resources of an owner (a definition's name) in place of the ones
// it published before; nil rs removes them. It must not block for long:
// documents render when first asked for.
type OpenAPIPublisher interface {
	SetCustomResources(owner string, rs []openapi.CustomResource) error
}

// openAPIResource describes the version name of crd for the OpenAPI
// documents, with its schema as kube-apiserver publishes it (structural,
// with int-or-string unfolded, defaults kept). The names are the accepted
// ones.
func openAPIResource(crd *apiextensionsv1.CustomResourceDefinition, name string) (openapi.CustomResource, error) {
	names := crd.Status.AcceptedNames
	r := openapi.CustomResource{
		Group: crd.Spec.Group, Version: name, Kind: names.Kind, ListKind: names.ListKind, Resource: names.Plural,
		Namespaced:            crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		Verbs:                 verbs,
		PreserveUnknownFields: crd.Spec.PreserveUnknownFields,
	}
	sub, err := apihelpers.GetSubresourcesForVersion(crd, name)
	if err != nil {
		return r, err
	}
	r.Status = sub != nil && sub.Status != nil
	r.Scale = sub != nil && sub.Scale != nil
	val, err := apihelpers.GetSchemaForVersion(crd, name)
	if err != nil || val == nil || val.OpenAPIV3Schema == nil {
		return r, err
	}
	internal := &apiextensions.CustomResourceValidation{}
	if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(val, internal, nil); err != nil {
		return r, err
	}
	structural, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
	if err != nil {
		return r, fmt.Errorf("version %s: the schema is not structural: %w", name, err)
	}
	r.Schema = structural.Unfold().ToKubeOpenAPI()
	return r, nil
}

// publish hands the OpenAPI documents what s serves for the definition
// name (nothing when s is nil) and logs what s warns of. A failure to
// publish is logged, not returned: the resources are served either way.
func (m *Manager) publish(name string, s *serving) {
	var rs []openapi.CustomResource
	if s != nil {
		rs = s.openAPI
		for _, w := range s.warnings {
			m.log.Warn("serving a CustomResourceDefinition", "name", name, "err", w)
		}
	}
	if m.cfg.OpenAPI == nil {
		return
	}
	if err := m.cfg.OpenAPI.SetCustomResources(name, rs); err != nil {
		m.log.Warn("publishing the OpenAPI of a CustomResourceDefinition", "name", name, "err", err)
	}
}

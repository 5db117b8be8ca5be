package crd

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"cella.dev/cella/internal/openapi"
)

// OpenAPIPublisher is the side of the OpenAPI documents: it publishes the
// custom resources of an owner (a definition's name) in place of the ones
// it published before; nil rs removes them. It must not block for long:
// documents render when first asked for.
type OpenAPIPublisher interface {
	SetCustomResources(owner string, rs []openapi.CustomResource) error
}

// openAPIResource describes the version v of crd for the OpenAPI
// documents, with its schema as kube-apiserver publishes it (structural,
// with int-or-string unfolded).
func openAPIResource(crd *apiextensionsv1.CustomResourceDefinition, v *version) openapi.CustomResource {
	names := crd.Status.AcceptedNames
	r := openapi.CustomResource{
		Group: crd.Spec.Group, Version: v.name, Kind: names.Kind, ListKind: names.ListKind, Resource: names.Plural,
		Namespaced:            crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		Verbs:                 verbs,
		Status:                v.subresources != nil && v.subresources.Status != nil,
		Scale:                 v.subresources != nil && v.subresources.Scale != nil,
		PreserveUnknownFields: crd.Spec.PreserveUnknownFields,
	}
	if v.structural != nil {
		r.Schema = v.structural.DeepCopy().Unfold().ToKubeOpenAPI()
	}
	return r
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

// Package openapi generates and serves the OpenAPI documents of the API:
// Swagger 2.0 at /openapi/v2 and OpenAPI 3.0 at /openapi/v3, one document
// per group-version, as kube-apiserver serves them and as kubectl (explain,
// apply validation, edit) and client-go read them.
//
// Nothing is generated ahead of time: New reflects over the Go types of the
// served resources. Each struct becomes a definition (a component in v3)
// whose properties are the fields encoding/json writes: json tags name them,
// embedded structs without a JSON name are flattened, and `json:"-"`,
// unexported fields, channels and functions are left out. Descriptions come
// from the types' SwaggerDoc methods ("" for the type, the JSON name for a
// field). The patchStrategy and patchMergeKey tags become
// x-kubernetes-patch-strategy and x-kubernetes-patch-merge-key. The list
// fields of k8s.io/api types carry x-kubernetes-list-type (atomic, set or
// map) and x-kubernetes-list-map-keys, read from the structured-merge-diff
// schema client-go ships for server-side apply (lists.go), since the
// +listType markers they come from are comments reflection cannot see. A type that
// names its own JSON type with OpenAPISchemaType and OpenAPISchemaFormat
// (metav1.Time and MicroTime: string date-time; metav1.Duration and
// resource.Quantity: string; intstr.IntOrString: string int-or-string, with
// x-kubernetes-int-or-string) is described so, and in v3 by its
// OpenAPIV3OneOfTypes as kube-apiserver does (Quantity is string or number,
// IntOrString integer or string). Other scalar types are inlined. []byte is
// a base64 string, maps are objects with additionalProperties, and any or
// json.RawMessage is an object with x-kubernetes-preserve-unknown-fields.
// Recursive types refer to their own definition. Fields are never listed as
// required: omitempty is not a reliable sign, since Kubernetes marks optional
// fields with comments that reflection cannot see.
//
// Definition names follow kube-apiserver:
//
//   - A type with an OpenAPIModelName method (every type in k8s.io/api and
//     k8s.io/apimachinery) takes that name: io.k8s.api.core.v1.Pod,
//     io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta.
//   - A type in a package, outside k8s.io, that holds the types of exactly
//     one served group-version takes that group reversed, as kube-apiserver
//     names the schemas of custom resources: a Network of
//     networking.cci.io/v1beta1 is io.cci.networking.v1beta1.Network. A
//     Kubernetes group (no dot, or under k8s.io) takes the prefix of
//     k8s.io/api's types, so a Cella type for batch/v1beta1 is
//     io.k8s.api.batch.v1beta1.CronJob.
//   - Any other type takes its import path with the domain reversed, as
//     kube-openapi does: cella.dev/cella/internal/x.T is
//     dev.cella.cella.internal.x.T.
//
// Two Go types with the same name are an error from New.
//
// The x-kubernetes-group-version-kind extension marks each served kind, its
// list and each subresource kind (autoscaling/v1 Scale); DeleteOptions and
// WatchEvent carry every served group-version and Status core v1, as in
// kube-apiserver. Each operation carries its own group-version-kind, with
// x-kubernetes-action, an operationId such as patchAppsV1NamespacedDeployment
// and a tag such as apps_v1.
//
// Paths are kube-apiserver's: the collection (list, create,
// deletecollection), the object (get, update, patch, delete), the
// all-namespaces list, the legacy /watch/ paths and the subresources, each
// only for the verbs served. Query parameters come from the meta/v1 option
// structs and their SwaggerDoc, as in kube-apiserver: list and watch take
// ListOptions, create CreateOptions, update UpdateOptions, patch
// PatchOptions, delete DeleteOptions. kubectl turns on server-side field
// validation only when it finds fieldValidation among the parameters of the
// kind's PATCH operation in the v3 document, so that is where it is: the
// parameters of create, update and patch are inline, while the long ones of
// list, watch and delete are defined once per document (#/parameters,
// #/components/parameters) and referred to. Media types are those Cella
// serves: JSON and YAML, JSON watch streams, and the json-patch, merge-patch
// and strategic-merge-patch bodies.
//
// Custom resources come and go at run time: SetCustomResources gives an
// owner (a CustomResourceDefinition) the documents of its served versions,
// described by their schemas instead of Go types, as kube-apiserver's
// apiextensions-apiserver describes them. Each version's group-version
// gets a v3 document (with any built-in resources of that group-version),
// the v2 document holds them all, and the v3 index lists them. The kind's
// definition (group reversed, version, kind: com.example.v1.Widget) is the
// version's schema with apiVersion, kind and metadata (a $ref to
// ObjectMeta, with a description beside it) added, and the same for every
// x-kubernetes-embedded-resource; its list kind's definition is built as
// kube-apiserver builds it. Both carry x-kubernetes-group-version-kind.
// Paths are those of a built-in kind of the same scope and verbs, with the
// status and scale subresources (scale an autoscaling/v1 Scale); PATCH
// takes JSON, merge and apply patches, as kube-apiserver lists them for
// custom resources. Swagger 2.0 cannot say all a v3 schema says, so the
// v2 form drops allOf, oneOf,
// anyOf, not and defaults, makes nullable values untyped (and not
// required), and keeps no fields or object type where unknown fields are
// kept; a kind that keeps unknown fields at its root is a bare object
// there. ApplyModels gives server-side apply the same definitions in v3
// form. A change replaces only the documents it touches, and they render
// on their first request, like the others.
//
// New reflects over the types and lays out the paths: about 6 ms for the
// 41 resources of BenchmarkNew. Rendering and encoding wait for the first
// request of each document, since they take far longer (about 250 ms of CPU
// for every JSON form, 500 ms for every protobuf form, which gnostic parses
// from the JSON through YAML as kube-apiserver does). Warm does them all at
// once; each is done once and kept.
package openapi

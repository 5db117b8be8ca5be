package openapi

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Resource is one served resource: what the documents describe.
type Resource struct {
	// Group is the API group, "" for the core group. Version is the
	// group's version, e.g. "v1beta1".
	Group, Version string
	// Kind is the kind of the objects, e.g. "Deployment". The kind of the
	// list is Kind+"List".
	Kind string
	// Resource is the plural, lower-case name in paths, e.g. "deployments".
	Resource string
	// Namespaced reports whether the objects live in namespaces.
	Namespaced bool
	// Verbs are the verbs served, from get, list, watch, create, update,
	// patch, delete and deletecollection. Only these get operations.
	Verbs []string
	// Subresources are served under each object's path.
	Subresources []Subresource
	// Type is the Go struct of one object, e.g. reflect.TypeOf(corev1.Pod{}).
	// ListType is the Go struct of the list; it is required when Verbs
	// include list or watch.
	Type, ListType reflect.Type

	// custom marks a custom resource (see CustomResource), which takes
	// the patches kube-apiserver takes for one.
	custom bool
}

// Subresource is one subresource of a Resource, such as "status" or "scale".
type Subresource struct {
	// Name is the path segment after the object's name: "status", "scale",
	// "log", "exec", "eviction". The names exec, attach, portforward and
	// proxy are connect subresources: their verbs map to HTTP methods (get
	// to GET, create to POST, and so on) and their responses are streams.
	Name string
	// Kind is the kind of Type. Empty means Type's Go name, or the parent's
	// kind when Type is nil.
	Kind string
	// Group and Version are those of Kind. When Version is empty they are
	// found from Type's package: the group-version of a served resource
	// whose Type is in that package, the group-version of a k8s.io/api
	// package, or else the parent's.
	Group, Version string
	// Type is the Go struct of the body sent and returned, e.g.
	// autoscalingv1.Scale for scale or the parent's type for status. A type
	// whose name ends in "Options" (corev1.PodLogOptions, PodExecOptions)
	// instead describes query parameters, and the response is a stream of
	// text. Nil means no parameters and a text response.
	Type reflect.Type
	// Verbs are the verbs served: get, update, patch, create, delete.
	Verbs []string

	// def names the definition of the body when there is no Go type (the
	// status of a custom resource).
	def string
}

// Info names the API in the documents' info object.
type Info struct {
	// Title is e.g. "Kubernetes"; Version the server's, e.g. "v1.37.0".
	Title, Version string
}

var knownVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// connectSubresources are the subresources kube-apiserver serves as
// x-kubernetes-action "connect".
var connectSubresources = []string{"exec", "attach", "portforward", "proxy"}

// validate reports every problem with the resources at once.
func validate(resources []Resource) error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range resources {
		where := fmt.Sprintf("resource %d (%s/%s %s)", i, r.Group, r.Version, r.Resource)
		if r.Version == "" || r.Kind == "" || r.Resource == "" {
			errs = append(errs, fmt.Errorf("openapi: %s: Version, Kind and Resource are required", where))
		}
		if strings.ContainsAny(r.Resource, "/{}") || strings.ContainsAny(r.Group, "/{}") || strings.ContainsAny(r.Version, "/{}") {
			errs = append(errs, fmt.Errorf("openapi: %s: names must not contain '/', '{' or '}'", where))
		}
		key := r.Group + "/" + r.Version + "/" + r.Resource
		if seen[key] {
			errs = append(errs, fmt.Errorf("openapi: %s: served twice", where))
		}
		seen[key] = true
		if !isStruct(r.Type) {
			errs = append(errs, fmt.Errorf("openapi: %s: Type must be a struct type, got %v", where, r.Type))
		}
		needsList := slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch") || slices.Contains(r.Verbs, "deletecollection")
		if r.ListType != nil && !isStruct(r.ListType) || needsList && r.ListType == nil {
			errs = append(errs, fmt.Errorf("openapi: %s: ListType must be a struct type when list, watch or deletecollection are served, got %v", where, r.ListType))
		}
		for _, v := range r.Verbs {
			if !slices.Contains(knownVerbs, v) {
				errs = append(errs, fmt.Errorf("openapi: %s: unknown verb %q", where, v))
			}
		}
		subs := map[string]bool{}
		for _, s := range r.Subresources {
			if s.Name == "" || strings.ContainsAny(s.Name, "/{}") {
				errs = append(errs, fmt.Errorf("openapi: %s: subresource name %q is not a path segment", where, s.Name))
			}
			if subs[s.Name] {
				errs = append(errs, fmt.Errorf("openapi: %s: subresource %q served twice", where, s.Name))
			}
			subs[s.Name] = true
			if s.Type != nil && !isStruct(s.Type) {
				errs = append(errs, fmt.Errorf("openapi: %s: subresource %q: Type must be a struct type, got %v", where, s.Name, s.Type))
			}
			for _, v := range s.Verbs {
				if !slices.Contains([]string{"get", "update", "patch", "create", "delete"}, v) {
					errs = append(errs, fmt.Errorf("openapi: %s: subresource %q: unsupported verb %q", where, s.Name, v))
				}
				if s.Type == nil && !slices.Contains(connectSubresources, s.Name) && v != "get" {
					errs = append(errs, fmt.Errorf("openapi: %s: subresource %q: verb %q needs a Type", where, s.Name, v))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func isStruct(t reflect.Type) bool {
	return t != nil && t.Kind() == reflect.Struct && t.Name() != ""
}

// isOptions reports whether a subresource's Type describes query parameters.
func isOptions(t reflect.Type) bool {
	return t != nil && strings.HasSuffix(t.Name(), "Options")
}

// groupVersionPath is the path of a group-version below the server root,
// as the OpenAPI v3 index names it: "api/v1" or "apis/apps/v1".
func groupVersionPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

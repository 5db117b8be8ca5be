package apiserver

import (
	"context"
	"net/http"
	"strings"
)

// RequestInfo is what a request path and method say about the request, in
// Kubernetes terms. It is computed once, early in the chain, and read by
// authorization, the handlers and metrics.
type RequestInfo struct {
	// IsResourceRequest is true for /api/v1/... and /apis/G/V/... paths
	// that name a resource.
	IsResourceRequest bool
	// Path is the URL path.
	Path string
	// Verb is the Kubernetes verb for resource requests (get, list, watch,
	// create, update, patch, delete, deletecollection) and the lower-case
	// HTTP method otherwise.
	Verb string

	APIPrefix   string // "api" or "apis"
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Subresource string
	Name        string
	// target is what the routing step resolved the path to; nil before
	// it.
	target *target
	// Parts are the path segments from the resource on:
	// {resource}, {name}, {subresource} and anything deeper.
	Parts []string
}

type requestInfoKey struct{}

// WithRequestInfo stores info in ctx.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// RequestInfoFrom returns the RequestInfo stored by the chain.
func RequestInfoFrom(ctx context.Context) (*RequestInfo, bool) {
	info, ok := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info, ok
}

// ParseRequestInfo reads a request the way kube-apiserver's
// RequestInfoFactory does:
//
//	/api/{version}/namespaces/{ns}/{resource}/{name}/{subresource}
//	/apis/{group}/{version}/{resource}/{name}/{subresource}
//	/api/{version}/watch/... (legacy watch paths)
func ParseRequestInfo(r *http.Request) *RequestInfo {
	info := &RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	parts := splitPath(r.URL.Path)
	if len(parts) < 1 || (parts[0] != "api" && parts[0] != "apis") {
		return info
	}
	info.APIPrefix = parts[0]
	parts = parts[1:]
	if info.APIPrefix == "apis" {
		if len(parts) < 2 {
			// /apis or /apis/{group}: discovery.
			if len(parts) == 1 {
				info.APIGroup = parts[0]
			}
			return info
		}
		info.APIGroup = parts[0]
		parts = parts[1:]
	}
	if len(parts) < 1 {
		return info
	}
	info.APIVersion = parts[0]
	parts = parts[1:]
	if len(parts) == 0 {
		// Group-version discovery.
		return info
	}
	watchPath := false
	if parts[0] == "watch" {
		watchPath = true
		parts = parts[1:]
		if len(parts) == 0 {
			// "/api/v1/watch" names no resource.
			return info
		}
	}
	info.IsResourceRequest = true
	if len(parts) >= 2 && parts[0] == "namespaces" {
		info.Namespace = parts[1]
		if len(parts) == 2 {
			// The namespace object itself.
			info.Resource = "namespaces"
			info.Name = parts[1]
			info.Namespace = ""
		} else if len(parts) >= 3 && isNamespaceSubresource(parts[2]) {
			info.Resource = "namespaces"
			info.Name = parts[1]
			info.Subresource = parts[2]
			info.Namespace = ""
			info.Parts = parts
			info.Verb = verbFor(r, info, watchPath)
			return info
		} else {
			parts = parts[2:]
		}
		if info.Resource == "" {
			info.Resource = parts[0]
			if len(parts) > 1 {
				info.Name = parts[1]
			}
			if len(parts) > 2 {
				info.Subresource = parts[2]
			}
		}
	} else {
		info.Resource = parts[0]
		if len(parts) > 1 {
			info.Name = parts[1]
		}
		if len(parts) > 2 {
			info.Subresource = parts[2]
		}
	}
	info.Parts = parts
	info.Verb = verbFor(r, info, watchPath)
	return info
}

// isNamespaceSubresource reports the subresources of a namespace object
// (as opposed to a resource inside the namespace).
func isNamespaceSubresource(s string) bool {
	return s == "status" || s == "finalize"
}

func verbFor(r *http.Request, info *RequestInfo, watchPath bool) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if watchPath {
			return "watch"
		}
		if info.Name == "" {
			if w := r.URL.Query().Get("watch"); w == "true" || w == "1" {
				return "watch"
			}
			return "list"
		}
		return "get"
	case http.MethodPost:
		return "create"
	case http.MethodPut:
		return "update"
	case http.MethodPatch:
		return "patch"
	case http.MethodDelete:
		if info.Name == "" {
			return "deletecollection"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}

// splitPath splits a URL path into its non-empty segments ("a//b/" is a,
// b; the routing step redirects or refuses such paths, but what is parsed
// before it must not hold empty names).
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

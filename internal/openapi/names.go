package openapi

import (
	"reflect"
	"strings"
)

// modelNamer is implemented by the types in k8s.io/api and
// k8s.io/apimachinery (openapi-gen writes it): the name Kubernetes gives the
// type's definition.
type modelNamer interface {
	OpenAPIModelName() string
}

// namer gives every Go struct type its definition name. See the package doc
// for the rules.
type namer struct {
	// groupPrefix maps the import path of a package that holds the types of
	// exactly one served group-version, outside k8s.io, to the prefix of its
	// definition names, e.g. "dev.cella.networking.v1beta1".
	groupPrefix map[string]string
}

func newNamer(resources []Resource) namer {
	type gv struct{ group, version string }
	seen := map[string]gv{}
	ambiguous := map[string]bool{}
	for _, r := range resources {
		if r.Type == nil {
			continue
		}
		pkg := r.Type.PkgPath()
		if pkg == "" || isKubernetesPackage(pkg) {
			continue
		}
		g := gv{r.Group, r.Version}
		if prev, ok := seen[pkg]; ok && prev != g {
			ambiguous[pkg] = true
		}
		seen[pkg] = g
	}
	n := namer{groupPrefix: map[string]string{}}
	for pkg, g := range seen {
		if !ambiguous[pkg] {
			n.groupPrefix[pkg] = groupPrefix(g.group) + "." + g.version
		}
	}
	return n
}

// name returns the definition name of the struct type t.
func (n namer) name(t reflect.Type) string {
	if m, ok := reflect.New(t).Interface().(modelNamer); ok {
		if s := m.OpenAPIModelName(); s != "" {
			return s
		}
	}
	typeName := sanitizeTypeName(t.Name())
	if p, ok := n.groupPrefix[t.PkgPath()]; ok {
		return p + "." + typeName
	}
	return packagePrefix(t.PkgPath()) + "." + typeName
}

// isKubernetesPackage reports whether pkg is one of Kubernetes' own modules,
// whose types keep the names kube-apiserver gives them.
func isKubernetesPackage(pkg string) bool {
	return strings.HasPrefix(pkg, "k8s.io/")
}

// packagePrefix turns an import path into kube-openapi's REST-friendly form:
// the domain of the first element reversed, then the remaining elements,
// joined by dots. "k8s.io/api/core/v1" becomes "io.k8s.api.core.v1".
func packagePrefix(pkg string) string {
	elems := strings.Split(pkg, "/")
	elems[0] = reverseDomain(elems[0])
	return strings.Join(elems, ".")
}

// groupPrefix is the reverse-domain form of an API group, the convention
// kube-apiserver uses for CustomResourceDefinitions: "networking.cci.io"
// becomes "io.cci.networking". Kubernetes' own groups (the legacy ones
// without a dot, and those under k8s.io) take the prefix kube-apiserver
// gives the built-in types of that group, so a type Cella defines for
// batch/v1beta1 is named like k8s.io/api's: "io.k8s.api.batch".
func groupPrefix(group string) string {
	switch {
	case group == "":
		return "io.k8s.api.core"
	case !strings.Contains(group, "."):
		return "io.k8s.api." + group
	case strings.HasSuffix(group, ".k8s.io"):
		return "io.k8s.api." + group[:strings.Index(group, ".")]
	}
	return reverseDomain(group)
}

func reverseDomain(domain string) string {
	parts := strings.Split(domain, ".")
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, ".")
}

// sanitizeTypeName makes the name of an instantiated generic type, such as
// "List[cella.dev/cella/internal/apis/x.Item]", usable in a JSON pointer.
func sanitizeTypeName(name string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '[', ']', ',', '/', ' ', '*':
			return '_'
		}
		return r
	}, name)
}

// kubernetesAPIGroups maps a directory of k8s.io/api to its API group where
// the group is not simply the directory name plus ".k8s.io".
var kubernetesAPIGroups = map[string]string{
	"core":              "",
	"apps":              "apps",
	"autoscaling":       "autoscaling",
	"batch":             "batch",
	"extensions":        "extensions",
	"policy":            "policy",
	"rbac":              "rbac.authorization.k8s.io",
	"flowcontrol":       "flowcontrol.apiserver.k8s.io",
	"apiserverinternal": "internal.apiserver.k8s.io",
}

// kubernetesGroupVersion returns the group and version of a type in
// k8s.io/api/<dir>/<version>, and false for any other package.
func kubernetesGroupVersion(pkg string) (group, version string, ok bool) {
	rest, found := strings.CutPrefix(pkg, "k8s.io/api/")
	if !found {
		return "", "", false
	}
	dir, version, found := strings.Cut(rest, "/")
	if !found || strings.Contains(version, "/") {
		return "", "", false
	}
	group, known := kubernetesAPIGroups[dir]
	if !known {
		group = dir + ".k8s.io"
	}
	return group, version, true
}

// Operation IDs and tags follow kube-apiserver: the group with ".k8s.io"
// dropped, camel-cased at its dots ("rbac.authorization.k8s.io" gives
// "RbacAuthorization", "" gives "Core"), then the version ("V1beta1").

func operationGroup(group string) string {
	if group == "" {
		return "Core"
	}
	var b strings.Builder
	for _, part := range strings.Split(strings.TrimSuffix(group, ".k8s.io"), ".") {
		b.WriteString(upperFirst(toCamel(part)))
	}
	return b.String()
}

// toCamel drops dashes, upper-casing the letter after each.
func toCamel(s string) string {
	if !strings.Contains(s, "-") {
		return s
	}
	var b strings.Builder
	for i, p := range strings.Split(s, "-") {
		if i > 0 {
			p = upperFirst(p)
		}
		b.WriteString(p)
	}
	return b.String()
}

func operationTag(group, version string) string {
	g := operationGroup(group)
	if group == "" {
		g = "core"
	}
	return lowerFirst(g) + "_" + version
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

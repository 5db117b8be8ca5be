// Package depcheck holds the test that keeps Cella's imports pointing one
// way, as docs/architecture.md draws them. It has no code of its own.
package depcheck

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "cella.dev/cella/"

// rules: a package under from (a path relative to the module root) must
// not import a package whose path starts with any of banned, unless the
// path is one of except.
var rules = []struct {
	from   string
	banned []string
	except []string
	why    string
}{
	{"internal/storage", []string{"k8s.io/"}, nil, "storage and its backends know nothing of Kubernetes"},
	{"internal/apiserver", []string{module + "internal/storage", module + "internal/podruntime", module + "internal/node"}, nil,
		"the HTTP layer reaches storage only through the registry, and pods only through PodConnector"},
	{"internal/registry", []string{module + "internal/apiserver", module + "internal/podruntime", module + "internal/node"}, nil,
		"the registry is below the HTTP layer and knows no runtime"},
	{"internal/controller", []string{module + "internal/registry", module + "internal/storage", module + "internal/apiserver"}, nil,
		"controllers are API clients over loopback, like kube-controller-manager"},
	// remotecommand is the protocol of pods/exec and pods/attach and the
	// Session an agent hands back through PodConnector (a kubelet, too,
	// serves these protocols); the next rule keeps it a leaf.
	{"internal/node", []string{module + "internal/registry", module + "internal/storage", module + "internal/apiserver"},
		[]string{module + "internal/apiserver/remotecommand"},
		"the node agent is an API client over loopback, like the kubelet"},
	{"internal/apiserver/remotecommand", []string{module}, nil,
		"the protocol package the node agent may import is a leaf: it reaches nothing of the server"},
	{"internal/podruntime", []string{"k8s.io/", module + "internal/node", module + "internal/apiserver", module + "internal/registry"}, nil,
		"runtimes have their own small types and know nothing of the API"},
}

// TestImportsPointOneWay parses every non-test Go file under internal/ and
// checks the rules above on its imports.
func TestImportsPointOneWay(t *testing.T) {
	root := filepath.Join("..", "..")
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(filepath.Join(root, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, r := range rules {
				if !strings.HasPrefix(rel, r.from+"/") {
					continue
				}
				for _, b := range r.banned {
					if strings.HasPrefix(p, b) && !slices.Contains(r.except, p) {
						t.Errorf("%s imports %s: %s", rel, p, r.why)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("checked only %d files: is the walk rooted right?", checked)
	}
}

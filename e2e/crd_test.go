//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// gatewayAPI is the Gateway API release whose CustomResourceDefinitions
// the test applies, as its users install them. Its Go module carries the
// same YAML as the release's standard-install.yaml, so the test takes it
// from the module proxy (the one registry this machine and CI reach).
const gatewayAPI = "sigs.k8s.io/gateway-api@v1.6.3"

// gatewayCRDs returns the files of the release's standard channel that
// hold CustomResourceDefinitions (the channel also ships a
// ValidatingAdmissionPolicy, which Cella does not serve yet).
func gatewayCRDs(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", gatewayAPI).Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", gatewayAPI, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download -json %s: %v: %s", gatewayAPI, err, out)
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crds []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "kind: CustomResourceDefinition") {
			crds = append(crds, f)
		}
	}
	if len(crds) < 5 {
		t.Fatalf("found %d Gateway API definitions in %s, want the standard channel's", len(crds), mod.Dir)
	}
	return crds
}

// TestGatewayAPI applies the Gateway API's definitions with kubectl (server
// side, as the project documents: they are too large for client-side
// apply's annotation), waits until kubectl sees them Established, and
// works with their custom resources as a user would: schema defaults,
// CEL rules refused with 422, printer columns, short names, explain-free
// get/describe/patch, and deletion of a definition taking its resources
// along.
func TestGatewayAPI(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	args := []string{"apply", "--server-side"}
	for _, f := range gatewayCRDs(t) {
		args = append(args, "-f", f)
	}
	c.must(t, args...)
	c.must(t, "wait", "--for", "condition=Established", "crd", "--all", "--timeout=30s")

	c.mustWith(t, call{stdin: `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: cella
spec:
  controllerName: cella.dev/gateway
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: default
spec:
  gatewayClassName: cella
  listeners:
  - name: http
    port: 80
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: route
  namespace: default
spec:
  parentRefs:
  - name: gw
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /shop
    backendRefs:
    - name: web
      port: 80
`}, "apply", "-f", "-")

	// The schema's defaults are filled in.
	var route struct {
		Spec struct {
			ParentRefs []struct{ Group, Kind, Name string }
			Rules      []struct {
				BackendRefs []struct {
					Kind   string
					Weight int
				}
			}
		}
	}
	c.getJSON(t, &route, "httproute", "route")
	if p := route.Spec.ParentRefs; len(p) != 1 || p[0].Kind != "Gateway" || p[0].Group != "gateway.networking.k8s.io" {
		t.Errorf("parentRefs after defaulting = %+v", p)
	}
	if r := route.Spec.Rules; len(r) != 1 || len(r[0].BackendRefs) != 1 || r[0].BackendRefs[0].Kind != "Service" || r[0].BackendRefs[0].Weight != 1 {
		t.Errorf("backendRefs after defaulting = %+v", r)
	}

	// Printer columns of the definition, with its short name.
	tb := parseTable(t, c.must(t, "get", "gc"))
	if row := tb.row("cella"); row == nil || row["CONTROLLER"] != "cella.dev/gateway" {
		t.Errorf("kubectl get gc:\n%v", tb)
	}

	// A CEL rule of the schema: a path match of type Exact must start
	// with a slash, in the words the definition gives.
	bad := c.runWith(t, call{stdin: `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: bad
  namespace: default
spec:
  rules:
  - matches:
    - path:
        type: Exact
        value: shop
`}, "apply", "-f", "-")
	if bad.code == 0 || !strings.Contains(bad.stderr, "is invalid") || !strings.Contains(bad.stderr, "must be an absolute path") {
		t.Errorf("an HTTPRoute breaking a CEL rule:\n%s", bad)
	}

	// Patches and describe work as on any kind.
	c.must(t, "patch", "gateway", "gw", "--type=merge", "-p", `{"spec":{"listeners":[{"name":"http","port":8080,"protocol":"HTTP"}]}}`)
	wantContains(t, "kubectl describe gateway", c.must(t, "describe", "gateway", "gw"), "Gateway Class Name:  cella", "Port:      8080")

	// Deleting a definition deletes its resources, then itself.
	c.must(t, "delete", "crd", "httproutes.gateway.networking.k8s.io", "--timeout=30s")
	if r := c.run(t, "get", "httproutes.gateway.networking.k8s.io"); r.code == 0 {
		t.Errorf("httproutes still served after their definition was deleted:\n%s", r)
	}
	c.must(t, "get", "gateway", "gw")
}

// TestExplainCustomResource has kubectl explain a custom resource from
// the OpenAPI documents its definition publishes: from the v3 document
// (kubectl's default) and from the v2 one.
func TestExplainCustomResource(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	c.mustWith(t, call{stdin: `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gizmos.example.net
spec:
  group: example.net
  names: {plural: gizmos, singular: gizmo, kind: Gizmo}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: GizmoSpec says how the gizmo whirrs.
            required: [speed]
            properties:
              speed: {type: integer, description: Turns a second.}
              sound: {type: string, nullable: true}
`}, "apply", "-f", "-")
	c.must(t, "wait", "--for", "condition=Established", "crd/gizmos.example.net", "--timeout=30s")

	common := []string{
		`(?m)^KIND:\s+Gizmo$`,
		`GizmoSpec says how the gizmo whirrs\.`,
		`(?m)^\s+speed\s+<integer>\s+-required-$`, `Turns a second\.`,
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"explain", "gizmo.spec"}, append(common, `(?m)^GROUP:\s+example\.net$`, `(?m)^VERSION:\s+v1$`, `(?m)^\s+sound\s+<string>$`)},
		// Swagger 2.0 has no nullable: the field is untyped there, as
		// kube-apiserver publishes it.
		{[]string{"explain", "gizmo.spec", "--output=plaintext-openapiv2"}, append(common, `(?m)^VERSION:\s+example\.net/v1$`, `(?m)^\s+sound\s+<>$`)},
	} {
		out := c.must(t, tc.args...)
		for _, re := range tc.want {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("kubectl %s: want %s in:\n%s", strings.Join(tc.args, " "), re, out)
			}
		}
	}
}

//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/app"
)

// httpdManifest is a pod running testhttpd (bin) on its pod's IP, port
// 8080 (named http), ready once it answers, and a Service web selecting
// it on port 80. The binary's directory is mounted at its own path: an
// isolated container has a /tmp of its own.
func httpdManifest(bin string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - {name: bin, hostPath: {path: %q}}
  containers:
  - name: web
    image: none
    volumeMounts:
    - {name: bin, mountPath: %q, readOnly: true}
    command: [%q, -listen, "$(POD_IP):8080", -name, web]
    env:
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    ports:
    - {name: http, containerPort: 8080}
    readinessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
`, filepath.Dir(bin), filepath.Dir(bin), bin)
}

// TestPortForwardProcess: `kubectl port-forward` to a pod and to a
// service reaches the pod's HTTP server, over SPDY tunneled in a WebSocket
// (kubectl's first choice) and over a plain SPDY upgrade (its fallback),
// and `kubectl get --raw` through pods/proxy and
// services/proxy reaches it too.
func TestPortForwardProcess(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "testhttpd")
	if out, err := exec.Command("go", "build", "-o", bin, "cella.dev/cella/internal/testing/testhttpd").CombinedOutput(); err != nil {
		t.Fatalf("building testhttpd: %v\n%s", err, out)
	}
	c := newCluster(t, func(c *app.Config) { c.Runtime, c.Profile, c.NodeName = "process", "kubernetes", "proc-node" })
	c.mustWith(t, call{stdin: httpdManifest(bin)}, "apply", "-f", "-")
	defer c.run(t, "delete", "pod", "web", "--timeout=30s")
	c.must(t, "wait", "--for=condition=Ready", "pod/web", "--timeout=30s")

	for _, tc := range []struct {
		target, port string
		env          []string
	}{
		{"pod/web", "8080", nil},
		{"svc/web", "80", nil},
		// kubectl's fallback, a plain SPDY upgrade.
		{"pod/web", "8080", []string{"KUBECTL_PORT_FORWARD_WEBSOCKETS=false"}},
	} {
		target := tc.target
		local, stop := portForward(t, c, tc.env, target, ":"+tc.port)
		resp, err := http.Get("http://" + local + "/hello")
		if err != nil {
			stop()
			t.Fatalf("GET through kubectl port-forward %s: %v", target, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if out := stop(); resp.StatusCode != http.StatusOK || string(b) != "hello from web\n" {
			t.Errorf("GET through kubectl port-forward %s: %d %q\n%s", target, resp.StatusCode, b, out)
		}
	}

	for _, path := range []string{
		"/api/v1/namespaces/default/pods/web:8080/proxy/hello",
		"/api/v1/namespaces/default/services/web:http/proxy/hello",
	} {
		if got := c.must(t, "get", "--raw", path); got != "hello from web\n" {
			t.Errorf("kubectl get --raw %s = %q", path, got)
		}
	}
}

// portForward starts `kubectl port-forward target ports` (with env added
// to the cluster's environment) and waits until
// it listens; it returns the local address and a stop function that ends
// kubectl and returns what it printed.
func portForward(t *testing.T, c *cluster, env []string, target, ports string) (string, func() string) {
	t.Helper()
	cmd := exec.Command(kubectlBin, "port-forward", target, ports, "--address=127.0.0.1")
	cmd.Env = append(append([]string(nil), c.env...), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// printed is written by the reader until scanned is closed.
	var printed strings.Builder
	scanned := make(chan struct{})
	stop := func() string {
		_ = cmd.Process.Kill()
		<-scanned
		_ = cmd.Wait()
		return "--- stdout\n" + printed.String() + "--- stderr\n" + stderr.String()
	}
	found := make(chan string, 1)
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`Forwarding from (127\.0\.0\.1:\d+) ->`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			printed.WriteString(sc.Text() + "\n")
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		close(found)
	}()
	select {
	case addr, ok := <-found:
		if !ok {
			t.Fatalf("kubectl port-forward %s exited:\n%s", target, stop())
		}
		return addr, stop
	case <-time.After(callTimeout):
		t.Fatalf("kubectl port-forward %s never listened:\n%s", target, stop())
	}
	return "", nil
}

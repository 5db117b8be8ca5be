//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// podYAML is a pod CCI accepts: one container of 0.25 core and 1 GiB,
// requests equal to limits.
func podYAML(name, cpu, memory string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    app: %s
spec:
  containers:
  - name: main
    image: busybox:1.36
    command: ["sleep", "3600"]
    resources:
      limits:
        cpu: %s
        memory: %s
      requests:
        cpu: %s
        memory: %s
`, name, name, cpu, memory, cpu, memory)
}

// watchWait bounds how long a watch may take to show an event.
const watchWait = 20 * time.Second

// TestGetPodsWatch starts `kubectl get pods -w`, creates a pod, and waits
// for the watch to print it. There is no container runtime yet, so the
// pod is Pending, and stays so.
func TestGetPodsWatch(t *testing.T) {
	t.Parallel()
	c := newCluster(t)

	ctx, cancel := context.WithTimeout(context.Background(), callTimeout+watchWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlBin, "get", "pods", "-w")
	cmd.Env = c.env
	cmd.WaitDelay = 5 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The reader owns stdout until the pipe closes; lines is closed then,
	// so draining it below joins the goroutine.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	stop := func() string {
		cancel()
		for range lines {
		}
		_ = cmd.Wait()
		return stderr.String()
	}

	// The watch has nothing to print until a pod exists; give it a moment
	// to list and open the watch so the create is seen as an event.
	time.Sleep(time.Second)
	out := c.mustWith(t, call{stdin: podYAML("watched", "250m", "1Gi")}, "create", "-f", "-")
	wantContains(t, "kubectl create", out, "pod/watched created")

	var seen []string
	timeout := time.After(watchWait)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl get pods -w ended early; printed:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stop())
			}
			seen = append(seen, l)
			if strings.HasPrefix(l, "watched ") {
				break wait
			}
		case <-timeout:
			t.Fatalf("kubectl get pods -w did not show pod watched within %s; printed:\n%s\nstderr:\n%s", watchWait, strings.Join(seen, "\n"), stop())
		}
	}
	stderrOut := stop()
	if strings.Contains(stderrOut, "rror") {
		t.Errorf("kubectl get pods -w stderr:\n%s", stderrOut)
	}
	tb := parseTable(t, strings.Join(seen, "\n"))
	if got, want := strings.Join(tb.header, " "), "NAME READY STATUS RESTARTS AGE"; got != want {
		t.Errorf("watch header = %q, want %q", got, want)
	}
	row := tb.row("watched")
	if row["READY"] != "0/1" || row["STATUS"] != "Pending" {
		t.Errorf("watch row = %v, want READY 0/1 STATUS Pending", row)
	}

	// Pending is the pod's real phase, not just a printed column.
	if got := c.must(t, "get", "pod", "watched", "-o", "jsonpath={.status.phase}"); got != "Pending" {
		t.Errorf("status.phase = %q, want Pending", got)
	}
	// CCI fills requests from limits and Cella defaults the rest.
	var pod struct {
		Spec struct {
			RestartPolicy, DNSPolicy, SchedulerName string
			Containers                              []struct {
				ImagePullPolicy string
			}
		}
	}
	c.getJSON(t, &pod, "pod", "watched")
	if pod.Spec.RestartPolicy != "Always" || pod.Spec.DNSPolicy != "ClusterFirst" || pod.Spec.SchedulerName != "default-scheduler" {
		t.Errorf("pod spec defaults = %+v, want restartPolicy Always, dnsPolicy ClusterFirst, schedulerName default-scheduler", pod.Spec)
	}
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].ImagePullPolicy != "IfNotPresent" {
		t.Errorf("containers = %+v, want one with imagePullPolicy IfNotPresent", pod.Spec.Containers)
	}
}

// TestCreateInvalidPod: a pod that breaks a CCI rule is refused with a
// 422, which kubectl prints as "is invalid" followed by the field.
func TestCreateInvalidPod(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	for _, tc := range []struct {
		name        string
		cpu, memory string
		want        string // a regular expression for kubectl's stderr
	}{
		// CPU must be a multiple of 0.25 core.
		{"odd-cpu", "300m", "1Gi", `spec\.containers\[0\]\.resources\.limits\[cpu\]: Invalid value: "300m": .*0\.25`},
		// 0.5 core with 8 GiB is 1:16, past the 1:8 limit.
		{"too-much-memory", "500m", "8Gi", `memory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.runWith(t, call{stdin: podYAML(tc.name, tc.cpu, tc.memory)}, "create", "-f", "-")
			if r.code != 1 {
				t.Fatalf("want exit code 1:\n%s", r)
			}
			head := fmt.Sprintf(`The Pod "%s" is invalid: `, tc.name)
			if !strings.Contains(r.stderr, head) {
				t.Errorf("want %q (kubectl's text for a 422) in:\n%s", head, r)
			}
			if !regexp.MustCompile(tc.want).MatchString(r.stderr) {
				t.Errorf("want %s in:\n%s", tc.want, r)
			}
			// Nothing was stored.
			g := c.run(t, "get", "pod", tc.name)
			wantContains(t, "kubectl get after a refused create", g.stderr, fmt.Sprintf(`pods "%s" not found`, tc.name))
		})
	}
	// A misspelt field is a 400 under kubectl's default --validate=strict,
	// which asks the server to check fields (fieldValidation=Strict).
	typo := strings.Replace(podYAML("typo", "250m", "1Gi"), "    image:", "    imagePullPolicyy: Always\n    image:", 1)
	r := c.runWith(t, call{stdin: typo}, "create", "-f", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "Error from server (BadRequest)") || !strings.Contains(r.stderr, `unknown field "spec.containers[0].imagePullPolicyy"`) {
		t.Errorf("misspelt field: want a BadRequest naming it:\n%s", r)
	}

	// The same 422 with -v=6 shows the status code itself.
	r = c.runWith(t, call{stdin: podYAML("odd-cpu", "300m", "1Gi")}, "create", "-f", "-", "-v=6")
	// klog's text and structured forms of the round-tripper's line.
	re := `POST \S+/api/v1/namespaces/default/pods\S* 422 Unprocessable Entity|verb="POST" url="[^"]+/api/v1/namespaces/default/pods[^"]*" status="422 Unprocessable Entity"`
	if !regexp.MustCompile(re).MatchString(r.stderr) {
		t.Errorf("want a 422 response in kubectl -v=6 output:\n%s", r.stderr)
	}
}

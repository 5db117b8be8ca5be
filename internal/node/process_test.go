package node_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/podruntime/process"
	"cella.dev/cella/internal/servertest"
)

// TestMain lets the process runtime re-execute this test binary as a
// container's shim, as it re-executes cella in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "runtime-shim" {
		os.Exit(process.ShimMain(os.Args[2:]))
	}
	// A shim built with -race would otherwise wait a second at exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	os.Exit(m.Run())
}

// startProcess runs a server with the process runtime on dir ("" for a
// new one). When the test ends, before the server stops, it waits until
// the agent has removed the sandboxes of the pods the test deleted
// (cleanupPods): a finished pod leaves the API at once, before the agent
// removes its sandbox, and an isolated sandbox's network namespace is
// mounted in the server's directory, which would then outlive the test.
func startProcess(t *testing.T, dir string) (*servertest.Server, kubernetes.Interface) {
	t.Helper()
	opts := []servertest.Option{func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "process", "kubernetes", "proc-node"
	}}
	if dir != "" {
		opts = append(opts, servertest.WithDataDir(dir))
	}
	srv := servertest.Start(t, opts...)
	// Registered after the server's own cleanup, so it runs first.
	t.Cleanup(func() { waitSandboxesRemoved(t, filepath.Join(srv.Config.DataDir, "runtime")) })
	return srv, srv.Clientset()
}

// waitSandboxesRemoved waits until the process runtime's state directory
// dir holds no sandbox (a directory per pod).
func waitSandboxesRemoved(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := os.ReadDir(dir)
		left := 0
		for _, e := range entries {
			if e.IsDir() {
				left++
			}
		}
		if left == 0 && (err == nil || errors.Is(err, fs.ErrNotExist)) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d sandboxes left in %s (%v): delete the test's pods before it ends", left, dir, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupPods deletes every pod at once and waits until they are gone, so
// no process outlives the test.
func cleanupPods(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))}, metav1.ListOptions{})
	eventually(t, "every pod is gone", func(ctx context.Context) (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, err
	})
}

func shPod(name, script string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 policy,
			TerminationGracePeriodSeconds: ptr.To(int64(5)),
			Containers:                    []corev1.Container{{Name: "c", Image: "none", Command: []string{"sh", "-c", script}}},
		},
	}
}

// TestProcessPods: with the process runtime a pod's container is a real
// process: what it prints is its log, its exit code is its status, its
// environment comes from the spec (values, fieldRef, ConfigMap keys), and
// a graceful delete sends it SIGTERM and waits for it.
func TestProcessPods(t *testing.T) {
	_, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	pods := cs.CoreV1().Pods("default")
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := shPod("web", `echo "$GREETING from $POD_NAME ($MODE)"; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done`, corev1.RestartPolicyAlways)
	web.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "MODE", Value: "test"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "GREETING", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
	}
	if _, err := pods.Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, shPod("fails", `echo boom; exit 3`, corev1.RestartPolicyNever), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, cs, "web", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	// Cella isolates pods when it runs as root (isolation_test.go); a
	// pod gets a loopback address only when it is not isolated.
	if isolated := os.Geteuid() == 0; isolated == strings.HasPrefix(p.Status.PodIP, "127.") {
		t.Errorf("podIP %q (isolated: %v)", p.Status.PodIP, isolated)
	}
	eventually(t, "web's log shows its environment", func(ctx context.Context) (bool, error) {
		b, err := pods.GetLogs("web", &corev1.PodLogOptions{}).DoRaw(ctx)
		return string(b) == "hello from web (test)\n", err
	})
	p = podWhere(t, cs, "fails", "fails", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
		t.Fatalf("failed container: %+v", p.Status.ContainerStatuses[0])
	}
	if b, err := pods.GetLogs("fails", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || string(b) != "boom\n" {
		t.Errorf("log of the failed pod: %q %v", b, err)
	}

	// Graceful delete: the pod is marked, its process gets SIGTERM (and
	// says bye), then the pod goes.
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod is gone", func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
}

// TestProcessRestartAdoption: a Cella restart neither orphans nor
// duplicates a running pod: the new server finds its process, which kept
// running (same start time, restartCount still 0), and its log.
func TestProcessRestartAdoption(t *testing.T) {
	dir := t.TempDir()
	srv, cs := startProcess(t, dir)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, shPod("steady", `echo up; while true; do sleep 0.1; done`, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := podWhere(t, cs, "steady", "runs", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	srv.Stop()

	_, cs = startProcess(t, dir)
	defer cleanupPods(t, cs)
	after := podWhere(t, cs, "steady", "is seen running again", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	b, a := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
	if a.RestartCount != 0 || !a.State.Running.StartedAt.Equal(&b.State.Running.StartedAt) || a.ContainerID != b.ContainerID {
		t.Fatalf("after the restart: %+v\nbefore: %+v", a, b)
	}
	if log, err := cs.CoreV1().Pods("default").GetLogs("steady", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || string(log) != "up\n" {
		t.Errorf("log after the restart: %q %v", log, err)
	}
}

package node_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/remotecommand"
)

// sizeQueue hands out the sizes sent to it until done is closed.
type sizeQueue struct {
	sizes chan remotecommand.TerminalSize
	done  chan struct{}
}

func newSizeQueue(t *testing.T) *sizeQueue {
	q := &sizeQueue{sizes: make(chan remotecommand.TerminalSize, 4), done: make(chan struct{})}
	t.Cleanup(func() { close(q.done) })
	return q
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.sizes:
		return &s
	case <-q.done:
		return nil
	}
}

// session runs a stream in the background; wait returns its error.
type session struct {
	in   *io.PipeWriter
	out  *syncBuffer
	done chan error
}

func (s *session) send(t *testing.T, keys string) {
	t.Helper()
	if _, err := s.in.Write([]byte(keys)); err != nil {
		t.Fatalf("typing %q: %v", keys, err)
	}
}

func (s *session) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("the session did not end")
		return nil
	}
}

// TestExecProcess: with the process runtime an exec is a real process with
// the container's environment: its output and exit code, its input, and a
// terminal whose size follows the client's, all through the API server.
func TestExecProcess(t *testing.T) {
	srv, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	p := shPod("box", "while true; do sleep 0.1; done", corev1.RestartPolicyAlways)
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "WHO", Value: "the container"}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "box", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	cfg := srv.RestConfig()

	u := streamURL(cs, "box", "exec", &corev1.PodExecOptions{Command: []string{"sh", "-c", `echo "hi from $WHO"; echo oops >&2; exit 3`}, Stdout: true, Stderr: true})
	var stdout, stderr bytes.Buffer
	err := stream(t, cfg, u, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if exitCode(err) != 3 || stdout.String() != "hi from the container\n" || stderr.String() != "oops\n" {
		t.Errorf("exec: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}

	u = streamURL(cs, "box", "exec", &corev1.PodExecOptions{Command: []string{"tr", "a-z", "A-Z"}, Stdin: true, Stdout: true, Stderr: true})
	stdout.Reset()
	err = stream(t, cfg, u, remotecommand.StreamOptions{Stdin: strings.NewReader("piped in\n"), Stdout: &stdout, Stderr: io.Discard})
	if err != nil || stdout.String() != "PIPED IN\n" {
		t.Errorf("exec with stdin: %v, stdout %q", err, stdout.String())
	}
	stdout.Reset()
	err = spdyStream(t, cfg, u, remotecommand.StreamOptions{Stdin: strings.NewReader("over spdy\n"), Stdout: &stdout, Stderr: io.Discard})
	if err != nil || stdout.String() != "OVER SPDY\n" {
		t.Errorf("exec with stdin over SPDY: %v, stdout %q", err, stdout.String())
	}

	u = streamURL(cs, "box", "exec", &corev1.PodExecOptions{Command: []string{"sh"}, Stdin: true, Stdout: true, TTY: true})
	q := newSizeQueue(t)
	q.sizes <- remotecommand.TerminalSize{Width: 100, Height: 40}
	pr, pw := io.Pipe()
	s := &session{in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		s.done <- stream(t, cfg, u, remotecommand.StreamOptions{Stdin: pr, Stdout: s.out, Tty: true, TerminalSizeQueue: q})
	}()
	// The size may come after the shell started: ask until it shows.
	waitTyped(t, s, "stty size\n", "40 100\r\n")
	q.sizes <- remotecommand.TerminalSize{Width: 120, Height: 50}
	waitTyped(t, s, "stty size\n", "50 120\r\n")
	s.send(t, "exit 5\n")
	if err := s.wait(t); exitCode(err) != 5 {
		t.Errorf("the terminal session ended with %v, want exit code 5", err)
	}
	pw.Close()
}

// waitTyped types keys until the output shows want.
func waitTyped(t *testing.T, s *session, keys, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("typing %q never showed %q: %q", keys, want, s.out.String())
		}
		s.send(t, keys)
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAttachProcess: `kubectl run -i`'s container keeps its input open:
// an attachment types into it and sees its output; with stdinOnce the
// container's input closes when the attachment detaches, and it exits.
func TestAttachProcess(t *testing.T) {
	srv, cs := startProcess(t, "")
	defer cleanupPods(t, cs)
	ctx := t.Context()
	p := shPod("reader", `while read line; do echo "got $line"; done; echo "input closed"`, corev1.RestartPolicyNever)
	p.Spec.Containers[0].Stdin, p.Spec.Containers[0].StdinOnce = true, true
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "reader", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	u := streamURL(cs, "reader", "attach", &corev1.PodAttachOptions{Stdin: true, Stdout: true, Stderr: true})
	pr, pw := io.Pipe()
	s := &session{in: pw, out: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		s.done <- stream(t, srv.RestConfig(), u, remotecommand.StreamOptions{Stdin: pr, Stdout: s.out, Stderr: s.out})
	}()
	s.send(t, "one\n")
	eventually(t, "the attachment sees the container's answer", func(context.Context) (bool, error) {
		return s.out.String() == "got one\n", nil
	})
	pw.Close() // the client's input ends: v5's close message
	if err := s.wait(t); err != nil {
		t.Errorf("attach: %v", err)
	}
	if got := s.out.String(); got != "got one\ninput closed\n" {
		t.Errorf("attached output %q", got)
	}
	done := podWhere(t, cs, "reader", "completes", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if log, err := cs.CoreV1().Pods("default").GetLogs("reader", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || string(log) != "got one\ninput closed\n" {
		t.Errorf("log %q %v (pod %s)", log, err, done.Status.Phase)
	}
}

package node_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// These tests speak the remote command protocols over real sockets to the
// whole server: client-go's WebSocket executor (what kubectl runs), and a
// raw WebSocket for what it hides (the 101, the subprotocol).

// streamURL is the URL of pods/{pod}/{sub} with the options opts.
func streamURL(cs kubernetes.Interface, pod, sub string, opts runtime.Object) *url.URL {
	return cs.CoreV1().RESTClient().Post().Namespace("default").Resource("pods").Name(pod).
		SubResource(sub).VersionedParams(opts, scheme.ParameterCodec).URL()
}

// stream runs a session as kubectl does, over v5.channel.k8s.io unless
// protocols says otherwise.
func stream(t *testing.T, cfg *rest.Config, u *url.URL, o remotecommand.StreamOptions, protocols ...string) error {
	t.Helper()
	if len(protocols) == 0 {
		protocols = []string{"v5.channel.k8s.io"}
	}
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(cfg, "GET", u.String(), protocols...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, o)
}

// spdyStream runs a session over SPDY, as kubectl before 1.31 does (and
// later ones when a WebSocket handshake fails).
func spdyStream(t *testing.T, cfg *rest.Config, u *url.URL, o remotecommand.StreamOptions) error {
	t.Helper()
	ex, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, o)
}

// exitCode is the exit code a session's error carries, or -1.
func exitCode(err error) int {
	var ce exec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// wsDial opens a raw WebSocket to u offering protocols, with the admin
// token, and returns the handshake's answer (the connection is nil when
// the server refused to switch).
func wsDial(t *testing.T, srv *servertest.Server, u *url.URL, token string, protocols ...string) (*websocket.Conn, *http.Response) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: pool}, Subprotocols: protocols, HandshakeTimeout: 30 * time.Second}
	wsURL := *u
	wsURL.Scheme = "wss"
	conn, resp, err := d.Dial(wsURL.String(), http.Header{"Authorization": {"Bearer " + token}})
	if err != nil && resp == nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp
}

// statusOf reads the Status body of a refused handshake.
func statusOf(t *testing.T, resp *http.Response) metav1.Status {
	t.Helper()
	defer resp.Body.Close()
	var st metav1.Status
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%d %q: not a Status: %v", resp.StatusCode, b, err)
	}
	return st
}

// TestExecSim: an exec switches protocols (101 with the subprotocol) and
// runs; its output and exit code reach the client over v5 and v4; the
// input reaches the command and its end (v5's close message) ends it.
func TestExecSim(t *testing.T) {
	srv, cs := startSim(t)
	ctx := t.Context()
	ann := map[string]string{"sim.cella.dev/exec-output": "hi from {container}", "sim.cella.dev/exec-exit-code": "3"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, simPod("shell", ann, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "shell", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	cfg := srv.RestConfig()

	u := streamURL(cs, "shell", "exec", &corev1.PodExecOptions{Command: []string{"sh", "-c", "exit 3"}, Stdout: true, Stderr: true})
	conn, resp := wsDial(t, srv, u, srv.Token, "v5.channel.k8s.io")
	if conn == nil || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Protocol") != "v5.channel.k8s.io" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	conn.Close()

	for _, proto := range []string{"v5.channel.k8s.io", "v4.channel.k8s.io", "SPDY"} {
		var stdout, stderr bytes.Buffer
		o := remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}
		var err error
		if proto == "SPDY" {
			err = spdyStream(t, cfg, u, o)
		} else {
			err = stream(t, cfg, u, o, proto)
		}
		if exitCode(err) != 3 || stdout.String() != "hi from c\n" {
			t.Errorf("%s: err %v, stdout %q; want exit code 3 and the output", proto, err, stdout.String())
		}
	}

	u = streamURL(cs, "shell", "exec", &corev1.PodExecOptions{Command: []string{"cat"}, Stdin: true, Stdout: true})
	var stdout bytes.Buffer
	err := stream(t, cfg, u, remotecommand.StreamOptions{Stdin: strings.NewReader("typed\n"), Stdout: &stdout})
	if exitCode(err) != 3 || stdout.String() != "hi from c\ntyped\n" {
		t.Errorf("with stdin: err %v, stdout %q", err, stdout.String())
	}
	stdout.Reset()
	err = spdyStream(t, cfg, u, remotecommand.StreamOptions{Stdin: strings.NewReader("typed\n"), Stdout: &stdout})
	if exitCode(err) != 3 || stdout.String() != "hi from c\ntyped\n" {
		t.Errorf("SPDY with stdin: err %v, stdout %q", err, stdout.String())
	}
}

// TestExecRefused: what is wrong with an exec or attach is answered
// before the switch, with a Status in kube-apiserver's words.
func TestExecRefused(t *testing.T) {
	srv, cs := startSim(t)
	ctx := t.Context()
	two := simPod("two", nil, corev1.RestartPolicyAlways)
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "d", Image: "busybox"})
	for _, p := range []*corev1.Pod{simPod("one", map[string]string{"sim.cella.dev/run-time": "0s"}, corev1.RestartPolicyNever), two} {
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podWhere(t, cs, "one", "completes", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	podWhere(t, cs, "two", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	execOf := func(pod, container string, cmd ...string) *url.URL {
		return streamURL(cs, pod, "exec", &corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true})
	}
	for _, tc := range []struct {
		what string
		u    *url.URL
		code int
		msg  string
	}{
		{"a container not in the pod", execOf("two", "nope", "ls"), 400, "container nope is not valid for pod two"},
		{"no container, several", execOf("two", "", "ls"), 400, "a container name must be specified for pod two, choose one of: [c d]"},
		{"a container that does not run", execOf("one", "", "ls"), 400, `unable to upgrade connection: container not found ("c")`},
		{"no command", execOf("two", "c"), 400, "you must specify a command to execute: the command parameter is required"},
		{"no stream", streamURL(cs, "two", "exec", &corev1.PodExecOptions{Container: "c", Command: []string{"ls"}}), 400, "you must specify at least 1 of stdin, stdout, stderr"},
		{"a pod that does not exist", execOf("ghost", "c", "ls"), 404, `pods "ghost" not found`},
		{"attach to a container that does not run", streamURL(cs, "one", "attach", &corev1.PodAttachOptions{Stdout: true}), 400, `unable to upgrade connection: container not found ("c")`},
	} {
		conn, resp := wsDial(t, srv, tc.u, srv.Token, "v5.channel.k8s.io")
		if conn != nil {
			t.Errorf("%s: switched protocols", tc.what)
			continue
		}
		if st := statusOf(t, resp); resp.StatusCode != tc.code || st.Message != tc.msg {
			t.Errorf("%s: %d %q; want %d %q", tc.what, resp.StatusCode, st.Message, tc.code, tc.msg)
		}
	}

	// Without an upgrade, and with SPDY but no subprotocol Cella speaks.
	hc := srv.HTTPClient()
	u := execOf("two", "c", "ls")
	for _, tc := range []struct {
		method, upgrade, msg string
		code                 int
	}{
		{http.MethodPost, "", "Upgrade request required", 400},
		{http.MethodPost, "SPDY/3.1", `unable to upgrade: unable to negotiate protocol: client supports [], server accepts ["v4.channel.k8s.io" "v3.channel.k8s.io" "v2.channel.k8s.io"]`, 400},
		{http.MethodHead, "", "", 405},
	} {
		req := srv.Request(tc.method, u.RequestURI(), nil)
		if tc.upgrade != "" {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", tc.upgrade)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.code {
			t.Errorf("%s upgrade %q: %d, want %d", tc.method, tc.upgrade, resp.StatusCode, tc.code)
		}
		if tc.msg != "" {
			if st := statusOf(t, resp); !strings.HasPrefix(st.Message, tc.msg) {
				t.Errorf("%s upgrade %q: %q, want %q", tc.method, tc.upgrade, st.Message, tc.msg)
			}
		} else if allow := resp.Header.Get("Allow"); allow != "GET, POST, OPTIONS" {
			resp.Body.Close()
			t.Errorf("%s: Allow %q", tc.method, allow)
		}
	}
}

// TestAttachSim: an attachment sees what the container logs from then on
// (in the sim, the lines of input it echoes) and ends, with success, when
// the container does.
func TestAttachSim(t *testing.T) {
	srv, cs := startSim(t)
	ctx := t.Context()
	p := simPod("echo", map[string]string{"sim.cella.dev/log": "", "sim.cella.dev/exit-log": "bye"}, corev1.RestartPolicyNever)
	p.Spec.Containers[0].Stdin = true
	// A grace period, so that the container is stopped (and says bye)
	// rather than killed with its sandbox.
	grace := int64(5)
	p.Spec.TerminationGracePeriodSeconds = &grace
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "echo", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	u := streamURL(cs, "echo", "attach", &corev1.PodAttachOptions{Stdin: true, Stdout: true, Stderr: true})
	pr, pw := io.Pipe()
	defer pw.Close()
	var stdout syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- stream(t, srv.RestConfig(), u, remotecommand.StreamOptions{Stdin: pr, Stdout: &stdout, Stderr: io.Discard})
	}()
	if _, err := pw.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the attachment sees its input echoed", func(context.Context) (bool, error) {
		return stdout.String() == "hello\n", nil
	})
	if err := cs.CoreV1().Pods("default").Delete(ctx, "echo", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || stdout.String() != "hello\nbye\n" {
			t.Errorf("attach ended with %v, output %q; want success and the exit-log", err, stdout.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the attachment did not end with its container")
	}
}

// TestExecRBAC: exec and attach need create on their subresource, also
// over a WebSocket, whose handshake is a GET (kube-apiserver's compound
// check): the edit role has it, view has not, and get alone is not
// enough.
func TestExecRBAC(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "sim", "kubernetes", nodeName
	}, servertest.WithUsers(t,
		servertest.User{Name: "eve", Token: "eve-token"},
		servertest.User{Name: "vic", Token: "vic-token"},
		servertest.User{Name: "gil", Token: "gil-token"},
	))
	cs := srv.Clientset()
	ctx := t.Context()
	rbac := cs.RbacV1()
	if _, err := rbac.Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "exec-getter"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods", "pods/exec"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for user, role := range map[string]rbacv1.RoleRef{
		"eve": {APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "edit"},
		"vic": {APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		"gil": {APIGroup: rbacv1.GroupName, Kind: "Role", Name: "exec-getter"},
	} {
		if _, err := rbac.RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: user},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
			RoleRef:    role,
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, simPod("web", nil, corev1.RestartPolicyAlways), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "web", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	u := streamURL(cs, "web", "exec", &corev1.PodExecOptions{Command: []string{"ls"}, Stdout: true})
	eventually(t, "the editor can exec", func(context.Context) (bool, error) {
		// RBAC sees new bindings through its informers: poll.
		conn, _ := wsDial(t, srv, u, "eve-token", "v5.channel.k8s.io")
		return conn != nil, nil
	})
	for _, tc := range []struct{ token, verb string }{{"vic-token", "get"}, {"gil-token", "create"}} {
		conn, resp := wsDial(t, srv, u, tc.token, "v5.channel.k8s.io")
		if conn != nil {
			t.Errorf("%s: switched protocols", tc.token)
			continue
		}
		want := `pods "web" is forbidden: User "` + strings.TrimSuffix(tc.token, "-token") + `" cannot ` + tc.verb + ` resource "pods/exec" in API group "" in the namespace "default"`
		if st := statusOf(t, resp); resp.StatusCode != http.StatusForbidden || st.Message != want {
			t.Errorf("%s: %d %q; want 403 %q", tc.token, resp.StatusCode, st.Message, want)
		}
	}
}

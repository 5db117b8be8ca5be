package node_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientpf "k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// The network paths into pods, proven against a real pod: the test HTTP
// server (internal/testing/testhttpd), built here, run by the process
// runtime on its pod's IP (from the downward API), reached through
// pods/portforward, pods/proxy, services/proxy and the forward proxy.

// buildTestHTTPD builds testhttpd into a temporary directory.
func buildTestHTTPD(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testhttpd")
	out, err := exec.Command("go", "build", "-o", bin, "cella.dev/cella/internal/testing/testhttpd").CombinedOutput()
	if err != nil {
		t.Fatalf("building testhttpd: %v\n%s", err, out)
	}
	return bin
}

// httpdPod runs testhttpd on its pod's IP: HTTP on 8080 (container port
// "http"), bytes that are not HTTP on 8081, ready once /healthz answers.
// The binary's directory is mounted at its own path: an isolated
// container has a /tmp of its own, where the test's temporary directory
// would not be.
func httpdPod(bin, name string, labels map[string]string) *corev1.Pod {
	dir := filepath.Dir(bin)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Volumes:                       []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}},
			Containers: []corev1.Container{{
				VolumeMounts: []corev1.VolumeMount{{Name: "bin", MountPath: dir, ReadOnly: true}},
				Name:         "web", Image: "none",
				Command: []string{bin, "-listen", "$(POD_IP):8080", "-garbage", "$(POD_IP):8081", "-name", name},
				Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"},
				}}},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
					PeriodSeconds: 1,
				},
			}},
		},
	}
}

// startNet runs a process-runtime server whose proxies wait proxyTimeout
// (0 for the default) for a pod, with the testhttpd pod "web" (label
// app=web) ready in it. Every pod is removed when the test ends.
func startNet(t *testing.T, proxyTimeout time.Duration, opts ...servertest.Option) (*servertest.Server, kubernetes.Interface, *corev1.Pod) {
	t.Helper()
	bin := buildTestHTTPD(t)
	opts = append([]servertest.Option{func(c *app.Config) {
		c.Runtime, c.Profile, c.NodeName = "process", "kubernetes", "proc-node"
		if proxyTimeout > 0 {
			c.ProxyTimeout = proxyTimeout
		}
	}}, opts...)
	srv := servertest.Start(t, opts...)
	cs := srv.Clientset()
	// Registered after the server's own cleanup, so it runs first: the
	// pods' processes go before the server does, whatever the test did.
	t.Cleanup(func() { removePods(t, cs) })
	if _, err := cs.CoreV1().Pods("default").Create(t.Context(), httpdPod(bin, "web", map[string]string{"app": "web"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := podWhere(t, cs, "web", "is ready", func(p *corev1.Pod) bool {
		c := condition(p, corev1.PodReady)
		return c != nil && c.Status == corev1.ConditionTrue
	})
	return srv, cs, pod
}

// removePods deletes every pod of default at once and waits until they
// are gone, so no process outlives the test. It runs in a cleanup, where
// the test's context has ended.
func removePods(t *testing.T, cs kubernetes.Interface) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods := cs.CoreV1().Pods("default")
	_ = pods.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(1))}, metav1.ListOptions{})
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		l, err := pods.List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, nil
	})
	if err != nil {
		t.Errorf("pods left running after the test: %v", err)
	}
}

// echo is what testhttpd's /echo/ answers.
type echo struct {
	Name, Method, Path, RawPath, Query, Host, Body string
	Header                                         http.Header
}

// do sends r and returns the status, headers and body.
func do(t *testing.T, c *http.Client, r *http.Request) (int, http.Header, []byte) {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", r.Method, r.URL, err)
	}
	return resp.StatusCode, resp.Header, b
}

// status decodes a Status body.
func status(t *testing.T, b []byte) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(b, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("not a Status body (%v): %s", err, b)
	}
	return st
}

// TestPortForward: client-go's port-forward, over SPDY tunneled in a
// WebSocket and over a plain SPDY upgrade, reaches the pod's server; a
// port nothing listens on is reported on the error stream in the
// kubelet's words. A request that is no upgrade is 400, a SPDY upgrade
// without portforward.k8s.io 403, and a WebSocket upgrade by a user
// allowed only get (not create) on pods/portforward 403.
func TestPortForward(t *testing.T) {
	viewer := servertest.User{Name: "viewer", Token: "viewer-token"}
	srv, cs, pod := startNet(t, 0, servertest.WithUsers(t, viewer))
	pfPath := "/api/v1/namespaces/default/pods/web/portforward"
	c := srv.HTTPClient()
	if code, _, b := do(t, c, srv.Request(http.MethodPost, pfPath, nil)); code != http.StatusBadRequest || status(t, b).Message != "Upgrade request required" {
		t.Errorf("POST without an upgrade: %d %s", code, b)
	}
	noProto := srv.Request(http.MethodPost, pfPath, nil)
	noProto.Header.Set("Connection", "Upgrade")
	noProto.Header.Set("Upgrade", "SPDY/3.1")
	noProto.Header.Set("X-Stream-Protocol-Version", "v4.channel.k8s.io")
	if code, h, b := do(t, c, noProto); code != http.StatusForbidden || h.Get("X-Accepted-Stream-Protocol-Versions") != "portforward.k8s.io" {
		t.Errorf("SPDY upgrade without portforward.k8s.io: %d %v %s", code, h, b)
	}
	if _, err := cs.RbacV1().Roles("default").Create(t.Context(), &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pf-get"},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"get"}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings("default").Create(t.Context(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer-pf-get"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "viewer"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pf-get"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL + pfPath)
	viewerTunnel, err := clientpf.NewSPDYOverWebsocketDialer(u, srv.RestConfigFor(viewer.Token))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the viewer's WebSocket upgrade is refused for want of create", func(context.Context) (bool, error) {
		conn, _, err := viewerTunnel.Dial("portforward.k8s.io")
		if err == nil {
			conn.Close()
			return false, fmt.Errorf("the upgrade succeeded")
		}
		// Before the RoleBinding is seen, the refusal names get instead.
		return strings.Contains(err.Error(), `User "viewer" cannot create resource "pods/portforward"`), nil
	})

	cfg := srv.RestConfig()
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tunnel, err := clientpf.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dialers := map[string]httpstream.Dialer{
		"websocket": tunnel,
		"spdy":      spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u),
	}
	for name, d := range dialers {
		t.Run(name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := clientpf.NewOnAddresses(d, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			defer func() {
				close(stop)
				<-done
			}()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port-forward: %v", err)
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			local := "http://127.0.0.1:" + strconv.Itoa(int(ports[0].Local))
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			for range 2 {
				code, _, b := do(t, c, must(http.NewRequest(http.MethodGet, local+"/hello", nil)))
				if code != http.StatusOK || string(b) != "hello from web\n" {
					t.Fatalf("GET through the forwarded port: %d %q", code, b)
				}
			}

			// Nothing listens on 9999.
			conn, _, err := d.Dial("portforward.k8s.io")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			h := http.Header{}
			h.Set(corev1.StreamType, corev1.StreamTypeError)
			h.Set(corev1.PortHeader, "9999")
			h.Set(corev1.PortForwardRequestIDHeader, "0")
			errStream, err := conn.CreateStream(h)
			if err != nil {
				t.Fatal(err)
			}
			h.Set(corev1.StreamType, corev1.StreamTypeData)
			data, err := conn.CreateStream(h)
			if err != nil {
				t.Fatal(err)
			}
			_ = data.Close()
			msg, _ := io.ReadAll(errStream)
			want := fmt.Sprintf("error forwarding port 9999 to pod web, uid %s: dial tcp %s: connect: connection refused", pod.UID, net.JoinHostPort(pod.Status.PodIP, "9999"))
			if string(msg) != want {
				t.Errorf("error stream:\n got %q\nwant %q", msg, want)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestPodProxy: pods/proxy passes requests to the pod (port by number,
// by name, by default the first container port), with the path after
// /proxy as sent and the query, without the caller's credentials, and
// points the pod's redirects back through the proxy; a port nothing
// listens on, or one that answers garbage, is 502; a pod too slow is 504;
// client-go's ProxyGet works.
func TestPodProxy(t *testing.T) {
	srv, cs, _ := startNet(t, time.Second)
	c := srv.HTTPClient()
	base := "/api/v1/namespaces/default/pods/"

	code, _, b := do(t, c, srv.Request(http.MethodGet, base+"web:8080/proxy/echo/a%2Fb/c?x=1&y=2", nil))
	var e echo
	if code != http.StatusOK || json.Unmarshal(b, &e) != nil {
		t.Fatalf("GET through pods/proxy: %d %s", code, b)
	}
	if e.Method != "GET" || e.Path != "/echo/a/b/c" || e.RawPath != "/echo/a%2Fb/c" || e.Query != "x=1&y=2" {
		t.Errorf("the pod saw %+v", e)
	}
	if e.Header.Get("Authorization") != "" {
		t.Errorf("the caller's token reached the pod: %v", e.Header)
	}
	if got := e.Header.Get("X-Forwarded-Uri"); got != base+"web:8080/proxy/echo/a%2Fb/c" {
		t.Errorf("X-Forwarded-Uri = %q", got)
	}

	for _, p := range []string{"web/proxy/", "web/proxy", "web:http/proxy/", "http:web:8080/proxy/"} {
		if code, _, b := do(t, c, srv.Request(http.MethodGet, base+p, nil)); code != http.StatusOK || string(b) != "hello from web\n" {
			t.Errorf("GET %s: %d %q", p, code, b)
		}
	}
	code, _, b = do(t, c, srv.Request(http.MethodPost, base+"web/proxy/echo/post", []byte(`{"a":1}`)))
	if code != http.StatusOK || json.Unmarshal(b, &e) != nil || e.Method != "POST" || e.Body != `{"a":1}` {
		t.Errorf("POST through pods/proxy: %d %s", code, b)
	}

	// Redirects: an absolute path is put back under the proxy; a relative
	// one or another host is left alone.
	for to, want := range map[string]string{
		"/echo/z?q=1":            base + "web:8080/proxy/echo/z?q=1",
		"/":                      base + "web:8080/proxy/",
		"elsewhere":              "elsewhere",
		"https://example.com/x/": "https://example.com/x/",
	} {
		_, h, _ := do(t, c, srv.Request(http.MethodGet, base+"web:8080/proxy/redirect?to="+url.QueryEscape(to), nil))
		if got := h.Get("Location"); got != want {
			t.Errorf("Location %q came back as %q, want %q", to, got, want)
		}
	}

	// The path after /proxy is the pod's, passed on as sent (here the
	// pod's own mux redirects it, and the redirect comes back through the
	// proxy); only the part naming the subresource is made canonical.
	_, h, _ := do(t, c, srv.Request(http.MethodGet, base+"web:8080/proxy/echo/a//b/../c", nil))
	if got := h.Get("Location"); got != base+"web:8080/proxy/echo/a/c" {
		t.Errorf("Location of the pod's own redirect: %q", got)
	}
	code, h, _ = do(t, c, srv.Request(http.MethodGet, base+"web//proxy/echo/x?q=1", nil))
	if got := h.Get("Location"); code != http.StatusMovedPermanently || got != base+"web/proxy/echo/x?q=1" {
		t.Errorf("a non-canonical proxy prefix: %d %q", code, got)
	}
	// OPTIONS and HEAD go to the pod too.
	code, _, b = do(t, c, srv.Request(http.MethodOptions, base+"web/proxy/echo/opt", nil))
	if code != http.StatusOK || json.Unmarshal(b, &e) != nil || e.Method != "OPTIONS" {
		t.Errorf("OPTIONS through pods/proxy: %d %s", code, b)
	}
	if code, _, _ := do(t, c, srv.Request(http.MethodHead, base+"web/proxy/", nil)); code != http.StatusOK {
		t.Errorf("HEAD through pods/proxy: %d", code)
	}

	b, err := cs.CoreV1().Pods("default").ProxyGet("http", "web", "8080", "echo/from-client-go", map[string]string{"k": "v"}).DoRaw(t.Context())
	if err != nil || json.Unmarshal(b, &e) != nil || e.Path != "/echo/from-client-go" || e.Query != "k=v" {
		t.Errorf("client-go ProxyGet: %v %s", err, b)
	}

	for _, tc := range []struct {
		path   string
		code   int32
		reason metav1.StatusReason
		msg    string
	}{
		{"web:9999/proxy/", http.StatusBadGateway, "BadGateway", "connection refused"},
		{"web:8081/proxy/", http.StatusBadGateway, "BadGateway", "error trying to reach service"},
		{"web:8080/proxy/sleep?d=1m", http.StatusGatewayTimeout, metav1.StatusReasonTimeout, "did not answer in time"},
		{"nobody/proxy/", http.StatusNotFound, metav1.StatusReasonNotFound, `pods "nobody" not found`},
		{"ftp:web:21/proxy/", http.StatusBadRequest, metav1.StatusReasonBadRequest, "invalid proxy target"},
	} {
		code, _, b := do(t, c, srv.Request(http.MethodGet, base+tc.path, nil))
		st := status(t, b)
		if code != int(tc.code) || st.Code != tc.code || st.Reason != tc.reason || !strings.Contains(st.Message, tc.msg) {
			t.Errorf("GET %s: %d %+v, want %d %s %q", tc.path, code, st, tc.code, tc.reason, tc.msg)
		}
	}
}

// TestServiceProxy: services/proxy reaches a ready pod the service
// selects, on the targetPort (by name) of the port asked (by name, number
// or the first); a service with no ready pod is 503 in kube-apiserver's
// words.
func TestServiceProxy(t *testing.T) {
	srv, cs, _ := startNet(t, 0)
	ctx := t.Context()
	c := srv.HTTPClient()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	base := "/api/v1/namespaces/default/services/"
	for _, p := range []string{"web/proxy/", "web:http/proxy/", "web:80/proxy/", "http:web:http/proxy/"} {
		if code, _, b := do(t, c, srv.Request(http.MethodGet, base+p, nil)); code != http.StatusOK || string(b) != "hello from web\n" {
			t.Errorf("GET %s: %d %q", p, code, b)
		}
	}
	_, h, _ := do(t, c, srv.Request(http.MethodGet, base+"web/proxy/redirect?to=/echo/", nil))
	if got := h.Get("Location"); got != base+"web/proxy/echo/" {
		t.Errorf("Location = %q", got)
	}

	// A pod that runs but is never ready, and a service selecting only it.
	idle := shPod("idle", "sleep 3600", corev1.RestartPolicyAlways)
	idle.Labels = map[string]string{"app": "idle"}
	idle.Spec.TerminationGracePeriodSeconds = ptr.To(int64(1))
	idle.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}},
		PeriodSeconds: 1,
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, idle, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podWhere(t, cs, "idle", "runs", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" })
	idleSvc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "idle"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "idle"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, idleSvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	code, _, b := do(t, c, srv.Request(http.MethodGet, base+"idle/proxy/", nil))
	st := status(t, b)
	if code != http.StatusServiceUnavailable || st.Reason != metav1.StatusReasonServiceUnavailable || st.Message != `no endpoints available for service "idle"` {
		t.Errorf("a service without a ready pod: %d %+v", code, st)
	}
}

// TestForwardProxy: the API server is an HTTP proxy into the pod network:
// without Proxy-Authorization 407 with Proxy-Authenticate; with it, CONNECT
// tunnels to a pod's IP and absolute-form requests reach a pod by IP, a
// service by name and by ClusterIP; anything that is not a pod or service
// is 403, and so is a pod the user may not proxy to until RBAC allows it.
func TestForwardProxy(t *testing.T) {
	bob := servertest.User{Name: "bob", Token: "bob-token"}
	srv, cs, pod := startNet(t, 0, servertest.WithUsers(t, bob))
	ctx := t.Context()
	svc, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	podAddr := net.JoinHostPort(pod.Status.PodIP, "8080")
	// The admin token is in servertest.Server.Token; bob's is bob-token.
	admin := "Bearer " + srv.Token

	// 407 for no credentials, for a wrong token, and for an API-style
	// Authorization header (which belongs to the target).
	for name, hdr := range map[string]http.Header{
		"none":          {},
		"unknown token": {"Proxy-Authorization": {"Bearer nope"}},
		"Authorization": {"Authorization": {admin}},
	} {
		for _, method := range []string{http.MethodConnect, http.MethodGet} {
			resp := rawProxy(t, srv, method, podAddr, hdr)
			st := status(t, resp.body)
			if resp.code != http.StatusProxyAuthRequired || resp.header.Get("Proxy-Authenticate") != `Bearer realm="cella"` || st.Code != http.StatusProxyAuthRequired {
				t.Errorf("%s %s with %s: %d %v %+v", method, podAddr, name, resp.code, resp.header, st)
			}
		}
	}

	// CONNECT, then HTTP through the tunnel.
	resp := rawProxy(t, srv, http.MethodConnect, podAddr, http.Header{"Proxy-Authorization": {admin}})
	if resp.code != http.StatusOK || resp.tunnel == nil {
		t.Fatalf("CONNECT %s: %d %s", podAddr, resp.code, resp.body)
	}
	fmt.Fprintf(resp.tunnel, "GET /echo/tunnel HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", podAddr)
	tr, err := http.ReadResponse(resp.reader, nil)
	if err != nil {
		t.Fatalf("reading through the tunnel: %v", err)
	}
	b, _ := io.ReadAll(tr.Body)
	var e echo
	if tr.StatusCode != http.StatusOK || json.Unmarshal(b, &e) != nil || e.Path != "/echo/tunnel" {
		t.Errorf("through the tunnel: %d %s", tr.StatusCode, b)
	}
	resp.tunnel.Close()

	// Absolute form, through a stock net/http client with the API server
	// as its proxy: by pod IP, by service name, by ClusterIP.
	client := proxyClient(t, srv, admin)
	for _, target := range []string{
		"http://" + podAddr + "/echo/x?q=1",
		"http://web.default.svc/echo/x?q=1",
		"http://web.default.svc.cluster.local:80/echo/x?q=1",
		"http://" + svc.Spec.ClusterIP + "/echo/x?q=1",
	} {
		r := must(http.NewRequest(http.MethodGet, target, nil))
		r.Header.Set("Authorization", "Bearer for-the-pod")
		code, _, b := do(t, client, r)
		var e echo
		if code != http.StatusOK || json.Unmarshal(b, &e) != nil || e.Path != "/echo/x" || e.Query != "q=1" || e.Name != "web" {
			t.Errorf("GET %s: %d %s", target, code, b)
			continue
		}
		if e.Header.Get("Authorization") != "Bearer for-the-pod" || e.Header.Get("Proxy-Authorization") != "" {
			t.Errorf("GET %s: the pod got headers %v", target, e.Header)
		}
	}

	// Not a pod or service of the cluster: refused, never dialled.
	apiHost := strings.TrimPrefix(srv.URL, "https://")
	for _, target := range []string{"203.0.113.7:443", "example.com:80", "127.0.0.1:22", "10.0.0.1:8080", apiHost} {
		for _, method := range []string{http.MethodConnect, http.MethodGet} {
			if target == apiHost && method == http.MethodGet {
				// Absolute form naming the server itself is an ordinary
				// API request.
				continue
			}
			resp := rawProxy(t, srv, method, target, http.Header{"Proxy-Authorization": {admin}})
			st := status(t, resp.body)
			if resp.code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || !strings.Contains(st.Message, "is not one") {
				t.Errorf("%s %s: %d %+v", method, target, resp.code, st)
			}
		}
	}
	// A service name that does not exist, and a port the service lacks.
	for target, want := range map[string]int{"nothing.default.svc:80": http.StatusNotFound, "web.default.svc:81": http.StatusNotFound} {
		if resp := rawProxy(t, srv, http.MethodGet, target, http.Header{"Proxy-Authorization": {admin}}); resp.code != want {
			t.Errorf("GET %s: %d %s", target, resp.code, resp.body)
		}
	}

	// bob may not proxy to pods until a Role says so; what he is refused
	// reads as for an address that is no pod at all.
	bobHdr := http.Header{"Proxy-Authorization": {"Bearer bob-token"}}
	if resp := rawProxy(t, srv, http.MethodGet, podAddr, bobHdr); resp.code != http.StatusForbidden || !strings.Contains(status(t, resp.body).Message, "is not one") {
		t.Errorf("bob before the Role: %d %s", resp.code, resp.body)
	}
	if _, err := cs.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "proxy"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/proxy"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "bob-proxy"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "bob"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "proxy"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob may proxy to the pod", func(context.Context) (bool, error) {
		return rawProxy(t, srv, http.MethodGet, podAddr, bobHdr).code == http.StatusOK, nil
	})
	if resp := rawProxy(t, srv, http.MethodGet, "web.default.svc:80", bobHdr); resp.code != http.StatusForbidden {
		t.Errorf("bob through the service without services/proxy: %d %s", resp.code, resp.body)
	}
}

// proxied is the answer of a raw request to the forward proxy; for a
// CONNECT answered 200, tunnel is the open connection and reader reads
// what comes through it.
type proxied struct {
	code   int
	header http.Header
	body   []byte
	tunnel net.Conn
	reader *bufio.Reader
}

// rawProxy sends one proxy request over its own TLS connection to the API
// server: CONNECT target, or GET http://target/echo/raw.
func rawProxy(t *testing.T, srv *servertest.Server, method, target string, hdr http.Header) proxied {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(srv.URL, "https://"), &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	uri := target
	if method != http.MethodConnect {
		uri = "http://" + target + "/echo/raw"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, uri, target)
	_ = hdr.Write(&b)
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	req := &http.Request{Method: method}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	out := proxied{code: resp.StatusCode, header: resp.Header}
	if method == http.MethodConnect && resp.StatusCode == http.StatusOK {
		out.tunnel, out.reader = conn, br
		return out
	}
	out.body, _ = io.ReadAll(resp.Body)
	conn.Close()
	return out
}

// proxyClient is a stock net/http client that sends every request through
// the API server as its HTTPS proxy, with Proxy-Authorization cred.
func proxyClient(t *testing.T, srv *servertest.Server, cred string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	proxyURL, _ := url.Parse(srv.URL)
	tr := &http.Transport{
		Proxy:              http.ProxyURL(proxyURL),
		TLSClientConfig:    &tls.Config{RootCAs: pool},
		ProxyConnectHeader: http.Header{"Proxy-Authorization": {cred}},
		DisableKeepAlives:  true,
	}
	// net/http sends Proxy-Authorization on absolute-form requests only
	// from the proxy URL's user info (Basic); set the Bearer one per
	// request instead.
	return &http.Client{Timeout: 30 * time.Second, Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Proxy-Authorization", cred)
		return tr.RoundTrip(r)
	})}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

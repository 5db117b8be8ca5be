package apiserver_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// The tests of this file hold watches to their memory bounds through the
// server's own accounting, read from /metrics, not through timing.

// metricValue scrapes /metrics as the admin and returns the sample of
// name with the given labels, e.g. `{resource="configmaps"}`; a missing
// sample fails the test.
func metricValue(t *testing.T, srv *servertest.Server, c *http.Client, name, labels string) float64 {
	t.Helper()
	m := call(t, c, srv.Request("GET", "/metrics", nil))
	if m.code != http.StatusOK {
		t.Fatalf("/metrics: %d", m.code)
	}
	prefix := name + labels + " "
	for line := range strings.Lines(string(m.body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("/metrics: %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s%s", name, labels)
	return 0
}

// openUnreadWatch opens a watch over HTTP/1.1 on its own TLS connection,
// with a small receive buffer, sends the request and never reads: the
// server's writes block once the socket buffers are full. The connection
// closes when the test ends.
func openUnreadWatch(t *testing.T, srv *servertest.Server, path string) {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		if cerr := rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); cerr != nil {
			return cerr
		}
		return err
	}}
	host := strings.TrimPrefix(srv.URL, "https://")
	raw, err := d.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	hostname, _, _ := net.SplitHostPort(host)
	conn := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: hostname, NextProtos: []string{"http/1.1"}})
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", path, host, srv.Token); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadWatchesStayBounded: 20 watches whose clients never read, while
// a large ConfigMap is updated again and again, hold at most
// --watch-buffer-bytes each in the server's accounting, and are ended once
// the history has moved past them; a watch that reads gets every update.
func TestUnreadWatchesStayBounded(t *testing.T) {
	const (
		stuck     = 20
		bufBytes  = 512 << 10
		histBytes = 1 << 20
		size      = 100 << 10
		updates   = 40
	)
	srv := servertest.Start(t, func(c *app.Config) {
		c.WatchBufferBytes = bufBytes
		c.WatchHistoryBytes = histBytes
	})
	// 40 writes of 100 KB fanned out to 21 watches, with /metrics read
	// after each: about 10 s under -race on two idle cores, so the usual
	// 30 s bound is too tight on a busy machine. (A bound on work, not on
	// speed.)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hc := srv.HTTPClient()
	cs := srv.Clientset()
	cm, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Data:       map[string]string{"k": strings.Repeat("x", size)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range stuck {
		openUnreadWatch(t, srv, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion="+cm.ResourceVersion)
	}
	waitFor(t, 10*time.Second, func() bool {
		return metricValue(t, srv, hc, "cella_watch_cache_watchers", `{resource="configmaps"}`) >= stuck
	}, func() string { return "the unread watches never started" })

	reader, err := cs.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Stop()
	got := make(chan string, updates)
	go func() {
		for ev := range reader.ResultChan() {
			if m, ok := ev.Object.(*corev1.ConfigMap); ok && ev.Type == watch.Modified {
				got <- m.ResourceVersion
			}
		}
	}()

	// Each of the stuck watches and the reader may hold its bound, or one
	// event larger than it; an update counts its value and its previous
	// value.
	limit := float64((stuck + 1) * (bufBytes + 1<<10))
	var most float64
	var want []string
	for i := range updates {
		cm.Data["k"] = strings.Repeat(string(rune('a'+i%26)), size)
		if cm, err = cs.CoreV1().ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want = append(want, cm.ResourceVersion)
		b := metricValue(t, srv, hc, "cella_watch_buffered_bytes", `{resource="configmaps"}`)
		if b > limit {
			t.Fatalf("after %d updates: %.0f bytes buffered for watches, bound %.0f", i+1, b, limit)
		}
		most = max(most, b)
		if h := metricValue(t, srv, hc, "cella_watch_cache_history_bytes", `{resource="configmaps"}`); h > histBytes {
			t.Fatalf("after %d updates: %.0f bytes of history, bound %d", i+1, h, histBytes)
		}
	}
	for i, rv := range want {
		select {
		case g := <-got:
			if g != rv {
				t.Fatalf("the reading watch: update %d at %s, want %s", i, g, rv)
			}
		case <-ctx.Done():
			t.Fatalf("the reading watch got %d of %d updates", i, updates)
		}
	}
	// Every unread watch filled its queue, fell behind and was ended when
	// the history moved past it, which dropped what it had queued.
	waitFor(t, 10*time.Second, func() bool {
		return metricValue(t, srv, hc, "cella_watch_cache_terminated_watchers_total", `{resource="configmaps"}`) == stuck
	}, func() string {
		return fmt.Sprintf("%.0f of %d unread watches ended", metricValue(t, srv, hc, "cella_watch_cache_terminated_watchers_total", `{resource="configmaps"}`), stuck)
	})
	t.Logf("most buffered: %.0f", most)
	if most < bufBytes {
		t.Fatalf("at most %.0f bytes were ever buffered: the unread watches never filled their queues", most)
	}
	// What is left is, for each, the event it was handing over and the
	// error that ends it.
	if b := metricValue(t, srv, hc, "cella_watch_buffered_bytes", `{resource="configmaps"}`); b > float64(stuck*(2*size+4<<10)) {
		t.Fatalf("%.0f bytes buffered after the unread watches ended", b)
	}
}

// TestWatchCapPerUser: a user with --max-watches-per-user watches open
// gets 429 with Retry-After and a Status body for one more, before it
// starts; other requests and system:masters are not held to it; closing
// one of the user's watches lets the next one in.
func TestWatchCapPerUser(t *testing.T) {
	const token = "watcher-token"
	srv := servertest.Start(t, servertest.WithUsers(t, servertest.User{Name: "watcher", Token: token}), func(c *app.Config) {
		c.MaxWatchesPerUser = 2
	})
	ctx := ctxT(t)
	admin := srv.Clientset()
	if _, err := admin.RbacV1().Roles("default").Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "cm-watcher"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"configmaps"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cm-watcher"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "cm-watcher"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "watcher"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	user, err := kubernetes.NewForConfig(srv.RestConfigFor(token))
	if err != nil {
		t.Fatal(err)
	}
	var rv string
	waitFor(t, 10*time.Second, func() bool {
		l, err := user.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		if err == nil {
			rv = l.ResourceVersion
		}
		return err == nil
	}, func() string { return "the RoleBinding never took effect" })

	hc := srv.HTTPClient()
	hc.Timeout = 0 // the watches stay open
	// From the list's version: changes only, no initial ADDED events.
	path := "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv
	// open starts a watch and returns its response with the body unread;
	// the response of a watch that started has its headers flushed.
	open := func(tok string) *http.Response {
		t.Helper()
		r := srv.RequestAs(tok, "GET", path, nil).WithContext(ctx)
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	var open2 []*http.Response
	for range 2 {
		resp := open(token)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watch within the cap: %d", resp.StatusCode)
		}
		open2 = append(open2, resp)
	}

	over := call(t, hc, srv.RequestAs(token, "GET", path, nil))
	if over.code != http.StatusTooManyRequests || over.header.Get("Retry-After") != "1" {
		t.Fatalf("watch over the cap: %d, Retry-After %q; want 429 with Retry-After 1", over.code, over.header.Get("Retry-After"))
	}
	st := over.status
	if st.Kind != "Status" || st.Code != http.StatusTooManyRequests || st.Reason != metav1.StatusReasonTooManyRequests ||
		st.Details == nil || st.Details.RetryAfterSeconds != 1 || !strings.Contains(st.Message, `"watcher"`) {
		t.Fatalf("watch over the cap: Status %+v, want 429 TooManyRequests naming the user, retryAfterSeconds 1", st)
	}
	// Requests that are not watches pass, and the admin (system:masters)
	// is exempt.
	if _, err := user.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list at the watch cap: %v", err)
	}
	for range 3 {
		if resp := open(srv.Token); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin watch: %d", resp.StatusCode)
		}
	}

	// Closing one watch frees its slot once the server has seen it go.
	open2[0].Body.Close()
	var next *http.Response
	waitFor(t, 10*time.Second, func() bool {
		resp := open(token)
		if resp.StatusCode == http.StatusOK {
			next = resp
			return true
		}
		resp.Body.Close()
		return false
	}, func() string { return "no watch got in after one was closed" })
	// The new watch works: it sees a create.
	if _, err := admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "seen"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(next.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, `"type":"ADDED"`) || !strings.Contains(line, `"name":"seen"`) {
		t.Fatalf("the watch let in after a close: %q, %v", line, err)
	}
	if over := call(t, hc, srv.RequestAs(token, "GET", path, nil)); over.code != http.StatusTooManyRequests {
		t.Fatalf("watch over the cap again: %d, want 429", over.code)
	}
}

package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// dialWS opens a WebSocket to path over TLS with ALPN http/1.1, as
// WebSocket clients dial, offering protocols. token "" sends no
// credentials.
func dialWS(t *testing.T, srv *servertest.Server, path, token string, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(srv.CAPEM)
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: pool, NextProtos: []string{"http/1.1"}},
		Subprotocols:     protocols,
		HandshakeTimeout: 10 * time.Second,
	}
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := d.Dial("wss://"+strings.TrimPrefix(srv.URL, "https://")+path, hdr)
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// wsEvent is a watch event as read from one WebSocket message.
type wsEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// readEvent reads one message and decodes it as one watch event.
func readEvent(t *testing.T, c *websocket.Conn) wsEvent {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("reading an event: %v", err)
	}
	if kind != websocket.TextMessage {
		t.Fatalf("event in a frame of type %d, want a text frame", kind)
	}
	var ev wsEvent
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("message %q is not a JSON watch event: %v", data, err)
	}
	if dec.More() {
		t.Fatalf("message %q holds more than one event", data)
	}
	return ev
}

// readConfigMapEvent reads events until one about the named ConfigMap.
func readConfigMapEvent(t *testing.T, c *websocket.Conn, name string) (string, corev1.ConfigMap) {
	t.Helper()
	for {
		ev := readEvent(t, c)
		var cm corev1.ConfigMap
		if err := json.Unmarshal(ev.Object, &cm); err != nil {
			t.Fatalf("%s event object: %v", ev.Type, err)
		}
		if cm.Name == name {
			return ev.Type, cm
		}
	}
}

// readClose reads until the server's close frame and returns its code.
func readClose(t *testing.T, c *websocket.Conn, within time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, data, err := c.ReadMessage()
		if err == nil {
			t.Logf("message before close: %s", data)
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("want a close frame, got %v", err)
		}
		return ce.Code
	}
}

// TestWebSocketWatchSwitchesProtocols upgrades a watch to WebSocket: 101
// with Upgrade, Connection, Sec-WebSocket-Accept and the chosen
// subprotocol, then one text message per event, ADDED, MODIFIED and
// DELETED, the same JSON events as the chunked stream.
func TestWebSocketWatchSwitchesProtocols(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offer  []string
		chosen string
	}{
		{"no subprotocol", nil, ""},
		{"base64.binary.k8s.io", []string{"base64.binary.k8s.io"}, "base64.binary.k8s.io"},
		{"first supported offer wins", []string{"x-unknown", "binary.k8s.io", "base64.binary.k8s.io"}, "binary.k8s.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, srv *servertest.Server) {
				ctx := ctxT(t)
				c, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true", srv.Token, tc.offer...)
				if err != nil {
					t.Fatalf("dial: %v (response %v)", err, status(resp))
				}
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("status %d, want 101", resp.StatusCode)
				}
				// The dialer has already checked Sec-WebSocket-Accept against
				// its key; here we check the headers are there at all.
				for h, want := range map[string]string{"Upgrade": "websocket", "Connection": "Upgrade"} {
					if got := resp.Header.Get(h); !strings.EqualFold(got, want) {
						t.Errorf("%s: %q, want %q", h, got, want)
					}
				}
				if resp.Header.Get("Sec-WebSocket-Accept") == "" {
					t.Error("no Sec-WebSocket-Accept")
				}
				if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tc.chosen || c.Subprotocol() != tc.chosen {
					t.Errorf("Sec-WebSocket-Protocol %q, want %q", got, tc.chosen)
				}

				cms := srv.Clientset().CoreV1().ConfigMaps("default")
				created, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ws"}, Data: map[string]string{"k": "v1"}}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if typ, cm := readConfigMapEvent(t, c, "ws"); typ != "ADDED" || cm.Data["k"] != "v1" || cm.Kind != "ConfigMap" {
					t.Fatalf("got %s %+v, want ADDED of the ConfigMap", typ, cm)
				}
				created.Data["k"] = "v2"
				if _, err := cms.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				if typ, cm := readConfigMapEvent(t, c, "ws"); typ != "MODIFIED" || cm.Data["k"] != "v2" {
					t.Fatalf("got %s %+v, want MODIFIED with k=v2", typ, cm)
				}
				if err := cms.Delete(ctx, "ws", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				if typ, _ := readConfigMapEvent(t, c, "ws"); typ != "DELETED" {
					t.Fatalf("got %s, want DELETED", typ)
				}
			})
		})
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "none"
	}
	body, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, body)
}

// TestWebSocketWatchTimeoutIsNormalClose ends a watch with timeoutSeconds=1
// by a normal (1000) close frame.
func TestWebSocketWatchTimeoutIsNormalClose(t *testing.T) {
	srv := servertest.Start(t)
	start := time.Now()
	c, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1", srv.Token)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	if code := readClose(t, c, 10*time.Second); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d, want %d", code, websocket.CloseNormalClosure)
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("closed after %v, before timeoutSeconds=1", d)
	}
}

// TestWebSocketWatchUnauthenticatedIs401 sends a handshake without
// credentials: 401 with WWW-Authenticate, no switch.
func TestWebSocketWatchUnauthenticatedIs401(t *testing.T) {
	srv := servertest.Start(t)
	_, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true", "")
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Fatalf("dial without a token: %v, want a refused handshake", err)
	}
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("got %s, want 401 with WWW-Authenticate", status(resp))
	}
}

// TestWebSocketWatchTooOldIsInBand410 watches from a resourceVersion older
// than the kept history: the switch happens, then one ERROR event whose
// Status is a 410 Expired, then a normal close.
func TestWebSocketWatchTooOldIsInBand410(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.WatchHistory = 5 })
	ctx := ctxT(t)
	cms := srv.Clientset().CoreV1().ConfigMaps("default")
	first, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "h0"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("h%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion="+first.ResourceVersion, srv.Token)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	ev := readEvent(t, c)
	var st metav1.Status
	if err := json.Unmarshal(ev.Object, &st); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "ERROR" || st.Kind != "Status" || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("got %s %+v, want an ERROR event with a 410 Expired Status", ev.Type, st)
	}
	if code := readClose(t, c, 10*time.Second); code != websocket.CloseNormalClosure {
		t.Fatalf("close code %d after the ERROR event, want %d", code, websocket.CloseNormalClosure)
	}
}

// TestWebSocketWatchListSendsInitialEvents runs the informer's watch-list
// over WebSocket: the existing objects as ADDED, then the BOOKMARK that
// marks the end of the initial events, from the same source as the
// chunked stream.
func TestWebSocketWatchListSendsInitialEvents(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true", srv.Token)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	sawBefore := false
	for {
		ev := readEvent(t, c)
		var cm corev1.ConfigMap
		if err := json.Unmarshal(ev.Object, &cm); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "ADDED" && cm.Name == "before" {
			sawBefore = true
		}
		if ev.Type == "BOOKMARK" {
			if cm.Annotations["k8s.io/initial-events-end"] != "true" {
				t.Fatalf("bookmark without the initial-events-end annotation: %+v", cm.ObjectMeta)
			}
			break
		}
	}
	if !sawBefore {
		t.Fatal("the initial events did not include the existing ConfigMap")
	}
}

// TestWebSocketUpgradeRefused sends upgrades that cannot switch: each gets
// a 4xx Status, not a 101 and not a hang.
func TestWebSocketUpgradeRefused(t *testing.T) {
	srv := servertest.Start(t)
	for _, tc := range []struct {
		name, path string
		offer      []string
		code       int
	}{
		{"a list is not a watch", "/api/v1/namespaces/default/configmaps", nil, http.StatusBadRequest},
		{"a get is not a watch", "/api/v1/namespaces/default", nil, http.StatusBadRequest},
		{"discovery", "/api/v1", nil, http.StatusBadRequest},
		{"no shared subprotocol", "/api/v1/namespaces/default/configmaps?watch=true", []string{"v5.channel.k8s.io"}, http.StatusBadRequest},
		{"bad parameter before the switch", "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=x", nil, http.StatusBadRequest},
		{"unknown resource", "/api/v1/namespaces/default/nothings?watch=true", nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, resp, err := dialWS(t, srv, tc.path, srv.Token, tc.offer...)
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
				t.Fatalf("dial: %v, want a refused handshake", err)
			}
			var st metav1.Status
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || json.Unmarshal(body, &st) != nil || st.Kind != "Status" || st.Code != int32(tc.code) {
				t.Fatalf("got %d %s, want %d with a Status", resp.StatusCode, body, tc.code)
			}
		})
	}
}

// TestWebSocketWatchEndsOnClientCloseAndShutdown closes one watch from the
// client, which the server answers, and ends another by stopping the
// server, which closes it with 1001 going away.
func TestWebSocketWatchEndsOnClientCloseAndShutdown(t *testing.T) {
	srv := servertest.Start(t)
	path := "/api/v1/namespaces/default/configmaps?watch=true"
	c, resp, err := dialWS(t, srv, path, srv.Token)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if code := readClose(t, c, 10*time.Second); code != websocket.CloseNormalClosure {
		t.Fatalf("the server answered the client's close with %d, want %d", code, websocket.CloseNormalClosure)
	}

	c, resp, err = dialWS(t, srv, path, srv.Token)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, status(resp))
	}
	// Stopping waits for the controllers first, which takes seconds under
	// the race detector: the windows below allow for that.
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		srv.Stop()
	}()
	if code := readClose(t, c, 60*time.Second); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d on shutdown, want %d", code, websocket.CloseGoingAway)
	}
	select {
	case <-stopped:
	case <-time.After(60 * time.Second):
		t.Fatal("the server did not stop")
	}
}

// TestWebSocketWatchBearerSubprotocol: a browser, which cannot set an
// Authorization header on a WebSocket, sends its token as the
// base64url.bearer.authorization.k8s.io subprotocol; the server takes it
// and never chooses it as the subprotocol. A wrong token there is 401.
func TestWebSocketWatchBearerSubprotocol(t *testing.T) {
	srv := servertest.Start(t)
	bearer := "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(srv.Token))
	conn, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true", "", bearer, "base64.binary.k8s.io")
	if err != nil {
		t.Fatalf("dial with the token subprotocol: %v (%s)", err, status(resp))
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "base64.binary.k8s.io" {
		t.Fatalf("chosen subprotocol %q, want base64.binary.k8s.io", got)
	}
	if _, err := srv.Clientset().CoreV1().ConfigMaps("default").Create(ctxT(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "browser"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if typ, _ := readConfigMapEvent(t, conn, "browser"); typ != "ADDED" {
		t.Fatalf("first event %s, want ADDED", typ)
	}
	wrong := "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("not-a-token"))
	if _, resp, err := dialWS(t, srv, "/api/v1/namespaces/default/configmaps?watch=true", "", wrong, "base64.binary.k8s.io"); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token subprotocol: %v %s, want 401", err, status(resp))
	}
}

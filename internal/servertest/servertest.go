// Package servertest starts a real Cella server on a loopback port for
// tests, with its own data directory, and gives clients for it: a rest
// config for client-go, an admin token, and an HTTP client that trusts its
// CA.
package servertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/netutil"
	"cella.dev/cella/internal/storage"
)

// Server is a running test server.
type Server struct {
	*app.Server
	Config *app.Config
	t      testing.TB

	// conns are the test clients' connections, which Stop closes first:
	// an open HTTP/2 connection would hold the server's shutdown for the
	// GOAWAY round trip, about a second.
	conns netutil.ConnSet
}

// Option changes the server's Config before it starts.
type Option func(*app.Config)

// Backends lists the storage backends API tests run against, once each.
var Backends = []string{"bolt"}

// Start runs a server with TLS on 127.0.0.1:0 and stops it when the test
// ends. dataDir may be "" for a fresh temporary directory.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	return StartLogged(t, nil, opts...)
}

// StartLogged is Start with the server's logs sent to log.
func StartLogged(t testing.TB, log *slog.Logger, opts ...Option) *Server {
	t.Helper()
	cfg := app.NewConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	// Tests ask for a runtime when they need one (cfg.Runtime); the
	// binary's default, process, would start pods of every test.
	cfg.Runtime = "none"
	for _, o := range opts {
		o(cfg)
	}
	srv, err := app.Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("starting cella: %v", err)
	}
	s := &Server{Server: srv, Config: cfg, t: t}
	t.Cleanup(func() { s.Stop() })
	s.waitSettled()
	return s
}

// settleTimeout bounds waitSettled: a server whose storage a test breaks
// from the start never settles, and its test goes on regardless.
const settleTimeout = 10 * time.Second

// waitSettled waits until the serviceaccount controller has given the
// namespaces of a fresh server their default ServiceAccount and
// kube-root-ca.crt, so that tests comparing resourceVersions or counting
// writes do not race those first writes.
func (s *Server) waitSettled() {
	cs, err := kubernetes.NewForConfig(s.RestConfig())
	if err != nil {
		s.t.Fatalf("clientset: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	// Lists from the watch cache (203), not gets: a get of what is not
	// there yet would be counted as a 404, a full list as a 200, in the
	// metrics tests read. A list that fails (a test that damaged or broke
	// storage) ends the wait: nothing will settle.
	settled := func() bool {
		nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return true
		}
		sas, err := cs.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{ResourceVersion: "0", FieldSelector: "metadata.name=default"})
		if err != nil {
			return true
		}
		cms, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{ResourceVersion: "0", FieldSelector: "metadata.name=kube-root-ca.crt"})
		if err != nil {
			return true
		}
		has := map[string]int{}
		for _, sa := range sas.Items {
			has[sa.Namespace]++
		}
		for _, cm := range cms.Items {
			has[cm.Namespace]++
		}
		want := 2
		if len(s.CAPEM) == 0 {
			want = 1
		}
		for _, ns := range nss.Items {
			if ns.DeletionTimestamp == nil && has[ns.Name] < want {
				return false
			}
		}
		return true
	}
	for !settled() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Stop stops the server (the test's cleanup also does).
func (s *Server) Stop() {
	s.conns.CloseAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Server.Close(ctx)
}

// WithDataDir starts on an existing data directory.
func WithDataDir(dir string) Option { return func(c *app.Config) { c.DataDir = dir } }

// WithStorage wraps the storage backend, e.g. in a storagetest.Faulty to
// make it fail, stall or panic under the running server.
func WithStorage(wrap func(storage.Interface) storage.Interface) Option {
	return func(c *app.Config) { c.WrapStorage = wrap }
}

// RestConfig returns a client-go config for the admin user.
func (s *Server) RestConfig() *rest.Config {
	cfg := &rest.Config{Host: s.URL, BearerToken: s.Token, QPS: -1}
	cfg.TLSClientConfig.CAData = s.CAPEM
	cfg.Dial = s.conns.Dial
	return cfg
}

// RestConfigFor returns a client-go config with another bearer token.
func (s *Server) RestConfigFor(token string) *rest.Config {
	cfg := s.RestConfig()
	cfg.BearerToken = token
	return cfg
}

// Clientset returns a typed client-go clientset for the admin user.
func (s *Server) Clientset() kubernetes.Interface {
	cs, err := kubernetes.NewForConfig(s.RestConfig())
	if err != nil {
		s.t.Fatalf("clientset: %v", err)
	}
	return cs
}

// HTTPClient returns a plain HTTP client that trusts the server's CA. It
// sends no credentials: add the Authorization header yourself (see Do).
func (s *Server) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: s.conns.Dial}
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Request builds a request to path with the admin token.
func (s *Server) Request(method, path string, body []byte) *http.Request {
	var r *http.Request
	var err error
	if body == nil {
		r, err = http.NewRequest(method, s.URL+path, nil)
	} else {
		r, err = http.NewRequest(method, s.URL+path, bytesReader(body))
	}
	if err != nil {
		s.t.Fatalf("request: %v", err)
	}
	r.Header.Set("Authorization", "Bearer "+s.Token)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// User is a caller the test server knows besides the admin.
type User struct {
	Name, Token string
	Groups      []string
}

// WithUsers writes a token file naming users and starts the server with
// it. Users outside system:masters are subject to RBAC like anyone.
func WithUsers(t testing.TB, users ...User) Option {
	t.Helper()
	var b strings.Builder
	for i, u := range users {
		fmt.Fprintf(&b, "%s,%s,uid-%d,%q\n", u.Token, u.Name, i, strings.Join(u.Groups, ","))
	}
	path := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *app.Config) { c.TokenFile = path }
}

// RequestAs builds a request to path with another bearer token ("" sends
// none).
func (s *Server) RequestAs(token, method, path string, body []byte) *http.Request {
	r := s.Request(method, path, body)
	r.Header.Del("Authorization")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"io"
	"io/fs"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestEnsureCA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki") // EnsureCA creates it
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("not a signing CA: IsCA %v, KeyUsage %v", c.IsCA, c.KeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", c.PublicKey)
	}
	if life := c.NotAfter.Sub(c.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("CA valid for %v, want ten years", life)
	}
	wantMode(t, filepath.Join(dir, CAKeyFile), 0o600)
	wantMode(t, dir, 0o700)

	again, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.CertPEM, ca.CertPEM) || !again.Cert.Equal(ca.Cert) {
		t.Error("second EnsureCA made a new CA")
	}
	noTempFiles(t, dir)
}

func TestEnsureCARefusesToReplace(t *testing.T) {
	other, err := EnsureCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"key missing", func(t *testing.T, dir string) { remove(t, filepath.Join(dir, CAKeyFile)) }, "exists but"},
		{"cert missing", func(t *testing.T, dir string) { remove(t, filepath.Join(dir, CACertFile)) }, "exists but"},
		{"garbage cert", func(t *testing.T, dir string) { write(t, filepath.Join(dir, CACertFile), []byte("junk")) }, "no CERTIFICATE"},
		{"other CA's cert", func(t *testing.T, dir string) { write(t, filepath.Join(dir, CACertFile), other.CertPEM) }, "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := EnsureCA(dir); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			before := snapshot(t, dir)
			_, err := EnsureCA(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EnsureCA = %v, want error containing %q", err, tt.want)
			}
			if after := snapshot(t, dir); !maps.Equal(before, after) {
				t.Error("EnsureCA changed the files it refused")
			}
		})
	}
}

func TestServingCertHandshake(t *testing.T) {
	dir := t.TempDir()
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.EnsureServingCert(dir, []string{"cella.example.com", "10.0.0.7", "*.apps.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	wantMode(t, filepath.Join(dir, ServingKeyFile), 0o600)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The rejected handshakes below are logged by the server; keep them
	// with the test.
	srv.Config.ErrorLog = log.New(testWriter{t}, "server: ", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	tests := []struct {
		serverName string
		ok         bool
	}{
		{"127.0.0.1", true},
		{"::1", true},
		{"localhost", true},
		{"cella.example.com", true},
		{"CELLA.example.com", true},
		{"10.0.0.7", true},
		{"web.apps.example.com", true},
		{"example.com", false},
		{"10.0.0.8", false},
	}
	for _, tt := range tests {
		t.Run(tt.serverName, func(t *testing.T) {
			// Dial the loopback listener, verifying the certificate as a
			// client that reached the server under serverName would.
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: tt.serverName}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			resp, err := client.Get("https://127.0.0.1:" + port + "/")
			if (err == nil) != tt.ok {
				t.Fatalf("GET as %s: %v, want ok %v", tt.serverName, err, tt.ok)
			}
			if err != nil {
				return
			}
			defer resp.Body.Close()
			if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
				t.Errorf("body %q", b)
			}
		})
	}

	// A client trusting only the system roots must fail.
	if _, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{ServerName: "localhost"}); err == nil {
		t.Error("handshake without the CA succeeded")
	}
}

func TestServingCertReuse(t *testing.T) {
	dir := t.TempDir()
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := mustServing(t, ca, dir, "b.example.com", "a.example.com", "10.0.0.1")

	// Same hosts in another order, with duplicates, case and the implicit
	// loopback names spelled out: reused, files untouched.
	before := snapshot(t, dir)
	again := mustServing(t, ca, dir, "10.0.0.1", "A.example.com", "b.example.com.", "a.example.com", "localhost", "127.0.0.1", "[::1]", " ")
	if !bytes.Equal(again.Certificate[0], first.Certificate[0]) {
		t.Error("same hosts: certificate reissued")
	}
	if !maps.Equal(before, snapshot(t, dir)) {
		t.Error("same hosts: files rewritten")
	}

	sans := func(c tls.Certificate) []string {
		var out []string
		for _, ip := range c.Leaf.IPAddresses {
			out = append(out, ip.String())
		}
		return append(out, c.Leaf.DNSNames...)
	}
	if got, want := sans(first), []string{"::1", "10.0.0.1", "127.0.0.1", "a.example.com", "b.example.com", "localhost"}; !slices.Equal(got, want) {
		t.Errorf("SANs %v, want %v", got, want)
	}

	// A host added: reissued.
	added := mustServing(t, ca, dir, "a.example.com", "b.example.com", "10.0.0.1", "10.0.0.2")
	if bytes.Equal(added.Certificate[0], first.Certificate[0]) {
		t.Error("host added: certificate reused")
	}

	// A new CA: reissued, and signed by it.
	dir2 := t.TempDir()
	ca2, err := EnsureCA(dir2)
	if err != nil {
		t.Fatal(err)
	}
	moved := mustServing(t, ca2, dir, "a.example.com", "b.example.com", "10.0.0.1", "10.0.0.2")
	if moved.Leaf.CheckSignatureFrom(ca2.Cert) != nil {
		t.Error("certificate not reissued by the new CA")
	}

	// Half a pair, or a broken file: reissued.
	remove(t, filepath.Join(dir, ServingKeyFile))
	mustServing(t, ca, dir)
	write(t, filepath.Join(dir, ServingCertFile), []byte("junk"))
	mustServing(t, ca, dir)
	noTempFiles(t, dir)

	for _, bad := range []string{"example.com:6443", "https://example.com", "exa mple.com", "-x.example.com", "a..b"} {
		if _, err := ca.EnsureServingCert(dir, []string{bad}); err == nil {
			t.Errorf("host %q accepted", bad)
		}
	}
}

// TestServingCertRenewal checks renewal 30 days before expiry, in a bubble
// whose fake clock the certificate code reads through time.Now.
func TestServingCertRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		ca, err := EnsureCA(dir)
		if err != nil {
			t.Fatal(err)
		}
		first := mustServing(t, ca, dir)
		if life := first.Leaf.NotAfter.Sub(time.Now()); life < 364*24*time.Hour {
			t.Fatalf("serving certificate valid for %v, want a year", life)
		}

		time.Sleep(time.Until(first.Leaf.NotAfter.Add(-31 * 24 * time.Hour)))
		if c := mustServing(t, ca, dir); !bytes.Equal(c.Certificate[0], first.Certificate[0]) {
			t.Error("reissued 31 days before expiry")
		}
		time.Sleep(2 * 24 * time.Hour)
		renewed := mustServing(t, ca, dir)
		if bytes.Equal(renewed.Certificate[0], first.Certificate[0]) {
			t.Error("not reissued 29 days before expiry")
		}
		if !renewed.Leaf.NotAfter.After(first.Leaf.NotAfter) {
			t.Error("renewed certificate does not outlive the old one")
		}

		// Near the CA's own end, a certificate never outlives the CA.
		time.Sleep(time.Until(ca.Cert.NotAfter.Add(-100 * 24 * time.Hour)))
		late := mustServing(t, ca, dir)
		if late.Leaf.NotAfter.After(ca.Cert.NotAfter) {
			t.Errorf("serving certificate ends %v, after the CA's %v", late.Leaf.NotAfter, ca.Cert.NotAfter)
		}

		// An expired CA is refused, not replaced.
		time.Sleep(time.Until(ca.Cert.NotAfter) + time.Hour)
		if _, err := EnsureCA(dir); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("EnsureCA after expiry = %v, want expired", err)
		}
	})
}

func TestEnsureToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "token")
	tok, err := EnsureToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 || strings.Trim(tok, "0123456789abcdef") != "" {
		t.Errorf("token %q, want 64 hex digits", tok)
	}
	wantMode(t, path, 0o600)
	again, err := EnsureToken(path)
	if err != nil || again != tok {
		t.Errorf("second EnsureToken = %q, %v; want %q", again, err, tok)
	}
	other, _ := EnsureToken(filepath.Join(t.TempDir(), "token"))
	if other == tok {
		t.Error("two tokens are equal")
	}

	write(t, path, []byte("  my-own-token\n"))
	if got, err := EnsureToken(path); err != nil || got != "my-own-token" {
		t.Errorf("hand-written token: %q, %v", got, err)
	}
	write(t, path, []byte("two words\n"))
	if _, err := EnsureToken(path); err == nil {
		t.Error("token with a space accepted")
	}
	write(t, path, []byte("\n"))
	if got, err := EnsureToken(path); err != nil || len(got) != 64 {
		t.Errorf("empty file: %q, %v; want a new token", got, err)
	}
	noTempFiles(t, filepath.Dir(path))
}

func TestWriteKubeconfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := EnsureCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.EnsureServingCert(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123abcd"
	// wantAuth is the Authorization header each server expects: client-go
	// sends the kubeconfig's token over TLS only.
	versionHandler := func(wantAuth string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != wantAuth || r.URL.Path != "/version" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			io.WriteString(w, `{"major":"1","minor":"37"}`)
		})
	}
	tlsSrv := httptest.NewUnstartedServer(versionHandler("Bearer " + token))
	tlsSrv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plainSrv := httptest.NewServer(versionHandler(""))
	t.Cleanup(plainSrv.Close)

	tests := []struct {
		name, url, user, wantUser string
		ca                        []byte
		wantToken                 string // in the rest.Config
	}{
		// httptest's URL is https://127.0.0.1:port, a SAN of every
		// serving certificate.
		{"tls", tlsSrv.URL, "admin", "admin", ca.CertPEM, token},
		{"plain http", plainSrv.URL, "", "cella", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name, "kubeconfig")
			if err := WriteKubeconfig(path, tt.url, tt.ca, tt.user, token); err != nil {
				t.Fatal(err)
			}
			wantMode(t, path, 0o600)

			raw, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if raw.CurrentContext != "cella" || raw.Contexts["cella"] == nil ||
				raw.Contexts["cella"].Cluster != "cella" || raw.Contexts["cella"].AuthInfo != tt.wantUser ||
				raw.AuthInfos[tt.wantUser] == nil || raw.AuthInfos[tt.wantUser].Token != token {
				t.Errorf("kubeconfig layout: current %q, contexts %v, users %v", raw.CurrentContext, raw.Contexts, raw.AuthInfos)
			}

			cfg, err := clientcmd.BuildConfigFromFlags("", path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.BearerToken != tt.wantToken || cfg.Host != tt.url {
				t.Errorf("rest.Config host %q token %q", cfg.Host, cfg.BearerToken)
			}
			client, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			client.Timeout = 10 * time.Second
			resp, err := client.Get(cfg.Host + "/version")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET /version: %s", resp.Status)
			}
			noTempFiles(t, filepath.Dir(path))
		})
	}

	// Rewriting replaces the file whole.
	path := filepath.Join(dir, "tls", "kubeconfig")
	if err := WriteKubeconfig(path, "https://10.0.0.1:6443", ca.CertPEM, "admin", "new"); err != nil {
		t.Fatal(err)
	}
	if cfg, err := clientcmd.BuildConfigFromFlags("", path); err != nil || cfg.BearerToken != "new" || cfg.Host != "https://10.0.0.1:6443" {
		t.Errorf("rewritten kubeconfig: %+v, %v", cfg, err)
	}

	for _, bad := range []string{"", "127.0.0.1:6443", "ftp://x", "https://"} {
		if err := WriteKubeconfig(filepath.Join(dir, "bad"), bad, nil, "admin", token); err == nil {
			t.Errorf("server URL %q accepted", bad)
		}
	}
	if err := WriteKubeconfig(filepath.Join(dir, "bad"), plainSrv.URL, nil, "admin", ""); err == nil {
		t.Error("empty token accepted")
	}
}

// TestWriteKubeconfigUnchanged checks that writing the same kubeconfig
// again leaves the file alone (same inode: nothing was written, so a restart
// on a full disk does not fail here), and that a change, or a wrong mode,
// still replaces it.
func TestWriteKubeconfigUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	write := func(url string) os.FileInfo {
		t.Helper()
		if err := WriteKubeconfig(path, url, nil, "admin", "tok"); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	first := write("https://127.0.0.1:6443")
	if again := write("https://127.0.0.1:6443"); !os.SameFile(first, again) {
		t.Error("the same kubeconfig was written again")
	}
	if moved := write("https://127.0.0.1:6444"); os.SameFile(first, moved) {
		t.Error("a kubeconfig for another address was not written")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	write("https://127.0.0.1:6444")
	wantMode(t, path, 0o600)
}

func mustServing(t *testing.T, ca *CA, dir string, hosts ...string) tls.Certificate {
	t.Helper()
	c, err := ca.EnsureServingCert(dir, hosts)
	if err != nil {
		t.Fatal(err)
	}
	if c.Leaf == nil {
		t.Fatal("no Leaf")
	}
	return c
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns the contents of the regular files in dir by name.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[e.Name()] = string(b)
		}
	}
	return out
}

// testWriter sends a logger's lines to the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

package auth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	authenticationv1 "k8s.io/api/authentication/v1"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/servertest"
)

// get GETs path with token and returns the status and body.
func get(t *testing.T, srv *servertest.Server, token, path string) (int, []byte) {
	t.Helper()
	resp, err := srv.HTTPClient().Do(srv.RequestAs(token, http.MethodGet, path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestIssuerDiscovery: the OpenID discovery document and key set, read as
// kube-apiserver serves them by default (to service accounts and the
// admin), verify a token the TokenRequest API issued.
func TestIssuerDiscovery(t *testing.T) {
	srv := servertest.Start(t, servertest.WithUsers(t, servertest.User{Name: "alice", Token: "alice-token"}))
	cs := srv.Clientset()
	ctx := t.Context()
	waitServiceAccount(t, cs, "default", "default")
	tr, err := requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}})
	if err != nil {
		t.Fatal(err)
	}
	bound, err := requestToken(ctx, cs, "default", "default", authenticationv1.TokenRequestSpec{})
	if err != nil {
		t.Fatal(err)
	}
	saToken := bound.Status.Token

	// Who may read them: service accounts (system:serviceaccounts) and
	// the admin; another user is refused, anonymous is unauthenticated.
	for _, p := range []string{"/.well-known/openid-configuration", "/openid/v1/jwks"} {
		for _, tc := range []struct {
			who, token string
			want       int
		}{
			{"the admin", srv.Token, http.StatusOK},
			{"a service account", saToken, http.StatusOK},
			{"alice", "alice-token", http.StatusForbidden},
			{"nobody", "", http.StatusUnauthorized},
		} {
			if code, body := get(t, srv, tc.token, p); code != tc.want {
				t.Errorf("GET %s as %s: %d %s, want %d", p, tc.who, code, body, tc.want)
			}
		}
	}

	code, body := get(t, srv, saToken, "/.well-known/openid-configuration")
	var cfg auth.OpenIDConfiguration
	if err := json.Unmarshal(body, &cfg); err != nil || code != http.StatusOK {
		t.Fatalf("discovery: %d %v", code, err)
	}
	if cfg.Issuer != auth.DefaultServiceAccountIssuer || cfg.JWKSURI != srv.URL+"/openid/v1/jwks" ||
		len(cfg.IDTokenSigningAlgValuesSupported) != 1 || cfg.IDTokenSigningAlgValuesSupported[0] != "RS256" {
		t.Errorf("discovery = %+v", cfg)
	}
	code, body = get(t, srv, saToken, "/openid/v1/jwks")
	var keys jose.JSONWebKeySet
	if err := json.Unmarshal(body, &keys); err != nil || code != http.StatusOK || len(keys.Keys) != 1 {
		t.Fatalf("jwks: %d %v %s", code, err, body)
	}

	// A verifier with only the published keys accepts the token for its
	// audience.
	tok, err := jwt.ParseSigned(tr.Status.Token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		t.Fatalf("token headers = %+v, want a kid", tok.Headers)
	}
	found := keys.Key(tok.Headers[0].KeyID)
	if len(found) != 1 || !found[0].IsPublic() || found[0].Use != "sig" || found[0].Algorithm != "RS256" {
		t.Fatalf("key %s in the set: %+v", tok.Headers[0].KeyID, found)
	}
	var claims jwt.Claims
	if err := tok.Claims(found[0].Key, &claims); err != nil {
		t.Fatalf("verifying with the published key: %v", err)
	}
	if err := claims.Validate(jwt.Expected{Issuer: cfg.Issuer, AnyAudience: jwt.Audience{"vault"}}); err != nil {
		t.Errorf("claims: %v", err)
	}
}

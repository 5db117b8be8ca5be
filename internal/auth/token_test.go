package auth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name    string
		header  []string // Authorization values; none means no header
		token   string
		ok      bool
		wantErr bool
	}{
		{name: "no header"},
		{name: "empty header", header: []string{""}},
		{name: "other scheme", header: []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l"}},
		{name: "scheme prefix only", header: []string{"Bearerabc"}},
		{name: "bearer", header: []string{"Bearer abc.DEF-_~+/="}, token: "abc.DEF-_~+/=", ok: true},
		{name: "scheme case", header: []string{"bEaReR abc"}, token: "abc", ok: true},
		{name: "extra spaces", header: []string{"  Bearer   abc  "}, token: "abc", ok: true},
		{name: "empty token", header: []string{"Bearer"}, wantErr: true},
		{name: "blank token", header: []string{"Bearer    "}, wantErr: true},
		{name: "two tokens", header: []string{"Bearer abc def"}, wantErr: true},
		{name: "tab inside", header: []string{"Bearer abc\tdef"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Authorization": tt.header}
			if tt.header == nil {
				h = http.Header{}
			}
			token, ok, err := BearerToken(h)
			if token != tt.token || ok != tt.ok || (err != nil) != tt.wantErr {
				t.Errorf("BearerToken(%q) = %q, %v, %v; want %q, %v, error %v", tt.header, token, ok, err, tt.token, tt.ok, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v is not ErrInvalidToken", err)
			}
		})
	}
}

func TestTokenAuthenticator(t *testing.T) {
	file, err := ParseTokenCSV(strings.NewReader(`
t-alice,alice,1001,"devs,ops"
t-bob,bob,1002
t-ci,system:serviceaccount:dev:ci,1003,system:authenticated
`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewTokenAuthenticator(append(file, AdminToken("s3cret")))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		header  string
		want    User
		ok      bool
		wantErr error
	}{
		{name: "admin", header: "Bearer s3cret", ok: true,
			want: User{Name: AdminUser, Groups: []string{GroupMasters, GroupAuthenticated}}},
		{name: "file user with groups", header: "Bearer t-alice", ok: true,
			want: User{Name: "alice", UID: "1001", Groups: []string{"devs", "ops", GroupAuthenticated}}},
		{name: "file user without groups", header: "bearer t-bob", ok: true,
			want: User{Name: "bob", UID: "1002", Groups: []string{GroupAuthenticated}}},
		{name: "authenticated group once", header: "Bearer t-ci", ok: true,
			want: User{Name: "system:serviceaccount:dev:ci", UID: "1003", Groups: []string{GroupAuthenticated}}},
		{name: "unknown token", header: "Bearer nope", wantErr: ErrInvalidToken},
		{name: "prefix of a token", header: "Bearer s3cre", wantErr: ErrInvalidToken},
		{name: "malformed", header: "Bearer a b", wantErr: ErrInvalidToken},
		{name: "no credentials", header: ""},
		{name: "basic auth is not ours", header: "Basic YTpi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u, ok, err := a.Authenticate(r)
			if !errors.Is(err, tt.wantErr) || ok != tt.ok {
				t.Fatalf("Authenticate = %+v, %v, %v; want ok %v, error %v", u, ok, err, tt.ok, tt.wantErr)
			}
			if u.Name != tt.want.Name || u.UID != tt.want.UID || !slices.Equal(u.Groups, tt.want.Groups) {
				t.Errorf("user = %+v, want %+v", u, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), strings.TrimPrefix(tt.header, "Bearer ")) {
				t.Errorf("error %q repeats the token", err)
			}
		})
	}
}

func TestNewTokenAuthenticatorRejects(t *testing.T) {
	tests := []struct {
		name   string
		tokens []StaticToken
		want   string
	}{
		{"empty token", []StaticToken{{Token: "", User: User{Name: "a"}}}, "empty token"},
		{"no user", []StaticToken{{Token: "x"}}, "without a user name"},
		{"shared token", []StaticToken{AdminToken("x"), {Token: "x", User: User{Name: "bob"}}}, `users "admin" and "bob" share a token`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewTokenAuthenticator(tt.tokens)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewTokenAuthenticator = %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestAuthenticatorDoesNotShareGroups(t *testing.T) {
	groups := []string{"devs"}
	a, err := NewTokenAuthenticator([]StaticToken{{Token: "x", User: User{Name: "a", Groups: groups}}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer x")
	u, _, _ := a.Authenticate(r)
	u.Groups[0] = "changed"
	if groups[0] != "devs" {
		t.Errorf("caller's groups changed to %q", groups)
	}
	if u, _, _ = a.Authenticate(r); u.Groups[0] != "devs" {
		t.Errorf("a returned user's groups are shared with the next request: %q", u.Groups)
	}
}

func TestWebSocketBearerToken(t *testing.T) {
	enc := func(s string) string {
		return "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(s))
	}
	for _, tc := range []struct {
		name, header, token string
		ok, bad             bool
	}{
		{"none", "v4.channel.k8s.io", "", false, false},
		{"one", enc("abc") + ", base64.binary.k8s.io", "abc", true, false},
		{"padded", enc("ab") + "==", "ab", true, false},
		{"two", enc("a") + "," + enc("b"), "", false, true},
		{"not base64", "base64url.bearer.authorization.k8s.io.!!!", "", false, true},
		{"empty", "base64url.bearer.authorization.k8s.io.", "", false, true},
	} {
		h := http.Header{"Sec-Websocket-Protocol": {tc.header}}
		token, ok, err := WebSocketBearerToken(h)
		if token != tc.token || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("%s: got %q %v %v", tc.name, token, ok, err)
		}
		StripWebSocketBearer(h)
		if strings.Contains(h.Get("Sec-WebSocket-Protocol"), "bearer") {
			t.Errorf("%s: not stripped: %q", tc.name, h.Get("Sec-WebSocket-Protocol"))
		}
	}
}

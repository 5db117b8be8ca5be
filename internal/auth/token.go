package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// ErrInvalidToken is returned by TokenAuthenticator for a request whose
// bearer token is malformed or matches no known token.
var ErrInvalidToken = errors.New("auth: invalid bearer token")

// Authenticator finds the user a request speaks for.
//
// Authenticate returns (User{}, false, nil) when the request carries no
// credentials of the kind the implementation understands, so several
// authenticators can be tried in turn. It returns an error when credentials
// of its kind are present but not valid; the error must not contain the
// credentials. On success the User's groups include system:authenticated.
// Implementations must be safe for concurrent use and must not modify r.
type Authenticator interface {
	Authenticate(r *http.Request) (User, bool, error)
}

// StaticToken is one bearer token and the user it authenticates.
type StaticToken struct {
	Token string
	User  User
}

// AdminToken returns the StaticToken for Cella's admin user: user admin in
// group system:masters.
func AdminToken(token string) StaticToken {
	return StaticToken{Token: token, User: User{Name: AdminUser, Groups: []string{GroupMasters}}}
}

// TokenAuthenticator authenticates requests by a bearer token from a fixed
// set. It is immutable and safe for concurrent use.
type TokenAuthenticator struct {
	// tokens holds SHA-256 digests of the tokens, never the tokens.
	tokens []tokenEntry
}

type tokenEntry struct {
	digest [sha256.Size]byte
	user   User
}

var _ Authenticator = (*TokenAuthenticator)(nil)

// NewTokenAuthenticator returns a TokenAuthenticator for tokens. It rejects
// an empty token, a user without a name and a token given twice.
func NewTokenAuthenticator(tokens []StaticToken) (*TokenAuthenticator, error) {
	a := &TokenAuthenticator{tokens: make([]tokenEntry, 0, len(tokens))}
	seen := make(map[[sha256.Size]byte]string, len(tokens))
	for _, t := range tokens {
		if t.Token == "" {
			return nil, fmt.Errorf("auth: empty token for user %q", t.User.Name)
		}
		if t.User.Name == "" {
			return nil, errors.New("auth: token without a user name")
		}
		d := sha256.Sum256([]byte(t.Token))
		if prev, ok := seen[d]; ok {
			return nil, fmt.Errorf("auth: users %q and %q share a token", prev, t.User.Name)
		}
		seen[d] = t.User.Name
		u := t.User
		u.Groups = withAuthenticatedGroup(u.Groups)
		a.tokens = append(a.tokens, tokenEntry{digest: d, user: u})
	}
	return a, nil
}

// Authenticate implements Authenticator for "Authorization: Bearer TOKEN".
//
// The comparison takes the same time whichever token, if any, matches: every
// known token's digest is compared in constant time, with no early exit.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (User, bool, error) {
	token, ok, err := BearerToken(r.Header)
	if !ok && err == nil {
		token, ok, err = WebSocketBearerToken(r.Header)
	}
	if !ok || err != nil {
		return User{}, false, err
	}
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(a.tokens[i].digest[:], d[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return User{}, false, ErrInvalidToken
	}
	// The caller may modify what it gets; the stored user stays as it was.
	u := a.tokens[found].user
	u.Groups = slices.Clone(u.Groups)
	return u, true, nil
}

// BearerToken returns the token of an "Authorization: Bearer TOKEN" header
// (RFC 6750 section 2.1; the scheme is case-insensitive). It returns false
// with no error when there is no Authorization header or it uses another
// scheme, and ErrInvalidToken when the Bearer credentials are empty or
// contain more than one token.
func BearerToken(h http.Header) (string, bool, error) {
	auth := strings.TrimSpace(h.Get("Authorization"))
	if auth == "" {
		return "", false, nil
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	// RFC 7235 allows one or more spaces between scheme and credentials.
	token = strings.TrimLeft(token, " ")
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", false, ErrInvalidToken
	}
	return token, true, nil
}

// webSocketBearerPrefix marks the WebSocket subprotocol that carries a
// bearer token, for browsers, which cannot set headers on a WebSocket:
// "base64url.bearer.authorization.k8s.io.<base64url token, unpadded>".
const webSocketBearerPrefix = "base64url.bearer.authorization.k8s.io."

// WebSocketBearerToken returns the bearer token of a WebSocket handshake's
// token subprotocol. It returns false with no error when there is none, and
// ErrInvalidToken when it does not decode or there are several.
func WebSocketBearerToken(h http.Header) (string, bool, error) {
	var found []string
	for _, p := range webSocketProtocols(h) {
		if enc, ok := strings.CutPrefix(p, webSocketBearerPrefix); ok {
			found = append(found, enc)
		}
	}
	switch len(found) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", false, ErrInvalidToken
	}
	token, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(found[0], "="))
	if err != nil || len(token) == 0 || strings.ContainsAny(string(token), " \t") {
		return "", false, ErrInvalidToken
	}
	return string(token), true, nil
}

// StripWebSocketBearer removes the token subprotocol from h, so the
// credential goes no further in and is never chosen as the subprotocol.
func StripWebSocketBearer(h http.Header) {
	ps := webSocketProtocols(h)
	if len(ps) == 0 {
		return
	}
	kept := ps[:0]
	for _, p := range ps {
		if !strings.HasPrefix(p, webSocketBearerPrefix) {
			kept = append(kept, p)
		}
	}
	h.Del("Sec-WebSocket-Protocol")
	if len(kept) > 0 {
		h.Set("Sec-WebSocket-Protocol", strings.Join(kept, ", "))
	}
}

// webSocketProtocols lists the subprotocols a handshake offers, across
// header lines.
func webSocketProtocols(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(line, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

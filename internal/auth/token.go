package auth

import (
	"crypto/sha256"
	"crypto/subtle"
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

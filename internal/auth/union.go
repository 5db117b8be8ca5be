package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
)

// Union is the authenticator chain: it asks each authenticator in turn and
// takes the first that knows the credentials. When none does, the request
// is unauthenticated with the first error any of them gave (a token
// present but valid for none of them), or with no error when no
// authenticator found credentials of its kind.
type Union []Authenticator

var _ Authenticator = Union(nil)

// Authenticate implements Authenticator.
func (u Union) Authenticate(r *http.Request) (User, bool, error) {
	var first error
	for _, a := range u {
		user, ok, err := a.Authenticate(r)
		if ok && err == nil {
			return user, true, nil
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return User{}, false, first
}

// TokenReviewers chains TokenReviewers as Union chains Authenticators.
type TokenReviewers []TokenReviewer

var _ TokenReviewer = TokenReviewers(nil)

// AuthenticateToken implements TokenReviewer.
func (t TokenReviewers) AuthenticateToken(ctx context.Context, token string, audiences []string) (User, []string, bool, error) {
	var first error
	for _, r := range t {
		user, auds, ok, err := r.AuthenticateToken(ctx, token, audiences)
		if ok && err == nil {
			return user, auds, true, nil
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return User{}, nil, false, first
}

// StaticTokenReviewer reviews the tokens of a TokenAuthenticator, which
// are not bound to an audience: they are good for the API server's
// audiences only, as kube-apiserver treats audience-agnostic
// authenticators.
type StaticTokenReviewer struct {
	Tokens    *TokenAuthenticator
	Audiences []string
}

var _ TokenReviewer = StaticTokenReviewer{}

// AuthenticateToken implements TokenReviewer.
func (s StaticTokenReviewer) AuthenticateToken(_ context.Context, token string, audiences []string) (User, []string, bool, error) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.Tokens.tokens {
		if subtle.ConstantTimeCompare(s.Tokens.tokens[i].digest[:], d[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return User{}, nil, false, nil
	}
	good := slices.Clone(s.Audiences)
	if len(audiences) > 0 {
		good = nil
		for _, a := range audiences {
			if slices.Contains(s.Audiences, a) {
				good = append(good, a)
			}
		}
		if len(good) == 0 {
			return User{}, nil, false, errors.New("token audiences is invalid for the target audiences")
		}
	}
	u := s.Tokens.tokens[found].user
	u.Groups = slices.Clone(u.Groups)
	return u, good, true, nil
}

package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Extra keys a service account token puts on its user, as kube-apiserver
// names them.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// deletedGrace is how long a token bound to an object (or of a
// ServiceAccount) being deleted keeps working after its deletionTimestamp,
// as in kube-apiserver: a pod in its grace period still runs.
const deletedGrace = 60 * time.Second

// TokenReviewer authenticates a bare token for audiences, as a
// TokenReview asks. It returns the user and the audiences the token is
// good for (those of audiences it names; the API server's when audiences
// is empty), false with no error when the token is not of a kind it
// knows, and an error when it is of its kind but not valid.
type TokenReviewer interface {
	AuthenticateToken(ctx context.Context, token string, audiences []string) (User, []string, bool, error)
}

// ServiceAccountAuthenticator authenticates service account tokens: bound
// tokens the issuer signed, and legacy tokens of Secrets. Everything a
// token names must still exist with the uid the token holds: the
// ServiceAccount, and the Pod or Secret it is bound to (for a legacy
// token, the Secret, still holding the token). It is safe for concurrent
// use.
type ServiceAccountAuthenticator struct {
	issuer  *TokenIssuer
	objects ObjectSource
	// verified remembers tokens whose signature checked out, so a client
	// that sends one token on every request pays for RSA once.
	verified verifiedCache
}

var (
	_ Authenticator = (*ServiceAccountAuthenticator)(nil)
	_ TokenReviewer = (*ServiceAccountAuthenticator)(nil)
)

// NewServiceAccountAuthenticator returns an authenticator of the tokens
// issuer signs, looking the objects they name up in objects, which must
// answer from memory.
func NewServiceAccountAuthenticator(issuer *TokenIssuer, objects ObjectSource) *ServiceAccountAuthenticator {
	return &ServiceAccountAuthenticator{issuer: issuer, objects: objects, verified: verifiedCache{m: map[[sha256.Size]byte]verifiedToken{}}}
}

// Authenticate implements Authenticator for a bearer token meant for the
// API server's audiences.
func (a *ServiceAccountAuthenticator) Authenticate(r *http.Request) (User, bool, error) {
	token, ok, err := BearerToken(r.Header)
	if !ok && err == nil {
		token, ok, err = WebSocketBearerToken(r.Header)
	}
	if !ok || err != nil {
		return User{}, false, err
	}
	u, _, ok, err := a.AuthenticateToken(r.Context(), token, nil)
	return u, ok, err
}

// looksLikeJWT reports whether token has the three parts of a compact JWS,
// so other kinds of token are passed over without an error.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2
}

// AuthenticateToken implements TokenReviewer.
func (a *ServiceAccountAuthenticator) AuthenticateToken(ctx context.Context, token string, audiences []string) (User, []string, bool, error) {
	if !looksLikeJWT(token) {
		return User{}, nil, false, nil
	}
	v, mine, err := a.verify(token)
	if !mine || err != nil {
		return User{}, nil, false, err
	}
	if v.legacy != nil {
		return a.legacy(ctx, v.std, *v.legacy, token, audiences)
	}
	std, priv := v.std, v.priv
	now := a.issuer.now()
	if err := std.Validate(jwt.Expected{Time: now}); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return User{}, nil, false, errors.New("service account token has expired")
		}
		return User{}, nil, false, fmt.Errorf("service account token claims could not be validated: %w", err)
	}
	if len(audiences) == 0 {
		audiences = a.issuer.audiences
	}
	var good []string
	for _, aud := range audiences {
		if std.Audience.Contains(aud) {
			good = append(good, aud)
		}
	}
	if len(good) == 0 {
		return User{}, nil, false, errors.New("token audiences is invalid for the target audiences")
	}
	k := priv.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" {
		return User{}, nil, false, errors.New("service account token is missing the kubernetes.io claim")
	}
	ns, name, ok := SplitServiceAccountUsername(std.Subject)
	if !ok || ns != k.Namespace || name != k.ServiceAccount.Name {
		return User{}, nil, false, errors.New("service account token's subject does not match its kubernetes.io claim")
	}
	invalidBefore := now.Add(-deletedGrace)
	if err := a.check(ctx, "serviceaccounts", "service account", ns, k.ServiceAccount, invalidBefore); err != nil {
		return User{}, nil, false, err
	}
	u := ServiceAccountUser(ns, name, k.ServiceAccount.UID)
	u.Extra = map[string][]string{}
	if k.Pod != nil {
		if err := a.check(ctx, "pods", "pod", ns, *k.Pod, invalidBefore); err != nil {
			return User{}, nil, false, err
		}
		u.Extra[ExtraPodName] = []string{k.Pod.Name}
		u.Extra[ExtraPodUID] = []string{k.Pod.UID}
		if k.Node != nil {
			u.Extra[ExtraNodeName] = []string{k.Node.Name}
			u.Extra[ExtraNodeUID] = []string{k.Node.UID}
		}
	}
	if k.Secret != nil {
		if err := a.check(ctx, "secrets", "secret", ns, *k.Secret, invalidBefore); err != nil {
			return User{}, nil, false, err
		}
	}
	if std.ID != "" {
		u.Extra[ExtraCredentialID] = []string{"JTI=" + std.ID}
	}
	return u, good, true, nil
}

// verify checks token's signature and returns its claims. mine is false
// for a token this authenticator does not know (not a JWT of its issuers);
// err says why one of its tokens is not valid. Tokens that verify are
// remembered for verifiedTTL.
func (a *ServiceAccountAuthenticator) verify(token string) (v verifiedToken, mine bool, err error) {
	digest := sha256.Sum256([]byte(token))
	now := a.issuer.now()
	if v, ok := a.verified.get(digest, now); ok {
		return v, true, nil
	}
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return v, false, nil
	}
	if err := tok.UnsafeClaimsWithoutVerification(&v.std); err != nil {
		return v, false, nil
	}
	switch v.std.Issuer {
	case a.issuer.issuer:
		err = tok.Claims(&a.issuer.key.PublicKey, &v.std, &v.priv)
	case LegacyIssuer:
		v.legacy = &legacyClaims{}
		err = tok.Claims(&a.issuer.key.PublicKey, &v.std, v.legacy)
	default:
		// Some other issuer's JWT: not for this authenticator.
		return v, false, nil
	}
	if err != nil {
		return v, true, errors.New("service account token could not be verified")
	}
	a.verified.put(digest, v, now)
	return v, true, nil
}

// verifiedTTL is how long a verified token is remembered; its claims
// (expiry included) and the objects it names are still checked on every
// use.
const verifiedTTL = 10 * time.Second

// maxVerified bounds the tokens remembered; past it the memory starts
// over.
const maxVerified = 4096

// verifiedToken is what verify learnt from a token.
type verifiedToken struct {
	std    jwt.Claims
	priv   privateClaims
	legacy *legacyClaims
	until  time.Time
}

// verifiedCache maps a token's SHA-256 to what verify learnt, never the
// token itself. It is safe for concurrent use.
type verifiedCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]verifiedToken // guarded by mu
}

func (c *verifiedCache) get(d [sha256.Size]byte, now time.Time) (verifiedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[d]
	if !ok || now.After(v.until) {
		return verifiedToken{}, false
	}
	return v, true
}

func (c *verifiedCache) put(d [sha256.Size]byte, v verifiedToken, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxVerified {
		for k, e := range c.m {
			if now.After(e.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxVerified {
			clear(c.m)
		}
	}
	v.until = now.Add(verifiedTTL)
	c.m[d] = v
}

// check says whether the object ref names still exists with its uid and
// is not past its deletion's grace, in kube-apiserver's words.
func (a *ServiceAccountAuthenticator) check(ctx context.Context, resource, what, namespace string, ref ObjectRef, invalidBefore time.Time) error {
	o, ok, err := a.objects.Object(ctx, resource, namespace, ref.Name)
	if err != nil {
		return fmt.Errorf("%s %s/%s could not be read: %w", what, namespace, ref.Name, err)
	}
	if !ok {
		return fmt.Errorf("%s %s/%s has been deleted", what, namespace, ref.Name)
	}
	if o.UID != ref.UID {
		return fmt.Errorf("%s UID (%s) does not match claim (%s)", what, o.UID, ref.UID)
	}
	if o.Deleting != nil && o.Deleting.Before(invalidBefore) {
		return fmt.Errorf("%s %s/%s is marked for deletion and no longer valid", what, namespace, ref.Name)
	}
	return nil
}

// legacy authenticates a token kept in a Secret: valid while the Secret
// exists and holds it, and its ServiceAccount exists with the uid the
// token names. Such tokens carry no audience; like every credential not
// bound to one, they are good for the API server's audiences only.
func (a *ServiceAccountAuthenticator) legacy(ctx context.Context, std jwt.Claims, lc legacyClaims, raw string, audiences []string) (User, []string, bool, error) {
	good, err := a.issuer.apiAudiences(audiences)
	if err != nil {
		return User{}, nil, false, err
	}
	ns, name, ok := SplitServiceAccountUsername(std.Subject)
	if !ok || ns != lc.Namespace || name != lc.ServiceAccountName || lc.SecretName == "" {
		return User{}, nil, false, errors.New("service account token's subject does not match its claims")
	}
	s, ok, err := a.objects.Object(ctx, "secrets", ns, lc.SecretName)
	if err != nil {
		return User{}, nil, false, fmt.Errorf("token secret could not be read: %w", err)
	}
	if !ok {
		return User{}, nil, false, fmt.Errorf("token secret %s/%s has been deleted", ns, lc.SecretName)
	}
	if subtle.ConstantTimeCompare(s.Token, []byte(raw)) != 1 {
		return User{}, nil, false, errors.New("token does not match the server's copy")
	}
	sa, ok, err := a.objects.Object(ctx, "serviceaccounts", ns, name)
	if err != nil {
		return User{}, nil, false, fmt.Errorf("service account could not be read: %w", err)
	}
	if !ok {
		return User{}, nil, false, fmt.Errorf("service account %s/%s has been deleted", ns, name)
	}
	if sa.UID != lc.ServiceAccountUID {
		return User{}, nil, false, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, lc.ServiceAccountUID)
	}
	return ServiceAccountUser(ns, name, sa.UID), good, true, nil
}

// apiAudiences answers for a credential that names no audience: it is good
// for the API server's audiences, so for those of audiences among them
// (all of them when audiences is empty), and for no other.
func (i *TokenIssuer) apiAudiences(audiences []string) ([]string, error) {
	if len(audiences) == 0 {
		return slices.Clone(i.audiences), nil
	}
	var good []string
	for _, a := range audiences {
		if slices.Contains(i.audiences, a) {
			good = append(good, a)
		}
	}
	if len(good) == 0 {
		return nil, errors.New("token audiences is invalid for the target audiences")
	}
	return good, nil
}

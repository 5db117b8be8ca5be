package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"cella.dev/cella/internal/atomicfile"
)

// Service account tokens are JWTs signed with one RSA key (RS256, as
// kube-apiserver signs them by default), in two forms:
//
//   - bound tokens (TokenRequest, projected volumes): iss is the server's
//     issuer, aud the audiences asked for, a lifetime, and the private claim
//     "kubernetes.io" naming the namespace, the ServiceAccount and the
//     object the token is bound to (a Pod or a Secret), with their uids;
//   - legacy tokens (Secrets of type kubernetes.io/service-account-token):
//     iss "kubernetes/serviceaccount", no audience and no expiry, valid
//     while the Secret holds them.

// ServiceAccountKeyFile is the file name of the signing key in the data
// directory.
const ServiceAccountKeyFile = "sa.key"

// LegacyIssuer is the issuer of tokens kept in Secrets.
const LegacyIssuer = "kubernetes/serviceaccount"

// DefaultServiceAccountIssuer is the issuer Cella names when none is
// configured: the in-cluster name of the API server that kubeadm and kind
// use.
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// EnsureServiceAccountKey returns the RSA key in the PEM file at path,
// creating it (2048 bits, mode 0600, written whole) when the file does not
// exist. A file that holds no RSA private key is an error, never replaced:
// tokens signed with it would silently stop working.
func EnsureServiceAccountKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseRSAKey(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("auth: service account key: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("auth: service account key: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("auth: writing the service account key: %w", err)
	}
	return key, nil
}

func parseRSAKey(path string, data []byte) (*rsa.PrivateKey, error) {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil, fmt.Errorf("auth: service account key %s: no RSA private key in the file", path)
		}
		switch b.Type {
		case "RSA PRIVATE KEY":
			return x509.ParsePKCS1PrivateKey(b.Bytes)
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("auth: service account key %s: %w", path, err)
			}
			if rk, ok := k.(*rsa.PrivateKey); ok {
				return rk, nil
			}
			return nil, fmt.Errorf("auth: service account key %s: not an RSA key", path)
		}
	}
}

// TokenIssuer signs service account tokens and holds what verifies them:
// the issuer name, the audiences the API server accepts and the public
// key. It is immutable and safe for concurrent use.
type TokenIssuer struct {
	issuer    string
	audiences []string
	key       *rsa.PrivateKey
	keyID     string
	signer    jose.Signer
	now       func() time.Time
}

// NewTokenIssuer returns an issuer that signs with key as issuer. The API
// server accepts tokens for audiences, which default to [issuer], as
// kube-apiserver's --api-audiences default to its issuer. now is the clock
// (time.Now when nil).
func NewTokenIssuer(key *rsa.PrivateKey, issuer string, audiences []string, now func() time.Time) (*TokenIssuer, error) {
	if issuer == "" {
		return nil, errors.New("auth: a service account issuer is required")
	}
	if len(audiences) == 0 {
		audiences = []string{issuer}
	}
	if now == nil {
		now = time.Now
	}
	kid, err := keyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("auth: service account signer: %w", err)
	}
	return &TokenIssuer{issuer: issuer, audiences: slices.Clone(audiences), key: key, keyID: kid, signer: signer, now: now}, nil
}

// keyID is the key's id as kube-apiserver computes it: the unpadded
// base64url SHA-256 of the public key's PKIX DER.
func keyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("auth: service account key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Issuer returns the iss of the tokens it signs.
func (i *TokenIssuer) Issuer() string { return i.issuer }

// Audiences returns the audiences the API server accepts; the caller must
// not modify them.
func (i *TokenIssuer) Audiences() []string { return i.audiences }

// JWKS returns the public key set that verifies its tokens, as
// /openid/v1/jwks serves it.
func (i *TokenIssuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: i.keyID, Algorithm: string(jose.RS256), Use: "sig"}}}
}

// ObjectRef names an object a token is bound to, in the private claim.
type ObjectRef struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// kubernetesClaims is the private "kubernetes.io" claim of a bound token,
// spelled as kube-apiserver spells it.
type kubernetesClaims struct {
	Namespace      string     `json:"namespace,omitempty"`
	ServiceAccount ObjectRef  `json:"serviceaccount"`
	Pod            *ObjectRef `json:"pod,omitempty"`
	Secret         *ObjectRef `json:"secret,omitempty"`
	Node           *ObjectRef `json:"node,omitempty"`
}

type privateClaims struct {
	Kubernetes *kubernetesClaims `json:"kubernetes.io,omitempty"`
}

// publicClaims are the registered claims as kube-apiserver writes them:
// aud is always an array, even of one (jwt.Claims writes a lone audience
// as a string, which verifiers accept but Kubernetes never writes).
type publicClaims struct {
	Issuer    string           `json:"iss,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  []string         `json:"aud,omitempty"`
	Expiry    *jwt.NumericDate `json:"exp,omitempty"`
	NotBefore *jwt.NumericDate `json:"nbf,omitempty"`
	IssuedAt  *jwt.NumericDate `json:"iat,omitempty"`
	ID        string           `json:"jti,omitempty"`
}

// legacyClaims are the private claims of a token kept in a Secret.
type legacyClaims struct {
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
}

// BoundToken says what a bound token is for.
type BoundToken struct {
	Namespace      string
	ServiceAccount ObjectRef
	// Pod or Secret, at most one, is the object whose deletion ends the
	// token; Node is the pod's node, recorded when known.
	Pod, Secret, Node *ObjectRef
	Audiences         []string
	// Lifetime is how long the token is valid from now.
	Lifetime time.Duration
}

// Issue signs a bound token and returns it with the moment it expires.
func (i *TokenIssuer) Issue(b BoundToken) (string, time.Time, error) {
	now := i.now()
	exp := now.Add(b.Lifetime)
	std := publicClaims{
		Issuer:    i.issuer,
		Subject:   ServiceAccountUsername(b.Namespace, b.ServiceAccount.Name),
		Audience:  b.Audiences,
		Expiry:    jwt.NewNumericDate(exp),
		NotBefore: jwt.NewNumericDate(now),
		IssuedAt:  jwt.NewNumericDate(now),
		ID:        uuid.NewString(),
	}
	priv := privateClaims{Kubernetes: &kubernetesClaims{
		Namespace: b.Namespace, ServiceAccount: b.ServiceAccount, Pod: b.Pod, Secret: b.Secret, Node: b.Node,
	}}
	tok, err := jwt.Signed(i.signer).Claims(std).Claims(priv).Serialize()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: signing a service account token: %w", err)
	}
	return tok, exp, nil
}

// IssueLegacy signs the token of a legacy token Secret. It has the
// signature TokenSigner of the serviceaccount controller wants.
func (i *TokenIssuer) IssueLegacy(namespace, serviceAccount, serviceAccountUID, secret string) (string, error) {
	std := publicClaims{Issuer: LegacyIssuer, Subject: ServiceAccountUsername(namespace, serviceAccount)}
	priv := legacyClaims{Namespace: namespace, SecretName: secret, ServiceAccountName: serviceAccount, ServiceAccountUID: serviceAccountUID}
	tok, err := jwt.Signed(i.signer).Claims(std).Claims(priv).Serialize()
	if err != nil {
		return "", fmt.Errorf("auth: signing a service account token: %w", err)
	}
	return tok, nil
}

package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"time"

	"cella.dev/cella/internal/atomicfile"
)

// File names inside the directories given to EnsureCA and EnsureServingCert.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "serving.crt"
	ServingKeyFile  = "serving.key"
)

const (
	caValidity = 10 * 365 * 24 * time.Hour
	// backdate allows for clocks of clients running a little behind.
	backdate = 5 * time.Minute
)

// CA is a certificate authority that signs Cella's certificates. It is
// immutable and safe for concurrent use.
type CA struct {
	// Cert is the CA certificate; CertPEM is its PEM encoding, what clients
	// put in their trust store (kubeconfig certificate-authority-data).
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// Pool returns a new pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// EnsureCA loads the CA from dir (ca.crt and ca.key) or, when neither file
// exists, creates one: an ECDSA P-256 key and a self-signed certificate
// valid for ten years. A CA found on disk is reused as long as it is a CA
// certificate, matches its key and is within its validity; otherwise, and
// when only one of the two files exists, EnsureCA returns an error rather
// than replace it, since every certificate and kubeconfig issued so far
// trusts it. Remove both files to start over.
func EnsureCA(dir string) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, keyPEM, err := readPair(certPath, keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return createCA(certPath, keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: CA: %w", err)
	}
	ca, err := loadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: CA in %s: %w (remove %s and %s to create a new CA)", dir, err, CACertFile, CAKeyFile)
	}
	return ca, nil
}

func loadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CACertFile, err)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyFile, err)
	}
	switch now := time.Now(); {
	case !cert.IsCA || !cert.BasicConstraintsValid:
		return nil, fmt.Errorf("%s is not a CA certificate", CACertFile)
	case !keyMatches(key, cert.PublicKey):
		return nil, fmt.Errorf("%s does not match %s", CAKeyFile, CACertFile)
	case now.After(cert.NotAfter):
		return nil, fmt.Errorf("%s expired at %s", CACertFile, cert.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(cert.NotBefore):
		return nil, fmt.Errorf("%s is not valid before %s", CACertFile, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

func createCA(certPath, keyPath string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The timestamp tells CAs of successive installations apart, as
		// Kubernetes' self-signed CAs do.
		Subject:               pkix.Name{CommonName: fmt.Sprintf("cella-ca@%d", now.Unix())},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	certPEM := encodeCertPEM(der)
	// Key first: a crash in between leaves a key without a certificate,
	// which EnsureCA reports instead of silently making another CA.
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("pki: CA key: %w", err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// randomSerial returns a random positive 128-bit serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

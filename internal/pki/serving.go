package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cella.dev/cella/internal/atomicfile"
)

const (
	servingValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a serving certificate is replaced.
	renewBefore = 30 * 24 * time.Hour
)

// EnsureServingCert returns the TLS serving certificate in dir (serving.crt
// and serving.key), issuing a new one signed by ca, valid for a year, when
// there is none, when it is unreadable, was not signed by ca, names other
// hosts, or expires within 30 days.
//
// hosts are IP addresses and DNS names (a leading "*." is allowed); the
// certificate always also names 127.0.0.1, ::1 and localhost. Order,
// duplicates and letter case in hosts do not matter. A host that is neither
// an IP address nor a DNS name, such as "example.com:6443", is an error.
//
// The certificate is checked only when EnsureServingCert runs, normally at
// start; a server running for a year must be restarted to renew it.
func (ca *CA) EnsureServingCert(dir string, hosts []string) (tls.Certificate, error) {
	ips, names, err := subjectAltNames(hosts)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving certificate: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, ServingCertFile), filepath.Join(dir, ServingKeyFile)
	certPEM, keyPEM, err := readPair(certPath, keyPath)
	switch {
	case err == nil:
		// An unreadable pair is replaced like an outdated one.
		if c, err := tls.X509KeyPair(certPEM, keyPEM); err == nil && ca.servingCertCurrent(c.Leaf, ips, names) {
			return c, nil
		}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errHalfPair):
	default:
		return tls.Certificate{}, fmt.Errorf("pki: serving certificate: %w", err)
	}
	return ca.issueServingCert(certPath, keyPath, ips, names)
}

// servingCertCurrent reports whether leaf can be kept.
func (ca *CA) servingCertCurrent(leaf *x509.Certificate, ips []net.IP, names []string) bool {
	now := time.Now()
	return leaf != nil &&
		leaf.CheckSignatureFrom(ca.Cert) == nil &&
		!now.Before(leaf.NotBefore) &&
		leaf.NotAfter.Sub(now) > renewBefore &&
		slices.EqualFunc(sortedIPs(leaf.IPAddresses), ips, net.IP.Equal) &&
		slices.Equal(sortedNames(leaf.DNSNames), names)
}

func (ca *CA) issueServingCert(certPath, keyPath string, ips []net.IP, names []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	notAfter := now.Add(servingValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "cella"},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  ips,
		DNSNames:     names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving certificate: %w", err)
	}
	keyPEM, err := encodeKeyPEM(key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving key: %w", err)
	}
	certPEM := encodeCertPEM(der)
	// A crash between the two writes leaves a mismatched pair, which the
	// next call replaces.
	if err := atomicfile.Write(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving key: %w", err)
	}
	if err := atomicfile.Write(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: serving certificate: %w", err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// subjectAltNames splits hosts into IP addresses and DNS names, adds the
// loopback names, and returns each list sorted and without duplicates.
func subjectAltNames(hosts []string) ([]net.IP, []string, error) {
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	names := []string{"localhost"}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			ips = append(ips, ip)
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(h), ".")
		if !validDNSName(name) {
			return nil, nil, fmt.Errorf("host %q is neither an IP address nor a DNS name", h)
		}
		names = append(names, name)
	}
	return sortedIPs(ips), sortedNames(names), nil
}

// validDNSName accepts dot-separated labels of letters, digits and hyphens,
// not starting or ending with a hyphen, with an optional leading "*" label.
func validDNSName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	if labels[0] == "*" && len(labels) > 1 {
		labels = labels[1:]
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func sortedIPs(ips []net.IP) []net.IP {
	out := make([]net.IP, 0, len(ips))
	for _, ip := range ips {
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, ip)
	}
	slices.SortFunc(out, func(a, b net.IP) int { return strings.Compare(string(a.To16()), string(b.To16())) })
	return slices.CompactFunc(out, net.IP.Equal)
}

func sortedNames(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

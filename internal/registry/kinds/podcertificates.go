package kinds

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// Lifetimes a PodCertificateRequest may ask for, in seconds.
const (
	podCertMinExpiration           = 3600
	podCertDefaultExpiration       = 86400
	podCertMaxExpiration           = 91 * 86400
	podCertKubernetesMaxExpiration = 86400
)

// podCertificateRequests serves certificates.k8s.io/v1's
// PodCertificateRequests, the requests of a kubelet for the
// podCertificate volumes of its pods: the spec is checked (a stub request
// signed by a key of a supported type) and immutable, and /status moves a
// request once, to Issued (with a certificate for its key), Denied or
// Failed. Cella's node agent makes no such requests yet.
func (b *builder) podCertificateRequests() {
	b.stored(&registry.Resource{
		Group: "certificates.k8s.io", Version: "v1", Kind: "PodCertificateRequest",
		Plural: "podcertificaterequests", Singular: "podcertificaterequest", Namespaced: true,
		New:       func() runtime.Object { return &certificatesv1.PodCertificateRequest{} },
		NewList:   func() runtime.Object { return &certificatesv1.PodCertificateRequestList{} },
		HasSpec:   true,
		HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			r := obj.(*certificatesv1.PodCertificateRequest)
			r.Status = certificatesv1.PodCertificateRequestStatus{}
			if r.Spec.MaxExpirationSeconds == nil {
				d := int32(podCertDefaultExpiration)
				r.Spec.MaxExpirationSeconds = &d
			}
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			r := obj.(*certificatesv1.PodCertificateRequest)
			if r.Spec.MaxExpirationSeconds == nil {
				r.Spec.MaxExpirationSeconds = old.(*certificatesv1.PodCertificateRequest).Spec.MaxExpirationSeconds
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validatePodCertificateRequest(obj.(*certificatesv1.PodCertificateRequest))
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			r, o := obj.(*certificatesv1.PodCertificateRequest), old.(*certificatesv1.PodCertificateRequest)
			if registry.SubresourceOf(ctx) == "status" {
				return validatePodCertificateStatus(r, o, b.cfg.Now())
			}
			return apivalidation.ValidateImmutableField(r.Spec, o.Spec, field.NewPath("spec"))
		},
	}, "status")
}

// validatePodCertificateRequest checks a new request as Kubernetes does:
// the signer name, the pod, service account and node it names, its
// lifetime, its user annotations and its stub certificate request.
func validatePodCertificateRequest(r *certificatesv1.PodCertificateRequest) field.ErrorList {
	p := field.NewPath("spec")
	s := r.Spec
	errs := validateSignerName(p.Child("signerName"), s.SignerName)
	names := []struct {
		path, value string
		check       func(string, bool) []string
	}{
		{"podName", s.PodName, apivalidation.NameIsDNSSubdomain},
		{"serviceAccountName", s.ServiceAccountName, apivalidation.ValidateServiceAccountName},
		{"nodeName", string(s.NodeName), apivalidation.NameIsDNSSubdomain},
	}
	for _, n := range names {
		for _, msg := range n.check(n.value, false) {
			errs = append(errs, field.Invalid(p.Child(n.path), n.value, msg))
		}
	}
	uids := []struct{ path, value string }{{"podUID", string(s.PodUID)}, {"serviceAccountUID", string(s.ServiceAccountUID)}, {"nodeUID", string(s.NodeUID)}}
	for _, u := range uids {
		switch {
		case u.value == "":
			errs = append(errs, field.Invalid(p.Child(u.path), u.value, "must not be empty"))
		case len(u.value) > 128:
			errs = append(errs, field.TooLong(p.Child(u.path), u.value, 128))
		}
	}
	for k := range s.UnverifiedUserAnnotations {
		if !strings.Contains(k, "/") {
			errs = append(errs, field.Invalid(p.Child("unverifiedUserAnnotations"), k, "must be a domain-prefixed key (such as \"acme.io/foo\")"))
		}
	}
	errs = append(errs, apivalidation.ValidateAnnotations(s.UnverifiedUserAnnotations, p.Child("unverifiedUserAnnotations"))...)
	most := int32(podCertMaxExpiration)
	if strings.HasPrefix(s.SignerName, "kubernetes.io/") {
		most = podCertKubernetesMaxExpiration
	}
	if e := s.MaxExpirationSeconds; e == nil {
		errs = append(errs, field.Required(p.Child("maxExpirationSeconds"), "must be set"))
	} else if *e < podCertMinExpiration || *e > most {
		errs = append(errs, field.Invalid(p.Child("maxExpirationSeconds"), *e, fmt.Sprintf("must be in the range [%d, %d]", podCertMinExpiration, most)))
	}
	errs = append(errs, validateStubRequest(s.StubPKCS10Request, p.Child("stubPKCS10Request"))...)
	return errs
}

// validateStubRequest checks a DER PKCS#10 request: its signature holds,
// by one of the keys kubelets may use (RSA 3072 or 4096, ECDSA P-256,
// P-384 or P-521, Ed25519).
func validateStubRequest(der []byte, p *field.Path) field.ErrorList {
	if len(der) == 0 {
		return field.ErrorList{field.Required(p, "")}
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "must be a valid DER-serialized PKCS#10 certificate signing request: "+err.Error())}
	}
	if err := req.CheckSignature(); err != nil {
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "could not verify the signature of the certificate signing request")}
	}
	switch k := req.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			return field.ErrorList{field.Invalid(p, "curve "+k.Curve.Params().Name, "elliptic public keys must use curve P256, P384 or P521")}
		}
	case *rsa.PublicKey:
		if bits := k.Size() * 8; bits != 3072 && bits != 4096 {
			return field.ErrorList{field.Invalid(p, fmt.Sprintf("%d-bit modulus", bits), "RSA keys must have modulus size 3072 or 4096")}
		}
	default:
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, "unknown public key type; supported types are Ed25519, ECDSA, and RSA")}
	}
	return nil
}

var podCertTerminal = []string{
	certificatesv1.PodCertificateRequestConditionTypeIssued,
	certificatesv1.PodCertificateRequestConditionTypeDenied,
	certificatesv1.PodCertificateRequestConditionTypeFailed,
}

// podCertState is the request's terminal condition that is True, or "".
func podCertState(r *certificatesv1.PodCertificateRequest) string {
	for _, c := range r.Status.Conditions {
		if contains(podCertTerminal, c.Type) && c.Status == metav1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// validatePodCertificateStatus checks a write of /status as Kubernetes
// does: at most one of Issued, Denied and Failed, True; nothing changes
// once one holds; Denied and Failed carry nothing else; Issued carries a
// certificate chain whose leaf is for the request's key, lives at least an
// hour and at most maxExpirationSeconds, with its times in notBefore and
// notAfter, and beginRefreshAt at least ten minutes inside them.
func validatePodCertificateStatus(r, old *certificatesv1.PodCertificateRequest, now time.Time) field.ErrorList {
	conds := field.NewPath("status", "conditions")
	var errs field.ErrorList
	known := 0
	for i, c := range r.Status.Conditions {
		if !contains(podCertTerminal, c.Type) {
			errs = append(errs, field.NotSupported(conds.Index(i).Child("type"), c.Type, podCertTerminal))
			continue
		}
		if known++; known > 1 {
			errs = append(errs, field.Invalid(conds.Index(i).Child("type"), c.Type, `There may be at most one condition with type "Issued", "Denied", or "Failed"`))
		}
		if c.Status != metav1.ConditionTrue {
			errs = append(errs, field.NotSupported(conds.Index(i).Child("status"), c.Status, []string{"True"}))
		}
	}
	errs = append(errs, metavalidation.ValidateConditions(r.Status.Conditions, conds)...)
	if len(errs) > 0 {
		return errs
	}
	unequal := func(now, want any, p *field.Path, detail string) field.ErrorList {
		if equality.Semantic.DeepEqual(now, want) {
			return nil
		}
		return field.ErrorList{field.Invalid(p, field.OmitValueType{}, detail)}
	}
	status := field.NewPath("status")
	if podCertState(old) != "" {
		return unequal(r.Status, old.Status, status, "immutable after PodCertificateRequest is issued, denied, or failed")
	}
	switch podCertState(r) {
	case "":
		return unequal(r.Status, old.Status, status, `status is immutable unless transitioning to "Issued", "Denied", or "Failed"`)
	case certificatesv1.PodCertificateRequestConditionTypeDenied, certificatesv1.PodCertificateRequestConditionTypeFailed:
		return unequal(r.Status, certificatesv1.PodCertificateRequestStatus{Conditions: r.Status.Conditions}, status,
			"non-condition status fields must be empty when denying or failing the PodCertificateRequest")
	}
	return validateIssuedChain(r, now)
}

func validateIssuedChain(r *certificatesv1.PodCertificateRequest, now time.Time) field.ErrorList {
	chainPath := field.NewPath("status", "certificateChain")
	st := r.Status
	chain := st.CertificateChain
	invalid := func(p *field.Path, v any, detail string) field.ErrorList {
		return field.ErrorList{field.Invalid(p, v, detail)}
	}
	leafBlock, rest := pem.Decode([]byte(chain))
	if leafBlock == nil {
		return invalid(chainPath, chain, "issued certificate chain must contain at least one certificate")
	}
	if leafBlock.Type != "CERTIFICATE" {
		return invalid(chainPath, chain, "issued certificate chain must consist entirely of CERTIFICATE PEM blocks")
	}
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		return invalid(chainPath, chain, "leaf certificate does not parse as valid X.509")
	}
	if req, err := x509.ParseCertificateRequest(r.Spec.StubPKCS10Request); err == nil {
		if k, ok := req.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && !k.Equal(leaf.PublicKey) {
			return invalid(chainPath, chain, "leaf certificate was not issued to the requested public key")
		}
	}
	var errs field.ErrorList
	if st.NotBefore == nil {
		errs = append(errs, field.Required(field.NewPath("status", "notBefore"), "must be present and consistent with the issued certificate"))
	}
	if st.NotAfter == nil {
		errs = append(errs, field.Required(field.NewPath("status", "notAfter"), "must be present and consistent with the issued certificate"))
	}
	if st.BeginRefreshAt == nil {
		errs = append(errs, field.Required(field.NewPath("status", "beginRefreshAt"), "must be present and in the range [notbefore+10min, notafter-10min]"))
	}
	if len(errs) > 0 {
		return errs
	}
	notBefore, notAfter, refresh := field.NewPath("status", "notBefore"), field.NewPath("status", "notAfter"), field.NewPath("status", "beginRefreshAt")
	switch lifetime := leaf.NotAfter.Sub(leaf.NotBefore); {
	case !st.NotBefore.Time.Equal(leaf.NotBefore):
		return invalid(notBefore, st.NotBefore.Time, "must be set to the NotBefore time encoded in the leaf certificate")
	case st.NotBefore.Time.Before(now.Add(-5*time.Minute)) || st.NotBefore.Time.After(now.Add(5*time.Minute)):
		return invalid(notBefore, st.NotBefore.Time, "must be set to within 5 minutes of kube-apiserver's current time")
	case !st.NotAfter.Time.Equal(leaf.NotAfter):
		return invalid(notAfter, st.NotAfter.Time, "must be set to the NotAfter time encoded in the leaf certificate")
	case lifetime < time.Hour:
		return invalid(chainPath, lifetime, "leaf certificate lifetime must be >= 1 hour")
	case r.Spec.MaxExpirationSeconds != nil && lifetime > time.Duration(*r.Spec.MaxExpirationSeconds)*time.Second:
		return invalid(chainPath, lifetime, fmt.Sprintf("leaf certificate lifetime must be <= spec.maxExpirationSeconds (%v)", *r.Spec.MaxExpirationSeconds))
	case st.BeginRefreshAt.Time.Before(st.NotBefore.Time.Add(10 * time.Minute)):
		return invalid(refresh, st.BeginRefreshAt.Time, "must be at least 10 minutes after status.notBefore")
	case st.BeginRefreshAt.Time.After(st.NotAfter.Time.Add(-10 * time.Minute)):
		return invalid(refresh, st.BeginRefreshAt.Time, "must be at least 10 minutes before status.notAfter")
	}
	for {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return nil
		}
		if block.Type != "CERTIFICATE" {
			return invalid(chainPath, chain, "issued certificate chain must consist entirely of CERTIFICATE PEM blocks")
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return invalid(chainPath, chain, "intermediate certificate does not parse as valid X.509")
		}
	}
}

package kinds

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
)

// certificates serves certificates.k8s.io/v1: certificate signing
// requests, with their /status and /approval subresources, cluster trust
// bundles and pod certificate requests. Cella signs nothing: a signer (a
// controller, or a person with kubectl certificate approve and a CA) does.
func (b *builder) certificates() {
	b.certificateSigningRequests()
	b.clusterTrustBundles()
	b.podCertificateRequests()
}

func (b *builder) certificateSigningRequests() {
	now := func() metav1.Time { return metav1.NewTime(b.cfg.Now().Truncate(time.Second)) }
	b.stored(&registry.Resource{
		Group: "certificates.k8s.io", Version: "v1", Kind: "CertificateSigningRequest",
		Plural: "certificatesigningrequests", Singular: "certificatesigningrequest", ShortNames: []string{"csr"},
		New:     func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		// Kubernetes does not care what certificate requests are called
		// (beyond what fits in a path segment).
		ValidateName: func(string, bool) []string { return nil },
		HasStatus:    true,
		// The requester is the one who sent the request, whatever the
		// object says, and nobody creates an approved request: filled
		// after the field manager ran, so that the creator does not
		// come to own them, as kube-apiserver's strategy does.
		GenerateForCreate: func(ctx context.Context, obj runtime.Object) {
			csr := obj.(*certificatesv1.CertificateSigningRequest)
			s := &csr.Spec
			s.Username, s.UID, s.Groups, s.Extra = "", "", nil, nil
			if u, ok := auth.UserFrom(ctx); ok {
				s.Username, s.UID, s.Groups = u.Name, u.UID, append([]string(nil), u.Groups...)
				if len(u.Extra) > 0 {
					s.Extra = map[string]certificatesv1.ExtraValue{}
					for k, v := range u.Extra {
						s.Extra[k] = append(certificatesv1.ExtraValue(nil), v...)
					}
				}
			}
			csr.Status = certificatesv1.CertificateSigningRequestStatus{}
		},
		// An update of the object changes only its metadata: the
		// request is immutable and the status has its subresources.
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			obj.(*certificatesv1.CertificateSigningRequest).Spec = old.(*certificatesv1.CertificateSigningRequest).Spec
		},
		SubresourceUpdates: map[string]*registry.SubresourceUpdate{
			// /status changes the status (the signer's certificate and
			// its Failed condition). Approved and Denied conditions keep
			// their stored values when as many are written; validation
			// refuses adding or removing them.
			"status": {Fields: []string{"status"}, Prepare: func(_ context.Context, stored, written runtime.Object) {
				s, w := stored.(*certificatesv1.CertificateSigningRequest), written.(*certificatesv1.CertificateSigningRequest)
				registry.KeepMeta(s, w) // as kube's CSR status strategy keeps the metadata
				old := s.Status
				s.Status = *w.Status.DeepCopy()
				keepConditions(s.Status.Conditions, old.Conditions, certificatesv1.CertificateApproved)
				keepConditions(s.Status.Conditions, old.Conditions, certificatesv1.CertificateDenied)
				stampConditions(s.Status.Conditions, old.Conditions, now())
			}},
			// /approval changes the conditions (Approved or Denied) and
			// the metadata a client may change.
			"approval": {Fields: []string{"status", "conditions"}, Prepare: func(_ context.Context, stored, written runtime.Object) {
				s, w := stored.(*certificatesv1.CertificateSigningRequest), written.(*certificatesv1.CertificateSigningRequest)
				registry.KeepMeta(s, w) // the upstream CSR conformance test patches /approval with an annotation
				old := s.Status.Conditions
				s.Status.Conditions = w.Status.Conditions
				stampConditions(s.Status.Conditions, old, now())
			}},
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateCSR(obj.(*certificatesv1.CertificateSigningRequest), nil, "")
		},
		ValidateUpdate: func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
			return validateCSR(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest), registry.SubresourceOf(ctx))
		},
		AdmitWrite: b.admitCSR,
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.signerName": obj.(*certificatesv1.CertificateSigningRequest).Spec.SignerName}
		},
		Columns: []metav1.TableColumnDefinition{
			ageColumn,
			col("SignerName", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["signerName"]),
			col("Requestor", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["request"]),
			col("RequestedDuration", "string", certificatesv1.CertificateSigningRequestSpec{}.SwaggerDoc()["expirationSeconds"]),
			col("Condition", "string", certificatesv1.CertificateSigningRequestStatus{}.SwaggerDoc()["conditions"]),
		},
		Row: func(obj runtime.Object) []any {
			csr := obj.(*certificatesv1.CertificateSigningRequest)
			signer := "<none>"
			if csr.Spec.SignerName != "" {
				signer = csr.Spec.SignerName
			}
			requested := "<none>"
			if e := csr.Spec.ExpirationSeconds; e != nil {
				requested = duration.HumanDuration(time.Duration(*e) * time.Second)
			}
			return []any{b.age(csr), signer, csr.Spec.Username, requested, csrCondition(csr)}
		},
	}, "status", "approval")
}

// keepConditions puts back the stored conditions of type t in conds when
// conds has as many of them as old, as Kubernetes' status strategy does.
func keepConditions(conds, old []certificatesv1.CertificateSigningRequestCondition, t certificatesv1.RequestConditionType) {
	var at, was []int
	for i, c := range conds {
		if c.Type == t {
			at = append(at, i)
		}
	}
	for i, c := range old {
		if c.Type == t {
			was = append(was, i)
		}
	}
	if len(at) != len(was) {
		return
	}
	for i, j := range at {
		conds[j] = old[was[i]]
	}
}

// stampConditions sets the times a condition leaves unset, as Kubernetes
// does on the writes of /status and /approval: lastUpdateTime now, and
// lastTransitionTime that of the same condition before, when its status
// did not change, else now. An unset status is True, v1's default.
func stampConditions(conds, old []certificatesv1.CertificateSigningRequestCondition, now metav1.Time) {
	for i := range conds {
		c := &conds[i]
		if c.Status == "" {
			c.Status = corev1.ConditionTrue
		}
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range old {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
	}
}

// csrCondition is the Condition cell: Approved, Denied or Pending, then
// Failed and Issued when they hold, as kubectl prints it.
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		if c.Status == corev1.ConditionFalse || c.Status == corev1.ConditionUnknown {
			continue
		}
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	status := "Pending"
	switch {
	case denied:
		status = "Denied"
	case approved:
		status = "Approved"
	}
	if failed {
		status += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		status += ",Issued"
	}
	return status
}

// csrUsages are the key usages a request may name.
var csrUsages = []string{
	"any", "cert sign", "client auth", "code signing", "content commitment", "crl sign", "data encipherment",
	"decipher only", "digital signature", "email protection", "encipher only", "ipsec end system", "ipsec tunnel",
	"ipsec user", "key agreement", "key encipherment", "microsoft sgc", "netscape sgc", "ocsp signing", "s/mime",
	"server auth", "signing", "timestamping",
}

// validateCSR checks what Kubernetes' certificates validation checks of a
// new request (old nil) or of an update through subresource ("" for the
// object, "status" or "approval"): the request is a signed PKCS#10 request,
// the usages are known and distinct, the signer name is fully qualified,
// the conditions are well formed, Approved and Denied exclusive, and
// none of Approved, Denied and Failed goes away; only /approval adds or
// changes Approved and Denied, only /status sets the certificate, once.
// What the stored object already breaks is tolerated, as Kubernetes does
// for compatibility.
func validateCSR(csr, old *certificatesv1.CertificateSigningRequest, subresource string) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if err := checkCSRRequest(csr.Spec.Request); err != nil {
		errs = append(errs, field.Invalid(spec.Child("request"), csr.Spec.Request, err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(spec.Child("usages"), ""))
	}
	if old == nil || !hasUnknownUsage(old.Spec.Usages) {
		for i, u := range csr.Spec.Usages {
			if !contains(csrUsages, string(u)) {
				errs = append(errs, field.NotSupported(spec.Child("usages").Index(i), u, csrUsages))
			}
		}
	}
	seen := map[certificatesv1.KeyUsage]bool{}
	for i, u := range csr.Spec.Usages {
		if seen[u] && (old == nil || !hasDuplicateUsage(old.Spec.Usages)) {
			errs = append(errs, field.Duplicate(spec.Child("usages").Index(i), u))
		}
		seen[u] = true
	}
	if csr.Spec.SignerName == "kubernetes.io/legacy-unknown" && (old == nil || old.Spec.SignerName != csr.Spec.SignerName) {
		errs = append(errs, field.Invalid(spec.Child("signerName"), csr.Spec.SignerName, "the legacy signerName is not allowed via this API version"))
	} else {
		errs = append(errs, validateSignerName(spec.Child("signerName"), csr.Spec.SignerName)...)
	}
	if e := csr.Spec.ExpirationSeconds; e != nil && *e < 600 {
		errs = append(errs, field.Invalid(spec.Child("expirationSeconds"), *e, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	errs = append(errs, validateCSRConditions(csr, old)...)
	certChanged := old == nil || !bytes.Equal(csr.Status.Certificate, old.Status.Certificate)
	if certChanged && (old == nil || checkCertificates(old.Status.Certificate) == nil) {
		if err := checkCertificates(csr.Status.Certificate); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("status", "certificate"), "<certificate data>", err.Error()))
		}
	}
	if old == nil {
		return errs
	}

	conds := field.NewPath("status", "conditions")
	for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed} {
		if len(conditionsOf(csr, t)) < len(conditionsOf(old, t)) {
			errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	if subresource != "approval" {
		for _, t := range []certificatesv1.RequestConditionType{certificatesv1.CertificateApproved, certificatesv1.CertificateDenied} {
			now, was := conditionsOf(csr, t), conditionsOf(old, t)
			switch {
			case len(now) < len(was):
				// Refused above.
			case len(now) > len(was):
				errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not add a condition of type %q", t)))
			case !equality.Semantic.DeepEqual(now, was):
				errs = append(errs, field.Forbidden(conds, fmt.Sprintf("updates may not modify a condition of type %q", t)))
			}
		}
	}
	if !bytes.Equal(csr.Status.Certificate, old.Status.Certificate) {
		switch {
		case subresource != "status":
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not set certificate content"))
		case len(old.Status.Certificate) > 0:
			errs = append(errs, field.Forbidden(field.NewPath("status", "certificate"), "updates may not modify existing certificate content"))
		}
	}
	return errs
}

func validateCSRConditions(csr, old *certificatesv1.CertificateSigningRequest) field.ErrorList {
	p := field.NewPath("status", "conditions")
	var errs field.ErrorList
	var bothBefore, dupBefore, emptyBefore bool
	if old != nil {
		bothBefore = len(conditionsOf(old, certificatesv1.CertificateApproved)) > 0 && len(conditionsOf(old, certificatesv1.CertificateDenied)) > 0
		seen := map[certificatesv1.RequestConditionType]bool{}
		for _, c := range old.Status.Conditions {
			dupBefore = dupBefore || seen[c.Type]
			emptyBefore = emptyBefore || c.Type == ""
			seen[c.Type] = true
		}
	}
	seen := map[certificatesv1.RequestConditionType]bool{}
	var approved, denied bool
	for i, c := range csr.Status.Conditions {
		cp := p.Index(i)
		if c.Type == "" && !emptyBefore {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		allowed := []string{"False", "True", "Unknown"}
		switch c.Type {
		case certificatesv1.CertificateApproved, certificatesv1.CertificateDenied, certificatesv1.CertificateFailed:
			allowed = []string{"True"}
		}
		switch {
		case c.Status == "":
			errs = append(errs, field.Required(cp.Child("status"), ""))
		case !contains(allowed, string(c.Status)):
			errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, allowed))
		}
		if !bothBefore {
			switch c.Type {
			case certificatesv1.CertificateApproved:
				approved = true
				if denied {
					errs = append(errs, field.Invalid(cp.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			case certificatesv1.CertificateDenied:
				denied = true
				if approved {
					errs = append(errs, field.Invalid(cp.Child("type"), c.Type, "Approved and Denied conditions are mutually exclusive"))
				}
			}
		}
		if seen[c.Type] && !dupBefore {
			errs = append(errs, field.Duplicate(cp.Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	return errs
}

func conditionsOf(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []certificatesv1.CertificateSigningRequestCondition {
	var out []certificatesv1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, c)
		}
	}
	return out
}

func hasUnknownUsage(us []certificatesv1.KeyUsage) bool {
	for _, u := range us {
		if !contains(csrUsages, string(u)) {
			return true
		}
	}
	return false
}

func hasDuplicateUsage(us []certificatesv1.KeyUsage) bool {
	seen := map[certificatesv1.KeyUsage]bool{}
	for _, u := range us {
		if seen[u] {
			return true
		}
		seen[u] = true
	}
	return false
}

// checkCSRRequest checks that request is a PEM CERTIFICATE REQUEST whose
// signature holds.
func checkCSRRequest(request []byte) error {
	block, _ := pem.Decode(request)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	return req.CheckSignature()
}

// checkCertificates checks a PEM bundle of certificates, as the issued
// certificate of a request: empty, or CERTIFICATE blocks only, without
// headers, each holding a certificate.
func checkCertificates(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	_, err := parseCertificateBlocks(data)
	return err
}

func parseCertificateBlocks(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		block, rest := pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type)
		}
		if len(block.Headers) != 0 {
			return nil, errors.New("no PEM block headers are permitted")
		}
		certs, err := x509.ParseCertificates(block.Bytes)
		if err != nil {
			return nil, err
		}
		if len(certs) == 0 {
			return nil, errors.New("found CERTIFICATE PEM block containing 0 certificates")
		}
		out = append(out, certs...)
		data = rest
	}
	if len(out) == 0 {
		return nil, errors.New("must contain at least one CERTIFICATE PEM block")
	}
	return out, nil
}

// validateSignerName checks a signer name as Kubernetes' ValidateSignerName
// does: a domain of at least two DNS labels, a slash, and a path that is a
// DNS subdomain.
func validateSignerName(p *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || strings.Contains(path, "/") {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	if len(domain) > validation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(p, domain, validation.DNS1123SubdomainMaxLength))
	}
	labels := strings.Split(domain, ".")
	for _, l := range labels {
		if msgs := validation.IsDNS1123Label(l); len(msgs) > 0 {
			for _, msg := range msgs {
				errs = append(errs, field.Invalid(p, domain, fmt.Sprintf("validating label %q: %s", l, msg)))
			}
			break
		}
	}
	if len(labels) < 2 {
		errs = append(errs, field.Invalid(p, domain, "should be a domain with at least two segments separated by dots"))
	}
	if most := validation.DNS1123SubdomainMaxLength + validation.DNS1123LabelMaxLength + 1; len(path) > most {
		errs = append(errs, field.TooLong(p, path, most))
	}
	errs = append(errs, invalidEach(p, path, validation.IsDNS1123Subdomain(path))...)
	return errs
}

func (b *builder) clusterTrustBundles() {
	b.stored(rules(&registry.Resource{
		Group: "certificates.k8s.io", Version: "v1", Kind: "ClusterTrustBundle", Plural: "clustertrustbundles", Singular: "clustertrustbundle",
		New:     func() runtime.Object { return &certificatesv1.ClusterTrustBundle{} },
		NewList: func() runtime.Object { return &certificatesv1.ClusterTrustBundleList{} },
		// The name is checked with the signer name, by validate.
		ValidateName: func(string, bool) []string { return nil },
		AdmitWrite:   b.admitTrustBundle,
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.signerName": obj.(*certificatesv1.ClusterTrustBundle).Spec.SignerName}
		},
		Columns: []metav1.TableColumnDefinition{
			col("SignerName", "string", certificatesv1.ClusterTrustBundleSpec{}.SwaggerDoc()["signerName"]),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*certificatesv1.ClusterTrustBundle)
			signer := "<none>"
			if c.Spec.SignerName != "" {
				signer = c.Spec.SignerName
			}
			return []any{signer, b.age(c)}
		},
	}, validateClusterTrustBundle, func(c, o *certificatesv1.ClusterTrustBundle) []change {
		return []change{{"spec.signerName", c.Spec.SignerName, o.Spec.SignerName}}
	}))
}

// validateClusterTrustBundle checks what Kubernetes' validation checks: a
// bundle with a signer is named with the signer's prefix (slashes as
// colons), one without has no colon in its name, and the trust bundle is
// one or more distinct PEM certificates of certificate authorities.
func validateClusterTrustBundle(c *certificatesv1.ClusterTrustBundle) field.ErrorList {
	var errs field.ErrorList
	name := field.NewPath("metadata", "name")
	rest := c.Name
	if c.Spec.SignerName != "" {
		prefix := strings.ReplaceAll(c.Spec.SignerName, "/", ":") + ":"
		if !strings.HasPrefix(c.Name, prefix) {
			errs = append(errs, field.Invalid(name, c.Name, fmt.Sprintf("ClusterTrustBundle for signerName %s must be named with prefix %s", c.Spec.SignerName, prefix)))
		}
		rest = strings.TrimPrefix(c.Name, prefix)
		errs = append(errs, validateSignerName(field.NewPath("spec", "signerName"), c.Spec.SignerName)...)
	} else if strings.Contains(c.Name, ":") {
		errs = append(errs, field.Invalid(name, c.Name, "ClusterTrustBundle without signer name must not have \":\" in its name"))
	}
	errs = append(errs, invalidEach(name, c.Name, validation.IsDNS1123Subdomain(rest))...)
	return append(errs, validateTrustBundle(field.NewPath("spec", "trustBundle"), c.Spec.TrustBundle)...)
}

// validateTrustBundle checks a trust bundle as Kubernetes does: PEM
// CERTIFICATE blocks without headers, each of a certificate authority,
// none twice, at least one.
func validateTrustBundle(p *field.Path, bundle string) field.ErrorList {
	if len(bundle) > 1024*1024 {
		return field.ErrorList{field.TooLong(p, "", 1024*1024)}
	}
	var errs field.ErrorList
	indices := map[string][]int{}
	var order []string
	rest := []byte(bundle)
	for i := 0; ; i++ {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		bad := func(format string, args ...any) {
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf(format, args...)))
		}
		if block.Type != "CERTIFICATE" {
			bad("entry %d has bad block type: %v", i, block.Type)
			continue
		}
		if len(block.Headers) != 0 {
			bad("entry %d has PEM block headers", i)
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		switch {
		case err != nil:
			bad("entry %d does not parse as X.509", i)
			continue
		case !cert.IsCA:
			bad("entry %d does not have the CA bit set", i)
			continue
		case !cert.BasicConstraintsValid:
			bad("entry %d has invalid basic constraints", i)
			continue
		}
		if _, ok := indices[string(block.Bytes)]; !ok {
			order = append(order, string(block.Bytes))
		}
		indices[string(block.Bytes)] = append(indices[string(block.Bytes)], i)
	}
	if len(errs) > 0 {
		// Malformed entries say enough.
		return errs
	}
	if len(order) == 0 {
		errs = append(errs, field.Invalid(p, "<value omitted>", "at least one trust anchor must be provided"))
	}
	for _, der := range order {
		if is := indices[der]; len(is) > 1 {
			errs = append(errs, field.Invalid(p, "<value omitted>", fmt.Sprintf("duplicate trust anchor (indices %v)", is)))
		}
	}
	return errs
}

package kinds

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
)

// admitCSR is the AdmitWrite of certificate signing requests, as
// kube-apiserver's CertificateSubjectRestriction, CertificateApproval and
// CertificateSigning admission: nobody asks the kube-apiserver-client
// signer for a certificate in system:masters; a write of /approval needs
// approve, and a write of /status that sets the certificate needs sign, on
// the request's signer (certificates.k8s.io signers, by name or by its
// domain's wildcard "domain/*"). A refusal is 403.
func (b *builder) admitCSR(ctx context.Context, obj, old runtime.Object) error {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	gr := b.cat.Stores["certificates.k8s.io/certificatesigningrequests"].Resource.GroupResource()
	if old == nil {
		if csr.Spec.SignerName == "kubernetes.io/kube-apiserver-client" && requestsMasters(csr.Spec.Request) {
			return apierrors.NewForbidden(gr, csr.Name, errors.New("use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"))
		}
		return nil
	}
	switch registry.SubresourceOf(ctx) {
	case "approval":
		return b.checkSigner(ctx, gr, csr.Name, "approve", csr.Spec.SignerName, "user not permitted to approve requests with signerName %q")
	case "status":
		if string(csr.Status.Certificate) != string(old.(*certificatesv1.CertificateSigningRequest).Status.Certificate) {
			return b.checkSigner(ctx, gr, csr.Name, "sign", csr.Spec.SignerName, "user not permitted to sign requests with signerName %q")
		}
	}
	return nil
}

// admitTrustBundle is the AdmitWrite of cluster trust bundles, as
// kube-apiserver's ClusterTrustBundleAttest admission: writing a bundle
// for a signer needs attest on it, unless the update leaves the signer and
// the bundle as they were.
func (b *builder) admitTrustBundle(ctx context.Context, obj, old runtime.Object) error {
	c := obj.(*certificatesv1.ClusterTrustBundle)
	if c.Spec.SignerName == "" {
		return nil
	}
	if o, ok := old.(*certificatesv1.ClusterTrustBundle); ok && o.Spec == c.Spec {
		return nil
	}
	gr := b.cat.Stores["certificates.k8s.io/clustertrustbundles"].Resource.GroupResource()
	return b.checkSigner(ctx, gr, c.Name, "attest", c.Spec.SignerName, "user not permitted to attest for signerName %q")
}

// checkSigner asks the authorizer whether the request's user may verb on
// signer, by its name or its domain's wildcard. Writes without a user (the
// server's own) and a catalogue without an authorizer pass.
func (b *builder) checkSigner(ctx context.Context, gr schema.GroupResource, name, verb, signer, refusal string) error {
	u, ok := auth.UserFrom(ctx)
	if !ok || b.authz == nil {
		return nil
	}
	names := []string{signer}
	if domain, _, ok := strings.Cut(signer, "/"); ok {
		names = append(names, domain+"/*")
	}
	for _, n := range names {
		d, err := b.authz.Authorize(ctx, auth.Attributes{
			User: u, Verb: verb, APIGroup: "certificates.k8s.io", Resource: "signers", Name: n, ResourceRequest: true,
		})
		if err != nil {
			return err
		}
		if d.Allowed {
			return nil
		}
	}
	return apierrors.NewForbidden(gr, name, fmt.Errorf(refusal, signer))
}

// requestsMasters reports a PEM certificate request whose subject names
// the system:masters organization.
func requestsMasters(request []byte) bool {
	block, _ := pem.Decode(request)
	if block == nil {
		return false
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	return err == nil && slices.Contains(req.Subject.Organization, auth.GroupMasters)
}

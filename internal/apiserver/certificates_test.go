package apiserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/servertest"
)

// TestCertificateSigningRequests: a request records who sent it, whatever
// it says; /approval approves or denies, never both; /status may add the
// certificate and a Failed condition but not approve; an update of the
// object changes neither the request nor its status; kubectl's columns.
func TestCertificateSigningRequests(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	request := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})

	cfg := srv.RestConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "alice", UID: "alice-uid", Groups: []string{"devs", "system:masters"}}
	asAlice, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	csrs := srv.Clientset().CertificatesV1().CertificateSigningRequests()
	newCSR := func(name string) *certificatesv1.CertificateSigningRequest {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request: request, SignerName: "example.com/signer", Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
				Username: "mallory", Groups: []string{"evil"},
			},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{
				{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue},
			}},
		}
	}

	csr, err := asAlice.CertificatesV1().CertificateSigningRequests().Create(ctx, newCSR("alice"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Username != "alice" || csr.Spec.UID != "alice-uid" || !slices.Contains(csr.Spec.Groups, "devs") || slices.Contains(csr.Spec.Groups, "evil") {
		t.Errorf("requester: %q %q %v, want alice as she was authenticated", csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups)
	}
	if len(csr.Status.Conditions) != 0 {
		t.Errorf("a new request has conditions: %+v", csr.Status.Conditions)
	}

	bad := newCSR("bad")
	bad.Spec.Request = []byte("not a request")
	bad.Spec.SignerName = "signer"
	if _, err := csrs.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "spec.request: Invalid value") || !strings.Contains(err.Error(), "PEM block type must be CERTIFICATE REQUEST") ||
		!strings.Contains(err.Error(), "must be a fully qualified domain and path of the form 'example.com/signer-name'") {
		t.Errorf("a bad request: %v, want 422 naming the request and the signer name", err)
	}

	// An update of the object keeps the request and the status.
	csr.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	csr.Labels = map[string]string{"a": "b"}
	csr, err = csrs.Update(ctx, csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Usages[0] != certificatesv1.UsageClientAuth || len(csr.Status.Conditions) != 0 || csr.Labels["a"] != "b" {
		t.Errorf("update of the object: usages %v conditions %v labels %v, want only the labels changed", csr.Spec.Usages, csr.Status.Conditions, csr.Labels)
	}

	// /status may not approve.
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	if _, err := csrs.UpdateStatus(ctx, csr, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `updates may not add a condition of type "Approved"`) {
		t.Errorf("approval through /status: %v, want 422", err)
	}

	// /approval may not approve and deny at once.
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{
		{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue},
		{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue},
	}
	if _, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Approved and Denied conditions are mutually exclusive") {
		t.Errorf("approved and denied: %v, want 422", err)
	}

	// /approval approves, and keeps the metadata it was sent, as
	// kube-apiserver does (the upstream conformance test patches an
	// annotation through it).
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"}}
	csr.Labels = map[string]string{"a": "c"}
	approved, err := csrs.UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(approved.Status.Conditions) != 1 || approved.Status.Conditions[0].LastUpdateTime.IsZero() || approved.Status.Conditions[0].LastTransitionTime.IsZero() || approved.Labels["a"] != "c" {
		t.Errorf("approved: conditions %+v labels %v", approved.Status.Conditions, approved.Labels)
	}

	// GET of /approval answers the request, as of /status.
	resp, err := srv.HTTPClient().Do(srv.Request("GET", "/apis/certificates.k8s.io/v1/certificatesigningrequests/alice/approval", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /approval: %d", resp.StatusCode)
	}

	// /status keeps the approval as it was, and takes other conditions.
	approved.Status.Conditions[0].Message = "changed"
	approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{Type: "Checked", Status: corev1.ConditionTrue})
	approved, err = csrs.UpdateStatus(ctx, approved, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(approved.Status.Conditions) != 2 || approved.Status.Conditions[0].Message != "" || approved.Status.Conditions[1].Type != "Checked" {
		t.Errorf("status update: conditions %+v, want the approval unchanged and Checked added", approved.Status.Conditions)
	}

	// The signer issues the certificate through /status, once.
	approved.Status.Certificate = selfSigned(t, key)
	issued, err := csrs.UpdateStatus(ctx, approved, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	issued.Status.Certificate = selfSigned(t, key)
	if _, err := csrs.UpdateStatus(ctx, issued, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "updates may not modify existing certificate content") {
		t.Errorf("replacing the certificate: %v, want 422", err)
	}
	// Nobody takes an approval back.
	issued, _ = csrs.Get(ctx, csr.Name, metav1.GetOptions{})
	issued.Status.Conditions = nil
	if _, err := csrs.UpdateApproval(ctx, csr.Name, issued, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `updates may not remove a condition of type "Approved"`) {
		t.Errorf("removing the approval: %v, want 422", err)
	}

	tab := tableOf(t, srv, "/apis/certificates.k8s.io/v1/certificatesigningrequests")
	if got := columns(tab); got != "Name Age SignerName Requestor RequestedDuration Condition" {
		t.Errorf("columns: %s", got)
	}
	if len(tab.Rows) != 1 || !strings.HasSuffix(cells(tab.Rows[0]), "example.com/signer | alice | <none> | Approved,Issued") {
		t.Errorf("rows: %+v", tab.Rows)
	}
}

// selfSigned is a certificate for key, as a signer would issue it.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: n, Subject: pkix.Name{CommonName: "alice"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestPodCertificateRequests: a kubelet's request is checked (its stub
// request is signed by its key), defaulted to a day, immutable, and
// issued once through /status with a certificate for its key whose times
// the status repeats.
func TestPodCertificateRequests(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	pcrs := srv.Clientset().CertificatesV1().PodCertificateRequests("default")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stub, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	newPCR := func(name string) *certificatesv1.PodCertificateRequest {
		return &certificatesv1.PodCertificateRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.PodCertificateRequestSpec{
				SignerName: "example.com/pods", PodName: "p", PodUID: "pod-uid", ServiceAccountName: "default", ServiceAccountUID: "sa-uid",
				NodeName: "node-1", NodeUID: "node-uid", StubPKCS10Request: stub,
			},
		}
	}
	short := newPCR("short")
	short.Spec.MaxExpirationSeconds = new(int32)
	*short.Spec.MaxExpirationSeconds = 60
	short.Spec.StubPKCS10Request = []byte("junk")
	if _, err := pcrs.Create(ctx, short, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), "must be in the range [3600, 7862400]") || !strings.Contains(err.Error(), "spec.stubPKCS10Request: Invalid value") {
		t.Errorf("a short-lived request with a bad stub: %v, want 422", err)
	}
	pcr, err := pcrs.Create(ctx, newPCR("p"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pcr.Spec.MaxExpirationSeconds == nil || *pcr.Spec.MaxExpirationSeconds != 86400 {
		t.Errorf("maxExpirationSeconds defaults to %v, want 86400", pcr.Spec.MaxExpirationSeconds)
	}
	pcr.Spec.PodName = "other"
	if _, err := pcrs.Update(ctx, pcr, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec: Invalid value") {
		t.Errorf("changing the spec: %v, want 422", err)
	}
	pcr.Spec.PodName = "p"

	// A certificate for another key is refused.
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(certKey *ecdsa.PrivateKey) *certificatesv1.PodCertificateRequest {
		now := time.Now().Truncate(time.Second)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now, NotAfter: now.Add(2 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
		if err != nil {
			t.Fatal(err)
		}
		out := pcr.DeepCopy()
		nb, na, refresh := metav1.NewTime(now), metav1.NewTime(now.Add(2*time.Hour)), metav1.NewTime(now.Add(time.Hour))
		out.Status = certificatesv1.PodCertificateRequestStatus{
			Conditions:       []metav1.Condition{{Type: "Issued", Status: metav1.ConditionTrue, Reason: "Issued", LastTransitionTime: nb}},
			CertificateChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			NotBefore:        &nb, NotAfter: &na, BeginRefreshAt: &refresh,
		}
		return out
	}
	if _, err := pcrs.UpdateStatus(ctx, issue(other), metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "leaf certificate was not issued to the requested public key") {
		t.Errorf("a certificate for another key: %v, want 422", err)
	}
	issued, err := pcrs.UpdateStatus(ctx, issue(key), metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("issuing: %v", err)
	}
	issued.Status.Conditions[0].Type = "Denied"
	issued.Status.CertificateChain, issued.Status.NotBefore, issued.Status.NotAfter, issued.Status.BeginRefreshAt = "", nil, nil, nil
	if _, err := pcrs.UpdateStatus(ctx, issued, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "immutable after PodCertificateRequest is issued, denied, or failed") {
		t.Errorf("denying an issued request: %v, want 422", err)
	}
}

// TestCertificateSignerAdmission: approving a request needs approve on its
// signer, by name or domain wildcard, besides RBAC on /approval; issuing
// needs sign; and nobody asks kube-apiserver-client for system:masters.
func TestCertificateSignerAdmission(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Profile = "kubernetes" })
	ctx := t.Context()
	admin := srv.Clientset()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	request := func(org string) []byte {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "c", Organization: []string{org}}}, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	}
	csrs := admin.CertificatesV1().CertificateSigningRequests()
	_, err = csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "masters"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: request("system:masters"), SignerName: "kubernetes.io/kube-apiserver-client", Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed") {
		t.Errorf("a request for system:masters: %v, want 403", err)
	}
	csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: request("devs"), SignerName: "example.com/signer", Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// bob may write /approval and /status, and nothing of signers yet.
	rbac := admin.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "csr-writer"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"certificatesigningrequests", "certificatesigningrequests/approval", "certificatesigningrequests/status"}, Verbs: []string{"get", "update"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(role string) {
		if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "bob"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	bind("csr-writer")
	cfg := srv.RestConfig()
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
	bob, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	csr.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue}}
	if _, err := bob.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `user not permitted to approve requests with signerName "example.com/signer"`) {
		t.Errorf("approval without approve on the signer: %v, want 403", err)
	}
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "approver"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"}, ResourceNames: []string{"example.com/*"}, Verbs: []string{"approve"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind("approver")
	approved, err := bob.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, csr.Name, csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("approval with approve on example.com/*: %v", err)
	}
	approved.Status.Certificate = selfSigned(t, key)
	if _, err := bob.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, approved, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), `user not permitted to sign requests with signerName "example.com/signer"`) {
		t.Errorf("issuing without sign on the signer: %v, want 403", err)
	}
}

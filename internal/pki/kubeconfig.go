package pki

import (
	"fmt"
	"net/url"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"cella.dev/cella/internal/atomicfile"
)

// KubeconfigName names the cluster and context WriteKubeconfig writes, and
// the user entry when no user name is given.
const KubeconfigName = "cella"

// WriteKubeconfig writes a kubeconfig (mode 0600, replacing any file at
// path) whose current context "cella" connects to serverURL as user with
// the bearer token. A file that already holds exactly these bytes with mode
// 0600 is left alone, so a server restarting on a full disk with the same
// address writes nothing. The cluster and context are named "cella"; the user
// entry is named user, or "cella" when user is empty, so that
// `kubectl config view` says who the file speaks for.
//
// caPEM is the CA that signed the server's certificate. Nil means no CA is
// written: right for a plain-http serverURL, and for an https one whose
// certificate the system trusts.
//
// Over plain http, client-go (and so kubectl) sends no credentials at all:
// clientcmd applies a kubeconfig's user only to TLS connections. The token is
// still written, for other clients, but a plain-http server must accept
// unauthenticated requests to be usable from this kubeconfig.
func WriteKubeconfig(path, serverURL string, caPEM []byte, user, token string) error {
	u, err := url.Parse(serverURL)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig: server URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("pki: kubeconfig: server URL %q: want http(s)://host[:port]", serverURL)
	}
	if token == "" {
		return fmt.Errorf("pki: kubeconfig: empty token")
	}
	if user == "" {
		user = KubeconfigName
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[KubeconfigName] = &clientcmdapi.Cluster{Server: serverURL, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[KubeconfigName] = &clientcmdapi.Context{Cluster: KubeconfigName, AuthInfo: user}
	cfg.CurrentContext = KubeconfigName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("pki: kubeconfig: %w", err)
	}
	if sameFile(path, data, 0o600) {
		return nil
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("pki: kubeconfig: %w", err)
	}
	return nil
}

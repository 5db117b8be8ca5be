package bench

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// RestConfigFromKubeconfig loads a client config the way kubectl does.
// path "" means $KUBECONFIG (a list of files), else ~/.kube/config;
// kubeContext "" means the kubeconfig's current context.
func RestConfigFromKubeconfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: kubeContext}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return rc, nil
}

// client is the clientset every worker and watcher of a run shares, over
// one transport.
type client struct {
	cs    kubernetes.Interface
	proto *protoRecorder
}

// newClient builds the run's clientset. It builds the transport itself,
// rather than letting client-go pick one from its cache, for two reasons:
// client-go's keeps 25 idle connections per host, fewer than an HTTP/1.1
// run with many workers and watchers holds, and the HTTP/2 choice should
// be made here, in the open. Authentication and TLS still come from rc,
// through the functions client-go exports for this.
func newClient(rc *rest.Config, cfg *Config) (*client, error) {
	if rc.Transport != nil {
		return nil, errors.New("bench: the rest config has its own Transport; give TLS settings instead, so bench can build the shared transport")
	}
	rc = rest.CopyConfig(rc)
	rc.QPS = -1 // no client-side rate limit
	rc.RateLimiter = nil

	tlsConfig, err := rest.TLSConfigFor(rc) // nil for plain HTTP and for system roots
	if err != nil {
		return nil, err
	}
	dial := rc.Dial
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	proxy := rc.Proxy
	if proxy == nil {
		proxy = http.ProxyFromEnvironment // skips loopback addresses
	}
	// Every worker and every watch may hold a connection at once (HTTP/1.1).
	conns := cfg.Concurrency + cfg.Watchers + 1
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(!cfg.HTTP1) // over TLS only, chosen by ALPN
	base := &http.Transport{
		Proxy:               proxy,
		DialContext:         dial,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &protocols,
	}
	proto := &protoRecorder{next: base}
	rt, err := rest.HTTPWrappersForConfig(rc, proto) // auth, user agent, impersonation
	if err != nil {
		return nil, err
	}
	// No http.Client.Timeout: it would end watches. Requests get a context
	// deadline instead (requestTimeout).
	cs, err := kubernetes.NewForConfigAndClient(rc, &http.Client{Transport: rt})
	if err != nil {
		return nil, err
	}
	return &client{cs: cs, proto: proto}, nil
}

// protocol is the protocol of the first response, e.g. "HTTP/2.0", or
// "unknown" before any.
func (c *client) protocol() string {
	if p := c.proto.first.Load(); p != nil {
		return *p
	}
	return "unknown"
}

// protoRecorder notes the protocol of the first response it passes on.
type protoRecorder struct {
	next  http.RoundTripper
	first atomic.Pointer[string]
}

func (p *protoRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(req)
	if err == nil && p.first.Load() == nil {
		proto := resp.Proto
		p.first.CompareAndSwap(nil, &proto)
	}
	return resp, err
}

// WrappedRoundTripper returns the transport underneath, as client-go's
// own wrappers do (k8s.io/apimachinery/pkg/util/net.RoundTripperWrapper).
func (p *protoRecorder) WrappedRoundTripper() http.RoundTripper { return p.next }

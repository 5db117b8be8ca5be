package apiserver

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/registry"
)

// The forward proxy into the instance network. A client that points its
// HTTP proxy at the API server reaches pods by their addresses:
//
//	CONNECT 127.1.0.5:8080 HTTP/1.1              a tunnel (200, then bytes)
//	GET http://127.1.0.5:8080/path HTTP/1.1       one request, passed on
//	GET http://web.default.svc:80/path HTTP/1.1   a ready pod of a service
//
// A target is a pod IP, a service's ClusterIP, or a service name
// NAME.NS.svc or NAME.NS.svc.cluster.local; a service's port is one of its
// ports, and the pod is dialled on that port's targetPort. Nothing else is
// reached: the proxy never dials an address it did not find in the API,
// so it is not a way out to the machine's network or the internet.
//
// Credentials are Proxy-Authorization: Bearer TOKEN, the tokens of the
// API (Authorization belongs to the target and is passed on untouched);
// without valid ones the answer is 407 with Proxy-Authenticate (the
// authentication step, server.go). The caller must be allowed get on
// pods/proxy of the pod (services/proxy of the service for a service
// address). An address that is neither a pod's nor a service's, or one the
// caller may not reach, is 403 with one message for both, so the proxy
// tells a caller nothing about pods it may not see; a service name it may
// reach but that does not exist is 404, one without a ready pod 503. A pod
// that refuses or answers garbage is 502, one too slow 504, as for
// pods/proxy.

// isForwardProxyRequest reports a request for the forward proxy: CONNECT,
// or a request whose target is in absolute form with the http scheme
// (RFC 9112 3.2.2) naming a host other than the address the request came
// in on (a client may send absolute form to the server itself).
func isForwardProxyRequest(r *http.Request) bool {
	if r.Method == http.MethodConnect {
		return true
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" || r.ProtoMajor != 1 {
		return false
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && local.String() == hostPort(r.URL.Host, "80") {
		return false
	}
	return true
}

// hostPort adds def as the port of hostport when it has none.
func hostPort(hostport, def string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), def)
}

// proxyAuthenticate authenticates a forward-proxy request by its
// Proxy-Authorization header, the way the API's Authorization is
// authenticated; the header goes no further. False is the 407.
func (s *Server) proxyAuthenticate(r *http.Request) (*http.Request, bool) {
	if s.cfg.Authenticator == nil {
		return r.WithContext(auth.WithUser(r.Context(), auth.User{Name: auth.AdminUser, Groups: []string{auth.GroupMasters, auth.GroupAuthenticated}})), true
	}
	cred := r.Header.Get("Proxy-Authorization")
	r.Header.Del("Proxy-Authorization")
	if cred == "" {
		return r, false
	}
	// The authenticator reads credentials from Authorization: show it
	// the proxy's, and nothing else of the request.
	probe := &http.Request{Header: http.Header{"Authorization": {cred}}}
	u, ok, err := s.cfg.Authenticator.Authenticate(probe.WithContext(r.Context()))
	if err != nil || !ok {
		return r, false
	}
	return r.WithContext(auth.WithUser(r.Context(), u)), true
}

// errProxyAuthRequired is the 407 of a forward-proxy request without
// valid Proxy-Authorization.
func errProxyAuthRequired() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusProxyAuthRequired, Reason: metav1.StatusReasonUnauthorized,
		Message: "Proxy Authentication Required: send Proxy-Authorization: Bearer with an API token",
	}}
}

// withForwardProxy serves forward-proxy requests (already authenticated)
// and passes every other request on.
func (s *Server) withForwardProxy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isForwardProxyRequest(r) {
			next.ServeHTTP(w, r)
			return
		}
		if err := s.serveForwardProxy(w, r); err != nil {
			s.errs.Write(w, r, err)
		}
	})
}

// serveForwardProxy answers one forward-proxy request; see the comment at
// the top of the file.
func (s *Server) serveForwardProxy(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable("this server runs no pods (started with --runtime none): there is nothing to proxy to")
	}
	target := r.URL.Host
	if r.Method == http.MethodConnect {
		target = r.Host
		if r.ProtoMajor != 1 {
			return apierrors.NewBadRequest(fmt.Sprintf("CONNECT needs HTTP/1.1, not %s: dial with ALPN http/1.1", r.Proto))
		}
		if _, _, err := net.SplitHostPort(target); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("CONNECT %q: the target must be host:port", target))
		}
	}
	t, err := s.forwardTarget(r, hostPort(target, "80"))
	if err != nil {
		return err
	}
	if r.Method == http.MethodConnect {
		return s.tunnel(w, r, t)
	}
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	rp := s.reverseProxy(t, "", path)
	// The target is addressed in the URL: no path of the API's to put
	// back in front of a Location.
	rp.ModifyResponse = nil
	rp.ServeHTTP(w, r)
	return nil
}

// forwardTarget finds the pod that hostport names and checks that the
// caller may reach it.
func (s *Server) forwardTarget(r *http.Request, hostport string) (*proxyTarget, error) {
	ctx := r.Context()
	host, portStr, _ := net.SplitHostPort(hostport)
	p, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || p == 0 {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid port %q in %q: must be a number from 1 to 65535", portStr, hostport))
	}
	port := int32(p)
	refused := apierrors.NewForbidden(podsProxy, "", fmt.Errorf("the forward proxy reaches only the pods and services of this cluster that the user may proxy to, and %s is not one", hostport))
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if pod, err := s.podByIP(ctx, ip.String()); err != nil {
			return nil, err
		} else if pod != nil {
			if ok, err := s.mayProxy(r, "pods", pod.Namespace, pod.Name); err != nil || !ok {
				return nil, orErr(err, refused)
			}
			return &proxyTarget{pod: pod, port: port, scheme: "http", desc: "pod " + pod.Name}, nil
		}
		svc, err := s.serviceByClusterIP(ctx, ip.String())
		if err != nil {
			return nil, err
		}
		if svc == nil {
			return nil, refused
		}
		if ok, err := s.mayProxy(r, "services", svc.Namespace, svc.Name); err != nil || !ok {
			return nil, orErr(err, refused)
		}
		return s.serviceTarget(ctx, svc, port)
	}
	name, ns, ok := serviceDNSName(host)
	if !ok {
		return nil, refused
	}
	if ok, err := s.mayProxy(r, "services", ns, name); err != nil {
		return nil, err
	} else if !ok {
		u, _ := auth.UserFrom(ctx)
		return nil, apierrors.NewForbidden(servicesProxy, name, fmt.Errorf("User %q cannot get resource %q in API group %q in the namespace %q", u.Name, "services/proxy", "", ns))
	}
	svc, err := s.getService(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return s.serviceTarget(ctx, svc, port)
}

// The resources the forward proxy's 403 and 404 name.
var (
	podsProxy     = schema.GroupResource{Resource: "pods/proxy"}
	servicesProxy = schema.GroupResource{Resource: "services/proxy"}
)

func orErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// serviceTarget is a ready pod of svc behind its port numbered port.
func (s *Server) serviceTarget(ctx context.Context, svc *corev1.Service, port int32) (*proxyTarget, error) {
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port && (svc.Spec.Ports[i].Protocol == "" || svc.Spec.Ports[i].Protocol == corev1.ProtocolTCP) {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return nil, apierrors.NewNotFound(servicesProxy, fmt.Sprintf("%s:%d", svc.Name, port))
	}
	pod, target, err := s.serviceEndpoint(ctx, svc, sp)
	if err != nil {
		return nil, err
	}
	return &proxyTarget{pod: pod, port: target, scheme: "http", desc: fmt.Sprintf("service %q", svc.Name)}, nil
}

// serviceDNSName reads NAME.NS.svc and NAME.NS.svc.cluster.local.
func serviceDNSName(host string) (name, namespace string, ok bool) {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	host, ok = strings.CutSuffix(host, ".svc.cluster.local")
	if !ok {
		if host, ok = strings.CutSuffix(host, ".svc"); !ok {
			return "", "", false
		}
	}
	name, namespace, ok = strings.Cut(host, ".")
	if !ok || name == "" || namespace == "" || strings.Contains(namespace, ".") {
		return "", "", false
	}
	return name, namespace, true
}

// podByIP is the pod that has ip and can be dialled (bound, not being
// deleted), or nil.
func (s *Server) podByIP(ctx context.Context, ip string) (*corev1.Pod, error) {
	var found *corev1.Pod
	err := s.findPods(ctx, "", registry.ListOptions{Fields: fields.OneTermEqualSelector("status.podIP", ip)}, func(p *corev1.Pod) bool {
		if found == nil && p.DeletionTimestamp == nil && p.Spec.NodeName != "" && p.Status.PodIP == ip {
			found = p
		}
		return found != nil
	})
	return found, err
}

// serviceByClusterIP is the service whose ClusterIP is ip, or nil. Like
// findPods it reads the watch cache, then storage when the cache has none.
func (s *Server) serviceByClusterIP(ctx context.Context, ip string) (*corev1.Service, error) {
	st := s.coreStore("services")
	if st == nil {
		return nil, nil
	}
	for _, rv := range []string{"0", ""} {
		res, err := st.List(ctx, "", registry.ListOptions{ResourceVersion: rv, Fields: fields.OneTermEqualSelector("spec.clusterIP", ip)})
		if err != nil {
			return nil, err
		}
		for _, it := range res.Items {
			obj, err := st.Decode(it.JSON)
			if err != nil {
				return nil, err
			}
			if svc, ok := obj.(*corev1.Service); ok && svc.Spec.ClusterIP == ip {
				return svc, nil
			}
		}
	}
	return nil, nil
}

// mayProxy reports whether the caller may get resource/proxy of name in
// namespace.
func (s *Server) mayProxy(r *http.Request, resource, namespace, name string) (bool, error) {
	if s.cfg.Authorizer == nil {
		return true, nil
	}
	u, _ := auth.UserFrom(r.Context())
	d, err := s.cfg.Authorizer.Authorize(r.Context(), auth.Attributes{
		User: u, Verb: "get", ResourceRequest: true,
		Resource: resource, Subresource: "proxy", Namespace: namespace, Name: name,
	})
	if err != nil {
		return false, authorizationFailed(err)
	}
	return d.Allowed, nil
}

// tunnel answers CONNECT: it dials the pod, then answers 200 and copies
// bytes both ways until both sides are done. A pod that cannot be dialled
// is answered as pods/proxy answers it (502, 504).
func (s *Server) tunnel(w http.ResponseWriter, r *http.Request, t *proxyTarget) error {
	ctx, cancel := context.WithTimeout(r.Context(), orDefault(s.cfg.ProxyTimeout, defaultProxyTimeout))
	pc, err := s.cfg.Pods.DialPod(ctx, t.pod, t.port)
	cancel()
	if err != nil {
		return proxyError(r.Context(), t.desc, err)
	}
	defer pc.Close()
	if !s.streams.add() {
		return apierrors.NewServiceUnavailable("the server is shutting down")
	}
	defer s.streams.done()
	cc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return fmt.Errorf("apiserver: CONNECT: %w", err)
	}
	defer cc.Close()
	if _, err := io.WriteString(cc, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return nil
	}
	sctx, stop := s.streamContext(context.Background())
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// What the client sent after the request head is in brw.
		_, _ = io.Copy(pc, brw.Reader)
		closeWrite(pc)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(cc, pc)
		closeWrite(cc)
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		// Shutdown: cut both sides, which ends both copies.
		_ = pc.Close()
		_ = cc.Close()
		<-done
	}
	return nil
}

// closeWrite half-closes c when it can, and closes it otherwise.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

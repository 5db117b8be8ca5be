package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"cella.dev/cella/internal/admission"
	"cella.dev/cella/internal/apis"
	"cella.dev/cella/internal/apiserver"
	"cella.dev/cella/internal/apiserver/filters"
	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/controller/eventttl"
	"cella.dev/cella/internal/controller/gc"
	"cella.dev/cella/internal/controller/namespace"
	"cella.dev/cella/internal/controller/quota"
	"cella.dev/cella/internal/controller/serviceaccount"
	"cella.dev/cella/internal/controller/volume"
	"cella.dev/cella/internal/crd"
	"cella.dev/cella/internal/metrics"
	"cella.dev/cella/internal/netutil"
	"cella.dev/cella/internal/openapi"
	"cella.dev/cella/internal/pki"
	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/kinds"
	"cella.dev/cella/internal/storage"
	"cella.dev/cella/internal/storage/bolt"
	"cella.dev/cella/internal/watchcache"
)

// Version is Cella's version, reported by /version.
var Version = version.Info{
	Major: "1", Minor: "37", GitVersion: "v1.37.0-cella", GoVersion: "go1.26", Compiler: "gc", Platform: "linux/amd64",
}

// Server is a running Cella: storage open, API listening.
type Server struct {
	cfg *Config
	log *slog.Logger
	api *apiserver.Server
	// crds serves the custom resources of the stored definitions.
	crds *crd.Manager
	http *http.Server
	ln   net.Listener
	// store is the backend as configured (wrapped by Config.WrapStorage
	// when set), without the per-call time limit the caches see.
	store  storage.Interface
	drain  *filters.Drain
	caches []*watchcache.Cache
	ready  atomic.Bool
	served chan error
	once   sync.Once
	// stopControllers ends the controllers; controllers joins them.
	stopControllers context.CancelFunc
	controllersCtx  context.Context
	// loopConns are the controllers' connections to the API; Close
	// closes them once the controllers stop.
	loopConns   netutil.ConnSet
	controllers sync.WaitGroup
	// runtime runs pods (nil with --runtime none); pods is the API
	// server's way to the node agent (pods.go).
	runtime podruntime.Runtime
	pods    podConnector
	// issuer signs service account tokens (serviceaccounts.go).
	issuer *auth.TokenIssuer

	// backend is the bolt store under store; dataDir holds the data
	// directory's lock until closeStorage.
	backend *bolt.Store
	dataDir *dataDir

	// URL is the base URL clients use, e.g. https://127.0.0.1:6443.
	URL string
	// Token is the admin bearer token.
	Token string
	// CAPEM is the CA certificate clients trust (nil without TLS).
	CAPEM []byte
	// Kubeconfig is the path of the written kubeconfig.
	Kubeconfig string
}

// Start opens storage, builds the API and starts serving. Close stops it.
func Start(ctx context.Context, cfg *Config, log *slog.Logger) (srv *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, served: make(chan error, 1), drain: filters.NewDrain()}
	defer func() {
		if err != nil {
			s.closeStorage()
		}
	}()

	// datadir.go: the lock, the permission warning, a lost store refused.
	if s.dataDir, err = openDataDir(cfg.DataDir, log); err != nil {
		return nil, err
	}
	backend, err := s.dataDir.openStore(log.With("component", "storage"))
	if err != nil {
		return nil, err
	}
	s.backend, s.store = backend, backend
	if cfg.WrapStorage != nil {
		s.store = cfg.WrapStorage(backend)
	}
	bounded := storage.WithTimeout(s.store, cfg.StorageTimeout)
	storeOf := func(prefix string) (storage.Interface, error) {
		c, err := watchcache.New(bounded, prefix, watchcache.Options{
			History: cfg.WatchHistory, HistoryBytes: cfg.WatchHistoryBytes, WatchBufferBytes: cfg.WatchBufferBytes,
			Logger: log.With("component", "watchcache", "prefix", prefix),
		})
		if err != nil {
			return nil, err
		}
		s.caches = append(s.caches, c)
		// Bounded above the cache too: a read that waits for the cache
		// to catch up with storage that is gone gives up in time as well.
		return storage.WithTimeout(c, cfg.StorageTimeout), nil
	}
	var policy rbacPolicy
	cat, err := kinds.Build(kinds.Config{
		Profile:  kinds.Profile(cfg.Profile),
		RunsPods: cfg.Runtime != "none",
		Logger:   log.With("component", "registry"),
		Admission: func(cat *kinds.Catalog) registry.Admission {
			return admission.NewQuota(cat.Store("", "resourcequotas"), log.With("component", "quota-admission")).Admit
		},
		PolicyAdmission: policy.admission,
		// PolicyAdmission has made the authorizer by the time Build
		// calls this.
		Authorizer: func(*kinds.Catalog) auth.Authorizer { return policy.authz },
		LimitRanger: func(cat *kinds.Catalog) kinds.LimitRanger {
			return admission.NewLimitRanger(cat.Store("", "limitranges"))
		},
		ServiceAccounts: func(cat *kinds.Catalog) kinds.ServiceAccountAdmission {
			return admission.NewServiceAccounts(cat.Store("", "serviceaccounts"), cfg.TLS)
		},
		// Kubernetes' defaults under both profiles: privileged for
		// namespaces without labels, nobody exempt (docs/architecture.md).
		PodSecurity: func(cat *kinds.Catalog) (kinds.PodSecurityAdmission, error) {
			return admission.NewPodSecurity(cat.Store("", "namespaces"), cat.Store("", "pods"), admission.Privileged, admission.Privileged, admission.Privileged)
		},
	}, storeOf)
	if err != nil {
		return nil, err
	}
	if err := bootstrap(ctx, cat); err != nil {
		return nil, fmt.Errorf("creating the initial objects: %w", err)
	}
	s.dataDir.markInitialized(log)
	issuer, err := newTokenIssuer(cfg)
	if err != nil {
		return nil, err
	}
	serveTokenRequests(cat, issuer)

	token, err := pki.EnsureToken(filepath.Join(cfg.DataDir, "admin-token"))
	if err != nil {
		return nil, err
	}
	tokens := []auth.StaticToken{auth.AdminToken(token)}
	if cfg.TokenFile != "" {
		more, err := auth.LoadTokenFile(cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, more...)
	}
	static, err := auth.NewTokenAuthenticator(tokens)
	if err != nil {
		return nil, err
	}
	saAuthn := auth.NewServiceAccountAuthenticator(issuer, &objectSource{cat: cat})
	authn := auth.Union{static, saAuthn}
	s.issuer = issuer
	authz := policy.authz
	scheme, err := apis.NewScheme()
	if err != nil {
		return nil, err
	}
	endpoints := append(cat.Endpoints, reviewEndpoints(authz)...)
	tokenReviewers := auth.TokenReviewers{auth.StaticTokenReviewer{Tokens: static, Audiences: issuer.Audiences()}, saAuthn}
	endpoints = append(endpoints, delegationEndpoints(tokenReviewers, authz)...)
	var podUsage UsageSource
	var nodeUsage NodeUsageSource
	if cfg.Runtime != "none" {
		podUsage, nodeUsage = s.pods.podUsage, s.pods.nodeUsage
	}
	endpoints = append(endpoints, podMetricsEndpoint(cat, podUsage), nodeMetricsEndpoint(nodeUsage))
	docs, err := openapi.New(openAPIResources(endpoints), openapi.Info{Title: "Cella", Version: Version.GitVersion})
	if err != nil {
		return nil, fmt.Errorf("building OpenAPI documents: %w", err)
	}
	var counters []metrics.ObjectCounter
	for key, st := range cat.Stores {
		st := st
		counters = append(counters, metrics.ObjectCounter{Resource: strings.TrimPrefix(key, "/"), Count: func(ctx context.Context) (int64, error) {
			return st.Storage().Count(ctx, st.Prefix())
		}})
	}
	mx := metrics.New(counters)
	var watchCaches []metrics.WatchCache
	for _, c := range s.caches {
		// "/registry/core/configmaps/" is "configmaps" and
		// "/registry/apps/deployments/" "apps/deployments", as
		// apiserver_storage_objects labels them.
		res := strings.TrimPrefix(strings.Trim(strings.TrimPrefix(c.Prefix(), "/registry/"), "/"), "core/")
		watchCaches = append(watchCaches, metrics.WatchCache{Resource: res, Stats: c.Stats})
	}
	mx.AddWatchCaches(watchCaches)
	var profiling http.Handler
	if cfg.Profiling {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		profiling = mux
	}
	if s.runtime, err = newRuntime(cfg, log); err != nil {
		return nil, err
	}
	var pods apiserver.PodConnector
	if s.runtime != nil {
		pods = &s.pods
	}
	api, err := apiserver.New(apiserver.Config{
		Pods: pods, ProxyTimeout: cfg.ProxyTimeout,
		Metrics: mx.Handler(), Profiling: profiling,
		// The key set's address is this server's, known once it listens.
		IssuerDiscovery: issuer.DiscoveryHandler(func() string { return s.URL + "/openid/v1/jwks" }),
		Observe: func(info *apiserver.RequestInfo, code int, elapsed time.Duration) {
			mx.Observe(info.Verb, info.APIGroup, info.Resource, info.Subresource, code, elapsed)
		},
		Logger: log.With("component", "apiserver"), Scheme: scheme, Endpoints: endpoints,
		Authenticator: authn, Authorizer: authz, OpenAPI: docs, Version: Version,
		MaxRequestBytes: cfg.MaxRequestBytes, MaxURIBytes: cfg.MaxURIBytes, MaxHeaderBytes: cfg.MaxHeaderBytes, RequestTimeout: cfg.RequestTimeout,
		RateQPS: cfg.RateQPS, RateBurst: cfg.RateBurst, MaxInflight: cfg.MaxInflight, MaxWatchesPerUser: cfg.MaxWatchesPerUser, Ready: s.isReady, Drain: s.drain,
		CORSAllowedOrigins: cfg.corsPatterns(),
		IdempotencyTTL:     cfg.IdempotencyKeyTTL,
		BodyIdleTimeout:    cfg.BodyIdleTimeout, MaxInflightRequestBytes: cfg.MaxInflightRequestBytes,
	})
	if err != nil {
		return nil, err
	}
	s.api = api
	s.Token = token
	s.crds = crd.New(crd.Config{
		Catalog: cat, Server: api, Builtin: servedResources(endpoints), OpenAPI: docs,
		Storage: func(prefix string) (storage.Interface, func(), error) {
			c, err := watchcache.New(bounded, prefix, watchcache.Options{
				History: cfg.WatchHistory, HistoryBytes: cfg.WatchHistoryBytes, WatchBufferBytes: cfg.WatchBufferBytes,
				Logger: log.With("component", "watchcache", "prefix", prefix),
			})
			if err != nil {
				return nil, nil, err
			}
			return storage.WithTimeout(c, cfg.StorageTimeout), func() { c.Close() }, nil
		},
		Logger: log.With("component", "customresources"),
	})
	s.crds.Prime(ctx)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	// Beneath TLS, so that a stalled request head is answered 408 (conn.go).
	heads := newHeadWatch(log.With("component", "http"), cfg.MaxHeaderBytes)
	ln = heads.listener(ln)
	scheme2 := "http"
	_, maxHeaderBytes := headLimits(cfg.MaxHeaderBytes)
	s.http = &http.Server{
		Handler:           withHeadRead(api.Handler()),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         heads.connState,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if cfg.TLS {
		ca, err := pki.EnsureCA(cfg.DataDir)
		if err != nil {
			ln.Close()
			return nil, err
		}
		host, _, _ := net.SplitHostPort(cfg.Listen)
		cert, err := ca.EnsureServingCert(cfg.DataDir, []string{host})
		if err != nil {
			ln.Close()
			return nil, err
		}
		s.CAPEM = ca.CertPEM
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
		scheme2 = "https"
		ln = tls.NewListener(ln, s.http.TLSConfig)
	}
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = fmt.Sprintf("%s://%s", scheme2, net.JoinHostPort(host, fmt.Sprint(addr.Port)))
	s.Kubeconfig = filepath.Join(cfg.DataDir, "kubeconfig")
	if err := pki.WriteKubeconfig(s.Kubeconfig, s.URL, s.CAPEM, auth.AdminUser, token); err != nil {
		ln.Close()
		return nil, err
	}
	if err := ensureKubernetesService(ctx, cat, net.ParseIP(host), addr.Port); err != nil {
		ln.Close()
		return nil, err
	}
	go func() { s.served <- s.http.Serve(ln) }()
	if err := s.startControllers(); err != nil {
		s.http.Close()
		<-s.served
		return nil, err
	}
	s.ready.Store(true)
	// Render the OpenAPI documents off the start-up path, so the first
	// kubectl call does not pay for them; Close stops it.
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		if err := docs.Warm(s.controllersCtx); err != nil {
			log.Error("rendering OpenAPI documents", "err", err)
		}
	}()
	return s, nil
}

// startControllers runs the in-process controllers. They reach the API over
// loopback with the admin credentials, as kube-controller-manager would.
func (s *Server) startControllers() error {
	rc := s.LoopbackConfig()
	rc.Dial = s.loopConns.Dial
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfigAndClient(rc, hc)
	if err != nil {
		return err
	}
	mc, err := metadata.NewForConfigAndClient(rc, hc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.controllersCtx, s.stopControllers = ctx, cancel
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		s.crds.Run(ctx)
	}()
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		s.compactLoop(ctx, s.cfg.CompactionInterval)
	}()
	ns := namespace.New(cs, mc, s.log.With("component", "namespace-controller"))
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		ns.Run(ctx)
	}()
	collector := gc.New(mc, cs, s.log.With("component", "garbage-collector"))
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		collector.Run(ctx)
	}()
	accounts := serviceaccount.New(cs, s.log.With("component", "serviceaccount-controller"), s.serviceAccountOptions())
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		accounts.Run(ctx)
	}()
	quotas := quota.New(cs, mc, s.log.With("component", "resourcequota-controller"), quota.Options{})
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		quotas.Run(ctx)
	}()
	events := eventttl.New(cs, s.log.With("component", "event-ttl"), eventttl.Options{TTL: s.cfg.EventTTL})
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		events.Run(ctx)
	}()
	volumes := volume.New(volume.Config{
		Client: cs, Dir: filepath.Join(s.cfg.DataDir, "volumes"),
		Logger: s.log.With("component", "persistentvolume-controller"),
	})
	s.controllers.Add(1)
	go func() {
		defer s.controllers.Done()
		volumes.Run(ctx)
	}()
	if s.runtime != nil {
		return s.startPods(ctx, cs)
	}
	return nil
}

// LoopbackConfig is a client-go config for the admin user.
func (s *Server) LoopbackConfig() *rest.Config {
	rc := &rest.Config{Host: s.URL, BearerToken: s.Token, QPS: -1}
	rc.TLSClientConfig.CAData = s.CAPEM
	return rc
}

// readyTimeout bounds the storage check behind /readyz.
const readyTimeout = time.Second

// errNotReady is /readyz's answer before start-up ends, during shutdown,
// and while storage does not answer.
var errNotReady = errors.New("storage is not ready")

// isReady reports why the server should get no traffic, nil if it should:
// started, not shutting down, its storage answering, and the latest commit
// not failed on a full disk (diskfull.go).
func (s *Server) isReady() error {
	if !s.ready.Load() {
		return errNotReady
	}
	if s.backend.DiskFull() != nil {
		return errNotReadyDiskFull
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if _, err := s.store.CurrentRevision(ctx); err != nil {
		return errNotReady
	}
	return nil
}

// Close shuts the server down within ctx, in this order:
//
//  1. /readyz and every new request, on new or kept-alive connections,
//     answer 503 with Retry-After and Connection: close (/healthz and
//     /livez stay 200);
//  2. watches end: their streams close cleanly, as at timeoutSeconds;
//  3. the controllers stop;
//  4. requests already running finish, and at least Config.ShutdownDelay
//     passes, so load balancers polling /readyz move away;
//  5. the listener closes and idle connections with it, and WebSocket
//     watches finish their close frames;
//  6. storage closes.
//
// If ctx ends first, the connections still open are closed at once and
// storage closes all the same. Close is safe to call more than once.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		s.ready.Store(false)
		s.drain.Start()
		s.api.Shutdown()
		if s.stopControllers != nil {
			s.stopControllers()
			s.controllers.Wait()
			s.loopConns.CloseAll()
		}
		s.waitDrained(ctx)
		err = s.http.Shutdown(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.Warn("shutdown grace period over: closing the connections still open")
			err = s.http.Close()
		}
		// WebSocket watches left net/http's tracking when they switched
		// protocols; they end on api.Shutdown above, and storage must
		// outlive them.
		if werr := s.api.WaitStreams(ctx); werr != nil {
			s.log.Warn("WebSocket streams still open at shutdown", "err", werr)
		}
		<-s.served
		s.closeStorage()
	})
	return err
}

// waitDrained waits until the requests let in before the drain started
// have finished and the shutdown delay has passed, or ctx ends.
func (s *Server) waitDrained(ctx context.Context) {
	delay := time.NewTimer(s.cfg.ShutdownDelay)
	defer delay.Stop()
	select {
	case <-delay.C:
	case <-ctx.Done():
		return
	}
	select {
	case <-s.drain.Done():
	case <-ctx.Done():
	}
}

func (s *Server) closeStorage() {
	if s.runtime != nil {
		// Containers keep running: the next start adopts them.
		s.runtime.Close()
	}
	for _, c := range s.caches {
		c.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	s.dataDir.close()
}

// Done is closed when the HTTP server stops serving on its own.
func (s *Server) Done() <-chan error { return s.served }

// openAPIResources describes the endpoints for the OpenAPI documents.
// servedResources reports the group/resource pairs eps serve, which no
// custom resource may take.
func servedResources(eps []*registry.Endpoint) func(group, plural string) bool {
	served := map[string]bool{}
	for _, ep := range eps {
		served[ep.Group+"/"+ep.Resource.Plural] = true
	}
	return func(group, plural string) bool { return served[group+"/"+plural] }
}

func openAPIResources(eps []*registry.Endpoint) []openapi.Resource {
	out := make([]openapi.Resource, 0, len(eps))
	for _, ep := range eps {
		r := openapi.Resource{
			Group: ep.Group, Version: ep.Version, Kind: ep.Kind, Resource: ep.Resource.Plural,
			Namespaced: ep.Resource.Namespaced, Verbs: ep.Verbs,
			Type: reflect.TypeOf(ep.New()).Elem(),
		}
		if ep.NewList != nil {
			r.ListType = reflect.TypeOf(ep.NewList()).Elem()
		}
		for _, sub := range ep.Subresources {
			sr := openapi.Subresource{Name: sub, Verbs: []string{"get", "update", "patch"}}
			switch sub {
			case "status", "approval":
				sr.Type = r.Type
			case "scale":
				sr.Type = reflect.TypeOf(autoscalingv1.Scale{})
			case "finalize":
				sr.Type, sr.Verbs = r.Type, []string{"update"}
			}
			r.Subresources = append(r.Subresources, sr)
		}
		for _, sub := range slices.Sorted(maps.Keys(ep.Creates)) {
			sc := ep.Creates[sub]
			r.Subresources = append(r.Subresources, openapi.Subresource{
				Name: sub, Kind: sc.Kind, Type: reflect.TypeOf(sc.New()).Elem(), Verbs: []string{"create"},
			})
		}
		out = append(out, r)
	}
	return out
}

// absPath returns p made absolute when possible.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// compactLoop compacts storage history every interval to the revision seen
// one interval earlier, as kube-apiserver compacts etcd.
func (s *Server) compactLoop(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if last > 0 {
			if err := s.store.Compact(ctx, last); err != nil && ctx.Err() == nil {
				s.log.Warn("compaction failed", "revision", last, "err", err)
			}
		}
		rev, err := s.store.CurrentRevision(ctx)
		if err == nil {
			last = rev
		}
	}
}

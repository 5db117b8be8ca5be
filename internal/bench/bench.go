// Package bench drives a Kubernetes-style API server with concurrent
// client-go clients and measures what it sees: requests per second and the
// latency percentiles of ConfigMap create, get, list and update, and the
// create-to-event latency of watches.
//
// Run works on any server a rest.Config reaches, Cella or Kubernetes. It
// creates a namespace of its own, fills it as each operation needs, runs
// the operations one after another, and deletes the namespace at the end.
//
// # Method
//
// Every operation but watch runs Config.Concurrency workers in a closed
// loop (each sends its next request when the last one is answered) for
// Config.Duration, or until Config.Requests requests were sent. Latency is
// the time client-go's typed call takes, decoding included; failed
// requests count as errors and stay out of the percentiles. Setting up
// what an operation needs is not timed.
//
// The operations run in the order list, get, update, create, watch, so that
// list sees a namespace holding exactly Config.ListSize ConfigMaps: create
// and watch add objects, get and update do not. The report shows them in
// the order of Ops.
//
//   - create: ConfigMaps with a Config.ObjectBytes payload, unique names.
//   - get: GETs of random ConfigMaps from a pool of Config.PoolSize.
//   - list: full LISTs (no limit) of the namespace's Config.ListSize
//     ConfigMaps; a list without exactly those counts as an error.
//   - update: PUTs of pool ConfigMaps; each worker owns its own objects,
//     so a 409 Conflict means someone else wrote them; conflicts are
//     counted (as errors, and on their own).
//   - watch: Config.Watchers watches on the namespace, opened before the
//     first create; then one writer creates ConfigMaps at Config.WatchRate
//     per second, and each watcher's ADDED event is timed from just before
//     its create call. The percentiles are over every watcher's every
//     delivery; a delivery that does not arrive within watchGrace of the
//     last create counts as an error.
//
// # Transport
//
// All requests share one http.Transport with an idle pool big enough for
// every worker and watcher, and client-go's rate limiter is off (QPS -1).
// Over TLS the transport offers HTTP/2 and HTTP/1.1 by ALPN, as client-go's
// own transport does, so by default every worker and watch is a stream on
// one multiplexed connection, which is how a single client-go process
// talks to a server. Config.HTTP1 offers HTTP/1.1 only: then each
// concurrent request and each open watch needs its own connection.
// Plain-HTTP servers get HTTP/1.1 either way (no h2c), again like
// client-go. The report names the protocol the server chose.
package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The operations, as Config.Ops names them.
const (
	OpCreate = "create"
	OpGet    = "get"
	OpList   = "list"
	OpUpdate = "update"
	OpWatch  = "watch"
	// OpRSS names the one result of a Config.RSSObjects run.
	OpRSS = "rss-create"
)

// Ops returns the default operations in report order.
func Ops() []string { return []string{OpCreate, OpGet, OpList, OpUpdate, OpWatch} }

// AllOps returns every operation in report order: the defaults, then the
// ones that need a server that runs pods.
func AllOps() []string { return append(Ops(), OpPods) }

// runOrder returns the order operations run in; see the package doc for
// why it differs from Ops.
func runOrder() []string { return []string{OpList, OpGet, OpUpdate, OpCreate, OpWatch, OpPods} }

const (
	// requestTimeout bounds one request, so that a stuck server ends the
	// run instead of hanging it.
	requestTimeout = 60 * time.Second
	// watchGrace is how long the watch operation waits after its last
	// create for deliveries still on the way.
	watchGrace = 10 * time.Second
	// maxObjectBytes is Kubernetes' limit on a ConfigMap's data.
	maxObjectBytes = 1 << 20
)

// Config is what one benchmark run does. NewConfig fills the defaults;
// Validate reports every problem at once.
type Config struct {
	// Ops are the operations to run, from Ops().
	Ops []string
	// Concurrency is the number of workers per operation.
	Concurrency int
	// Duration is how long each operation runs; for watch, how long it
	// creates objects.
	Duration time.Duration
	// Requests caps the requests each operation sends (for watch, its
	// creates); 0 means no cap.
	Requests int
	// Namespace is the namespace to create and delete; "" picks
	// cella-bench-<random>. It must not exist yet.
	Namespace string
	// ObjectBytes is the size of each ConfigMap's payload.
	ObjectBytes int
	// PoolSize is how many ConfigMaps get and update work on.
	PoolSize int
	// ListSize is how many ConfigMaps the namespace holds when list runs.
	ListSize int
	// Watchers is the number of watches the watch operation opens.
	Watchers int
	// WatchRate is how many ConfigMaps per second the watch operation
	// creates.
	WatchRate float64
	// HTTP1 offers only HTTP/1.1; otherwise TLS connections offer HTTP/2
	// first.
	HTTP1 bool
	// Pods is how many pods the pods operation starts; PodCommand is what
	// they run.
	Pods       int
	PodCommand []string
	// PodsUnsized leaves the pods' resources unset (BestEffort): a real
	// node fits only as many 0.25-core pods as it has quarter cores, so a
	// process-runtime run on a small machine needs it (and a server with
	// --profile kubernetes, which does not require resources).
	PodsUnsized bool
	// PodsRate, when positive, paces the pods operation's creates to that
	// many per second (pod i is created no sooner than i/PodsRate after the
	// first), so that start latency is measured at a load the server keeps
	// up with rather than behind a queue; 0 creates as fast as the workers
	// go.
	PodsRate float64
	// RSSObjects, when positive, replaces the operations: the run creates
	// that many ConfigMaps and stops, leaving them and the namespace in
	// place for measuring the server's memory.
	RSSObjects int
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Ops:         Ops(),
		Concurrency: 8,
		Duration:    10 * time.Second,
		ObjectBytes: 1024,
		PoolSize:    100,
		ListSize:    1000,
		Watchers:    100,
		WatchRate:   20,
		Pods:        1000,
		PodCommand:  []string{"sleep", "3600"},
	}
}

// Validate reports every problem with c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Ops) == 0 && c.RSSObjects == 0 {
		bad("--ops must name at least one of %s", strings.Join(Ops(), ", "))
	}
	for _, op := range c.Ops {
		if !slices.Contains(AllOps(), op) {
			bad("--ops %q is not an operation: use %s", op, strings.Join(AllOps(), ", "))
		}
	}
	if c.Concurrency < 1 {
		bad("--concurrency must be at least 1")
	}
	if c.Duration <= 0 {
		bad("--duration must be positive")
	}
	if c.Requests < 0 {
		bad("--requests must not be negative")
	}
	if c.Namespace != "" {
		for _, msg := range validation.IsDNS1123Label(c.Namespace) {
			bad("--namespace %q: %s", c.Namespace, msg)
		}
	}
	if c.ObjectBytes < 0 || c.ObjectBytes > maxObjectBytes {
		bad("--object-bytes must be between 0 and %d", maxObjectBytes)
	}
	if c.PoolSize < 1 {
		bad("--pool-size must be at least 1")
	}
	if c.ListSize < 0 {
		bad("--list-size must not be negative")
	}
	if c.Watchers < 1 {
		bad("--watchers must be at least 1")
	}
	if !(c.WatchRate > 0) {
		bad("--watch-rate must be positive")
	}
	if c.Pods < 1 {
		bad("--pods must be at least 1")
	}
	if !(c.PodsRate >= 0) {
		bad("--pods-rate must not be negative")
	}
	if len(c.PodCommand) == 0 {
		bad("--pod-command must name a command")
	}
	if c.RSSObjects < 0 {
		bad("--rss-objects must not be negative")
	}
	return errors.Join(errs...)
}

// Run benchmarks the server rc reaches as cfg says and returns the report.
// log receives progress at info level and may be nil. rc must not carry its
// own Transport; its QPS, Burst and RateLimiter are ignored.
//
// When ctx ends, Run stops the operation at hand, deletes the namespace and
// returns the results so far with ctx's error. An error from setting up
// (the namespace, an operation's objects) ends the run the same way.
func Run(ctx context.Context, cfg *Config, rc *rest.Config, log *slog.Logger) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cl, err := newClient(rc, cfg)
	if err != nil {
		return nil, err
	}
	b := &bench{
		cfg:     cfg,
		cs:      cl.cs,
		log:     log,
		ns:      cfg.Namespace,
		payload: payload(cfg.ObjectBytes),
		tls:     strings.HasPrefix(rc.Host, "https://"),
	}
	if b.ns == "" {
		b.ns = randomNamespace()
	}
	rep = &Report{
		Server:      rc.Host,
		Namespace:   b.ns,
		Concurrency: cfg.Concurrency,
		Duration:    cfg.Duration,
		ObjectBytes: cfg.ObjectBytes,
		Machine:     LocalMachine(),
	}
	defer func() { rep.Protocol = cl.protocol() }()

	if v, verr := cl.cs.Discovery().ServerVersion(); verr == nil {
		rep.ServerVersion = v.GitVersion
	} else {
		log.Debug("no server version", "err", verr)
	}
	if err := b.createNamespace(ctx); err != nil {
		return rep, err
	}

	if cfg.RSSObjects > 0 {
		log.Info("creating objects for a memory measurement", "count", cfg.RSSObjects, "namespace", b.ns)
		res, err := b.createMany(ctx, OpRSS, 0, cfg.RSSObjects, rssName, nil)
		rep.Results = append(rep.Results, res)
		rep.Kept = true
		return rep, errors.Join(err, ctx.Err())
	}

	defer func() {
		// The namespace goes even when ctx has ended.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
		defer cancel()
		log.Info("deleting namespace", "namespace", b.ns)
		if derr := b.cs.CoreV1().Namespaces().Delete(dctx, b.ns, metav1.DeleteOptions{}); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting namespace %s: %w", b.ns, derr))
		}
	}()
	for _, op := range runOrder() {
		if !slices.Contains(cfg.Ops, op) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		res, err := b.run(ctx, op)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", op, err)
		}
		rep.Results = append(rep.Results, res)
	}
	slices.SortStableFunc(rep.Results, func(a, b Result) int {
		return slices.Index(AllOps(), a.Op) - slices.Index(AllOps(), b.Op)
	})
	return rep, ctx.Err()
}

// bench is one run's state.
type bench struct {
	cfg     *Config
	cs      kubernetes.Interface
	log     *slog.Logger
	ns      string
	payload string
	// tls says the server is reached over TLS: a Kubernetes-like server
	// then gives every namespace a kube-root-ca.crt ConfigMap.
	tls bool

	// pool holds the pool ConfigMaps as created, index i named poolName(i).
	// Only the run's own goroutine touches it, between operations.
	pool []*corev1.ConfigMap
}

func (b *bench) createNamespace(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: b.ns,
		// CCI (Cella's default profile) requires a flavor on every
		// namespace; Kubernetes ignores the annotation.
		Annotations: map[string]string{"namespace.kubernetes.io/flavor": "general-computing"},
	}}
	_, err := b.cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s already exists: bench deletes its namespace when it is done, so name a new one", b.ns)
	}
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", b.ns, err)
	}
	b.log.Info("created namespace", "namespace", b.ns)
	return b.waitNamespaceReady(ctx)
}

// waitNamespaceReady waits, as Kubernetes' e2e framework does, until the
// new namespace has its default ServiceAccount (which pods run as) and,
// when the server gives namespaces one, the kube-root-ca.crt ConfigMap
// (which their token volume reads; only over TLS, as a server without it
// has no CA to give), so that pod runs time pods starting, not the
// namespace's set-up. It waits at most 10s for each and goes on
// regardless.
func (b *bench) waitNamespaceReady(ctx context.Context) error {
	waitFor := func(get func(context.Context) error) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := get(ctx)
			if err == nil || !apierrors.IsNotFound(err) || time.Now().After(deadline) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if err := waitFor(func(ctx context.Context) error {
		_, err := b.cs.CoreV1().ServiceAccounts(b.ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	}); err != nil || !b.tls {
		return err
	}
	return waitFor(func(ctx context.Context) error {
		_, err := b.cs.CoreV1().ConfigMaps(b.ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})
}

// run sets up and runs one operation.
func (b *bench) run(ctx context.Context, op string) (Result, error) {
	switch op {
	case OpList:
		if err := b.growPool(ctx, b.cfg.ListSize); err != nil {
			return Result{}, err
		}
		b.log.Info("running", "op", op, "objects", b.cfg.ListSize, "for", b.cfg.Duration)
		return b.runList(ctx), nil
	case OpGet:
		if err := b.growPool(ctx, b.cfg.PoolSize); err != nil {
			return Result{}, err
		}
		b.log.Info("running", "op", op, "for", b.cfg.Duration)
		return b.runGet(ctx), nil
	case OpUpdate:
		n := max(b.cfg.PoolSize, b.cfg.Concurrency)
		if err := b.growPool(ctx, n); err != nil {
			return Result{}, err
		}
		b.log.Info("running", "op", op, "for", b.cfg.Duration)
		return b.runUpdate(ctx, n), nil
	case OpCreate:
		b.log.Info("running", "op", op, "for", b.cfg.Duration)
		return b.runCreate(ctx), nil
	case OpPods:
		b.log.Info("running", "op", op, "pods", b.cfg.Pods)
		return b.runPods(ctx)
	case OpWatch:
		b.log.Info("running", "op", op, "watchers", b.cfg.Watchers, "for", b.cfg.Duration)
		return b.runWatch(ctx)
	}
	panic("bench: unknown op " + op) // Validate keeps this out
}

// newConfigMap returns a ConfigMap to create, carrying the payload.
func (b *bench) newConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.ns},
		Data:       map[string]string{"payload": b.payload},
	}
}

func poolName(i int) string      { return fmt.Sprintf(poolPrefix+"%06d", i) }
func rssName(i int) string       { return fmt.Sprintf("rss-%07d", i) }
func createName(w, i int) string { return fmt.Sprintf("create-%d-%d", w, i) }

const poolPrefix = "pool-"

const nameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

func randomNamespace() string {
	var s [5]byte
	for i := range s {
		s[i] = nameAlphabet[rand.IntN(len(nameAlphabet))]
	}
	return "cella-bench-" + string(s[:])
}

// payload returns n bytes of letters and digits: random, so that no layer
// on the way gets to compress it much.
func payload(n int) string {
	s := make([]byte, n)
	for i := range s {
		s[i] = nameAlphabet[rand.IntN(len(nameAlphabet))]
	}
	return string(s)
}

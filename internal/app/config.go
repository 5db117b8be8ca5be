package app

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"cella.dev/cella/internal/auth"
	"cella.dev/cella/internal/storage"
)

// Config is everything `cella serve` is told. NewConfig fills the defaults;
// AddFlags binds the flags; Validate reports every problem at once.
type Config struct {
	DataDir   string
	Listen    string
	TLS       bool
	TokenFile string
	Storage   string
	Profile   string
	Runtime   string
	// ServiceAccountIssuer is the iss of the service account tokens Cella
	// signs and the one audience it accepts them for.
	ServiceAccountIssuer string
	// NodeName names the Node the agent registers ("" is the host name).
	NodeName string
	// MetricsResolution is how often the agent samples usage for
	// metrics.k8s.io (kubectl top).
	MetricsResolution time.Duration
	MaxRequestBytes   int64
	MaxURIBytes       int
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	RequestTimeout    time.Duration
	// ProxyTimeout bounds the wait of pods/proxy, services/proxy and the
	// forward proxy for a pod's answer (504 past it).
	ProxyTimeout      time.Duration
	RateQPS           float64
	RateBurst         int
	MaxInflight       int
	IdempotencyKeyTTL time.Duration
	// EventTTL is how long an Event is kept after it last happened.
	EventTTL     time.Duration
	WatchHistory int
	// WatchHistoryBytes bounds the same history by size, per resource.
	WatchHistoryBytes int64
	// WatchBufferBytes bounds what one watch may hold for a reader that
	// does not keep up before it is fed from the history instead.
	WatchBufferBytes int64
	// MaxWatchesPerUser caps the watches one user has open (429 beyond
	// it); members of system:masters are exempt; 0 is unlimited.
	MaxWatchesPerUser int
	// CompactionInterval is how often storage history is compacted, and so
	// the shortest time a continue token or an old resourceVersion stays
	// usable.
	CompactionInterval time.Duration
	CORSOrigins        []string
	LogLevel           string
	Profiling          bool

	// MaxInflightRequestBytes is the budget of request body bytes, by
	// declared length, that all requests may hold at once; 0 is unlimited.
	MaxInflightRequestBytes int64
	// BodyIdleTimeout is the longest a read of a request body may wait.
	BodyIdleTimeout time.Duration

	// StorageTimeout bounds every storage call a request makes; a backend
	// that does not answer in time gives 503 (storage.WithTimeout).
	StorageTimeout time.Duration
	// ShutdownGracePeriod is the most time shutdown may take, from the
	// signal to the exit; requests still running at its end are cut off.
	ShutdownGracePeriod time.Duration
	// ShutdownDelay is the least time the listener stays open after the
	// signal, answering 503 (and /readyz 503), before it closes.
	ShutdownDelay time.Duration

	// WrapStorage, when set, wraps the storage backend before anything
	// uses it. No flag sets it: it is the fault-injection seam for tests
	// (servertest.WithStorage), nil in the cella binary.
	WrapStorage func(storage.Interface) storage.Interface
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		DataDir:            "./cella-data",
		Listen:             "127.0.0.1:6443",
		TLS:                true,
		Storage:            "bolt",
		Profile:            "cci",
		Runtime:            "process",
		MaxRequestBytes:    3 << 20,
		MaxURIBytes:        8 << 10,
		MaxHeaderBytes:     1 << 20,
		MetricsResolution:  10 * time.Second,
		ReadHeaderTimeout:  10 * time.Second,
		RequestTimeout:     60 * time.Second,
		ProxyTimeout:       60 * time.Second,
		RateQPS:            200,
		RateBurst:          400,
		MaxInflight:        600,
		WatchHistory:       10000,
		WatchHistoryBytes:  64 << 20,
		WatchBufferBytes:   8 << 20,
		MaxWatchesPerUser:  1000,
		CompactionInterval: 5 * time.Minute,
		LogLevel:           "info",
		IdempotencyKeyTTL:  24 * time.Hour,
		EventTTL:           time.Hour,

		ServiceAccountIssuer: auth.DefaultServiceAccountIssuer,

		MaxInflightRequestBytes: 64 << 20,
		BodyIdleTimeout:         30 * time.Second,

		StorageTimeout:      10 * time.Second,
		ShutdownGracePeriod: 30 * time.Second,
		ShutdownDelay:       0,
	}
}

// AddFlags binds the flags of `cella serve` to c.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "Directory that holds the store, the CA, the admin token and the kubeconfig.")
	fs.StringVar(&c.Listen, "listen", c.Listen, "Address to serve the API on (host:port; port 0 picks a free one).")
	fs.BoolVar(&c.TLS, "tls", c.TLS, "Serve HTTPS with a self-signed CA kept in the data directory; false serves plain HTTP.")
	fs.StringVar(&c.TokenFile, "token-file", c.TokenFile, "Static token file in Kubernetes' CSV format: token,user,uid,\"group1,group2\".")
	fs.StringVar(&c.ServiceAccountIssuer, "service-account-issuer", c.ServiceAccountIssuer, "Issuer (iss) of the service account tokens Cella signs, and the audience the API accepts them for; published in /.well-known/openid-configuration.")
	fs.StringVar(&c.Storage, "storage", c.Storage, "Storage backend: bolt (embedded, the default).")
	fs.StringVar(&c.Profile, "profile", c.Profile, "Validation profile: cci (CCI's rules on top of Kubernetes') or kubernetes.")
	fs.StringVar(&c.Runtime, "runtime", c.Runtime, "Pod runtime: process (each container a process on this machine), sim (a simulated lifecycle from pod annotations, no processes) or none (pods are stored and stay Pending).")
	fs.StringVar(&c.NodeName, "node-name", c.NodeName, "Name of the Node that runs the pods (default: the host name).")
	fs.DurationVar(&c.MetricsResolution, "metrics-resolution", c.MetricsResolution, "How often pod and node usage is sampled for metrics.k8s.io (kubectl top); usage is averaged over that interval.")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "Largest request body accepted, in bytes (larger is 413).")
	fs.Int64Var(&c.MaxInflightRequestBytes, "max-inflight-request-bytes", c.MaxInflightRequestBytes, "Request body bytes all requests may hold at once, by declared length (0 = unlimited); over it is 413 with Retry-After.")
	fs.IntVar(&c.MaxURIBytes, "max-uri-bytes", c.MaxURIBytes, "Longest request target accepted, in bytes (longer is 414).")
	fs.IntVar(&c.MaxHeaderBytes, "max-header-bytes", c.MaxHeaderBytes, "Largest request head (request line and header fields) accepted, in bytes (larger is 431).")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", c.ReadHeaderTimeout, "Time allowed to read a request's head (a partial head over it is 408).")
	fs.DurationVar(&c.BodyIdleTimeout, "body-idle-timeout", c.BodyIdleTimeout, "Longest wait for the next bytes of a request body (longer is 408).")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "Longest a non-streaming request may take before it is answered 504.")
	fs.DurationVar(&c.ProxyTimeout, "proxy-timeout", c.ProxyTimeout, "Longest the pod and service proxies (and the forward proxy) wait for a pod to connect and send a response head before answering 504.")
	fs.Float64Var(&c.RateQPS, "rate-qps", c.RateQPS, "Requests per second allowed per user (0 = unlimited); over it is 429. Members of system:masters (the admin, Cella's own controllers) are exempt.")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "Burst of the per-user rate limit (0 = the QPS rounded up).")
	fs.IntVar(&c.MaxInflight, "max-inflight", c.MaxInflight, "Requests served at once before new ones get 429 (0 = unlimited).")
	fs.DurationVar(&c.CompactionInterval, "compaction-interval", c.CompactionInterval, "How often storage history is compacted: older revisions (continue tokens, exact-version lists) answer 410 Gone after one to two intervals.")
	fs.DurationVar(&c.EventTTL, "event-ttl", c.EventTTL, "How long an Event is kept after it last happened, as kube-apiserver's --event-ttl.")
	fs.DurationVar(&c.IdempotencyKeyTTL, "idempotency-key-ttl", c.IdempotencyKeyTTL, "How long a create sent with an Idempotency-Key header is remembered after it succeeded (a repeat within it is 303 to the object).")
	fs.IntVar(&c.WatchHistory, "watch-history", c.WatchHistory, "Events kept per resource for watches that resume from a resourceVersion.")
	fs.Int64Var(&c.WatchHistoryBytes, "watch-history-bytes", c.WatchHistoryBytes, "Bytes of those events kept per resource (keys, values and previous values); the oldest go first, and a watch from before them is 410 Expired.")
	fs.Int64Var(&c.WatchBufferBytes, "watch-buffer-bytes", c.WatchBufferBytes, "Bytes of events one watch may hold for a client that does not read them; beyond it the watch is fed from the history, and ended (410 Expired in-band) once the history has moved past it.")
	fs.IntVar(&c.MaxWatchesPerUser, "max-watches-per-user", c.MaxWatchesPerUser, "Watches one user may have open at once (0 = unlimited); beyond it is 429 with Retry-After. Members of system:masters are exempt.")
	fs.StringSliceVar(&c.CORSOrigins, "cors-allowed-origins", c.CORSOrigins, "Origins allowed to call the API from a browser: regular expressions matched against the Origin header (unanchored, as kube-apiserver; write ^https://console\\.example$ to be exact).")
	fs.BoolVar(&c.Profiling, "profiling", c.Profiling, "Serve Go profiles under /debug/pprof/ (admins only, through RBAC).")
	fs.DurationVar(&c.StorageTimeout, "storage-timeout", c.StorageTimeout, "Longest a request waits for one storage call before it is answered 503 (a shorter request deadline answers 504 first).")
	fs.DurationVar(&c.ShutdownGracePeriod, "shutdown-grace-period", c.ShutdownGracePeriod, "Most time from SIGTERM or SIGINT to exit; requests still running then are cut off. Keep it below your supervisor's kill timeout.")
	fs.DurationVar(&c.ShutdownDelay, "shutdown-delay", c.ShutdownDelay, "Least time the listener stays open after SIGTERM, answering 503 and /readyz 503, so load balancers take the server out before it closes.")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "Log level: debug, info, warn or error.")
}

// Validate reports every problem with c.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.DataDir == "" {
		bad("--data-dir must not be empty")
	}
	if c.ServiceAccountIssuer == "" {
		bad("--service-account-issuer must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("--listen %q: %v", c.Listen, err)
	}
	switch c.Storage {
	case "bolt":
	case "etcd":
		bad("--storage etcd is not built yet: only bolt is available in this version")
	default:
		bad("--storage %q is not supported: use bolt", c.Storage)
	}
	switch c.Profile {
	case "cci", "kubernetes":
	default:
		bad("--profile %q is not supported: use cci or kubernetes", c.Profile)
	}
	switch c.Runtime {
	case "none", "sim", "process":
	default:
		bad("--runtime %q is not supported: use process, sim or none", c.Runtime)
	}
	if c.MaxRequestBytes <= 0 {
		bad("--max-request-bytes must be positive")
	}
	if c.MaxInflightRequestBytes < 0 {
		bad("--max-inflight-request-bytes must not be negative")
	} else if c.MaxInflightRequestBytes > 0 && c.MaxInflightRequestBytes < c.MaxRequestBytes {
		bad("--max-inflight-request-bytes must be 0 or at least --max-request-bytes, or the largest bodies never fit")
	}
	if c.MaxURIBytes <= 0 {
		bad("--max-uri-bytes must be positive")
	}
	if c.MaxHeaderBytes < c.MaxURIBytes {
		bad("--max-header-bytes must be at least --max-uri-bytes, or long request targets are refused as 431 before 414")
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--read-header-timeout", c.ReadHeaderTimeout},
		{"--body-idle-timeout", c.BodyIdleTimeout},
		{"--request-timeout", c.RequestTimeout},
		{"--proxy-timeout", c.ProxyTimeout},
		{"--compaction-interval", c.CompactionInterval},
		{"--idempotency-key-ttl", c.IdempotencyKeyTTL},
		{"--event-ttl", c.EventTTL},
		{"--storage-timeout", c.StorageTimeout},
		{"--shutdown-grace-period", c.ShutdownGracePeriod},
		{"--metrics-resolution", c.MetricsResolution},
	} {
		if d.v <= 0 {
			bad("%s must be positive", d.flag)
		}
	}
	if c.RateQPS < 0 || c.RateBurst < 0 || c.MaxInflight < 0 {
		bad("--rate-qps, --rate-burst and --max-inflight must not be negative")
	}
	if c.ShutdownDelay < 0 || c.ShutdownDelay >= c.ShutdownGracePeriod {
		bad("--shutdown-delay must be at least zero and shorter than --shutdown-grace-period")
	}
	if c.WatchHistory <= 0 {
		bad("--watch-history must be positive")
	}
	if c.WatchHistoryBytes <= 0 || c.WatchBufferBytes <= 0 {
		bad("--watch-history-bytes and --watch-buffer-bytes must be positive")
	}
	if c.MaxWatchesPerUser < 0 {
		bad("--max-watches-per-user must not be negative")
	}
	for _, o := range c.CORSOrigins {
		if _, err := regexp.Compile(o); err != nil {
			bad("--cors-allowed-origins: %q is not a regular expression: %v", o, err)
		}
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q is not supported: use debug, info, warn or error", c.LogLevel)
	}
	return errors.Join(errs...)
}

// corsPatterns compiles --cors-allowed-origins (Validate has checked them).
func (c *Config) corsPatterns() []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, o := range c.CORSOrigins {
		out = append(out, regexp.MustCompile(o))
	}
	return out
}

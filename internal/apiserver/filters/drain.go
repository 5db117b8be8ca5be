package filters

import (
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// drainRetryAfter is the Retry-After, in seconds, of the 503 answered while
// draining: long enough not to hammer a server on its way out, short
// enough that client-go, which retries 5xx with Retry-After up to ten
// times, reaches a restarted server or another replica soon.
const drainRetryAfter = 1

// Drain is the server's shutdown state as the request path sees it. Before
// Start it lets every request in and counts those still running; after
// Start it refuses new ones and Done tells when the counted ones have all
// finished. A Drain is safe for concurrent use; the zero value is not: use
// NewDrain.
type Drain struct {
	mu       sync.Mutex
	draining bool          // guarded by mu
	inflight int           // guarded by mu; requests let in and not finished
	idle     chan struct{} // closed once draining and inflight is zero
}

// NewDrain returns a Drain that lets requests in.
func NewDrain() *Drain { return &Drain{idle: make(chan struct{})} }

// Start makes the server refuse new requests. It is safe to call more
// than once.
func (d *Drain) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return
	}
	d.draining = true
	if d.inflight == 0 {
		close(d.idle)
	}
}

// Done is closed once Start was called and every request let in before it
// has finished. Watches count too: the caller ends them when it starts
// draining.
func (d *Drain) Done() <-chan struct{} { return d.idle }

// enter counts a request in, or reports false when draining.
func (d *Drain) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return false
	}
	d.inflight++
	return true
}

func (d *Drain) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inflight--
	if d.draining && d.inflight == 0 {
		close(d.idle)
	}
}

// livenessPath reports the probes that keep answering while the server
// drains: the process is alive until it exits. /readyz is not one of
// them, so load balancers stop sending traffic.
func livenessPath(p string) bool { return p == "/healthz" || p == "/livez" }

// WithDrain answers 503 ServiceUnavailable with Retry-After and
// Connection: close to every request that arrives after d.Start, on a new
// connection or a kept-alive one, except the liveness probes; requests let
// in before keep running, and d counts them. It runs before
// authentication: a draining server answers everyone the same, which says
// nothing about paths or objects. A nil d lets everything through.
func WithDrain(next http.Handler, d *Drain, writeErr ErrorFunc) http.Handler {
	if d == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if livenessPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		if !d.enter() {
			// Closing the connection sends the client's next request to a
			// fresh connection: to another replica behind a load balancer,
			// or to this one's successor.
			w.Header().Set("Connection", "close")
			err := apierrors.NewServiceUnavailable("the server is shutting down")
			err.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: drainRetryAfter}
			writeErr(w, r, err)
			return
		}
		defer d.leave()
		next.ServeHTTP(w, r)
	})
}

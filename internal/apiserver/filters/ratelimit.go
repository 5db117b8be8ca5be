package filters

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/auth"
)

// UserLimiter is a token bucket per user name.
type UserLimiter struct {
	qps   rate.Limit
	burst int
	mu    sync.Mutex
	// buckets is guarded by mu. It grows with the number of distinct users,
	// which the token file bounds.
	buckets map[string]*rate.Limiter
}

// NewUserLimiter returns a limiter of qps requests per second per user with
// the given burst (at least 1).
func NewUserLimiter(qps float64, burst int) *UserLimiter {
	if burst < 1 {
		burst = int(math.Ceil(qps))
		if burst < 1 {
			burst = 1
		}
	}
	return &UserLimiter{qps: rate.Limit(qps), burst: burst, buckets: map[string]*rate.Limiter{}}
}

func (l *UserLimiter) limiter(user string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[user]
	if !ok {
		b = rate.NewLimiter(l.qps, l.burst)
		l.buckets[user] = b
	}
	return b
}

// WithRateLimit answers 429 with Retry-After when the authenticated user
// is over its rate. Members of system:masters are exempt, as kube-apiserver's
// priority and fairness exempts them: the admin and the server's own
// controllers. It runs after authentication.
func WithRateLimit(next http.Handler, l *UserLimiter, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.UserFrom(r.Context())
		if slices.Contains(u.Groups, auth.GroupMasters) {
			next.ServeHTTP(w, r)
			return
		}
		res := l.limiter(u.Name).Reserve()
		if delay := res.Delay(); delay > 0 {
			res.Cancel()
			secs := int(math.Ceil(delay.Seconds()))
			writeErr(w, r, apierrors.NewTooManyRequests(fmt.Sprintf("user %q is over its rate of %v requests per second", u.Name, float64(l.qps)), max(secs, 1)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WithMaxInflight answers 429 with Retry-After when max requests are
// already being served. Long-running requests (watches) do not count.
func WithMaxInflight(next http.Handler, max int, longRunning func(*http.Request) bool, writeErr ErrorFunc) http.Handler {
	slots := make(chan struct{}, max)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if longRunning(r) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			writeErr(w, r, apierrors.NewTooManyRequests("the server has too many requests in flight; try again", 1))
		}
	})
}

// WithTimeout gives non-long-running requests a deadline: the request's
// ?timeout= when shorter, else def. Work that sees the deadline fails with
// context.DeadlineExceeded, which the registry turns into a 504 Timeout.
func WithTimeout(next http.Handler, def time.Duration, longRunning func(*http.Request) bool, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if longRunning(r) {
			next.ServeHTTP(w, r)
			return
		}
		d := def
		if v := r.URL.Query().Get("timeout"); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < 0 {
				writeErr(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid timeout %q: must be a duration such as 30s", v)))
				return
			}
			if t > 0 && t < d {
				d = t
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

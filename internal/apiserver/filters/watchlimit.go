package filters

import (
	"fmt"
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/auth"
)

// watchRetryAfter is the Retry-After, in seconds, of a watch refused for
// the user's cap: a slot frees as soon as one of the user's watches ends.
const watchRetryAfter = 1

// WatchLimiter counts the watches each user has open and holds every user
// to at most max at once. Members of system:masters are not counted:
// Cella's admin and its own controllers, which kube-apiserver's priority
// and fairness exempts in the same way.
type WatchLimiter struct {
	max int
	mu  sync.Mutex
	// open is the number of watches by user name, guarded by mu. A user
	// with none has no entry, so it grows with the users watching now.
	open map[string]int
}

// NewWatchLimiter returns a limiter of max watches per user; max must be
// positive.
func NewWatchLimiter(max int) *WatchLimiter {
	return &WatchLimiter{max: max, open: map[string]int{}}
}

// Open returns the number of watches user has open, as counted.
func (l *WatchLimiter) Open(user string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[user]
}

// acquire counts one more watch for user and reports true, or reports
// false if user already has max.
func (l *WatchLimiter) acquire(user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[user] >= l.max {
		return false
	}
	l.open[user]++
	return true
}

// release counts one watch of user fewer.
func (l *WatchLimiter) release(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[user]--; l.open[user] <= 0 {
		delete(l.open, user)
	}
}

// WithWatchLimit answers 429 with Retry-After, before the watch starts, to
// a watch of a user that already has the limiter's maximum open; the watch
// counts until its handler returns. Requests isWatch does not report pass
// through. It runs after authentication.
func WithWatchLimit(next http.Handler, l *WatchLimiter, isWatch func(*http.Request) bool, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isWatch(r) {
			next.ServeHTTP(w, r)
			return
		}
		u, _ := auth.UserFrom(r.Context())
		if u.InGroup(auth.GroupMasters) {
			next.ServeHTTP(w, r)
			return
		}
		if !l.acquire(u.Name) {
			writeErr(w, r, apierrors.NewTooManyRequests(fmt.Sprintf("user %q has %d watches open, the most allowed per user; close one or try again later", u.Name, l.max), watchRetryAfter))
			return
		}
		defer l.release(u.Name)
		next.ServeHTTP(w, r)
	})
}

package filters

import (
	"fmt"
	"net/http"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WithBodyBudget keeps the request body bytes the server holds at once
// within max, one budget shared by every caller. A request reserves its
// declared Content-Length before its body is read (a body of undeclared
// length reserves bodyMax, the largest body the server accepts) and gives it
// back when the handler returns.
//
// A request that does not fit is answered 413 with Retry-After: 1 and
// details.retryAfterSeconds: the condition is temporary, unlike WithFraming's
// 413 for a body over bodyMax, which has no Retry-After. The body is not
// read, so a client that sent Expect: 100-continue never sends it, and the
// connection is closed after the answer, as for every 413.
//
// It runs after authentication and the rate limits, so that only an
// authenticated caller within its rate holds budget. max <= 0 disables it.
// max must be at least bodyMax, or the largest bodies never fit.
func WithBodyBudget(next http.Handler, max, bodyMax int64, writeErr ErrorFunc) http.Handler {
	if max <= 0 {
		return next
	}
	b := &bodyBudget{max: max}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := r.ContentLength
		if n < 0 {
			n = bodyMax
		}
		if n == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if !b.reserve(n) {
			err := apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
				"the server holds too many request body bytes to take %d more; try again", n))
			err.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
			w.Header().Set("Connection", "close")
			writeErr(w, r, err)
			return
		}
		defer b.release(n)
		next.ServeHTTP(w, r)
	})
}

// bodyBudget counts reserved bytes against max.
type bodyBudget struct {
	max int64
	mu  sync.Mutex
	// used is guarded by mu; it never exceeds max.
	used int64
}

// reserve takes n bytes if they fit and reports whether they did.
func (b *bodyBudget) reserve(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

// release gives back n bytes taken by reserve.
func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}

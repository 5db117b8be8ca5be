package filters

import (
	"net/http"
)

// WithMaxURI answers 414 when the request target is longer than max bytes.
// It runs first: nothing else looks at a request that long.
func WithMaxURI(next http.Handler, max int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > max {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestURITooLong)
			_, _ = w.Write([]byte("request target is longer than the server's limit\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

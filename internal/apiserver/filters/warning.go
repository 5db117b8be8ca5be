package filters

import (
	"net/http"

	"cella.dev/cella/internal/warning"
)

// WithWarnings gives each request a warning.Recorder that adds Warning
// headers to its response, so that whatever handles it can warn the
// client through the context (warning.Add). It wraps the handlers
// directly, inside the request deadline, so that the headers are those
// of the writer the handler writes through.
func WithWarnings(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := warning.WithRecorder(r.Context(), warning.NewHeaders(w.Header()))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

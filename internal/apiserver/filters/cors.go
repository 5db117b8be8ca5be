package filters

import (
	"net/http"
	"regexp"
	"strings"
)

// CORS headers. Browsers send preflights without credentials, so the
// preflight answer names every method and header Cella may take; the
// request itself is then checked like any other.
const (
	corsAllowMethods  = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, Accept-Encoding, Content-Length, Idempotency-Key, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since, X-Requested-With"
	corsExposeHeaders = "Date, ETag, Last-Modified, Location, Retry-After, Warning, Content-Range, Accept-Ranges"
	corsMaxAge        = "600"
)

// WithCORS adds CORS response headers for requests whose Origin matches one
// of allowed (unanchored regular expressions, as kube-apiserver's
// --cors-allowed-origins; anchor them to be strict) and answers preflights
// (OPTIONS with Origin and Access-Control-Request-Method) from those origins
// with 204 before authentication. Requests from other origins pass on
// without CORS headers, so a browser refuses their answers.
func WithCORS(next http.Handler, allowed []*regexp.Regexp) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !originAllowed(origin, allowed) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			h.Set("Allow", corsAllowMethods)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}

func originAllowed(origin string, allowed []*regexp.Regexp) bool {
	origin = strings.TrimSpace(origin)
	for _, re := range allowed {
		if re.MatchString(origin) {
			return true
		}
	}
	return false
}

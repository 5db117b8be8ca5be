package filters

import (
	"fmt"
	"net/http"
)

// WithMaxURI answers 414 when the request target is longer than max bytes.
// It runs first: nothing else looks at a request that long. The connection
// is closed after the answer.
func WithMaxURI(next http.Handler, max int, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.RequestURI) > max {
			w.Header().Set("Connection", "close")
			writeErr(w, r, statusError(http.StatusRequestURITooLong, "RequestURITooLong",
				fmt.Sprintf("the request target of %d bytes is longer than the server's limit of %d bytes", len(r.RequestURI), max)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WithMaxHeaderBytes answers 431 when the request head (the request line
// and the header fields, as sent) is larger than max bytes. net/http is
// configured to read somewhat larger heads than max so that this answer,
// a Status, is the one clients get (see internal/app/conn.go). It runs
// first, with WithMaxURI.
func WithMaxHeaderBytes(next http.Handler, max int, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headSize(r); n > max {
			w.Header().Set("Connection", "close")
			writeErr(w, r, statusError(http.StatusRequestHeaderFieldsTooLarge, "RequestHeaderFieldsTooLarge",
				fmt.Sprintf("the request head of %d bytes is larger than the server's limit of %d bytes", n, max)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// headSize is the size of r's head as HTTP/1.1 frames it: the request line,
// the Host field (which net/http takes out of Header) and every other field,
// each line with its CRLF, and the empty line.
func headSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

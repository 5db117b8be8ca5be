package filters

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WithFraming checks what the request head says about the body, before
// anything else looks at the request (505 and 414 are answered earlier, by
// net/http and WithMaxURI):
//
//   - 417 for an Expect header other than 100-continue;
//   - 411 for a POST, PUT or PATCH with a body of undeclared length
//     (chunked), except on streaming endpoints;
//   - 413 for a declared length over maxBytes, without reading the body (so
//     a client that sent Expect: 100-continue never sends it).
//
// A body that passes is read later; net/http sends 100 Continue only then,
// after authentication and the other checks that need no body.
func WithFraming(next http.Handler, maxBytes int64, streaming func(*http.Request) bool, writeErr ErrorFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := r.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
			w.Header().Set("Connection", "close")
			writeErr(w, r, statusError(http.StatusExpectationFailed, "ExpectationFailed",
				fmt.Sprintf("the Expect header %q is not supported: only 100-continue is", e)))
			return
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			if r.ContentLength < 0 && !streaming(r) {
				w.Header().Set("Connection", "close")
				writeErr(w, r, statusError(http.StatusLengthRequired, "LengthRequired",
					"a request body must declare its length with Content-Length"))
				return
			}
		}
		if r.ContentLength > maxBytes {
			w.Header().Set("Connection", "close")
			writeErr(w, r, apierrors.NewRequestEntityTooLargeError(
				fmt.Sprintf("the request body of %d bytes is larger than the limit of %d bytes", r.ContentLength, maxBytes)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// statusError builds a Status error for codes apimachinery has no
// constructor for.
func statusError(code int32, reason metav1.StatusReason, msg string) *apierrors.StatusError {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: code, Reason: reason, Message: msg,
	}}
}

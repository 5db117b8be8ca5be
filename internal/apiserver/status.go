package apiserver

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrorWriter writes every error the server answers. It is the HTTP end of
// the error seam: Status errors keep their code and body; anything else is a
// programmer error, logged with the request and answered as a 500 whose body
// names no internals.
type ErrorWriter struct {
	Logger *slog.Logger
}

// Write answers err on w.
func (ew ErrorWriter) Write(w http.ResponseWriter, r *http.Request, err error) {
	st := ew.status(r, err)
	WriteStatus(w, st)
}

func (ew ErrorWriter) status(r *http.Request, err error) metav1.Status {
	var as apierrors.APIStatus
	if errors.As(err, &as) {
		st := as.Status()
		if st.Code >= 500 {
			ew.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", st.Code, "err", err)
		} else {
			ew.Logger.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "code", st.Code, "reason", st.Reason)
		}
		return st
	}
	ew.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return apierrors.NewInternalError(errors.New("an error on the server has prevented the request from succeeding")).ErrStatus
}

// WriteStatus writes a Status body with its code. Retry-After is set from
// details.retryAfterSeconds, as kube-apiserver does. A 408 closes the
// connection: what the client sent next cannot be told apart from the rest
// of the request it stalled on.
func WriteStatus(w http.ResponseWriter, st metav1.Status) {
	st.Kind = "Status"
	st.APIVersion = "v1"
	if st.Status == "" {
		st.Status = metav1.StatusFailure
	}
	if st.Code == 0 {
		st.Code = http.StatusInternalServerError
	}
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	data, _ := json.Marshal(st)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache, private")
	h.Del("Content-Length")
	if st.Code == http.StatusRequestTimeout {
		h.Set("Connection", "close")
	}
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(data)
}

// authorizationFailed is the answer when the authorizer could not read its
// policy. Storage that is unavailable or too slow keeps its 503 or 504,
// which tell the client a retry may work; anything else is a 500 naming
// nothing.
func authorizationFailed(err error) error {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		switch se.ErrStatus.Code {
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return se
		}
	}
	return apierrors.NewInternalError(errors.New("authorization failed"))
}

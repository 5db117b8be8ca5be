package apiserver

import (
	"context"
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
	if errors.Is(err, context.Canceled) {
		return ew.canceled(r, err)
	}
	var as apierrors.APIStatus
	if errors.As(err, &as) {
		st := as.Status()
		if st.Reason == metav1.StatusReasonStoreReadError {
			// A damaged object: the registry logged it once already.
			ew.Logger.Debug("request failed on a damaged object", "method", r.Method, "path", r.URL.Path, "err", err)
			return st
		}
		if st.Code >= 500 {
			ew.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", st.Code, "err", err)
		} else {
			ew.Logger.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "code", st.Code, "reason", st.Reason)
		}
		return st
	}
	if r.Context().Err() == context.Canceled {
		// Whatever failed, the client had left already.
		return ew.canceled(r, err)
	}
	ew.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return apierrors.NewInternalError(errors.New("an error on the server has prevented the request from succeeding")).ErrStatus
}

// canceled is the answer to a request whose client went away (a reset
// stream, a closed connection): not a failure of the server. Nobody reads
// it, but the metrics and the log see 499, as kube-apiserver counts it.
func (ew ErrorWriter) canceled(r *http.Request, err error) metav1.Status {
	ew.Logger.Debug("request canceled by the client", "method", r.Method, "path", r.URL.Path, "err", err)
	return metav1.Status{
		Status: metav1.StatusFailure, Code: StatusClientClosedRequest, Reason: "ClientClosedRequest",
		Message: "the client closed the request before it was answered",
	}
}

// StatusClientClosedRequest is the code recorded for a request whose client
// went away before it was answered (nginx's 499, which kube-apiserver's
// metrics use too). It is not a server error.
const StatusClientClosedRequest = 499

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
	if errors.Is(err, context.Canceled) {
		return err
	}
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		switch se.ErrStatus.Code {
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return se
		}
	}
	return apierrors.NewInternalError(errors.New("authorization failed"))
}

package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/registry"
)

// PodConnector reaches the node that runs a pod, for the pod subresources
// that stream: logs and port-forward now; exec and attach later; and for
// the proxies into pods (pods/proxy, services/proxy, the forward proxy,
// proxy.go and forwardproxy.go). The node
// agent of this process implements it; with several nodes an authenticated
// hop to the pod's node sits behind the same interface. Errors are Status
// errors (400 for a container that is not there or not started) or plain
// errors (a 500).
type PodConnector interface {
	// Logs opens the log of a container of pod, as opts ask.
	Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error)
	// TruncateLog empties the log of a container of pod.
	TruncateLog(ctx context.Context, pod *corev1.Pod, container string) error
	// PortForward connects stream to port of pod and copies both ways
	// until both sides are done or ctx ends; only a failure to connect is
	// an error, reported to the client as the kubelet words it.
	PortForward(ctx context.Context, pod *corev1.Pod, port int32, stream io.ReadWriteCloser) error
	// DialPod opens a TCP connection to port of pod, for the proxies.
	DialPod(ctx context.Context, pod *corev1.Pod, port int32) (net.Conn, error)
}

// maxRangedLog bounds how much of a log is read to answer a Range request,
// which needs the whole representation to find its end.
const maxRangedLog = 32 << 20

// Subprotocols of a log followed over WebSocket, as kube-apiserver offers
// them: each message carries log bytes, raw or base64.
var logProtocols = []string{"", "binary.k8s.io", "base64.binary.k8s.io"}

// servePodLog answers pods/{name}/log:
//
//	GET                 200 text/plain (chunked while following), or 206
//	                    with Content-Range for a satisfiable Range, 416
//	                    with Content-Range: bytes */LENGTH for one that
//	                    starts past the end; 101 when a follow switches
//	                    to WebSocket
//	DELETE              205 Reset Content: the log was emptied
//
// Accept must admit text/plain (406 otherwise).
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, info *RequestInfo, pod *corev1.Pod) error {
	if s.cfg.Pods == nil {
		return apierrors.NewServiceUnavailable("this server runs no pods (started with --runtime none): there are no logs")
	}
	q := r.URL.Query()
	if r.Method == http.MethodDelete {
		if err := s.cfg.Pods.TruncateLog(r.Context(), pod, q.Get("container")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusResetContent)
		return nil
	}
	if !acceptsText(r.Header.Get("Accept")) {
		return notAcceptable([]string{"text/plain"})
	}
	opts, err := parseLogOptions(q)
	if err != nil {
		return err
	}
	if isWebSocketRequest(r) {
		return s.podLogWebSocket(w, r, pod, opts)
	}
	ranged := r.Header.Get("Range") != "" && !opts.Follow
	rc, err := s.cfg.Pods.Logs(r.Context(), pod, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Cache-Control", "no-cache, private")
	h.Set("X-Content-Type-Options", "nosniff")
	if !opts.Follow {
		h.Set("Accept-Ranges", "bytes")
	}
	if ranged {
		data, err := io.ReadAll(io.LimitReader(rc, maxRangedLog))
		if err != nil {
			return err
		}
		return writeRange(w, r.Header.Get("Range"), data)
	}
	if !opts.Follow {
		w.WriteHeader(http.StatusOK)
		_, _ = io.Copy(w, rc)
		return nil
	}
	// Follow: every read is passed on at once.
	w.WriteHeader(http.StatusOK)
	rcw := http.NewResponseController(w)
	_ = rcw.Flush()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
			_ = rcw.Flush()
		}
		if err != nil {
			return nil
		}
	}
}

// podLogWebSocket follows a log over WebSocket: one message per read, raw
// in binary messages or base64 in text messages by the subprotocol.
func (s *Server) podLogWebSocket(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, opts *corev1.PodLogOptions) error {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	rc, err := s.cfg.Pods.Logs(ctx, pod, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	ws, err := s.upgradeWebSocket(w, r, logProtocols)
	if err != nil {
		if errors.Is(err, errSwitchFailed) {
			return nil
		}
		return err
	}
	replied := make(chan struct{})
	go func() {
		// Read to see the client's close frame or its going away.
		defer close(replied)
		defer cancel()
		for {
			if _, _, err := ws.conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			typ, msg := websocket.BinaryMessage, buf[:n]
			if ws.protocol == "base64.binary.k8s.io" {
				typ, msg = websocket.TextMessage, []byte(base64.StdEncoding.EncodeToString(buf[:n]))
			}
			_ = ws.conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
			if err := ws.conn.WriteMessage(typ, msg); err != nil {
				ws.close()
				return nil
			}
		}
		if rerr != nil {
			select {
			case <-replied:
				ws.close()
			default:
				ws.closeWith(websocket.CloseNormalClosure, "", replied)
			}
			return nil
		}
	}
}

// isPods reports the endpoint of core/v1 pods.
func isPods(ep *registry.Endpoint) bool {
	return ep.Group == "" && ep.Resource.Plural == "pods" && ep.Store != nil
}

// podFor reads the pod a pod subresource request names.
func (h *resourceHandler) podFor(r *http.Request) (*corev1.Pod, error) {
	obj, err := h.ep.Store.GetObject(r.Context(), h.info.Namespace, h.info.Name)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("apiserver: the pods store holds %T", obj)
	}
	return pod, nil
}

// acceptsText reports whether an Accept header admits text/plain.
func acceptsText(accept string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "text/plain", "text/*", "*/*":
			return true
		}
	}
	return false
}

// notAcceptable is the 406 listing what a path produces.
func notAcceptable(types []string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotAcceptable, Reason: metav1.StatusReasonNotAcceptable,
		Message: "only the following media types are accepted: " + strings.Join(types, ", "),
	}}
}

// parseLogOptions reads the pods/log query parameters, checked as
// kube-apiserver checks them.
func parseLogOptions(q url.Values) (*corev1.PodLogOptions, error) {
	o := &corev1.PodLogOptions{Container: q.Get("container")}
	var errs []string
	boolParam := func(name string, dst *bool) {
		if v := q.Get(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: invalid value %q: must be true or false", name, v))
			}
			*dst = b
		}
	}
	intParam := func(name string, min int64) *int64 {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			errs = append(errs, fmt.Sprintf("%s: Invalid value: %q: must be an integer of at least %d", name, v, min))
			return nil
		}
		return &n
	}
	boolParam("follow", &o.Follow)
	boolParam("previous", &o.Previous)
	boolParam("timestamps", &o.Timestamps)
	boolParam("insecureSkipTLSVerifyBackend", &o.InsecureSkipTLSVerifyBackend)
	o.SinceSeconds = intParam("sinceSeconds", 1)
	o.TailLines = intParam("tailLines", 0)
	o.LimitBytes = intParam("limitBytes", 1)
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("sinceTime: invalid value %q: must be an RFC 3339 time", v))
		} else {
			mt := metav1.NewTime(t)
			o.SinceTime = &mt
		}
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		errs = append(errs, "at most one of `sinceTime` or `sinceSeconds` may be specified")
	}
	if len(errs) > 0 {
		return nil, apierrors.NewBadRequest(strings.Join(errs, "; "))
	}
	return o, nil
}

// writeRange answers a single byte range of data: 206 with Content-Range,
// or 416 with Content-Range: bytes */LENGTH when the range starts past the
// end. A Range that is malformed, not in bytes, or of several ranges is
// ignored (RFC 9110 14.2 allows it): the whole log is sent with 200.
func writeRange(w http.ResponseWriter, header string, data []byte) error {
	size := int64(len(data))
	start, end, ok, satisfiable := parseRange(header, size)
	if !ok {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return nil
	}
	if !satisfiable {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusRequestedRangeNotSatisfiable, Reason: "RequestedRangeNotSatisfiable",
			Message: fmt.Sprintf("the range %q starts past the end of the log (%d bytes)", header, size),
		}}
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = io.Copy(w, bytes.NewReader(data[start:end+1]))
	return nil
}

// parseRange reads "bytes=A-B", "bytes=A-" or "bytes=-N" against a
// representation of size bytes. ok is false for anything else (the header
// is then ignored); satisfiable is false when the range starts past the end.
func parseRange(header string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false, false
		}
		if size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	s, err := strconv.ParseInt(a, 10, 64)
	if err != nil || s < 0 {
		return 0, 0, false, false
	}
	e := size - 1
	if b != "" {
		if e, err = strconv.ParseInt(b, 10, 64); err != nil || e < s {
			return 0, 0, false, false
		}
		e = min(e, size-1)
	}
	if s >= size {
		return 0, 0, true, false
	}
	return s, e, true, true
}

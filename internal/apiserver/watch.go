package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"cella.dev/cella/internal/registry"
)

// watch serves a watch as a chunked stream of JSON events, one per line,
// flushed as they happen, or over a WebSocket when the request asks to
// switch (watch_ws.go), until the client goes away, timeoutSeconds passes
// or the server shuts down. Errors after the stream has started are sent
// in-band as an ERROR event carrying a Status, as Kubernetes does.
func (h *resourceHandler) watch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lsel, fsel, err := parseSelectors(q)
	if err != nil {
		return err
	}
	if fsel, err = h.checkFieldSelector(fsel); err != nil {
		return err
	}
	if h.info.Name != "" {
		// A legacy /watch/.../{name} path watches one object.
		fsel = fields.AndSelectors(fsel, fields.OneTermEqualSelector("metadata.name", h.info.Name))
	}
	timeout := time.Duration(float64(30*time.Minute) * (1 + rand.Float64()))
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q: must be a non-negative integer", v))
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	opts := registry.WatchOptions{
		Labels: lsel, Fields: fsel,
		ResourceVersion: q.Get("resourceVersion"),
		AllowBookmarks:  q.Get("allowWatchBookmarks") == "true",
	}
	if v := q.Get("sendInitialEvents"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid sendInitialEvents %q", v))
		}
		if b {
			if metav1.ResourceVersionMatch(q.Get("resourceVersionMatch")) != metav1.ResourceVersionMatchNotOlderThan {
				return apierrors.NewInvalid(h.ep.GroupVersionKind().GroupKind(), "", fieldErrs("resourceVersionMatch", q.Get("resourceVersionMatch"), "sendInitialEvents requires resourceVersionMatch=NotOlderThan"))
			}
			if !opts.AllowBookmarks {
				return apierrors.NewInvalid(h.ep.GroupVersionKind().GroupKind(), "", fieldErrs("allowWatchBookmarks", "false", "sendInitialEvents requires allowWatchBookmarks=true"))
			}
		}
		opts.SendInitialEvents = b
	}
	ctx := r.Context()
	events, stop, err := h.ep.Store.Watch(ctx, h.namespaceFor(), opts)
	var expired *metav1.Status
	switch {
	case err == nil:
		defer stop()
	case apierrors.IsResourceExpired(err) || apierrors.IsGone(err):
		// A watch from a version older than the kept history: answer 200
		// (or 101) with one in-band 410 ERROR event, so client-go relists.
		st := apierrors.NewResourceExpired("too old resource version: " + opts.ResourceVersion).ErrStatus
		expired = &st
	default:
		return err
	}
	var out watchStream
	if isWebSocketRequest(r) {
		ws, err := h.upgradeWatch(w, r)
		if errors.Is(err, errSwitchFailed) {
			return nil
		}
		if err != nil {
			return err
		}
		out = ws
	} else {
		flusher, ok := w.(http.Flusher)
		if !ok {
			return fmt.Errorf("watch: response writer cannot flush")
		}
		h.startStream(w)
		out = &chunkedWatch{w: w, f: flusher}
	}
	if expired != nil {
		why := watchEnded
		if err := h.writeEvent(out, registry.WatchEvent{Type: watch.Error, Status: expired}); err != nil {
			why = watchWriteFailed
		}
		out.flush()
		out.end(why)
		return nil
	}
	out.flush()
	out.end(h.pump(ctx, out, events, timeout))
	return nil
}

// watchStream is how watch events leave: a chunked response or a
// WebSocket. writeEvent writes each event with one Write.
type watchStream interface {
	io.Writer
	// flush sends what Write has buffered.
	flush()
	// clientGone is closed when the client has left; nil when only the
	// request context tells that.
	clientGone() <-chan struct{}
	// end finishes the stream for the given reason.
	end(why watchEnd)
}

// watchEnd is why a watch stream ended.
type watchEnd int

const (
	watchEnded       watchEnd = iota // timeoutSeconds passed, or the source ended
	watchShutdown                    // the server is shutting down
	watchClientGone                  // the client left
	watchWriteFailed                 // an event could not be sent
)

// pump sends events to out until the watch ends, and says why.
func (h *resourceHandler) pump(ctx context.Context, out watchStream, events <-chan registry.WatchEvent, timeout time.Duration) watchEnd {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return watchClientGone
		case <-out.clientGone():
			return watchClientGone
		case <-h.s.shutdown:
			return watchShutdown
		case <-timer.C:
			return watchEnded
		case ev, ok := <-events:
			if !ok {
				return watchEnded
			}
			if err := h.writeEvent(out, ev); err != nil {
				return watchWriteFailed
			}
			// Drain what is already queued before flushing, so a burst
			// goes out in few writes.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						out.flush()
						return watchEnded
					}
					if err := h.writeEvent(out, ev); err != nil {
						return watchWriteFailed
					}
				default:
					more = false
				}
			}
			out.flush()
		}
	}
}

// chunkedWatch is a watchStream over a chunked HTTP response.
type chunkedWatch struct {
	w http.ResponseWriter
	f http.Flusher
}

func (c *chunkedWatch) Write(p []byte) (int, error) { return c.w.Write(p) }
func (c *chunkedWatch) flush()                      { c.f.Flush() }
func (c *chunkedWatch) clientGone() <-chan struct{} { return nil }
func (c *chunkedWatch) end(watchEnd)                {}

func (h *resourceHandler) startStream(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", h.out.contentType())
	hdr.Set("Cache-Control", "no-cache, private")
	hdr.Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
}

// writeEvent writes one event line with one Write.
func (h *resourceHandler) writeEvent(w io.Writer, ev registry.WatchEvent) error {
	var obj []byte
	var err error
	switch {
	case ev.Type == watch.Error:
		st := *ev.Status
		st.Kind, st.APIVersion, st.Status = "Status", "v1", metav1.StatusFailure
		obj, err = json.Marshal(st)
	case h.out.kind == outTable && ev.Type != watch.Bookmark:
		var o runtime.Object
		if o, err = h.ep.Store.Decode(ev.JSON); err == nil {
			t := h.s.table(h.ep, []runtime.Object{o}, "", h.out.tableVersion, "")
			obj, err = json.Marshal(t)
		}
	case h.out.kind == outPartial && ev.Type != watch.Bookmark:
		var o runtime.Object
		if o, err = h.ep.Store.Decode(ev.JSON); err == nil {
			obj, err = json.Marshal(partialMetadata(o, h.out.tableVersion))
		}
	case ev.Type == watch.Bookmark:
		obj = ev.JSON
		if h.ep.Converted() || h.out.kind != outObject {
			obj, err = h.bookmarkFor(ev.JSON)
		}
	default:
		obj, err = h.ep.ToServed(ev.JSON)
	}
	if err != nil {
		return err
	}
	line := make([]byte, 0, len(obj)+32)
	line = append(line, `{"type":"`...)
	line = append(line, ev.Type...)
	line = append(line, `","object":`...)
	line = append(line, obj...)
	line = append(line, "}\n"...)
	if h.out.yaml {
		// YAML watches are framed as YAML documents.
		body, err := h.out.encodeBody(line)
		if err != nil {
			return err
		}
		line = append([]byte("---\n"), body...)
	}
	_, err = w.Write(line)
	return err
}

// bookmarkFor re-kinds a stored-version bookmark for the served version.
func (h *resourceHandler) bookmarkFor(stored []byte) ([]byte, error) {
	var m struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := json.Unmarshal(stored, &m); err != nil {
		return nil, err
	}
	gvk := h.ep.GroupVersionKind()
	if h.out.kind == outPartial {
		gvk.Group, gvk.Version, gvk.Kind = "meta.k8s.io", h.out.tableVersion, "PartialObjectMetadata"
	}
	return json.Marshal(map[string]any{"kind": gvk.Kind, "apiVersion": gvk.GroupVersion().String(), "metadata": m.Metadata})
}

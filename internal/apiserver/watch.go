package apiserver

import (
	"encoding/json"
	"fmt"
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
// flushed as they happen, until the client goes away, timeoutSeconds passes
// or the server shuts down. Errors after the stream has started are sent
// in-band as an ERROR event carrying a Status, as Kubernetes does.
func (h *resourceHandler) watch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lsel, fsel, err := parseSelectors(q)
	if err != nil {
		return err
	}
	if err := h.checkFieldSelector(fsel); err != nil {
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
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("watch: response writer cannot flush")
	}
	ctx := r.Context()
	events, stop, err := h.ep.Store.Watch(ctx, h.namespaceFor(), opts)
	if err != nil {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			// A watch from a version older than the kept history: answer 200
			// with one in-band 410 ERROR event, so client-go relists.
			st := apierrors.NewResourceExpired("too old resource version: " + opts.ResourceVersion).ErrStatus
			h.startStream(w)
			_ = h.writeEvent(w, registry.WatchEvent{Type: watch.Error, Status: &st})
			flusher.Flush()
			return nil
		}
		return err
	}
	defer stop()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	h.startStream(w)
	flusher.Flush()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.s.shutdown:
			return nil
		case <-timer.C:
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			if err := h.writeEvent(w, ev); err != nil {
				return nil
			}
			// Drain what is already queued before flushing, so a burst
			// goes out in few writes.
			for more := true; more; {
				select {
				case ev, ok := <-events:
					if !ok {
						flusher.Flush()
						return nil
					}
					if err := h.writeEvent(w, ev); err != nil {
						return nil
					}
				default:
					more = false
				}
			}
			flusher.Flush()
		}
	}
}

func (h *resourceHandler) startStream(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Type", h.out.contentType())
	hdr.Set("Cache-Control", "no-cache, private")
	hdr.Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
}

// writeEvent writes one event line.
func (h *resourceHandler) writeEvent(w http.ResponseWriter, ev registry.WatchEvent) error {
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

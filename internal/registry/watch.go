package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"

	"cella.dev/cella/internal/storage"
)

// WatchOptions are the parsed watch parameters.
type WatchOptions struct {
	Labels          labels.Selector
	Fields          fields.Selector
	ResourceVersion string
	// SendInitialEvents asks for the current state as ADDED events, then a
	// BOOKMARK annotated k8s.io/initial-events-end, then changes.
	SendInitialEvents bool
	// AllowBookmarks lets the stream carry BOOKMARK events.
	AllowBookmarks bool
}

// WatchEvent is one event of a watch, in the stored version.
type WatchEvent struct {
	Type watch.EventType
	// JSON is the object with its resourceVersion (not set for ERROR).
	JSON []byte
	// Status is set on ERROR events.
	Status *metav1.Status
}

// InitialEventsAnnotation marks the bookmark that ends the initial events of
// a watch with sendInitialEvents.
const InitialEventsAnnotation = "k8s.io/initial-events-end"

// Watch opens a watch on namespace ("" for all). Events arrive on the
// returned channel until ctx ends or stop is called; the channel is closed
// after that. Errors that happen before the watch starts (a resource
// version too old) are returned; later ones arrive as an ERROR event.
func (s *Store) Watch(ctx context.Context, namespace string, o WatchOptions) (<-chan WatchEvent, func(), error) {
	gr := s.Resource.GroupResource()
	so := storage.WatchOptions{ProgressNotify: o.AllowBookmarks}
	switch {
	case o.SendInitialEvents:
		so.InitialState = true
	case o.ResourceVersion == "" || o.ResourceVersion == "0":
		// "Get state and start at most recent": existing objects as ADDED.
		so.InitialState = true
	default:
		rv, err := strconv.ParseInt(o.ResourceVersion, 10, 64)
		if err != nil || rv < 0 {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a non-negative integer", o.ResourceVersion))
		}
		so.Revision = rv
	}
	lsel, fsel := o.Labels, o.Fields
	if lsel != nil && lsel.Empty() {
		lsel = nil
	}
	if fsel != nil && fsel.Empty() {
		fsel = nil
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.storage.Watch(ctx, s.listPrefix(namespace), so)
	if err != nil {
		cancel()
		return nil, nil, interpretError(err, gr, "")
	}
	// Unbuffered: the storage watcher's queue, bounded in events and bytes
	// by the watch cache, is the watch's one buffer. Each event here is a
	// copy of the object, so a buffer here would hold copies that no bound
	// counts while the client does not read.
	out := make(chan WatchEvent)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		defer w.Stop()
		for ev := range w.ResultChan() {
			we, ok := s.translate(ev, lsel, fsel, o)
			if !ok {
				continue
			}
			select {
			case out <- we:
			case <-ctx.Done():
				return
			}
			if we.Type == watch.Error {
				return
			}
		}
	}()
	stop := func() {
		cancel()
		<-done
	}
	return out, stop, nil
}

// translate turns a storage event into a watch event, applying the
// selectors. ok is false for events the watcher must not see.
func (s *Store) translate(ev storage.Event, lsel labels.Selector, fsel fields.Selector, o WatchOptions) (WatchEvent, bool) {
	switch ev.Type {
	case storage.EventBookmark:
		if !o.AllowBookmarks && !ev.InitialEventsEnd {
			return WatchEvent{}, false
		}
		if ev.InitialEventsEnd && !o.SendInitialEvents {
			return WatchEvent{}, false
		}
		return WatchEvent{Type: watch.Bookmark, JSON: s.bookmark(ev.Revision, ev.InitialEventsEnd)}, true
	case storage.EventError:
		st := statusFor(interpretError(ev.Err, s.Resource.GroupResource(), ""))
		if errors.Is(ev.Err, storage.ErrCompacted) {
			st = apierrors.NewResourceExpired("too old resource version").ErrStatus
			st.Message = "too old resource version: the watch fell behind the kept history"
		}
		return WatchEvent{Type: watch.Error, Status: &st}, true
	}
	typ := watch.Modified
	switch {
	case ev.Type == storage.EventDelete:
		typ = watch.Deleted
	case ev.Created:
		typ = watch.Added
	}
	if lsel != nil || fsel != nil {
		cur := s.matchesRaw(ev.Value, lsel, fsel)
		prev := false
		if ev.PrevValue != nil && ev.Type == storage.EventPut {
			prev = s.matchesRaw(ev.PrevValue, lsel, fsel)
		}
		switch {
		case typ == watch.Modified && cur && !prev:
			typ = watch.Added
		case typ == watch.Modified && !cur && prev:
			// The object left the selection: report its new state as a
			// delete, as Kubernetes does.
			typ = watch.Deleted
		case !cur:
			return WatchEvent{}, false
		}
	}
	return WatchEvent{Type: typ, JSON: withResourceVersion(ev.Value, ev.Revision)}, true
}

func (s *Store) matchesRaw(data []byte, lsel labels.Selector, fsel fields.Selector) bool {
	obj, err := s.Decode(data)
	if err != nil {
		return false
	}
	return s.Matches(obj, lsel, fsel)
}

// bookmark returns the JSON of a bookmark object: the kind with only a
// resourceVersion (and the initial-events-end annotation).
func (s *Store) bookmark(rv int64, initialEnd bool) []byte {
	gvk := s.Resource.GroupVersionKind()
	ann := ""
	if initialEnd {
		ann = `,"annotations":{"` + InitialEventsAnnotation + `":"true"}`
	}
	return fmt.Appendf(nil, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"%s}}`,
		gvk.Kind, gvk.GroupVersion().String(), rv, ann)
}

// statusFor returns the Status of an error (an InternalError for errors
// that are not Status errors).
func statusFor(err error) metav1.Status {
	var as apierrors.APIStatus
	if errors.As(err, &as) {
		return as.Status()
	}
	return apierrors.NewInternalError(errors.New("watch failed")).ErrStatus
}

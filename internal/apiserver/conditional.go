package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// This file answers conditional requests (RFC 9110 section 13) on objects,
// collections and discovery documents. OpenAPI documents answer their own,
// in internal/openapi.
//
// Validators. An object's entity tag is its resourceVersion; a collection's
// is the resourceVersion of the list. Both are strong: one resourceVersion
// is one stored state, and the bytes of each representation of it are fixed.
// Since a strong tag names one representation, the forms a path can answer
// in get their own tags:
//
//	JSON                          "7"
//	YAML                          "7-yaml"
//	PartialObjectMetadata(List)   "7-partial-v1"     ("7-partial-v1-yaml")
//	Table                         W/"7-table-v1"     (W/"7-table-v1-yaml")
//
// Tables are weak: their cells hold ages computed from the clock, so the
// bytes change while the state does not. A discovery document's tag is a
// hash of its bytes.
//
// Objects also have Last-Modified: storage records when each write
// committed (storage.KeyValue.ModTime). HTTP dates have one-second
// resolution, so two writes in one second would share a date, and a client
// holding the first could pass If-Unmodified-Since over the second. Hence
// Last-Modified is only sent once the second it names is over: a
// representation read after that second already shows every write made in
// it, and any later write is dated after it. Collections have no
// Last-Modified: their last change may be a delete, which leaves no object
// to carry its time, so they are validated by their tag alone.
//
// Evaluation follows RFC 9110 section 13.2.2: If-Match, else
// If-Unmodified-Since (412 when false); then If-None-Match, else
// If-Modified-Since on GET and HEAD (304 when false on GET and HEAD, 412 on
// writes). The checks run after negotiation (406, 415) and before the body
// is read, so a PUT that announced Expect: 100-continue gets its 412
// without sending the body. On a missing object preconditions do not apply
// (RFC 9110 13.2.1): the answer is the 404 the request gets anyway.
//
// Writes. A precondition is evaluated against the object as read before the
// write; the write is then made conditional on that resourceVersion (a
// registry precondition), so a change that lands in between cannot slip
// through. Such a late change is answered like an early one: 412 with the
// new ETag, since the client's condition is what failed; 409 stays the
// answer for a stale metadata.resourceVersion in the body.

// reasonPreconditionFailed is the reason of the 412 Status. apimachinery
// has no StatusReason for 412; this is RFC 9110's reason phrase, as Cella
// names 406 and 415.
const reasonPreconditionFailed metav1.StatusReason = "PreconditionFailed"

// representations are every form an object or collection is served in.
// If-Match may name the current state in any of them (see names).
var representations = []output{
	{},
	{yaml: true},
	{kind: outPartial, tableVersion: "v1"},
	{kind: outPartial, tableVersion: "v1", yaml: true},
	{kind: outPartial, tableVersion: "v1beta1"},
	{kind: outPartial, tableVersion: "v1beta1", yaml: true},
	{kind: outTable, tableVersion: "v1"},
	{kind: outTable, tableVersion: "v1", yaml: true},
	{kind: outTable, tableVersion: "v1beta1"},
	{kind: outTable, tableVersion: "v1beta1", yaml: true},
}

// etag returns the entity tag of the state at resourceVersion rv in this
// form, quoted, with W/ for the weak Table forms.
func (o output) etag(rv int64) string {
	var b strings.Builder
	if o.kind == outTable {
		b.WriteString("W/")
	}
	b.WriteByte('"')
	b.WriteString(strconv.FormatInt(rv, 10))
	switch o.kind {
	case outTable:
		b.WriteString("-table-" + o.tableVersion)
	case outPartial:
		b.WriteString("-partial-" + o.tableVersion)
	}
	if o.yaml {
		b.WriteString("-yaml")
	}
	b.WriteByte('"')
	return b.String()
}

// validators are what a request's conditions are checked against.
type validators struct {
	// etag is the tag of the representation this request selects.
	etag string
	// rv, when set, is the resourceVersion etag derives from; the tags of
	// the other representations of that state then match If-Match too.
	rv int64
	// modTime is when the state was written; zero when unknown.
	modTime time.Time
	// varyAccept is set for resources, whose representation Accept selects.
	varyAccept bool
}

// resourceValidators returns the validators of the state at rv, in the
// representation h negotiated.
func (h *resourceHandler) resourceValidators(rv int64, modTime time.Time) validators {
	return validators{etag: h.out.etag(rv), rv: rv, modTime: modTime, varyAccept: true}
}

// documentValidators returns the validators of a fixed document: a strong
// tag hashed from its bytes. Discovery documents are a few KiB, so hashing
// one costs less than writing it.
func documentValidators(doc []byte) validators {
	sum := sha256.Sum256(doc)
	return validators{etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// names reports whether t names the state v describes: weakly (opaque tags
// equal) or strongly (both tags strong as well). With weak comparison only
// the selected representation's tag counts, since a 304 tells the client
// that the very bytes it holds are current; with strong comparison, for
// If-Match, any representation's tag of the same state does, since it
// proves the client saw that state.
func (v validators) names(t entityTag, strong bool) bool {
	cur := parseEntityTag(v.etag)
	if !strong {
		return t.opaque == cur.opaque
	}
	if t.weak {
		return false
	}
	if !cur.weak && t.opaque == cur.opaque {
		return true
	}
	if v.rv == 0 {
		return false
	}
	for _, o := range representations {
		if e := parseEntityTag(o.etag(v.rv)); !e.weak && e.opaque == t.opaque {
			return true
		}
	}
	return false
}

// lastModified returns the Last-Modified date to send at now, or the zero
// Time when there is none yet (see the comment at the top of the file).
func (v validators) lastModified(now time.Time) time.Time {
	lm := v.modTime.Truncate(time.Second)
	if v.modTime.IsZero() || !lm.Before(now.Truncate(time.Second)) {
		return time.Time{}
	}
	return lm
}

// setHeaders sets ETag, Last-Modified when there is one, and Vary.
func (v validators) setHeaders(w http.ResponseWriter, now time.Time) {
	h := w.Header()
	h.Set("ETag", v.etag)
	if lm := v.lastModified(now); !lm.IsZero() {
		h.Set("Last-Modified", lm.UTC().Format(http.TimeFormat))
	}
	if v.varyAccept {
		h.Add("Vary", "Accept")
	}
}

// outcome is what a request's conditions decide.
type outcome int

const (
	proceed            outcome = iota
	notModified                // 304: the client's copy is current
	preconditionFailed         // 412
)

// evaluate checks the conditional headers of r against an existing
// resource, in the order of RFC 9110 section 13.2.2. For a
// preconditionFailed it names the header that failed.
func evaluate(r *http.Request, v validators) (outcome, string) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	changedSince := func(d time.Time) bool {
		return v.modTime.Truncate(time.Second).After(d)
	}
	if im := r.Header.Values("If-Match"); len(im) > 0 {
		if !matchAny(im, v, true) {
			return preconditionFailed, "If-Match"
		}
	} else if d, ok := headerDate(r, "If-Unmodified-Since"); ok && !v.modTime.IsZero() && changedSince(d) {
		return preconditionFailed, "If-Unmodified-Since"
	}
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 {
		if matchAny(inm, v, false) {
			if read {
				return notModified, ""
			}
			return preconditionFailed, "If-None-Match"
		}
	} else if d, ok := headerDate(r, "If-Modified-Since"); ok && read && !v.modTime.IsZero() && !changedSince(d) {
		return notModified, ""
	}
	return proceed, ""
}

// conditional reports whether r carries any header evaluate reads.
func conditional(r *http.Request) bool {
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if _, ok := r.Header[k]; ok {
			return true
		}
	}
	return false
}

// headerDate parses a date header; a missing or invalid date is ignored,
// as RFC 9110 requires.
func headerDate(r *http.Request, name string) (time.Time, bool) {
	v := r.Header.Get(name)
	if v == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v)
	return t, err == nil
}

// matchAny reports whether the field values (of If-Match or If-None-Match)
// name the resource: "*", or a tag that names it. A value that does not
// parse matches nothing.
func matchAny(values []string, v validators, strong bool) bool {
	for _, value := range values {
		tags, star, ok := parseEntityTags(value)
		if !ok {
			continue
		}
		if star {
			return true
		}
		for _, t := range tags {
			if v.names(t, strong) {
				return true
			}
		}
	}
	return false
}

// entityTag is a parsed entity-tag: its opaque part, quotes included.
type entityTag struct {
	weak   bool
	opaque string
}

// parseEntityTag splits a tag Cella generated.
func parseEntityTag(s string) entityTag {
	weak := strings.HasPrefix(s, "W/")
	return entityTag{weak: weak, opaque: strings.TrimPrefix(s, "W/")}
}

// parseEntityTags parses a field value of If-Match or If-None-Match: "*"
// or a comma-separated list of entity-tags (RFC 9110 section 8.8.3).
func parseEntityTags(s string) (tags []entityTag, star bool, ok bool) {
	s = strings.TrimSpace(s)
	if s == "*" {
		return nil, true, true
	}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return tags, false, true
		}
		var t entityTag
		if strings.HasPrefix(s, "W/") {
			t.weak, s = true, s[2:]
		}
		if len(s) < 2 || s[0] != '"' {
			return nil, false, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return nil, false, false
		}
		t.opaque, s = s[:end+2], s[end+2:]
		for i := 1; i < len(t.opaque)-1; i++ {
			if c := t.opaque[i]; c < 0x21 || c == 0x7f {
				return nil, false, false
			}
		}
		tags = append(tags, t)
		if s = strings.TrimLeft(s, " \t"); s != "" && s[0] != ',' {
			return nil, false, false
		}
	}
}

// conditionalRead answers the conditions of a GET or HEAD of the resource
// gr/name (or of a document, gr and name empty): it sets the validators on
// w, writes 304 and reports done when the client's copy is current, and
// returns a 412 error when a precondition fails.
func (s *Server) conditionalRead(w http.ResponseWriter, r *http.Request, v validators, gr schema.GroupResource, name string) (done bool, err error) {
	v.setHeaders(w, s.now())
	switch o, failed := evaluate(r, v); o {
	case notModified:
		w.Header().Set("Cache-Control", "no-cache, private")
		w.WriteHeader(http.StatusNotModified)
		return true, nil
	case preconditionFailed:
		return false, errPreconditionFailed(gr, name, "the precondition "+failed+" does not hold", v.etag)
	}
	return false, nil
}

// writePrecondition is the state a conditional write was checked against.
// The zero value, for a request without conditions, pins nothing.
type writePrecondition struct {
	rv int64
}

// preconditions returns the registry precondition that makes the write
// apply only to the state that was checked, or nil.
func (p writePrecondition) preconditions() *metav1.Preconditions {
	if p.rv == 0 {
		return nil
	}
	rv := strconv.FormatInt(p.rv, 10)
	return &metav1.Preconditions{ResourceVersion: &rv}
}

// pinDelete adds p to the preconditions of a delete, keeping a
// resourceVersion precondition the client sent itself.
func (p writePrecondition) pinDelete(opts *metav1.DeleteOptions) {
	pre := p.preconditions()
	switch {
	case pre == nil:
	case opts.Preconditions == nil:
		opts.Preconditions = pre
	case opts.Preconditions.ResourceVersion == nil:
		opts.Preconditions.ResourceVersion = pre.ResourceVersion
	}
}

// checkWrite evaluates the conditions of a PUT, PATCH or DELETE of an
// object against its current state, before the body is read. Without
// conditional headers it reads nothing. A failed condition is a 412 with
// the current ETag set on w; a missing object is its 404.
func (h *resourceHandler) checkWrite(w http.ResponseWriter, r *http.Request) (writePrecondition, error) {
	if !conditional(r) {
		return writePrecondition{}, nil
	}
	raw, err := h.ep.Store.Get(r.Context(), h.namespaceFor(), h.info.Name)
	if err != nil {
		return writePrecondition{}, err
	}
	v := h.resourceValidators(raw.ResourceVersion, raw.ModTime)
	if o, failed := evaluate(r, v); o != proceed {
		w.Header().Set("ETag", v.etag)
		return writePrecondition{}, errPreconditionFailed(h.ep.Resource.GroupResource(), h.info.Name, "the precondition "+failed+" does not hold", v.etag)
	}
	return writePrecondition{rv: raw.ResourceVersion}, nil
}

// lateConflict turns the 409 of a write pinned by p into the 412 its
// condition calls for when the object changed after it was checked. Other
// errors, and a 409 for a stale resourceVersion in the body while the
// object is still at the checked state, pass unchanged.
func (h *resourceHandler) lateConflict(w http.ResponseWriter, r *http.Request, p writePrecondition, err error) error {
	if p.rv == 0 || !apierrors.IsConflict(err) {
		return err
	}
	raw, gerr := h.ep.Store.Get(r.Context(), h.namespaceFor(), h.info.Name)
	if gerr != nil || raw.ResourceVersion == p.rv {
		return err
	}
	etag := h.out.etag(raw.ResourceVersion)
	w.Header().Set("ETag", etag)
	return errPreconditionFailed(h.ep.Resource.GroupResource(), h.info.Name, "the object changed after its preconditions were checked", etag)
}

// errPreconditionFailed is the 412 Status for the resource gr/name, or for
// a document when name is empty.
func errPreconditionFailed(gr schema.GroupResource, name, why, etag string) error {
	st := metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusPreconditionFailed, Reason: reasonPreconditionFailed,
		Message: fmt.Sprintf("%s; the current ETag is %s", why, etag),
	}
	if name != "" {
		st.Message = fmt.Sprintf("%s %q: %s", gr.String(), name, st.Message)
		st.Details = &metav1.StatusDetails{Name: name, Group: gr.Group, Kind: gr.Resource}
	}
	return &apierrors.StatusError{ErrStatus: st}
}

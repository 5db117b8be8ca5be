package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"cella.dev/cella/internal/registry"
)

// resourceHandler serves one request for an Endpoint. Handlers return
// errors; serveResource writes them.
type resourceHandler struct {
	s    *Server
	ep   *registry.Endpoint
	info *RequestInfo
	out  output
	// rc sets read deadlines while the body is read.
	rc *http.ResponseController
}

// serveResource dispatches a resource request to its verb. The routing
// step has checked the path and that the method is one it takes
// (routing.go), so what is left here is the verb.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *RequestInfo, ep *registry.Endpoint) error {
	h := &resourceHandler{s: s, ep: ep, info: info, rc: http.NewResponseController(w)}
	switch {
	case ep.Create != nil:
		// Virtual create-only kinds (access reviews).
		return h.createVirtual(w, r)
	case ep.Store == nil:
		return h.serveComputed(w, r)
	case info.Subresource == "scale":
		return h.serveScale(w, r)
	case ep.Creates[info.Subresource] != nil:
		return h.createSubresource(w, r, ep.Creates[info.Subresource])
	case info.Subresource == "log":
		pod, err := h.podFor(r)
		if err != nil {
			return err
		}
		return s.servePodLog(w, r, info, pod)
	case info.Subresource == "exec" || info.Subresource == "attach":
		pod, err := h.podFor(r)
		if err != nil {
			return err
		}
		return s.servePodStream(w, r, info, pod)
	case info.Subresource == "portforward":
		pod, err := h.podFor(r)
		if err != nil {
			return err
		}
		return s.servePodPortForward(w, r, pod)
	case info.Subresource == "proxy":
		return s.serveProxy(w, r, info)
	}
	out, err := negotiateOutput(r.Header.Get("Accept"), true)
	if err != nil {
		return err
	}
	h.out = out
	switch info.Verb {
	case "get":
		return h.get(w, r)
	case "list":
		return h.list(w, r)
	case "watch":
		return h.watch(w, r)
	case "create":
		return h.create(w, r)
	case "update":
		return h.update(w, r)
	case "patch":
		return h.patch(w, r)
	case "delete":
		return h.delete(w, r)
	case "deletecollection":
		return h.deleteCollection(w, r)
	}
	return fmt.Errorf("apiserver: routing let %s %s through as verb %q", r.Method, r.URL.Path, info.Verb)
}

// namespaceFor returns the namespace of the request, checking scope.
func (h *resourceHandler) namespaceFor() string {
	if !h.ep.Resource.Namespaced {
		return ""
	}
	return h.info.Namespace
}

// get serves GET of one object.
func (h *resourceHandler) get(w http.ResponseWriter, r *http.Request) error {
	if h.ep.Resource.Namespaced && h.info.Namespace == "" {
		return h.s.findAcrossNamespaces(w, r, h.ep, h.info.Name)
	}
	var raw registry.Raw
	var err error
	code := http.StatusOK
	switch rv := r.URL.Query().Get("resourceVersion"); rv {
	case "":
		raw, err = h.ep.Store.Get(r.Context(), h.namespaceFor(), h.info.Name)
	case "0":
		// Any version will do: the watch cache answers, with 203.
		var fromCache bool
		raw, fromCache, err = h.ep.Store.GetStale(r.Context(), h.namespaceFor(), h.info.Name)
		if fromCache {
			code = http.StatusNonAuthoritativeInfo
		}
	default:
		// Not older than rv: the current object always is.
		if n, perr := strconv.ParseInt(rv, 10, 64); perr != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q: must be a non-negative integer", rv))
		}
		raw, err = h.ep.Store.Get(r.Context(), h.namespaceFor(), h.info.Name)
	}
	if err != nil {
		return err
	}
	v := h.resourceValidators(raw.ResourceVersion, raw.ModTime)
	if done, err := h.s.conditionalRead(w, r, v, h.ep.Resource.GroupResource(), h.info.Name); done || err != nil {
		return err
	}
	return h.writeRaw(w, code, raw.JSON)
}

// writeRaw writes one stored object in the negotiated form.
func (h *resourceHandler) writeRaw(w http.ResponseWriter, code int, stored []byte) error {
	switch h.out.kind {
	case outTable:
		obj, err := h.ep.Store.Decode(stored)
		if err != nil {
			return err
		}
		return h.writeJSON(w, code, h.s.table(h.ep, []runtime.Object{obj}, "", h.out.tableVersion, ""))
	case outPartial:
		obj, err := h.ep.Store.Decode(stored)
		if err != nil {
			return err
		}
		return h.writeJSON(w, code, partialMetadata(obj, h.out.tableVersion))
	}
	data, err := h.ep.ToServed(stored)
	if err != nil {
		return err
	}
	return h.writeBytes(w, code, data)
}

// writeObject writes a stored-version object in the negotiated form.
func (h *resourceHandler) writeObject(w http.ResponseWriter, code int, obj runtime.Object) error {
	switch h.out.kind {
	case outTable:
		return h.writeJSON(w, code, h.s.table(h.ep, []runtime.Object{obj}, "", h.out.tableVersion, ""))
	case outPartial:
		return h.writeJSON(w, code, partialMetadata(obj, h.out.tableVersion))
	}
	served, err := h.ep.ToServedObject(obj)
	if err != nil {
		return err
	}
	return h.writeJSON(w, code, served)
}

func (h *resourceHandler) writeJSON(w http.ResponseWriter, code int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return h.writeBytes(w, code, data)
}

func (h *resourceHandler) writeBytes(w http.ResponseWriter, code int, data []byte) error {
	body, err := h.out.encodeBody(data)
	if err != nil {
		return err
	}
	hdr := w.Header()
	hdr.Set("Content-Type", h.out.contentType())
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	_, _ = w.Write(body)
	return nil
}

// parseSelectors reads labelSelector and fieldSelector.
func parseSelectors(q url.Values) (labels.Selector, fields.Selector, error) {
	lsel, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse labelSelector %q: %v", q.Get("labelSelector"), err))
	}
	fsel, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse fieldSelector %q: %v", q.Get("fieldSelector"), err))
	}
	return lsel, fsel, nil
}

// checkFieldSelector rejects field selectors on fields the kind does not
// have, as Kubernetes does, and returns the selector in the stored kind's
// field names (Endpoint.FieldLabels).
func (h *resourceHandler) checkFieldSelector(fsel fields.Selector) (fields.Selector, error) {
	if fsel == nil || fsel.Empty() {
		return fsel, nil
	}
	if conv := h.ep.FieldLabels; conv != nil {
		var err error
		if fsel, err = fsel.Transform(conv); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	known := h.ep.Store.FieldSet(h.ep.Resource.New())
	for _, req := range fsel.Requirements() {
		if _, ok := known[req.Field]; !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return fsel, nil
}

// list serves GET of a collection.
func (h *resourceHandler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lsel, fsel, err := parseSelectors(q)
	if err != nil {
		return err
	}
	if fsel, err = h.checkFieldSelector(fsel); err != nil {
		return err
	}
	var limit int64
	if v := q.Get("limit"); v != "" {
		limit, err = strconv.ParseInt(v, 10, 64)
		if err != nil || limit < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q: must be a non-negative integer", v))
		}
	}
	match := metav1.ResourceVersionMatch(q.Get("resourceVersionMatch"))
	rv := q.Get("resourceVersion")
	switch match {
	case "", metav1.ResourceVersionMatchNotOlderThan, metav1.ResourceVersionMatchExact:
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersionMatch %q: must be NotOlderThan or Exact", match))
	}
	if match != "" && rv == "" {
		return apierrors.NewBadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided")
	}
	if match == metav1.ResourceVersionMatchExact && rv == "0" {
		return apierrors.NewBadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")
	}
	res, err := h.ep.Store.List(r.Context(), h.namespaceFor(), registry.ListOptions{
		Labels: lsel, Fields: fsel, Limit: limit, Continue: q.Get("continue"),
		ResourceVersion: rv, Match: match,
	})
	if err != nil {
		return err
	}
	// A collection has no Last-Modified (see conditional.go).
	v := h.resourceValidators(res.ResourceVersion, time.Time{})
	if done, err := h.s.conditionalRead(w, r, v, h.ep.Resource.GroupResource(), ""); done || err != nil {
		return err
	}
	code := http.StatusOK
	if res.FromCache {
		code = http.StatusNonAuthoritativeInfo
	}
	listMeta := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.ResourceVersion, 10), Continue: res.Continue, RemainingItemCount: res.RemainingItemCount}
	switch h.out.kind {
	case outTable, outPartial:
		objs := make([]runtime.Object, 0, len(res.Items))
		for _, it := range res.Items {
			obj, err := h.ep.Store.Decode(it.JSON)
			if err != nil {
				return err
			}
			objs = append(objs, obj)
		}
		if h.out.kind == outTable {
			t := h.s.table(h.ep, objs, listMeta.ResourceVersion, h.out.tableVersion, r.URL.Query().Get("includeObject"))
			t.ListMeta = listMeta
			return h.writeJSON(w, code, t)
		}
		return h.writeJSON(w, code, partialMetadataList(objs, listMeta, h.out.tableVersion))
	}
	return h.writeList(w, code, res.Items, listMeta)
}

// writeList assembles a list from stored JSON without decoding items.
func (h *resourceHandler) writeList(w http.ResponseWriter, code int, items []registry.Raw, lm metav1.ListMeta) error {
	gv := h.ep.GroupVersion().String()
	lmJSON, err := json.Marshal(lm)
	if err != nil {
		return err
	}
	size := 128 + len(lmJSON)
	for _, it := range items {
		size += len(it.JSON) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"kind":"`...)
	buf = append(buf, h.ep.Kind...)
	buf = append(buf, `List","apiVersion":"`...)
	buf = append(buf, gv...)
	buf = append(buf, `","metadata":`...)
	buf = append(buf, lmJSON...)
	buf = append(buf, `,"items":[`...)
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		data, err := h.ep.ToServed(it.JSON)
		if err != nil {
			return err
		}
		buf = append(buf, data...)
	}
	buf = append(buf, "]}"...)
	return h.writeBytes(w, code, buf)
}

// readBody reads the request body within the server's size limit. A read
// that waits longer than the body idle timeout for bytes is a 408 (the
// client stalled), which closes the connection.
func (h *resourceHandler) readBody(r *http.Request) ([]byte, error) {
	limit, idle := h.s.cfg.MaxRequestBytes, h.s.cfg.BodyIdleTimeout
	body := &idleReader{body: r.Body, rc: h.rc, idle: idle}
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, bodyStalled(idle)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	if int64(len(data)) > limit {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("the request body is larger than %d bytes", limit))
	}
	return data, nil
}

// fieldValidation reads the fieldValidation parameter.
func fieldValidation(q url.Values) (string, error) {
	v := q.Get("fieldValidation")
	switch v {
	case "", "Warn":
		return "Warn", nil
	case "Ignore", "Strict":
		return v, nil
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("invalid fieldValidation %q: must be Ignore, Warn or Strict", v))
}

// dryRun reads the dryRun parameter.
func dryRun(q url.Values) (bool, error) {
	vals := q["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("invalid dryRun %q: the only supported value is All", v))
		}
	}
	return len(vals) > 0, nil
}

// writeHead is what a create or update says before its body.
type writeHead struct {
	dry             bool
	fieldValidation string
	mediaType       string
}

// readWriteHead checks what a create or update can be refused for without
// reading its body: dryRun and fieldValidation (400), then the body's media
// type (415).
func readWriteHead(r *http.Request) (writeHead, error) {
	q := r.URL.Query()
	dry, err := dryRun(q)
	if err != nil {
		return writeHead{}, err
	}
	fv, err := fieldValidation(q)
	if err != nil {
		return writeHead{}, err
	}
	mt := requestMediaType(r)
	switch mt {
	case mediaJSON, mediaYAML, mediaProtobuf:
	default:
		return writeHead{}, unsupportedMediaType(mt, objectMediaTypes)
	}
	return writeHead{dry: dry, fieldValidation: fv, mediaType: mt}, nil
}

// decodeObject reads and decodes a create/update body into a served-version
// object, applying fieldValidation and checking kind and apiVersion. It
// returns the raw body too.
func (h *resourceHandler) decodeObject(w http.ResponseWriter, r *http.Request, head writeHead) ([]byte, runtime.Object, error) {
	obj := h.ep.New()
	body, err := h.decodeInto(w, r, head, obj, h.ep.GroupVersionKind())
	if err != nil {
		return nil, nil, err
	}
	return body, obj, nil
}

// decodeInto reads and decodes a write's body into obj, applying
// fieldValidation and checking kind and apiVersion against want. It
// returns the raw body.
func (h *resourceHandler) decodeInto(w http.ResponseWriter, r *http.Request, head writeHead, obj runtime.Object, want schema.GroupVersionKind) ([]byte, error) {
	body, err := h.readBody(r)
	if err != nil {
		return nil, err
	}
	strict, err := h.decode(head.mediaType, body, obj)
	if err != nil {
		return nil, err
	}
	if err := checkStrict(w, head.fieldValidation, strict); err != nil {
		return nil, err
	}
	if err := checkTypeMetaFor(obj, want); err != nil {
		return nil, err
	}
	return body, nil
}

// decode decodes a write's body into obj, a new object of the served
// kind, and prunes what the kind's schema does not know (custom
// resources); the strict errors are the unknown and duplicate fields.
func (h *resourceHandler) decode(mt string, body []byte, obj runtime.Object) ([]error, error) {
	strict, err := h.s.decoder.decode(mt, body, obj)
	if err != nil || h.ep.Prune == nil {
		return strict, err
	}
	for _, p := range h.ep.Prune(obj) {
		strict = append(strict, fmt.Errorf("unknown field %q", p))
	}
	return strict, nil
}

// checkTypeMeta rejects a body whose kind or apiVersion contradicts the URL.
func (h *resourceHandler) checkTypeMeta(obj runtime.Object) error {
	return checkTypeMetaFor(obj, h.ep.GroupVersionKind())
}

// checkTypeMetaFor rejects a body whose kind or apiVersion is not want's,
// and sets them to want's when the body left them out.
func checkTypeMetaFor(obj runtime.Object, want schema.GroupVersionKind) error {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind != "" && gvk.Kind != want.Kind {
		return apierrors.NewBadRequest(fmt.Sprintf("the kind of the object (%s) does not match the URL (%s)", gvk.Kind, want.Kind))
	}
	if v := obj.GetObjectKind().GroupVersionKind().GroupVersion(); (v.Group != "" || v.Version != "") && v != want.GroupVersion() {
		return apierrors.NewBadRequest(fmt.Sprintf("the apiVersion of the object (%s) does not match the URL (%s)", v, want.GroupVersion()))
	}
	obj.GetObjectKind().SetGroupVersionKind(want)
	return nil
}

// checkNamespace fills or checks the object's namespace from the URL.
func (h *resourceHandler) checkNamespace(m metav1.Object) error {
	if !h.ep.Resource.Namespaced {
		m.SetNamespace("")
		return nil
	}
	if h.info.Namespace == "" {
		return apierrors.NewBadRequest("a namespaced object must be created in a namespace: use /namespaces/{namespace}/" + h.info.Resource)
	}
	if ns := m.GetNamespace(); ns != "" && ns != h.info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	m.SetNamespace(h.info.Namespace)
	return nil
}

// decodeWrite reads what create and update share after readWriteHead: the
// body as a served-version object, and its namespace checked against the
// URL. It returns the raw body too.
func (h *resourceHandler) decodeWrite(w http.ResponseWriter, r *http.Request, head writeHead) (body []byte, obj runtime.Object, m metav1.Object, err error) {
	if body, obj, err = h.decodeObject(w, r, head); err != nil {
		return nil, nil, nil, err
	}
	if m, err = meta.Accessor(obj); err != nil {
		return nil, nil, nil, apierrors.NewBadRequest(err.Error())
	}
	if err := h.checkNamespace(m); err != nil {
		return nil, nil, nil, err
	}
	return body, obj, m, nil
}

// create serves POST on a collection. An Idempotency-Key is claimed between
// the checks that need no body and reading it, and answered from before
// storage (idempotency.go).
func (h *resourceHandler) create(w http.ResponseWriter, r *http.Request) error {
	head, err := readWriteHead(r)
	if err != nil {
		return err
	}
	manager, err := writeManager(r, "CreateOptions")
	if err != nil {
		return err
	}
	idem, err := h.claimIdempotencyKey(r, head)
	if err != nil {
		return err
	}
	defer idem.release()
	body, obj, m, err := h.decodeWrite(w, r, head)
	if err != nil {
		return err
	}
	if m.GetName() == "" && m.GetGenerateName() == "" {
		return apierrors.NewInvalid(h.ep.GroupVersionKind().GroupKind(), "", fieldErrNameRequired())
	}
	stored, err := h.ep.FromServedObject(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if answered, err := idem.replay(w, body, m.GetName()); answered || err != nil {
		return err
	}
	created, err := h.ep.Store.Create(r.Context(), stored, registry.WriteOptions{DryRun: head.dry, Track: h.tracker("", manager)})
	if err != nil {
		return err
	}
	cm, _ := meta.Accessor(created)
	loc := objectPath(h.info, h.ep, cm.GetNamespace(), cm.GetName())
	idem.complete(body, loc, cm.GetName())
	w.Header().Set("Location", loc)
	return h.writeObject(w, http.StatusCreated, created)
}

// objectPath is the URL path of an object.
func objectPath(info *RequestInfo, ep *registry.Endpoint, namespace, name string) string {
	var b strings.Builder
	if ep.Group == "" {
		b.WriteString("/api/" + ep.Version)
	} else {
		b.WriteString("/apis/" + ep.Group + "/" + ep.Version)
	}
	if namespace != "" {
		b.WriteString("/namespaces/" + namespace)
	}
	b.WriteString("/" + ep.Resource.Plural + "/" + name)
	return b.String()
}

// update serves PUT of an object or its status.
func (h *resourceHandler) update(w http.ResponseWriter, r *http.Request) error {
	// readWriteHead refuses what it can without the body (400 for the
	// query, 415); the preconditions (412) come next, before the body.
	head, err := readWriteHead(r)
	if err != nil {
		return err
	}
	manager, err := writeManager(r, "UpdateOptions")
	if err != nil {
		return err
	}
	pin, err := h.checkWrite(w, r)
	if err != nil {
		return err
	}
	_, obj, m, err := h.decodeWrite(w, r, head)
	if err != nil {
		return err
	}
	if m.GetName() == "" {
		m.SetName(h.info.Name)
	}
	if m.GetName() != h.info.Name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), h.info.Name))
	}
	stored, err := h.ep.FromServedObject(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	updated, err := h.ep.Store.Update(r.Context(), h.namespaceFor(), h.info.Name, func(runtime.Object) (runtime.Object, error) {
		return stored.DeepCopyObject(), nil
	}, registry.UpdateOptions{WriteOptions: registry.WriteOptions{DryRun: head.dry, Track: h.tracker(h.info.Subresource, manager)}, Subresource: h.info.Subresource, Preconditions: pin.preconditions()})
	if err != nil {
		return h.lateConflict(w, r, pin, err)
	}
	return h.writeObject(w, http.StatusOK, updated)
}

// patchMediaTypes are the body types of PATCH.
var patchMediaTypes = []string{mediaJSONPatch, mediaMergePatch, mediaStrategicPatch, mediaApplyPatch}

// patch serves PATCH of an object or its status.
func (h *resourceHandler) patch(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dry, err := dryRun(q)
	if err != nil {
		return err
	}
	fv, err := fieldValidation(q)
	if err != nil {
		return err
	}
	mt := requestMediaType(r)
	switch mt {
	case mediaJSONPatch, mediaMergePatch, mediaStrategicPatch:
	case mediaApplyPatch:
		return h.apply(w, r, dry, fv)
	default:
		return unsupportedMediaType(mt, patchMediaTypes)
	}
	manager, _, err := patchOptions(r, false)
	if err != nil {
		return err
	}
	if mt == mediaStrategicPatch && (isUnstructured(h.ep) || h.ep.Group != "" && !strings.HasSuffix(h.ep.Group, ".k8s.io") && !isBuiltinGroup(h.ep.Group)) {
		return unsupportedMediaType(mt, []string{mediaJSONPatch, mediaMergePatch, mediaApplyPatch})
	}
	pin, err := h.checkWrite(w, r)
	if err != nil {
		return err
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	var jp jsonpatch.Patch
	if mt == mediaJSONPatch {
		if jp, err = jsonpatch.DecodePatch(body); err != nil {
			return apierrors.NewBadRequest("the JSON patch is not valid: " + err.Error())
		}
		if err := checkJSONPatch(jp); err != nil {
			return err
		}
	} else if !json.Valid(body) {
		return apierrors.NewBadRequest("the patch is not valid JSON")
	}
	var warned bool
	updated, err := h.ep.Store.Update(r.Context(), h.namespaceFor(), h.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		served, err := h.ep.ToServedObject(cur)
		if err != nil {
			return nil, err
		}
		curJSON, err := json.Marshal(served)
		if err != nil {
			return nil, err
		}
		if mt == mediaStrategicPatch {
			if err := checkStrategicMerge(body, curJSON, h.ep.New()); err != nil {
				return nil, err
			}
		}
		patched, err := applyPatch(mt, jp, body, curJSON, h.ep.New())
		if err != nil {
			return nil, err
		}
		obj := h.ep.New()
		strict, err := h.decode(mediaJSON, patched, obj)
		if err != nil {
			return nil, apierrors.NewBadRequest("the patched object is not valid: " + err.Error())
		}
		if len(strict) > 0 && fv == "Strict" {
			return nil, apierrors.NewBadRequest("strict decoding error: " + errors.Join(strict...).Error())
		}
		if len(strict) > 0 && fv == "Warn" && !warned {
			warned = true
			for _, e := range strict {
				addWarning(w, e.Error())
			}
		}
		if err := h.checkTypeMeta(obj); err != nil {
			return nil, err
		}
		m, _ := meta.Accessor(obj)
		if err := h.checkNamespace(m); err != nil {
			return nil, err
		}
		return h.ep.FromServedObject(obj)
	}, registry.UpdateOptions{WriteOptions: registry.WriteOptions{DryRun: dry, Track: h.tracker(h.info.Subresource, manager)}, Subresource: h.info.Subresource, Preconditions: pin.preconditions()})
	if err != nil {
		return h.lateConflict(w, r, pin, err)
	}
	return h.writeObject(w, http.StatusOK, updated)
}

// applyPatch applies a patch body of media type mt (jp is its decoded form
// for a JSON patch) to the JSON of the current object; schema is an empty
// object of the kind, for the strategic merge's patch strategies. A patch
// that cannot be applied is a 400.
func applyPatch(mt string, jp jsonpatch.Patch, body, cur []byte, schema runtime.Object) (patched []byte, err error) {
	defer func() {
		// The patch libraries panic on some malformed patches (json-patch
		// v4 on a "replace" of the whole document without a value): that
		// is the client's error, not the server's.
		if v := recover(); v != nil {
			patched, err = nil, apierrors.NewBadRequest(fmt.Sprintf("the patch could not be applied: %v", v))
		}
	}()
	switch mt {
	case mediaJSONPatch:
		patched, err = jp.Apply(cur)
	case mediaMergePatch:
		patched, err = jsonpatch.MergePatch(cur, body)
	case mediaStrategicPatch:
		patched, err = strategicpatch.StrategicMergePatch(cur, body, schema)
	default:
		return nil, unsupportedMediaType(mt, patchMediaTypes)
	}
	if err != nil {
		if tooLarge := jsonPatchTooLarge(err); tooLarge != nil {
			return nil, tooLarge
		}
		return nil, apierrors.NewBadRequest("the patch could not be applied: " + err.Error())
	}
	return patched, nil
}

// isBuiltinGroup reports Kubernetes groups whose Go types carry patch
// strategies.
func isBuiltinGroup(g string) bool {
	switch g {
	case "apps", "batch", "autoscaling", "extensions", "policy":
		return true
	}
	return false
}

// deleteOptions reads DeleteOptions from the body and the query.
func (h *resourceHandler) deleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	body, err := h.readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		mt := requestMediaType(r)
		switch mt {
		case mediaJSON, mediaYAML, mediaProtobuf:
		default:
			return nil, false, unsupportedMediaType(mt, objectMediaTypes)
		}
		if _, err := h.s.decoder.decode(mt, body, opts); err != nil {
			return nil, false, err
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("invalid gracePeriodSeconds %q", v))
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("invalid orphanDependents %q", v))
		}
		opts.OrphanDependents = &b
	}
	dry, err := dryRun(q)
	if err != nil {
		return nil, false, err
	}
	for _, v := range opts.DryRun {
		if v != "All" {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("invalid dryRun %q: the only supported value is All", v))
		}
		dry = true
	}
	return opts, dry, nil
}

// delete serves DELETE of one object.
func (h *resourceHandler) delete(w http.ResponseWriter, r *http.Request) error {
	// A declared body's media type (415) is checked before the
	// preconditions (412), which are checked before the body is read.
	if mt := requestMediaType(r); r.ContentLength > 0 && !slices.Contains(objectMediaTypes, mt) {
		return unsupportedMediaType(mt, objectMediaTypes)
	}
	pin, err := h.checkWrite(w, r)
	if err != nil {
		return err
	}
	opts, dry, err := h.deleteOptions(r)
	if err != nil {
		return err
	}
	pin.pinDelete(opts)
	res, err := h.ep.Store.Delete(r.Context(), h.namespaceFor(), h.info.Name, opts, registry.WriteOptions{DryRun: dry})
	if err != nil {
		return h.lateConflict(w, r, pin, err)
	}
	if res.Pending {
		return h.writeObject(w, http.StatusAccepted, res.Object)
	}
	if h.ep.Resource.ReturnDeletedObject || h.out.kind != outObject {
		return h.writeObject(w, http.StatusOK, res.Object)
	}
	m, _ := meta.Accessor(res.Object)
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name: m.GetName(), Group: h.ep.Group, Kind: h.ep.Resource.Plural, UID: m.GetUID(),
		},
	}
	return h.writeJSON(w, http.StatusOK, st)
}

// deleteCollection serves DELETE of a collection: every object that
// matches the selectors, one by one.
func (h *resourceHandler) deleteCollection(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	lsel, fsel, err := parseSelectors(q)
	if err != nil {
		return err
	}
	if fsel, err = h.checkFieldSelector(fsel); err != nil {
		return err
	}
	opts, dry, err := h.deleteOptions(r)
	if err != nil {
		return err
	}
	objs, rev, err := h.ep.Store.DeleteCollection(r.Context(), h.namespaceFor(), registry.ListOptions{Labels: lsel, Fields: fsel}, opts, registry.WriteOptions{DryRun: dry})
	if err != nil {
		return err
	}
	deleted := make([]registry.Raw, 0, len(objs))
	for _, obj := range objs {
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		deleted = append(deleted, registry.Raw{JSON: data})
	}
	return h.writeList(w, http.StatusOK, deleted, metav1.ListMeta{ResourceVersion: strconv.FormatInt(rev, 10)})
}

// createVirtual serves create-only kinds that are acted on, not stored:
// the access reviews and the legacy bindings.
func (h *resourceHandler) createVirtual(w http.ResponseWriter, r *http.Request) error {
	out, err := negotiateOutput(r.Header.Get("Accept"), false)
	if err != nil {
		return err
	}
	h.out = out
	head, err := readWriteHead(r)
	if err != nil {
		return err
	}
	_, obj, _, err := h.decodeWrite(w, r, head)
	if err != nil {
		return err
	}
	res, err := h.ep.Create(r.Context(), obj, registry.WriteOptions{DryRun: head.dry})
	if err != nil {
		return err
	}
	return h.writeCreated(w, res, h.ep.GroupVersionKind())
}

// createSubresource serves POST on a create-only subresource of one object
// (pods/binding).
func (h *resourceHandler) createSubresource(w http.ResponseWriter, r *http.Request, sc *registry.SubresourceCreate) error {
	out, err := negotiateOutput(r.Header.Get("Accept"), false)
	if err != nil {
		return err
	}
	h.out = out
	head, err := readWriteHead(r)
	if err != nil {
		return err
	}
	obj := sc.New()
	gvk := h.ep.GroupVersion().WithKind(sc.Kind)
	if sc.GroupVersion != nil {
		gvk = sc.GroupVersion.WithKind(sc.Kind)
	}
	if _, err := h.decodeInto(w, r, head, obj, gvk); err != nil {
		return err
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if err := h.checkNamespace(m); err != nil {
		return err
	}
	res, err := sc.Create(r.Context(), h.namespaceFor(), h.info.Name, obj, registry.WriteOptions{DryRun: head.dry})
	if err != nil {
		return err
	}
	return h.writeCreated(w, res, gvk)
}

// writeCreated answers a create that stored nothing of its own: 201 with
// the result, a Status (kind Status, code 201, as kube-apiserver fills it)
// or an object of kind gvk.
func (h *resourceHandler) writeCreated(w http.ResponseWriter, res runtime.Object, gvk schema.GroupVersionKind) error {
	if st, ok := res.(*metav1.Status); ok {
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Code == 0 {
			st.Code = http.StatusCreated
		}
	} else {
		res.GetObjectKind().SetGroupVersionKind(gvk)
	}
	return h.writeJSON(w, http.StatusCreated, res)
}

// serveComputed serves read-only kinds computed on each request.
func (h *resourceHandler) serveComputed(w http.ResponseWriter, r *http.Request) error {
	out, err := negotiateOutput(r.Header.Get("Accept"), false)
	if err != nil {
		return err
	}
	h.out = out
	if h.info.Subresource != "" {
		return errNotFoundPath()
	}
	var obj runtime.Object
	switch {
	case h.info.Verb == "get" && h.ep.Get != nil:
		obj, err = h.ep.Get(r.Context(), h.namespaceFor(), h.info.Name)
	case h.info.Verb == "list" && h.ep.List != nil:
		obj, err = h.ep.List(r.Context(), h.namespaceFor())
	default:
		// A watch of a computed kind.
		return methodNotAllowed(r, h.ep.Resource.GroupResource(), allowRead)
	}
	if err != nil {
		return err
	}
	return h.writeJSON(w, http.StatusOK, obj)
}

// addWarning adds a Warning header as kube-apiserver does (code 299).
func addWarning(w http.ResponseWriter, msg string) {
	w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
}

// checkStrict acts on the strict decoding errors of a body as the
// fieldValidation query asks: Strict refuses it (400 listing them), Warn
// sends each as a Warning header, Ignore (or none) lets them pass.
func checkStrict(w http.ResponseWriter, mode string, strict []error) error {
	if len(strict) == 0 {
		return nil
	}
	switch mode {
	case "Strict":
		msgs := make([]string, len(strict))
		for i, e := range strict {
			msgs[i] = e.Error()
		}
		return apierrors.NewBadRequest("strict decoding error: " + strings.Join(msgs, ", "))
	case "Warn":
		for _, e := range strict {
			addWarning(w, e.Error())
		}
	}
	return nil
}

package openapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/munnerz/goautoneg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Paths served by Documents.
const (
	PathV2 = "/openapi/v2"
	PathV3 = "/openapi/v3"
)

// Media types of the encodings. A client may ask for a protobuf form by
// either name; the response names the second.
const (
	mediaJSON          = "application/json"
	mediaV2ProtoAt     = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
	mediaV2Proto       = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
	mediaV3ProtoAt     = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
	mediaV3Proto       = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
	cacheNoCache       = "no-cache, private"
	cacheImmutable     = "public, immutable"
	immutableExpiresIn = 365 * 24 * time.Hour
)

// offer is one media type a path can produce.
type offer struct {
	accept   string // as the client names it
	respond  string // Content-Type of the response
	encoding func(*document) func() (encoding, error)
}

func jsonOf(d *document) func() (encoding, error)  { return d.json }
func protoOf(d *document) func() (encoding, error) { return d.proto }

// Offers in order of preference: a wildcard gets JSON, as from
// kube-apiserver.
var (
	offersV2 = []offer{
		{mediaJSON, mediaJSON, jsonOf},
		{mediaV2ProtoAt, mediaV2Proto, protoOf},
		{mediaV2Proto, mediaV2Proto, protoOf},
	}
	offersV3 = []offer{
		{mediaJSON, mediaJSON, jsonOf},
		{mediaV3ProtoAt, mediaV3Proto, protoOf},
		{mediaV3Proto, mediaV3Proto, protoOf},
	}
)

// ServeHTTP serves GET and HEAD of /openapi/v2, /openapi/v3 and
// /openapi/v3/{api/v1|apis/G/V}, at those full paths. Errors are Kubernetes
// Status objects: 404 for any other path or group-version, 405 for other
// methods, 406 when Accept admits no encoding the path has, 500 (naming no
// internals) if an encoding fails.
//
// Responses carry a strong ETag, the quoted hash of the body, and answer
// If-None-Match with 304. They are "Cache-Control: no-cache, private", except
// a v3 document fetched with ?hash= equal to its current hash, which is
// immutable; a stale hash is redirected (301) to the current one. These are
// kube-apiserver's rules.
func (d *Documents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	cur := d.served.Load()
	var (
		doc    *document
		offers []offer
		gv     string
	)
	switch {
	case path == PathV2:
		doc, offers = cur.v2, offersV2
	case path == PathV3:
	case strings.HasPrefix(path, PathV3+"/"):
		gv = strings.TrimPrefix(path, PathV3+"/")
		doc = cur.v3[gv]
		if doc == nil {
			writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the OpenAPI v3 document "+strconv.Quote(gv)+" does not exist")
			return
		}
		offers = offersV3
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the path "+strconv.Quote(path)+" is not served")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "only GET and HEAD are allowed on "+path)
		return
	}

	if doc == nil {
		// The v3 index is JSON only.
		serveIndex(w, r, cur)
		return
	}

	w.Header().Add("Vary", "Accept")
	o, ok := negotiate(r.Header.Get("Accept"), offers)
	if !ok {
		types := make([]string, len(offers))
		for i, o := range offers {
			types[i] = o.accept
		}
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			"only the following media types are accepted: "+strings.Join(types, ", "))
		return
	}
	enc, err := o.encoding(doc)()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "the OpenAPI document could not be encoded")
		return
	}
	h := w.Header()
	h.Set("Cache-Control", cacheNoCache)
	if hash := r.URL.Query().Get("hash"); gv != "" && hash != "" {
		// The hash names the document, so it is the JSON's whatever the
		// encoding asked for.
		j, err := doc.json()
		if err != nil {
			writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "the OpenAPI document could not be encoded")
			return
		}
		if hash != j.hash {
			http.Redirect(w, r, v3URL(gv, j.hash), http.StatusMovedPermanently)
			return
		}
		h.Set("Cache-Control", cacheImmutable)
		h.Set("Expires", time.Now().Add(immutableExpiresIn).UTC().Format(http.TimeFormat))
	}
	serve(w, r, o.respond, enc)
}

func serveIndex(w http.ResponseWriter, r *http.Request, s *served) {
	if _, ok := negotiate(r.Header.Get("Accept"), offersV3[:1]); !ok {
		writeStatus(w, http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
			"only the following media types are accepted: "+mediaJSON)
		return
	}
	enc, err := s.v3Index()
	if err != nil {
		writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "the OpenAPI index could not be encoded")
		return
	}
	w.Header().Set("Cache-Control", cacheNoCache)
	serve(w, r, mediaJSON, enc)
}

// serve writes enc, 304 when If-None-Match names its ETag, or 412 when
// If-Match does not. Range is ignored (RFC 9110 allows it): the documents
// are fetched whole, and an error answer must be a Status, which
// http.ServeContent's 412 and 416 are not.
func serve(w http.ResponseWriter, r *http.Request, contentType string, enc encoding) {
	h := w.Header()
	etag := strconv.Quote(enc.hash)
	h.Set("ETag", etag)
	if im := r.Header.Get("If-Match"); im != "" && !etagListMatches(im, etag, false) {
		writeStatus(w, http.StatusPreconditionFailed, "PreconditionFailed",
			"the If-Match header "+strconv.Quote(im)+" does not match the document's ETag "+etag)
		return
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, etag, true) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(enc.data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(enc.data)
	}
}

// etagListMatches reports whether the If-Match or If-None-Match value list
// names etag, or is "*". If-None-Match compares weakly (a W/ prefix is
// ignored), If-Match strongly (RFC 9110 13.1.1, 13.1.2).
func etagListMatches(list, etag string, weak bool) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			return true
		}
		if weak {
			t = strings.TrimPrefix(t, "W/")
		}
		if t == etag {
			return true
		}
	}
	return false
}

// negotiate picks the first offer the Accept header admits, trying its
// clauses from most to least preferred. No header admits anything.
func negotiate(accept string, offers []offer) (offer, bool) {
	if accept == "" {
		return offers[0], true
	}
	for _, c := range goautoneg.ParseAccept(accept) {
		if c.Q <= 0 {
			continue
		}
		for _, o := range offers {
			typ, sub, _ := strings.Cut(o.accept, "/")
			if (c.Type == typ || c.Type == "*") && (c.SubType == sub || c.SubType == "*") {
				return o, true
			}
		}
	}
	return offer{}, false
}

// writeStatus writes a failure as a meta/v1 Status, which kubectl and
// client-go decode.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, message string) {
	body, _ := json.Marshal(&metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure,
		Message:  message,
		Reason:   reason,
		Code:     int32(code),
	})
	h := w.Header()
	h.Set("Content-Type", mediaJSON)
	h.Set("Cache-Control", cacheNoCache)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(body)
}

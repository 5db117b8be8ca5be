// Package warning carries the warnings a request gives its client, as
// kube-apiserver carries them: whatever handles the request (a kind's
// rules, an admission plugin) adds a warning to the request's context, and
// the recorder the API server put there turns each into a Warning response
// header, `299 - "text"`, which client-go hands to its warning handler
// (kubectl prints `Warning: text` on stderr).
//
// A warning added where no recorder is (a test calling the registry
// directly, a write of Cella's own outside a request) is dropped. Warnings
// travel in headers, so one added after the response has started is lost;
// every writer of a response adds its warnings before it writes.
package warning

import (
	"context"
	"net/http"
	"sync"
	"unicode/utf8"

	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Recorder receives the warnings of one request. It must be safe for
// concurrent use.
type Recorder interface {
	// AddWarning records text; an empty text is ignored.
	AddWarning(text string)
}

type recorderKey struct{}

// WithRecorder returns ctx carrying r.
func WithRecorder(ctx context.Context, r Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// Add records text as a warning of the request ctx belongs to, and drops it
// when ctx carries no Recorder.
func Add(ctx context.Context, text string) {
	if r, ok := ctx.Value(recorderKey{}).(Recorder); ok {
		r.AddWarning(text)
	}
}

// Limits of the Warning headers of one response, as kube-apiserver's: once
// the texts add up to more than maxTotalRunes, every text is cut to
// truncatedRunes and those that no longer fit are dropped.
const (
	maxTotalRunes  = 4 * 1024
	truncatedRunes = 256
)

// Headers writes warnings as Warning headers of a response, as
// kube-apiserver writes them: code 299, agent "-", the text quoted; a text
// already written is not written again.
type Headers struct {
	header http.Header

	mu sync.Mutex
	// seen holds the texts recorded and texts the same in order (to
	// write them again cut short); runes counts the runes written and
	// truncating says that texts are being cut. All are guarded by mu.
	seen       map[string]bool
	texts      []string
	runes      int
	truncating bool
}

var _ Recorder = (*Headers)(nil)

// NewHeaders returns a Recorder that adds to header (a response's, before
// it is written).
func NewHeaders(header http.Header) *Headers {
	return &Headers{header: header}
}

// AddWarning adds a Warning header for text unless it was added before.
func (h *Headers) AddWarning(text string) {
	if text == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen[text] {
		return
	}
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	h.seen[text] = true
	h.texts = append(h.texts, text)
	if h.truncating {
		h.writeLocked(text)
		return
	}
	if h.runes+utf8.RuneCountInString(text) <= maxTotalRunes {
		h.writeLocked(text)
		return
	}
	// Over the limit: write everything again, cut short.
	h.truncating = true
	h.runes = 0
	h.header.Del("Warning")
	for _, t := range h.texts {
		h.writeLocked(t)
	}
}

// writeLocked adds the header of text, cut when truncating, unless the
// total is already spent.
func (h *Headers) writeLocked(text string) {
	if h.truncating {
		if h.runes >= maxTotalRunes {
			return
		}
		if utf8.RuneCountInString(text) > truncatedRunes {
			text = string([]rune(text)[:truncatedRunes])
		}
	}
	v, err := utilnet.NewWarningHeader(299, "-", text)
	if err != nil { // not UTF-8: there is nothing a client could show
		return
	}
	h.runes += utf8.RuneCountInString(text)
	h.header.Add("Warning", v)
}

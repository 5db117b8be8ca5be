package apiserver

// Idempotency-Key on POST creates.
//
// A client that lost the answer to a create may send it again with the same
// Idempotency-Key header and learn what became of the first one, instead of
// creating a second object (generateName) or being told AlreadyExists. Keys
// are remembered per user, per collection path:
//
//   - A create claims its key (in flight) once the checks that need no body
//     have passed: authentication, authorization, dryRun, fieldValidation,
//     the media type and the key itself. It claims it before reading the
//     body, so a repeat sent while the first body is still arriving already
//     sees the first in flight.
//   - A 201 completes the claim: the key then remembers the digest of the
//     body (SHA-256 of the media type and the raw bytes) and the Location of
//     the created object, for Config.IdempotencyTTL. Any other outcome
//     releases the claim, so a retry runs again.
//   - A request that finds the key held still reads and decodes its own
//     body, so its own 400, 413 and 422 come first, as the contract's order
//     says. Then, before storage: in flight → 409 Conflict with Retry-After;
//     done with the same digest → 303 See Other to the Location (Go's
//     client then GETs it, so a retried create ends with the object); done
//     with another digest → 422 Invalid with a cause on Idempotency-Key.
//   - The key remembers the create, not the object: a 303 may point at an
//     object deleted since, whose GET is 404.
//   - A malformed key (empty, over 255 bytes, anything but printable ASCII,
//     or the header sent twice) is 400. A dry run checks the key's form but
//     neither claims nor consults it: it changes nothing to repeat.
//   - Computed create-only kinds (access reviews) ignore the header: they
//     store nothing to point at.

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/auth"
)

// idempotencyHeader is the header of the IETF draft "The Idempotency-Key
// HTTP Header Field".
const idempotencyHeader = "Idempotency-Key"

// maxIdempotencyKeyBytes is the longest key accepted.
const maxIdempotencyKeyBytes = 255

// maxIdempotencyKeys bounds the keys one server remembers. An entry is at
// most about 1 KiB (a 255-byte key, the user name, the collection path and
// the Location), so the keys take about 50 MB at the very most. At the
// limit the oldest completed keys are forgotten first; a retry with a
// forgotten key runs as a new create. Keys in flight are never forgotten;
// they are bounded by the requests being served.
const maxIdempotencyKeys = 50_000

// defaultIdempotencyTTL is how long a completed create is remembered when
// Config.IdempotencyTTL is zero.
const defaultIdempotencyTTL = 24 * time.Hour

// idempotencyKey names one key: keys are per user and per collection.
type idempotencyKey struct {
	User string
	// Collection is the URL path of the collection created in.
	Collection string
	Key        string
}

// idempotencyEntry is what a key holds.
type idempotencyEntry struct {
	// InFlight is true from the claim until the create completes; the other
	// fields are set only once it has.
	InFlight bool
	// Digest is the SHA-256 of the body's media type, a NUL and the body.
	Digest [sha256.Size]byte
	// Location is the URL path of the object created; Name is its name.
	Location string
	Name     string
}

// idempotencyStore remembers creates sent with an Idempotency-Key.
// Implementations are safe for concurrent use. The server keeps one in
// memory; servers that share storage would need a shared one, or a retry
// that reaches another server creates again.
type idempotencyStore interface {
	// Claim marks k in flight for the caller and returns ok. When a live
	// entry already holds k (in flight, or done and not expired) it changes
	// nothing and returns that entry and !ok.
	Claim(k idempotencyKey) (held idempotencyEntry, ok bool)
	// Complete records the result of the caller's claim of k; the entry
	// expires after the store's TTL. Only the claimant calls it, once.
	Complete(k idempotencyKey, e idempotencyEntry)
	// Release drops the caller's claim of k, so the next request with k
	// runs again. Only the claimant calls it, and not after Complete.
	Release(k idempotencyKey)
}

var _ idempotencyStore = (*memoryIdempotencyStore)(nil)

// memoryIdempotencyStore is an idempotencyStore in this process's memory.
// Expired entries are swept when a Claim adds a key, so it needs no
// goroutine.
type memoryIdempotencyStore struct {
	ttl   time.Duration
	limit int
	now   func() time.Time

	mu sync.Mutex
	// entries holds every key claimed and not released: in flight, or done
	// and possibly expired (swept when a Claim next adds a key). Guarded by
	// mu.
	entries map[idempotencyKey]*memoryIdempotencyEntry
	// done lists completed entries, oldest first. With one TTL that is also
	// the order they expire in, so sweeping and eviction pop its front. It
	// may hold entries whose key has since been claimed again; those are
	// skipped. Guarded by mu.
	done []*memoryIdempotencyEntry
}

type memoryIdempotencyEntry struct {
	idempotencyEntry
	key idempotencyKey
	// expires is zero while in flight.
	expires time.Time
}

// newMemoryIdempotencyStore returns a store that remembers completed keys
// for ttl and at most limit keys, forgetting the oldest completed ones
// first.
func newMemoryIdempotencyStore(ttl time.Duration, limit int, now func() time.Time) *memoryIdempotencyStore {
	return &memoryIdempotencyStore{ttl: ttl, limit: limit, now: now, entries: map[idempotencyKey]*memoryIdempotencyEntry{}}
}

func (s *memoryIdempotencyStore) Claim(k idempotencyKey) (idempotencyEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if e, ok := s.entries[k]; ok && (e.InFlight || now.Before(e.expires)) {
		return e.idempotencyEntry, false
	}
	s.sweepLocked(now)
	s.entries[k] = &memoryIdempotencyEntry{idempotencyEntry: idempotencyEntry{InFlight: true}, key: k}
	return idempotencyEntry{}, true
}

// sweepLocked drops expired entries, then the oldest completed ones while
// there is no room for one more key.
func (s *memoryIdempotencyStore) sweepLocked(now time.Time) {
	for len(s.done) > 0 {
		e := s.done[0]
		current := s.entries[e.key] == e
		if current && now.Before(e.expires) && len(s.entries) < s.limit {
			return
		}
		if current {
			delete(s.entries, e.key)
		}
		s.done[0] = nil
		s.done = s.done[1:]
	}
}

func (s *memoryIdempotencyStore) Complete(k idempotencyKey, result idempotencyEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[k]
	if !ok || !e.InFlight {
		return
	}
	e.idempotencyEntry = result
	e.InFlight = false
	e.expires = s.now().Add(s.ttl)
	s.done = append(s.done, e)
}

func (s *memoryIdempotencyStore) Release(k idempotencyKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[k]; ok && e.InFlight {
		delete(s.entries, k)
	}
}

// idempotentCreate is one create's use of its Idempotency-Key: the claim
// it holds, or the entry that held the key when it asked. Its methods do
// nothing on a nil receiver (a create without a key, or a dry run).
type idempotentCreate struct {
	store     idempotencyStore
	key       idempotencyKey
	mediaType string
	gr        schema.GroupResource
	gk        schema.GroupKind
	// claimed is true while this request holds the key in flight and must
	// complete or release it.
	claimed bool
	// held is the entry found when the key was not free.
	held idempotencyEntry
}

// claimIdempotencyKey checks the request's Idempotency-Key (400 when
// malformed) and, unless the create is a dry run, claims it. It returns nil
// when there is nothing to do.
func (h *resourceHandler) claimIdempotencyKey(r *http.Request, head writeHead) (*idempotentCreate, error) {
	vals, sent := r.Header[idempotencyHeader]
	if !sent {
		return nil, nil
	}
	if len(vals) != 1 {
		return nil, apierrors.NewBadRequest("the " + idempotencyHeader + " header must be sent at most once")
	}
	if err := checkIdempotencyKey(vals[0]); err != nil {
		return nil, err
	}
	if head.dry {
		return nil, nil
	}
	u, _ := auth.UserFrom(r.Context())
	c := &idempotentCreate{
		store: h.s.idem,
		key: idempotencyKey{
			User:       u.Name,
			Collection: strings.TrimSuffix(objectPath(h.info, h.ep, h.namespaceFor(), ""), "/"),
			Key:        vals[0],
		},
		mediaType: head.mediaType,
		gr:        h.ep.Resource.GroupResource(),
		gk:        h.ep.GroupVersionKind().GroupKind(),
	}
	c.held, c.claimed = c.store.Claim(c.key)
	return c, nil
}

// checkIdempotencyKey accepts 1 to 255 printable ASCII characters.
func checkIdempotencyKey(key string) error {
	if key == "" || len(key) > maxIdempotencyKeyBytes {
		return apierrors.NewBadRequest(fmt.Sprintf("the %s header must be 1 to %d characters long", idempotencyHeader, maxIdempotencyKeyBytes))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return apierrors.NewBadRequest(fmt.Sprintf("the %s header must be printable ASCII characters", idempotencyHeader))
		}
	}
	return nil
}

func (c *idempotentCreate) digest(body []byte) [sha256.Size]byte {
	d := sha256.New()
	d.Write([]byte(c.mediaType))
	d.Write([]byte{0})
	d.Write(body)
	var sum [sha256.Size]byte
	d.Sum(sum[:0])
	return sum
}

// replay answers a create whose key was held by an earlier request, given
// its own body and the name it asks for. It reports whether it answered (a
// 303); otherwise a non-nil error is the answer, and a nil one means the
// create proceeds.
func (c *idempotentCreate) replay(w http.ResponseWriter, body []byte, name string) (bool, error) {
	if c == nil || c.claimed {
		return false, nil
	}
	if c.held.InFlight {
		err := apierrors.NewConflict(c.gr, name, errors.New("a create with the same "+idempotencyHeader+" is still in flight; retry when it has been answered"))
		err.ErrStatus.Details.RetryAfterSeconds = 1
		return false, err
	}
	if c.digest(body) != c.held.Digest {
		return false, apierrors.NewInvalid(c.gk, name, field.ErrorList{field.Invalid(field.NewPath(idempotencyHeader), c.key.Key,
			"was used for a create with a different body; send a new key for a different object")})
	}
	w.Header().Set("Location", c.held.Location)
	WriteStatus(w, metav1.Status{
		Status: metav1.StatusSuccess, Code: http.StatusSeeOther,
		Message: fmt.Sprintf("%s %q was created by an earlier request with this %s: see the Location", c.gr, c.held.Name, idempotencyHeader),
		Details: &metav1.StatusDetails{Name: c.held.Name, Group: c.gr.Group, Kind: c.gr.Resource},
	})
	return true, nil
}

// complete records that the claimed create made the object at location.
func (c *idempotentCreate) complete(body []byte, location, name string) {
	if c == nil || !c.claimed {
		return
	}
	c.store.Complete(c.key, idempotencyEntry{Digest: c.digest(body), Location: location, Name: name})
	c.claimed = false
}

// release gives the key up if the create did not complete. Deferred, it
// runs on every way out, panics included.
func (c *idempotentCreate) release() {
	if c == nil || !c.claimed {
		return
	}
	c.store.Release(c.key)
	c.claimed = false
}

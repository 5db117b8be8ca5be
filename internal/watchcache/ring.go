package watchcache

import (
	"sort"

	"cella.dev/cella/internal/storage"
)

// eventOverhead is what the cache counts for an event besides its key and
// values: about the size of a storage.Event and the slot that holds it.
const eventOverhead = 128

// eventBytes is what holding ev costs, as the cache counts it against its
// byte bounds: its key, its value, its previous value unless that is the
// same bytes (a delete), and eventOverhead. Values are shared between the
// state, the history and the watchers, so the count is an upper bound of
// what ev alone keeps alive: an update's previous value is usually also
// the value of the event before it.
func eventBytes(ev *storage.Event) int64 {
	n := int64(eventOverhead + len(ev.Key) + len(ev.Value))
	if len(ev.PrevValue) > 0 && (len(ev.Value) == 0 || &ev.PrevValue[0] != &ev.Value[0]) {
		n += int64(len(ev.PrevValue))
	}
	return n
}

// ring holds the most recent events in ascending revision order, within
// two bounds: at most max events and at most maxBytes bytes (eventBytes).
// It grows on demand up to max events, so the cache of a resource that is
// rarely written holds little memory, and drops the oldest events to stay
// within both bounds.
type ring struct {
	// buf holds the n events from buf[start], wrapping around; slots
	// outside them are zero, so they keep no values alive.
	buf      []storage.Event
	start, n int
	// bytes is the sum of eventBytes over the kept events.
	bytes    int64
	max      int
	maxBytes int64
}

func (r *ring) len() int { return r.n }

// at returns the i-th oldest event.
func (r *ring) at(i int) *storage.Event {
	return &r.buf[(r.start+i)%len(r.buf)]
}

// push appends ev, whose revision must be above every kept one, then drops
// the oldest events until the ring is within its bounds: ev itself goes
// too if it is larger than maxBytes alone. It returns the revision of the
// newest event dropped, and false if none was.
func (r *ring) push(ev storage.Event) (dropped int64, ok bool) {
	if r.n == len(r.buf) {
		if r.n == r.max {
			dropped, ok = r.pop(), true
		} else {
			grown := make([]storage.Event, min(max(2*len(r.buf), 64), r.max))
			for i := range r.n {
				grown[i] = *r.at(i)
			}
			r.buf, r.start = grown, 0
		}
	}
	r.buf[(r.start+r.n)%len(r.buf)] = ev
	r.n++
	r.bytes += eventBytes(&ev)
	for r.bytes > r.maxBytes && r.n > 0 {
		dropped, ok = r.pop(), true
	}
	return dropped, ok
}

// pop drops the oldest event and returns its revision.
func (r *ring) pop() int64 {
	ev := &r.buf[r.start]
	rev := ev.Revision
	r.bytes -= eventBytes(ev)
	*ev = storage.Event{}
	r.start = (r.start + 1) % len(r.buf)
	r.n--
	return rev
}

// after returns the index of the first event whose revision is above rev,
// or r.len() if there is none.
func (r *ring) after(rev int64) int {
	return sort.Search(r.n, func(i int) bool { return r.at(i).Revision > rev })
}

// reset drops every event and the memory that held them.
func (r *ring) reset() {
	r.buf, r.start, r.n, r.bytes = nil, 0, 0, 0
}

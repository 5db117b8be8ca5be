package watchcache

import (
	"sort"
	"strings"

	"cella.dev/cella/internal/storage"
)

// ring holds the most recent events in ascending revision order. It grows on
// demand up to max events and then overwrites the oldest, so the cache of a
// resource that is rarely written holds little memory.
type ring struct {
	// buf holds the events. While len(buf) < max, start is 0 and buf is in
	// order; once full, buf[start] is the oldest event.
	buf   []storage.Event
	start int
	max   int
}

func (r *ring) len() int { return len(r.buf) }

// at returns the i-th oldest event.
func (r *ring) at(i int) *storage.Event {
	return &r.buf[(r.start+i)%len(r.buf)]
}

// push appends ev, whose revision must be above every kept one, and returns
// the event it pushed out, if any.
func (r *ring) push(ev storage.Event) (evicted storage.Event, ok bool) {
	if len(r.buf) < r.max {
		if len(r.buf) == cap(r.buf) {
			grown := make([]storage.Event, len(r.buf), min(max(2*cap(r.buf), 64), r.max))
			copy(grown, r.buf)
			r.buf = grown
		}
		r.buf = append(r.buf, ev)
		return storage.Event{}, false
	}
	evicted = r.buf[r.start]
	r.buf[r.start] = ev
	r.start = (r.start + 1) % len(r.buf)
	return evicted, true
}

// after returns the index of the first event whose revision is above rev,
// or r.len() if there is none.
func (r *ring) after(rev int64) int {
	return sort.Search(len(r.buf), func(i int) bool { return r.at(i).Revision > rev })
}

// countAfter counts the events above rev whose key starts with prefix, and
// stops counting once it passes limit.
func (r *ring) countAfter(rev int64, prefix string, limit int) int {
	n := 0
	for i := r.after(rev); i < len(r.buf) && n <= limit; i++ {
		if strings.HasPrefix(r.at(i).Key, prefix) {
			n++
		}
	}
	return n
}

// reset drops every event and the memory that held them.
func (r *ring) reset() {
	r.buf, r.start = nil, 0
}

// Package changefeed delivers the UIDs of pods whose containers changed
// state to a runtime's Changes channel, as the contract asks: a UID waiting
// for delivery is not queued again, and Add never waits for the receiver.
package changefeed

import "sync"

// Feed queues UIDs and delivers them, oldest first, on C. Its goroutine
// runs from New until Close.
type Feed struct {
	out  chan string
	kick chan struct{} // a token when the queue may have grown
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	queue   []string        // in order of Add; queue[0] is being offered
	pending map[string]bool // the UIDs in queue
}

// New starts a feed.
func New() *Feed {
	f := &Feed{
		out:     make(chan string),
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: make(map[string]bool),
	}
	f.wg.Add(1)
	go f.run()
	return f
}

// C is the channel UIDs are delivered on. It is never closed.
func (f *Feed) C() <-chan string { return f.out }

// Add queues uid unless it waits for delivery already.
func (f *Feed) Add(uid string) {
	f.mu.Lock()
	if !f.pending[uid] {
		f.pending[uid] = true
		f.queue = append(f.queue, uid)
	}
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Close stops delivery and waits for the feed's goroutine. UIDs not yet
// delivered are dropped.
func (f *Feed) Close() {
	select {
	case <-f.done:
	default:
		close(f.done)
	}
	f.wg.Wait()
}

func (f *Feed) run() {
	defer f.wg.Done()
	for {
		f.mu.Lock()
		if len(f.queue) == 0 {
			f.mu.Unlock()
			select {
			case <-f.kick:
				continue
			case <-f.done:
				return
			}
		}
		uid := f.queue[0]
		f.mu.Unlock()
		select {
		case f.out <- uid:
			f.mu.Lock()
			f.queue = f.queue[1:]
			delete(f.pending, uid)
			f.mu.Unlock()
		case <-f.done:
			return
		}
	}
}

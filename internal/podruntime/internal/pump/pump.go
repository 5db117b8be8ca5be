// Package pump reads a stream in a goroutine of its own and hands what it
// reads to one consumer as chunks, so that the consumer can wait for input
// and for other things at once (a select) and stop waiting at any time.
//
// A Read cannot be interrupted: once the consumer has stopped the pump, its
// goroutine may still be blocked in a Read of the stream. It ends when that
// Read returns, which the stream's owner brings about by closing the
// stream; what it read then is dropped.
package pump

import (
	"io"
	"sync"
)

// chunkSize is the most one chunk holds.
const chunkSize = 32 << 10

// Pump reads one stream. C delivers its chunks, each a new slice the
// consumer owns, in order; C is closed once the stream ended (Err says how)
// or the pump was stopped.
type Pump struct {
	C <-chan []byte

	stop     chan struct{}
	stopOnce sync.Once

	mu  sync.Mutex // guards err
	err error
}

// Start starts reading r.
func Start(r io.Reader) *Pump {
	c := make(chan []byte)
	p := &Pump{C: c, stop: make(chan struct{})}
	go p.run(r, c)
	return p
}

func (p *Pump) run(r io.Reader, c chan<- []byte) {
	defer close(c)
	for {
		buf := make([]byte, chunkSize)
		n, err := r.Read(buf)
		if n > 0 {
			select {
			case c <- buf[:n]:
			case <-p.stop:
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				p.mu.Lock()
				p.err = err
				p.mu.Unlock()
			}
			return
		}
	}
}

// Err is the error that ended the stream once C is closed: nil for its
// end (io.EOF) or a stop.
func (p *Pump) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stop tells the pump's goroutine to deliver nothing more. It does not
// wait for it (see the package doc); calling it again does nothing.
func (p *Pump) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
}

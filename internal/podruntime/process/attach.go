package process

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"sync"
	"syscall"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/pump"
)

// Attach connects s to a running container through its shim's attach
// socket (shimio.go).
func (r *Runtime) Attach(ctx context.Context, uid, name string, s podruntime.Streams) error {
	p, c, err := r.lookupContainer(uid, name)
	if err != nil {
		return err
	}
	a := c.latest
	running := a.exit == nil
	p.mu.Unlock()
	if !running {
		return fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
	}
	if a.spec.AttachSocket == "" {
		return fmt.Errorf("attaching to container %q of pod %s: %w (it was started by an earlier version of Cella; it takes attachments once restarted)", name, uid, errNoAttach)
	}
	conn, err := dialAttach(ctx, a.spec.AttachSocket)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errConnRefused) {
		// The socket is gone: the container has ended, and its shim is
		// ending (it closes the socket before it records the exit).
		if done, _ := waitClosed(ctx, a.exited, attachEndWait); done {
			return fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
		}
	}
	if err != nil {
		return fmt.Errorf("attaching to container %q of pod %s: %w", name, uid, err)
	}
	// The forwarders below end when done is closed or a send fails; they
	// are joined once the connection is closed, which ends a send that
	// waits for the shim.
	done := make(chan struct{})
	var fwd sync.WaitGroup
	defer func() {
		close(done)
		conn.Close()
		fwd.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	// Frames to the shim come from this goroutine and from the input and
	// resize forwarders: wmu serializes them.
	var wmu sync.Mutex
	send := func(kind byte, p []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		return writeFrame(conn, kind, p)
	}
	hello, _ := json.Marshal(attachHello{Stdin: s.Stdin != nil})
	if err := send(frameHello, hello); err != nil {
		return fmt.Errorf("attaching to container %q of pod %s: %w", name, uid, err)
	}

	if s.Stdin != nil {
		in := pump.Start(s.Stdin)
		defer in.Stop()
		fwd.Go(func() {
			for {
				select {
				case chunk, ok := <-in.C:
					if !ok {
						_ = send(frameEOF, nil)
						return
					}
					if send(frameInput, chunk) != nil {
						return
					}
				case <-done:
					return
				}
			}
		})
	}
	if s.Resize != nil {
		fwd.Go(func() {
			for {
				select {
				case sz, ok := <-s.Resize:
					if !ok {
						return
					}
					var b [4]byte
					binary.BigEndian.PutUint16(b[0:2], sz.Width)
					binary.BigEndian.PutUint16(b[2:4], sz.Height)
					if send(frameResize, b[:]) != nil {
						return
					}
				case <-done:
					return
				}
			}
		})
	}

	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	br := bufio.NewReader(conn)
	for {
		kind, p, err := readFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("attaching to container %q of pod %s: the connection to its shim broke: %w", name, uid, err)
		}
		switch kind {
		case frameStdout:
			_, err = stdout.Write(p)
		case frameStderr:
			_, err = stderr.Write(p)
		case frameExit:
			return nil
		}
		if err != nil {
			return err
		}
	}
}

var errNoAttach = errors.New("its shim takes no attach connections")

// errConnRefused is what dialing a socket nobody listens on any more
// fails with.
var errConnRefused = errors.New("connection refused")

// dialAttach connects to the attach socket at path.
func dialAttach(ctx context.Context, path string) (net.Conn, error) {
	short, done, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	defer done()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", short)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fs.ErrNotExist
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, errConnRefused
		}
		return nil, err
	}
	return conn, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

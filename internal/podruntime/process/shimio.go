package process

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// The standard streams of a container, as its shim holds them, and the
// attach socket through which the runtime reaches them (Runtime.Attach).
//
// Without a TTY the command's standard output and error are pipes the shim
// reads, and its standard input is a pipe the shim writes when the
// container was started with Stdin (/dev/null otherwise). With a TTY the
// shim allocates a pseudo-terminal: the command's three streams are its
// terminal side, in a session of its own whose controlling terminal it is,
// and the shim reads the output from, and writes the input to, the other
// side; everything the command writes is logged as standard output, as
// the kubelet logs a TTY container.
//
// The shim listens on <n>.attach in the container's directory before it
// reports the container started. A client (Runtime.Attach) sends a hello
// frame, then input, the end of its input and terminal sizes; the shim
// sends it everything the container writes from then on, and an exit
// frame when the container has ended and its output is drained. Frames
// are a kind byte, a big-endian uint32 length and that many bytes.

// Frame kinds of the attach socket.
const (
	frameHello  = 'h' // client: JSON attachHello, first
	frameInput  = 'i' // client: bytes for the container's input
	frameEOF    = 'e' // client: its input has ended
	frameResize = 'r' // client: width and height, big-endian uint16s
	frameStdout = '1' // shim: standard output (all output with a TTY)
	frameStderr = '2' // shim: standard error
	frameExit   = 'x' // shim: the container ended, its output is drained
)

// maxFrame bounds the payload of a frame.
const maxFrame = 1 << 20

// attachHello opens an attach connection.
type attachHello struct {
	// Stdin says the client brings input: its end closes the container's
	// input when the container was started with StdinOnce.
	Stdin bool `json:"stdin"`
}

// Limits of an attachment.
const (
	// attachQueue is how many frames of output may wait for a client that
	// reads slowly; one that falls further behind is disconnected, so that
	// it never holds up the container's output or its log.
	attachQueue = 256
	// attachEndWait bounds how long the shim tries to hand the last output
	// to attached clients once the container has ended.
	attachEndWait = 5 * time.Second
)

func writeFrame(w io.Writer, kind byte, p []byte) error {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

func readFrame(r *bufio.Reader) (kind byte, p []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("attach: a frame of %d bytes", n)
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	return hdr[0], p, nil
}

// shortPath names path by a path short enough for a unix socket address
// (108 bytes): /proc/self/fd/N/<base>, N an open descriptor of path's
// directory, which the caller closes with done once the socket is bound or
// connected.
func shortPath(path string) (short string, done func(), err error) {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return "", nil, err
	}
	return "/proc/self/fd/" + strconv.Itoa(int(d.Fd())) + "/" + filepath.Base(path), func() { d.Close() }, nil
}

// containerIO is a container's streams in its shim.
type containerIO struct {
	spec shimSpec

	// The command's ends, closed in the shim once it has started.
	childIn, childOut, childErr *os.File
	// The shim's ends: output (all of it with a TTY) and error (nil with
	// a TTY), and input (nil without Stdin). With a TTY, out and in are
	// the same terminal.
	out, errOut, in *os.File

	attach *attachServer
}

// openContainerIO makes the streams spec asks for and starts listening for
// attach connections.
func openContainerIO(spec shimSpec) (_ *containerIO, err error) {
	c := &containerIO{spec: spec}
	defer func() {
		if err != nil {
			c.closeChild()
			c.close()
		}
	}()
	if spec.TTY {
		master, slave, err := openTerminal()
		if err != nil {
			return nil, fmt.Errorf("allocating the container's terminal: %w", err)
		}
		c.out, c.childIn, c.childOut, c.childErr = master, slave, slave, slave
		if spec.Stdin {
			c.in = master
		}
	} else {
		if c.out, c.childOut, err = os.Pipe(); err != nil {
			return nil, err
		}
		if c.errOut, c.childErr, err = os.Pipe(); err != nil {
			return nil, err
		}
		if spec.Stdin {
			if c.childIn, c.in, err = os.Pipe(); err != nil {
				return nil, err
			}
		}
	}
	if spec.AttachSocket != "" {
		if c.attach, err = listenAttach(spec.AttachSocket, c); err != nil {
			return nil, fmt.Errorf("listening for attach connections: %w", err)
		}
	}
	return c, nil
}

// wire makes cmd use the container's streams, in a process group of its
// own, or with a TTY in a session of its own whose controlling terminal
// is the container's. What else cmd.SysProcAttr asks for (the namespaces
// of an isolated container's init) is kept.
func (c *containerIO) wire(cmd *exec.Cmd) {
	if c.childIn != nil {
		cmd.Stdin = c.childIn
	}
	cmd.Stdout, cmd.Stderr = c.childOut, c.childErr
	cmd.SysProcAttr = ownGroup(cmd.SysProcAttr, c.spec.TTY)
}

// closeChild closes the command's ends in the shim.
func (c *containerIO) closeChild() {
	for _, f := range []*os.File{c.childIn, c.childOut, c.childErr} {
		if f != nil {
			f.Close() // the terminal's side thrice: the later calls fail, harmlessly
		}
	}
}

// stdout is the container's output as the log reads it: what is read is
// also sent to attached clients.
func (c *containerIO) stdout() io.Reader { return c.tee(c.out, frameStdout) }

// stderr is the container's standard error, nil with a TTY.
func (c *containerIO) stderr() io.Reader {
	if c.errOut == nil {
		return nil
	}
	return c.tee(c.errOut, frameStderr)
}

func (c *containerIO) tee(r io.Reader, kind byte) io.Reader {
	if c.attach == nil {
		return r
	}
	return io.TeeReader(r, broadcaster{c.attach, kind})
}

// closeOutput ends the reads of the container's output (the drain took too
// long: a process that left the container holds its end open).
func (c *containerIO) closeOutput() {
	c.out.Close()
	if c.errOut != nil {
		c.errOut.Close()
	}
}

// finish tells attached clients that the container has ended, once its
// output is drained, and stops listening.
func (c *containerIO) finish() {
	if c.attach != nil {
		c.attach.finish()
	}
}

// close closes the shim's ends.
func (c *containerIO) close() {
	if c.attach != nil {
		c.attach.finish()
	}
	for _, f := range []*os.File{c.out, c.errOut, c.in} {
		if f != nil {
			f.Close()
		}
	}
}

// attachServer serves the attach socket of a container.
type attachServer struct {
	ln   *net.UnixListener
	path string
	cio  *containerIO

	inputMu   sync.Mutex // serializes writes to the container's input
	inputOnce sync.Once  // closes it for StdinOnce

	mu      sync.Mutex // guards clients and ended
	clients map[*attachClient]bool
	ended   bool

	wg sync.WaitGroup // the accept loop and each client's goroutines
}

// attachClient is one attach connection.
type attachClient struct {
	conn *net.UnixConn
	out  chan frame // closed by finish or when the client is dropped
}

type frame struct {
	kind byte
	p    []byte
}

func listenAttach(path string, cio *containerIO) (*attachServer, error) {
	os.Remove(path) // a stale socket of an attempt started again
	short, done, err := shortPath(path)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: short, Net: "unix"})
	done()
	if err != nil {
		return nil, err
	}
	// The name it was bound by means nothing once done has run.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, err
	}
	s := &attachServer{ln: ln, path: path, cio: cio, clients: map[*attachClient]bool{}}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *attachServer) accept() {
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			return // closed by finish
		}
		c := &attachClient{conn: conn, out: make(chan frame, attachQueue)}
		s.mu.Lock()
		if s.ended {
			s.mu.Unlock()
			writeFrame(conn, frameExit, nil)
			conn.Close()
			continue
		}
		s.clients[c] = true
		s.mu.Unlock()
		s.wg.Go(func() { s.send(c) })
		s.wg.Go(func() { s.receive(c) })
	}
}

// send writes c's output, then the exit frame once the container ended.
func (s *attachServer) send(c *attachClient) {
	w := bufio.NewWriter(c.conn)
	for f := range c.out {
		if writeFrame(w, f.kind, f.p) != nil {
			break
		}
		if len(c.out) == 0 && w.Flush() != nil {
			break
		}
	}
	s.mu.Lock()
	ended := s.ended && !s.clients[c] // finish closed out, not a drop
	s.mu.Unlock()
	if ended {
		writeFrame(w, frameExit, nil)
		w.Flush()
	}
	c.conn.Close() // ends receive
	for range c.out {
	}
}

// receive reads c's frames: input, its end, terminal sizes.
func (s *attachServer) receive(c *attachClient) {
	r := bufio.NewReader(c.conn)
	var hello attachHello
	kind, p, err := readFrame(r)
	if err != nil || kind != frameHello || json.Unmarshal(p, &hello) != nil {
		s.drop(c)
		return
	}
	inputDone := false
	for {
		kind, p, err := readFrame(r)
		if err != nil {
			break
		}
		switch kind {
		case frameInput:
			if s.cio.in != nil && !inputDone {
				s.inputMu.Lock()
				_, _ = s.cio.in.Write(p)
				s.inputMu.Unlock()
			}
		case frameEOF:
			if hello.Stdin && !inputDone {
				inputDone = true
				s.inputEnded()
			}
		case frameResize:
			if len(p) == 4 && s.cio.spec.TTY {
				_ = setTerminalSize(s.cio.out, binary.BigEndian.Uint16(p[0:2]), binary.BigEndian.Uint16(p[2:4]))
			}
		}
	}
	if hello.Stdin && !inputDone {
		s.inputEnded()
	}
	s.drop(c)
}

// inputEnded closes the container's input when it was started with
// StdinOnce: an attachment that brought input has detached. A terminal's
// input cannot be closed apart from its output: it gets an end-of-file
// character (Ctrl-D), which ends the input of a program reading lines.
func (s *attachServer) inputEnded() {
	if !s.cio.spec.StdinOnce || s.cio.in == nil {
		return
	}
	s.inputOnce.Do(func() {
		if s.cio.spec.TTY {
			_, _ = s.cio.in.Write([]byte{0x04})
			return
		}
		s.cio.in.Close()
	})
}

// drop disconnects c.
func (s *attachServer) drop(c *attachClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c] {
		delete(s.clients, c)
		close(c.out)
	}
	c.conn.Close()
}

// broadcast queues p for every client; a client whose queue is full is
// dropped.
func (s *attachServer) broadcast(kind byte, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) == 0 {
		return
	}
	f := frame{kind: kind, p: append([]byte(nil), p...)}
	for c := range s.clients {
		select {
		case c.out <- f:
		default:
			delete(s.clients, c)
			close(c.out)
			c.conn.Close()
		}
	}
}

// finish stops listening, lets every client have the rest of its output
// and the exit frame (within attachEndWait), and waits for the server's
// goroutines. Calling it again does nothing.
func (s *attachServer) finish() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.ln.Close()
	os.Remove(s.path)
	deadline := time.Now().Add(attachEndWait)
	for c := range s.clients {
		c.conn.SetWriteDeadline(deadline)
		close(c.out)
	}
	s.clients = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// broadcaster writes what a TeeReader reads to attached clients. It never
// fails and never blocks on a client.
type broadcaster struct {
	s    *attachServer
	kind byte
}

func (b broadcaster) Write(p []byte) (int, error) {
	b.s.broadcast(b.kind, p)
	return len(p), nil
}

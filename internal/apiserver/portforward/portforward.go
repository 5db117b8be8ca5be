// Package portforward serves Kubernetes' port-forward protocol,
// portforward.k8s.io, as the kubelet does: the client opens SPDY streams
// in pairs, an error stream and a data stream that share a requestID
// header and name a port, and the server connects each data stream to that
// port of the pod, writing what went wrong, if anything, on the error
// stream in the kubelet's words.
//
// The SPDY connection arrives in one of two ways, and both are served:
// tunneled in a WebSocket (the subprotocol SPDY/3.1+portforward.k8s.io,
// what kubectl and client-go try first since Kubernetes 1.31; ServeConn
// takes the WebSocket as a net.Conn, see NewWebSocketConn), or as a plain
// HTTP upgrade to SPDY/3.1 (ServeUpgrade), which older clients and the
// fallback use. The package knows nothing of pods beyond a name for
// messages: Options.Forward does the connecting.
package portforward

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/httpstream/spdy"
)

const (
	// ProtocolV1 is the port-forward protocol, negotiated in the
	// X-Stream-Protocol-Version header of a SPDY upgrade.
	ProtocolV1 = "portforward.k8s.io"
	// TunnelProtocolV1 is the WebSocket subprotocol that carries
	// ProtocolV1 over SPDY inside the WebSocket.
	TunnelProtocolV1 = "SPDY/3.1+" + ProtocolV1
	// HeaderProtocolVersion carries the negotiated protocol of a SPDY
	// upgrade, in the request (the client's offers) and in the 101.
	HeaderProtocolVersion = "X-Stream-Protocol-Version"
	// HeaderAcceptedProtocolVersions lists what the server speaks when
	// negotiation fails.
	HeaderAcceptedProtocolVersions = "X-Accepted-Stream-Protocol-Versions"
)

// Defaults of Options.
const (
	// DefaultStreamCreationTimeout is how long the second stream of a
	// pair may follow the first, as the kubelet's.
	DefaultStreamCreationTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a connection that carried no frame for
	// this long, as the kubelet's streaming idle timeout.
	DefaultIdleTimeout = 4 * time.Hour
)

// Forwarder connects stream to port of the pod and copies both ways until
// both directions are done or ctx ends (the connection closed). It may
// close stream once it has nothing more to write (a half close); the
// session closes it when Forward returns in any case. A returned error is
// reported to the client on the error stream of the pair.
type Forwarder func(ctx context.Context, port int32, stream io.ReadWriteCloser) error

// Options are what a session needs.
type Options struct {
	// Forward connects each data stream; required.
	Forward Forwarder
	// Pod and UID name the pod in the messages on error streams.
	Pod, UID string
	Logger   *slog.Logger
	// StreamCreationTimeout: see DefaultStreamCreationTimeout.
	StreamCreationTimeout time.Duration
	// IdleTimeout: see DefaultIdleTimeout.
	IdleTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StreamCreationTimeout <= 0 {
		o.StreamCreationTimeout = DefaultStreamCreationTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
}

// ServeConn serves the protocol over conn, on which the client speaks SPDY
// (a WebSocket tunnel: NewWebSocketConn). It returns when the client
// closes the connection or ctx ends, after every forward has returned;
// conn is closed by then.
func ServeConn(ctx context.Context, conn net.Conn, o Options) error {
	o.defaults()
	s := newSession(o)
	sc, err := spdy.NewServerConnection(conn, s.accept)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("portforward: starting SPDY on the tunnel: %w", err)
	}
	s.run(ctx, sc)
	return nil
}

// ServeUpgrade answers r with 101 Switching Protocols to SPDY/3.1,
// naming ProtocolV1 in X-Stream-Protocol-Version, and serves the protocol
// on the connection until the client closes it or ctx ends. The caller has
// checked that r asks for that upgrade (IsSPDYUpgrade) and offers the
// protocol (OffersProtocol). It returns false when the switch failed, in
// which case a plain-text error may have been written.
func ServeUpgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, o Options) bool {
	o.defaults()
	s := newSession(o)
	w.Header().Set(HeaderProtocolVersion, ProtocolV1)
	sc := spdy.NewResponseUpgrader().UpgradeResponse(w, r, s.accept)
	if sc == nil {
		return false
	}
	s.run(ctx, sc)
	return true
}

// IsSPDYUpgrade reports a request asking to switch to SPDY/3.1
// (Connection: Upgrade, Upgrade: SPDY/3.1).
func IsSPDYUpgrade(r *http.Request) bool {
	return httpstream.IsUpgradeRequest(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), spdy.HeaderSpdy31)
}

// OffersProtocol reports whether a SPDY upgrade request lists ProtocolV1
// among the protocols of its X-Stream-Protocol-Version headers.
func OffersProtocol(r *http.Request) bool {
	for _, v := range r.Header.Values(HeaderProtocolVersion) {
		for _, p := range strings.Split(v, ",") {
			if strings.TrimSpace(p) == ProtocolV1 {
				return true
			}
		}
	}
	return false
}

// session is one connection's worth of port-forward requests.
type session struct {
	o Options
	// streams carries the streams accept admitted to run; done is closed
	// when run no longer takes them.
	streams chan httpstream.Stream
	done    chan struct{}
}

func newSession(o Options) *session {
	return &session{o: o, streams: make(chan httpstream.Stream), done: make(chan struct{})}
}

// accept is the SPDY new-stream handler: it refuses a stream without a
// valid streamType, or a data stream without a valid port, and hands the
// others to run. The SPDY connection calls it on its frame loop.
func (s *session) accept(st httpstream.Stream, _ <-chan struct{}) error {
	h := st.Headers()
	switch typ := h.Get(corev1.StreamType); typ {
	case corev1.StreamTypeError:
	case corev1.StreamTypeData:
		if _, err := parsePort(h.Get(corev1.PortHeader)); err != nil {
			return err
		}
	case "":
		return fmt.Errorf("%q header is required", corev1.StreamType)
	default:
		return fmt.Errorf("invalid stream type %q", typ)
	}
	select {
	case s.streams <- st:
		return nil
	case <-s.done:
		return fmt.Errorf("the connection is closing")
	}
}

// parsePort reads a port header: a number from 1 to 65535.
func parsePort(v string) (int32, error) {
	if v == "" {
		return 0, fmt.Errorf("%q header is required", corev1.PortHeader)
	}
	p, err := strconv.ParseUint(v, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("invalid port %q: must be a number from 1 to 65535", v)
	}
	return int32(p), nil
}

// pair is the two streams of one forwarded connection. Fields are owned by
// run's goroutine until the pair is complete, then by the forward.
type pair struct {
	id          string
	data, error httpstream.Stream
	timer       *time.Timer
}

// run pairs streams by request ID and forwards each complete pair on a
// goroutine of its own. A pair whose second stream does not come within
// StreamCreationTimeout is told so on its error stream and dropped. run
// returns when the connection closes or ctx ends, once every forward has
// returned.
func (s *session) run(ctx context.Context, conn httpstream.Connection) {
	ctx, cancel := context.WithCancel(ctx)
	conn.SetIdleTimeout(s.o.IdleTimeout)
	var wg sync.WaitGroup
	defer func() {
		close(s.done)
		cancel()
		_ = conn.Close()
		wg.Wait()
	}()
	pending := map[string]*pair{}
	expired := make(chan string)
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.CloseChan():
			return
		case id := <-expired:
			p := pending[id]
			if p == nil {
				continue
			}
			delete(pending, id)
			s.o.Logger.Debug("port-forward: incomplete stream pair", "pod", s.o.Pod, "request", id)
			if p.error != nil {
				_, _ = fmt.Fprintf(p.error, "timed out waiting for the streams of request %s", id)
				_ = p.error.Close()
			}
			if p.data != nil {
				_ = p.data.Reset()
			}
			conn.RemoveStreams(p.error, p.data)
		case st := <-s.streams:
			id := requestID(st)
			p := pending[id]
			if p == nil {
				p = &pair{id: id}
				pending[id] = p
				p.timer = time.AfterFunc(s.o.StreamCreationTimeout, func() {
					select {
					case expired <- id:
					case <-ctx.Done():
					}
				})
			}
			if err := p.add(st); err != nil {
				// A second stream of one type for the request: refuse it,
				// keep the pair waiting for the type it lacks.
				s.o.Logger.Debug("port-forward: stream refused", "pod", s.o.Pod, "request", id, "err", err)
				_ = st.Reset()
				continue
			}
			if p.data == nil || p.error == nil {
				continue
			}
			p.timer.Stop()
			delete(pending, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.forward(ctx, conn, p)
			}()
		}
	}
}

// add places st in the pair by its type.
func (p *pair) add(st httpstream.Stream) error {
	switch st.Headers().Get(corev1.StreamType) {
	case corev1.StreamTypeError:
		if p.error != nil {
			return fmt.Errorf("request %s already has an error stream", p.id)
		}
		p.error = st
	default:
		if p.data != nil {
			return fmt.Errorf("request %s already has a data stream", p.id)
		}
		p.data = st
	}
	return nil
}

// forward connects the data stream of p to its port, reports a failure on
// the error stream, and closes both.
func (s *session) forward(ctx context.Context, conn httpstream.Connection, p *pair) {
	defer conn.RemoveStreams(p.data, p.error)
	port, _ := parsePort(p.data.Headers().Get(corev1.PortHeader))
	err := s.o.Forward(ctx, port, p.data)
	if err != nil {
		s.o.Logger.Debug("port-forward failed", "pod", s.o.Pod, "port", port, "err", err)
		_, _ = fmt.Fprintf(p.error, "error forwarding port %d to pod %s, uid %s: %v", port, s.o.Pod, s.o.UID, err)
	}
	_ = p.data.Close()
	_ = p.error.Close()
}

// requestID is the requestID header of st. Clients older than the header
// open each pair as an error stream then a data stream with consecutive
// odd identifiers; as the kubelet does, those get the error stream's
// identifier as their request ID (which pairs them correctly as long as
// such a client opens one pair at a time).
func requestID(st httpstream.Stream) string {
	if id := st.Headers().Get(corev1.PortForwardRequestIDHeader); id != "" {
		return id
	}
	n := st.Identifier()
	if st.Headers().Get(corev1.StreamType) == corev1.StreamTypeData {
		n -= 2
	}
	return "stream-" + strconv.FormatUint(uint64(n), 10)
}

package remotecommand

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// SPDY, the protocol of kubectl before 1.31 and the fallback of later ones
// when a WebSocket handshake fails: a POST that upgrades to SPDY/3.1, the
// subprotocol in X-Stream-Protocol-Version, and one SPDY stream per
// channel, which the client opens, named by its streamType header (error,
// stdin, stdout, stderr, resize). The channels mean what they mean over
// WebSocket: v4.channel.k8s.io carries a metav1.Status on the error
// stream, v3 and v2 the text of a failure; v2 has no resize stream. The
// client half-closes its stdin stream when its input ends. Once the
// session has ended the server writes the status, closes its streams and
// waits for the client to close the connection (client-go does once it
// has read everything), up to finishTimeout. The first version
// (channel.k8s.io), which no client has spoken since 2015, is not served.

// SPDYProtocols are the subprotocols ServeSPDY speaks, as the server
// prefers them.
var SPDYProtocols = []string{ProtocolV4, "v3.channel.k8s.io", "v2.channel.k8s.io"}

// Headers of a SPDY upgrade.
const (
	headerProtocolVersion   = "X-Stream-Protocol-Version"
	headerAcceptedProtocols = "X-Accepted-Stream-Protocol-Versions"
	spdyUpgrade             = "SPDY/3.1"
)

// streamCreationTimeout bounds how long the client may take to open its
// streams once the connection has switched, as the kubelet's.
const streamCreationTimeout = 30 * time.Second

// IsSPDYRequest reports a request to switch to SPDY/3.1.
func IsSPDYRequest(r *http.Request) bool {
	return httpstream.IsUpgradeRequest(r) && strings.EqualFold(strings.TrimSpace(r.Header.Get("Upgrade")), spdyUpgrade)
}

// NegotiateSPDY picks the subprotocol of a SPDY upgrade: the first the
// client offers that the server speaks. A client that offers none, or
// none the server speaks, is refused with a 400 Status (the server's
// protocols are in h's X-Accepted-Stream-Protocol-Versions).
func NegotiateSPDY(r *http.Request, h http.Header) (string, error) {
	var offered []string
	for _, v := range r.Header.Values(headerProtocolVersion) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				offered = append(offered, p)
			}
		}
	}
	for _, p := range offered {
		for _, s := range SPDYProtocols {
			if p == s {
				return p, nil
			}
		}
	}
	for _, s := range SPDYProtocols {
		h.Add(headerAcceptedProtocols, s)
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("unable to upgrade: unable to negotiate protocol: client supports %q, server accepts %q", offered, SPDYProtocols))
}

// SwitchingSPDY is the 101 answer that switches to SPDY with protocol.
func SwitchingSPDY(protocol string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + spdyUpgrade + "\r\n" +
		headerProtocolVersion + ": " + protocol + "\r\n\r\n"
}

// ServeSPDY runs sess over conn, a connection switched to SPDY with
// protocol (the caller has written SwitchingSPDY), with the streams o asks
// for, and returns once the session has ended and the client has been
// told how. The caller closes conn afterwards.
func ServeSPDY(ctx context.Context, conn net.Conn, protocol string, kind Kind, o Options, sess Session) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type opened struct {
		stream    httpstream.Stream
		replySent <-chan struct{}
	}
	newStreams := make(chan opened)
	sc, err := spdy.NewServerConnection(conn, func(s httpstream.Stream, replySent <-chan struct{}) error {
		select {
		case newStreams <- opened{s, replySent}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		return
	}
	defer sc.Close()
	var watching sync.WaitGroup
	defer watching.Wait()
	defer cancel()
	watching.Go(func() {
		// A client that goes away ends the session.
		select {
		case <-sc.CloseChan():
			cancel()
		case <-ctx.Done():
		}
	})

	want := map[string]bool{corev1.StreamTypeError: true}
	if o.Stdin {
		want[corev1.StreamTypeStdin] = true
	}
	if o.Stdout {
		want[corev1.StreamTypeStdout] = true
	}
	if o.Stderr && !o.TTY {
		want[corev1.StreamTypeStderr] = true
	}
	if o.TTY && protocol != "v2.channel.k8s.io" {
		want[corev1.StreamTypeResize] = true
	}
	streams := map[string]httpstream.Stream{}
	var replies []<-chan struct{}
	timeout := time.NewTimer(streamCreationTimeout)
	defer timeout.Stop()
	for len(streams) < len(want) {
		select {
		case op := <-newStreams:
			typ := op.stream.Headers().Get(corev1.StreamType)
			if !want[typ] || streams[typ] != nil {
				op.stream.Reset()
				continue
			}
			streams[typ] = op.stream
			replies = append(replies, op.replySent)
		case <-timeout.C:
			return // the client never opened its streams
		case <-ctx.Done():
			return
		}
	}
	for _, r := range replies {
		select {
		case <-r:
		case <-ctx.Done():
			return
		}
	}

	s := Streams{TTY: o.TTY}
	if st := streams[corev1.StreamTypeStdin]; st != nil {
		s.Stdin = st
	}
	if st := streams[corev1.StreamTypeStdout]; st != nil {
		s.Stdout = st
	}
	if st := streams[corev1.StreamTypeStderr]; st != nil {
		s.Stderr = st
	}
	var sizes sync.WaitGroup
	sizesCtx, stopSizes := context.WithCancel(ctx)
	defer stopSizes()
	if st := streams[corev1.StreamTypeResize]; st != nil {
		ch := make(chan TerminalSize)
		s.Resize = ch
		sizes.Go(func() { decodeSizes(sizesCtx, st, ch) })
	}

	err = sess(ctx, s)
	stopSizes()
	for _, typ := range []string{corev1.StreamTypeStdin, corev1.StreamTypeResize} {
		if st := streams[typ]; st != nil {
			st.Reset() // ends a Read the session or the size decoder left
		}
	}
	sizes.Wait()
	if ctx.Err() != nil {
		return
	}
	st := statusOf(kind, o, err)
	errStream := streams[corev1.StreamTypeError]
	if protocol == ProtocolV4 {
		if b, err := json.Marshal(st); err == nil {
			_, _ = errStream.Write(b)
		}
	} else if st.Status != metav1.StatusSuccess {
		_, _ = errStream.Write([]byte(st.Message))
	}
	for _, typ := range []string{corev1.StreamTypeError, corev1.StreamTypeStdout, corev1.StreamTypeStderr} {
		if st := streams[typ]; st != nil {
			_ = st.Close()
		}
	}
	t := time.NewTimer(finishTimeout)
	defer t.Stop()
	select {
	case <-sc.CloseChan():
	case <-ctx.Done():
	case <-t.C:
	}
}

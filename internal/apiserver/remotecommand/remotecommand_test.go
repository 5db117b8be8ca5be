package remotecommand_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"

	rc "cella.dev/cella/internal/apiserver/remotecommand"
)

// serve starts a server on a real socket that upgrades every request and
// runs sess over it, with the options of its query; it returns the
// server's URL. Each session's context end is reported on ended.
func serve(t *testing.T, kind rc.Kind, sess rc.Session) (string, <-chan error) {
	t.Helper()
	ended := make(chan error, 8)
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o rc.Options
		if kind == rc.Exec {
			eo, err := rc.ParseExecOptions(r.URL.Query())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			o = rc.Options{Command: eo.Command, Stdin: eo.Stdin, Stdout: eo.Stdout, Stderr: eo.Stderr, TTY: eo.TTY}
		} else {
			ao, err := rc.ParseAttachOptions(r.URL.Query())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			o = rc.Options{Stdin: ao.Stdin, Stdout: ao.Stdout, Stderr: ao.Stderr, TTY: ao.TTY}
		}
		u := websocket.Upgrader{Subprotocols: rc.Protocols[:len(rc.Protocols)-1]}
		conn, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer conn.Close()
		rc.Serve(context.Background(), conn, conn.Subprotocol(), kind, o, func(ctx context.Context, s rc.Streams) error {
			err := sess(ctx, s)
			ended <- ctx.Err()
			return err
		})
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv.URL, ended
}

// execURL is the URL of an exec of command with the streams named.
func execURL(base string, command []string, streams ...string) string {
	q := url.Values{"command": command}
	for _, s := range streams {
		q.Set(s, "true")
	}
	return base + "/exec?" + q.Encode()
}

// stream runs an exec over client-go's WebSocket executor speaking the
// given protocols.
func stream(t *testing.T, u string, o remotecommand.StreamOptions, protocols ...string) error {
	t.Helper()
	ex, err := remotecommand.NewWebSocketExecutorForProtocols(&rest.Config{Host: "http://unused"}, "GET", u, protocols...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, o)
}

// echo writes "out" and "err", then copies its input to its output, and
// exits 3.
func echo(ctx context.Context, s rc.Streams) error {
	io.WriteString(s.Stdout, "out ")
	if s.Stderr != nil {
		io.WriteString(s.Stderr, "err")
	}
	if s.Stdin != nil {
		if _, err := io.Copy(s.Stdout, s.Stdin); err != nil {
			return err
		}
	}
	return rc.ExitError{Code: 3}
}

// v5: the three streams apart, the input's end (the close message) seen
// by the session, and the exit code in the error channel's Status.
func TestServeV5(t *testing.T) {
	base, _ := serve(t, rc.Exec, echo)
	var stdout, stderr bytes.Buffer
	err := stream(t, execURL(base, []string{"sh", "-c", "exit 3"}, "stdin", "stdout", "stderr"),
		remotecommand.StreamOptions{Stdin: strings.NewReader("abc\n"), Stdout: &stdout, Stderr: &stderr}, rc.ProtocolV5)
	var exit exec.CodeExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err = %v, want exit code 3", err)
	}
	if stdout.String() != "out abc\n" || stderr.String() != "err" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// v4 and success: a session without input ends with an empty error
// stream, which client-go reads as success.
func TestServeV4Success(t *testing.T) {
	base, _ := serve(t, rc.Exec, func(ctx context.Context, s rc.Streams) error {
		if s.Stdin != nil || s.Stderr != nil {
			return errors.New("streams that were not asked for")
		}
		_, err := io.WriteString(s.Stdout, "hello\n")
		return err
	})
	var stdout bytes.Buffer
	err := stream(t, execURL(base, []string{"echo", "hello"}, "stdout"), remotecommand.StreamOptions{Stdout: &stdout}, rc.ProtocolV4)
	if err != nil || stdout.String() != "hello\n" {
		t.Errorf("err = %v, stdout %q", err, stdout.String())
	}
}

// A failure that is no exit code is an internal error, worded as the
// kubelet words it; a Status error is sent as it is.
func TestServeFailures(t *testing.T) {
	for _, tc := range []struct {
		kind rc.Kind
		err  error
		want string
	}{
		{rc.Exec, errors.New("boom"), "Internal error occurred: error executing command in container: boom"},
		{rc.Attach, errors.New("boom"), "Internal error occurred: error attaching to container: boom"},
		{rc.Exec, apierrors.NewBadRequest(`container not found ("c")`), `container not found ("c")`},
	} {
		base, _ := serve(t, tc.kind, func(context.Context, rc.Streams) error { return tc.err })
		u := execURL(base, []string{"true"}, "stdout")
		if tc.kind == rc.Attach {
			u = base + "/attach?stdout=1"
		}
		err := stream(t, u, remotecommand.StreamOptions{Stdout: io.Discard}, rc.ProtocolV5)
		if err == nil || err.Error() != tc.want {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

// sizeQueue hands out sizes, then waits until done.
type sizeQueue struct {
	sizes chan remotecommand.TerminalSize
	done  <-chan struct{}
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.sizes:
		return &s
	case <-q.done:
		return nil
	}
}

// A TTY session gets the client's terminal sizes in order; it has no
// stderr.
func TestServeTTYResize(t *testing.T) {
	base, _ := serve(t, rc.Exec, func(ctx context.Context, s rc.Streams) error {
		if s.Stderr != nil || !s.TTY {
			return errors.New("a TTY session with a stderr")
		}
		for i := 0; i < 2; i++ {
			select {
			case sz := <-s.Resize:
				fmt.Fprintf(s.Stdout, "%dx%d\r\n", sz.Width, sz.Height)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	done := make(chan struct{})
	defer close(done)
	q := &sizeQueue{sizes: make(chan remotecommand.TerminalSize, 2), done: done}
	q.sizes <- remotecommand.TerminalSize{Width: 80, Height: 24}
	q.sizes <- remotecommand.TerminalSize{Width: 120, Height: 50}
	var stdout bytes.Buffer
	err := stream(t, execURL(base, []string{"sh"}, "stdout", "stderr", "tty"),
		remotecommand.StreamOptions{Stdout: &stdout, Tty: true, TerminalSizeQueue: q}, rc.ProtocolV5)
	if err != nil || stdout.String() != "80x24\r\n120x50\r\n" {
		t.Errorf("err = %v, stdout %q", err, stdout.String())
	}
}

// dial opens a raw WebSocket with protocol.
func dial(t *testing.T, u, protocol string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{protocol}, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial("ws"+strings.TrimPrefix(u, "http"), nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != protocol {
		t.Fatalf("negotiated %q, want %q", got, protocol)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	return conn
}

// The base64 protocols: text messages, the channel as a digit, the data
// in base64; channel.k8s.io's error channel carries the failure's text.
func TestServeBase64(t *testing.T) {
	base, _ := serve(t, rc.Exec, echo)
	for _, tc := range []struct {
		protocol, wantErr string
	}{
		{rc.ProtocolBase64, "command terminated with non-zero exit code: error executing command [cat], exit code 3"},
		{rc.ProtocolV4Base64, `"reason":"NonZeroExitCode"`},
	} {
		conn := dial(t, execURL(base, []string{"cat"}, "stdout"), tc.protocol)
		var got []string
		for {
			typ, msg, err := conn.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					t.Errorf("%s: %v, want a normal close", tc.protocol, err)
				}
				break
			}
			if typ != websocket.TextMessage {
				t.Fatalf("%s: message type %d", tc.protocol, typ)
			}
			data, err := base64.StdEncoding.DecodeString(string(msg[1:]))
			if err != nil {
				t.Fatalf("%s: %q: %v", tc.protocol, msg, err)
			}
			got = append(got, string(msg[0])+":"+string(data))
		}
		if len(got) != 3 || got[0] != "1:" || got[1] != "1:out " || !strings.HasPrefix(got[2], "3:") || !strings.Contains(got[2], tc.wantErr) {
			t.Errorf("%s: messages %q; want the opening empty stdout, the output, the error", tc.protocol, got)
		}
	}
}

// A client that goes away ends the session's context.
func TestServeClientGone(t *testing.T) {
	started := make(chan struct{})
	base, ended := serve(t, rc.Exec, func(ctx context.Context, s rc.Streams) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	conn := dial(t, execURL(base, []string{"sleep"}, "stdout"), rc.ProtocolV5)
	<-started
	conn.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("session context: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the session did not end when its client went away")
	}
}

// The query: at least one stream; a command for exec; tty drops stderr;
// booleans as kube-apiserver reads them.
func TestParseOptions(t *testing.T) {
	if _, err := rc.ParseExecOptions(url.Values{"command": {"ls"}}); err == nil || err.Error() != "you must specify at least 1 of stdin, stdout, stderr" {
		t.Errorf("no streams: %v", err)
	}
	if _, err := rc.ParseExecOptions(url.Values{"stdout": {"true"}}); !apierrors.IsBadRequest(err) {
		t.Errorf("no command: %v", err)
	}
	o, err := rc.ParseExecOptions(url.Values{"command": {"sh", "-c", "echo"}, "stdout": {"1"}, "stderr": {"true"}, "tty": {"yes"}, "stdin": {"false"}, "container": {"c"}})
	if err != nil || o.Stdin || !o.Stdout || o.Stderr || !o.TTY || o.Container != "c" || len(o.Command) != 3 {
		t.Errorf("ParseExecOptions = %+v, %v", o, err)
	}
	a, err := rc.ParseAttachOptions(url.Values{"stdin": {""}, "stdout": {"0"}})
	if err != nil || !a.Stdin || a.Stdout {
		t.Errorf("ParseAttachOptions = %+v, %v", a, err)
	}
}

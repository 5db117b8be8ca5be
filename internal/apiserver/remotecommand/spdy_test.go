package remotecommand_test

import (
	"bytes"
	"context"
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

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"

	rc "cella.dev/cella/internal/apiserver/remotecommand"
)

// serveSPDY starts a server on a real socket that switches every request
// to SPDY, as the API server does, and runs sess over it.
func serveSPDY(t *testing.T, sess rc.Session) string {
	t.Helper()
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		eo, err := rc.ParseExecOptions(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !rc.IsSPDYRequest(r) {
			http.Error(w, "not SPDY", http.StatusBadRequest)
			return
		}
		protocol, err := rc.NegotiateSPDY(r, w.Header())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		defer conn.Close()
		brw.WriteString(rc.SwitchingSPDY(protocol))
		brw.Flush()
		o := rc.Options{Command: eo.Command, Stdin: eo.Stdin, Stdout: eo.Stdout, Stderr: eo.Stderr, TTY: eo.TTY}
		rc.ServeSPDY(context.Background(), conn, protocol, rc.Exec, o, sess)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv.URL
}

func spdyStream(t *testing.T, u string, o remotecommand.StreamOptions) error {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := remotecommand.NewSPDYExecutor(&rest.Config{Host: "http://unused"}, "POST", pu)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return ex.StreamWithContext(ctx, o)
}

// SPDY (v4): the streams apart, the input and its end, the exit code.
func TestServeSPDY(t *testing.T) {
	base := serveSPDY(t, echo)
	var stdout, stderr bytes.Buffer
	err := spdyStream(t, execURL(base, []string{"cat"}, "stdin", "stdout", "stderr"),
		remotecommand.StreamOptions{Stdin: strings.NewReader("abc\n"), Stdout: &stdout, Stderr: &stderr})
	var exit exec.CodeExitError
	if !errors.As(err, &exit) || exit.Code != 3 {
		t.Fatalf("err = %v, want exit code 3", err)
	}
	if stdout.String() != "out abc\n" || stderr.String() != "err" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
}

// SPDY with a TTY: terminal sizes on the resize stream, success.
func TestServeSPDYTTY(t *testing.T) {
	base := serveSPDY(t, func(ctx context.Context, s rc.Streams) error {
		sz, ok := <-s.Resize
		if !ok || s.Stderr != nil {
			return errors.New("no size")
		}
		fmt.Fprintf(s.Stdout, "%dx%d\r\n", sz.Width, sz.Height)
		_, err := io.Copy(s.Stdout, s.Stdin)
		return err
	})
	done := make(chan struct{})
	defer close(done)
	q := &sizeQueue{sizes: make(chan remotecommand.TerminalSize, 1), done: done}
	q.sizes <- remotecommand.TerminalSize{Width: 90, Height: 30}
	var stdout bytes.Buffer
	err := spdyStream(t, execURL(base, []string{"sh"}, "stdin", "stdout", "tty"),
		remotecommand.StreamOptions{Stdin: strings.NewReader("typed"), Stdout: &stdout, Tty: true, TerminalSizeQueue: q})
	if err != nil || stdout.String() != "90x30\r\ntyped" {
		t.Errorf("err = %v, stdout %q", err, stdout.String())
	}
}

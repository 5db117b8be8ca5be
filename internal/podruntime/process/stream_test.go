//go:build linux

package process_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"cella.dev/cella/internal/podruntime"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitOutput waits until out holds want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	waitFor(t, "output "+strings.ReplaceAll(want, "\n", `\n`), func() bool { return strings.Contains(out.String(), want) })
}

// serving starts a container that runs until stopped in a new sandbox p.
func serving(t *testing.T, rt podruntime.Runtime, c podruntime.Container) {
	t.Helper()
	sandbox(t, rt, "p")
	start(t, rt, "p", c, 0)
}

// An exec has the container's environment and working directory; a
// command that is not there cannot be run.
func TestExecEnvironment(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	c := shell(t, "c", "while :; do sleep 1; done")
	c.Env = append(c.Env, "GREETING=hello from the container")
	serving(t, rt, c)
	var out syncBuffer
	code, err := rt.Exec(t.Context(), "p", "c", []string{"sh", "-c", `echo "$GREETING"; pwd`}, podruntime.Streams{Stdout: &out})
	if want := "hello from the container\n" + c.WorkingDir + "\n"; err != nil || code != 0 || out.String() != want {
		t.Errorf("Exec = %d, %v, output %q; want 0 and %q", code, err, out.String(), want)
	}
	_, err = rt.Exec(t.Context(), "p", "c", []string{"no-such-command"}, podruntime.Streams{})
	if err == nil || errors.Is(err, podruntime.ErrNotFound) || !strings.Contains(err.Error(), `"no-such-command": executable file not found in $PATH`) {
		t.Errorf("Exec of a missing command: %v", err)
	}
}

// An exec under a TTY runs with a terminal whose size follows Resize; its
// input and output are the terminal's.
func TestExecTTY(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	serving(t, rt, shell(t, "c", "while :; do sleep 1; done"))
	resize := make(chan podruntime.TerminalSize, 1)
	resize <- podruntime.TerminalSize{Width: 100, Height: 40}
	pr, pw := io.Pipe()
	defer pr.Close()
	var out syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := rt.Exec(t.Context(), "p", "c", []string{"sh"}, podruntime.Streams{Stdin: pr, Stdout: &out, TTY: true, Resize: resize})
		done <- result{code, err}
	}()
	send := func(s string) {
		t.Helper()
		if _, err := pw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// The size may come after the shell started: ask until it shows.
	waitFor(t, "the terminal to be 40x100", func() bool {
		send("stty size\n")
		return strings.Contains(out.String(), "40 100\r\n")
	})
	resize <- podruntime.TerminalSize{Width: 120, Height: 50}
	waitFor(t, "the terminal to be 50x120", func() bool {
		send("stty size\n")
		return strings.Contains(out.String(), "50 120\r\n")
	})
	send("echo $((6*7))\n")
	waitOutput(t, &out, "42\r\n")
	send("exit 5\n")
	var r result
	waitFor(t, "the exec to end", func() bool {
		select {
		case r = <-done:
			return true
		default:
			return false
		}
	})
	if r.err != nil || r.code != 5 {
		t.Errorf("Exec = %d, %v; want 5", r.code, r.err)
	}
}

// A TTY container's shim holds its terminal: an attachment types into it,
// sizes it, and sees its output, which the log has too; the container's
// exit ends the attachment.
func TestAttachTTY(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	c := shell(t, "c", "exec sh")
	c.Stdin, c.TTY = true, true
	serving(t, rt, c)
	resize := make(chan podruntime.TerminalSize, 1)
	resize <- podruntime.TerminalSize{Width: 80, Height: 30}
	pr, pw := io.Pipe()
	defer pr.Close()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- rt.Attach(t.Context(), "p", "c", podruntime.Streams{Stdin: pr, Stdout: &out, TTY: true, Resize: resize})
	}()
	send := func(s string) {
		t.Helper()
		if _, err := pw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the terminal to be 30x80", func() bool {
		send("stty size\n")
		return strings.Contains(out.String(), "30 80\r\n")
	})
	send("echo $((6*7))\n")
	waitOutput(t, &out, "42\r\n")
	send("exit 7\n")
	var err error
	waitFor(t, "the attachment to end", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if err != nil {
		t.Errorf("Attach = %v, want nil once the container exited", err)
	}
	if st := waitExited(t, rt, "p", "c"); st.ExitCode != 7 {
		t.Errorf("container exited %+v, want code 7", st)
	}
	if log := logs(t, rt, "p", "c", everything); !strings.Contains(log, "42\r\n") {
		t.Errorf("log %q: want the terminal's output", log)
	}
}

// With StdinOnce the container's input closes when the first attachment
// that brought input detaches.
func TestAttachStdinOnce(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	c := shell(t, "c", "cat; echo input ended")
	c.Stdin, c.StdinOnce = true, true
	serving(t, rt, c)
	pr, pw := io.Pipe()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- rt.Attach(t.Context(), "p", "c", podruntime.Streams{Stdin: pr, Stdout: &out})
		pr.Close()
	}()
	if _, err := pw.Write([]byte("a\n")); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "a\n")
	pw.Close()
	if st := waitExited(t, rt, "p", "c"); st.ExitCode != 0 {
		t.Errorf("container %+v, want exit 0 once its input closed", st)
	}
	if err := <-done; err != nil {
		t.Errorf("Attach = %v", err)
	}
	if got := out.String(); got != "a\ninput ended\n" {
		t.Errorf("attached output %q", got)
	}
}

// A runtime started again on the same directory attaches to a container
// the last one started; one whose shim predates attach says so.
func TestAttachAfterRestart(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	c := shell(t, "c", "exec cat")
	c.Stdin = true
	serving(t, rt, c)
	start(t, rt, "p", func() podruntime.Container { o := shell(t, "old", "exec cat"); o.Stdin = true; return o }(), 0)
	rt.Close()
	// An old shim's spec has no socket.
	spec := filepath.Join(dir, "p", "containers", "old", "0.spec.json")
	b, err := os.ReadFile(spec)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"attachSocket"`), []byte(`"attachSocketOfAnotherVersion"`), 1)
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		t.Fatal(err)
	}

	rt = newRuntime(t, dir)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	defer pr.Close()
	var out syncBuffer
	go rt.Attach(ctx, "p", "c", podruntime.Streams{Stdin: pr, Stdout: &out})
	if _, err := pw.Write([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, &out, "again\n")
	err = rt.Attach(ctx, "p", "old", podruntime.Streams{})
	if err == nil || !strings.Contains(err.Error(), "started by an earlier version of Cella") {
		t.Errorf("Attach to a container whose shim predates attach: %v", err)
	}
}

// An exec under a TTY ends when its command does, though a process that
// left its session still has the terminal open.
func TestExecTTYOutlived(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	serving(t, rt, shell(t, "c", "while :; do sleep 1; done"))
	var out syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		// setsid: out of the exec's process group, which is killed when
		// the command exits; sleep 5 bounds what the test leaves behind.
		code, err := rt.Exec(t.Context(), "p", "c", []string{"sh", "-c", "setsid sleep 5 & echo started; exit 2"}, podruntime.Streams{Stdout: &out, TTY: true})
		done <- result{code, err}
	}()
	var r result
	waitFor(t, "the exec to end", func() bool {
		select {
		case r = <-done:
			return true
		default:
			return false
		}
	})
	if r.err != nil || r.code != 2 || !strings.Contains(out.String(), "started") {
		t.Errorf("Exec = %d, %v, output %q; want 2 and the output", r.code, r.err, out.String())
	}
}

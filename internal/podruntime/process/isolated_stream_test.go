//go:build linux

package process_test

import (
	"io"
	"strings"
	"testing"

	"cella.dev/cella/internal/podruntime"
)

// An isolated container started with Stdin and TTY keeps them: its shim
// holds the terminal, which is the controlling terminal of the command
// (PID 1 of the container), and an attachment types into it, sizes it and
// sees its output; the container's exit ends the attachment.
func TestIsolatedAttachTTY(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	c := isolatedShell(t, "c", "exec sh")
	c.Stdin, c.TTY = true, true
	podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "tty"}, c)
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
	// The shell is the container's PID 1, in its UTS namespace, and its
	// terminal is its controlling terminal (/dev/tty opens).
	send(`echo "pid=$$ host=$(cat /proc/sys/kernel/hostname)"; echo ctty >/dev/tty && echo "ctty ok"` + "\n")
	waitOutput(t, &out, "pid=1 host=tty\r\n")
	waitOutput(t, &out, "ctty\r\nctty ok\r\n")
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
	if log := logs(t, rt, "p", "c", everything); !strings.Contains(log, "pid=1 host=tty\r\n") {
		t.Errorf("log %q: want the terminal's output", log)
	}
}

// An isolated container started with Stdin and StdinOnce reads what an
// attachment sends, and its input closes when that attachment detaches.
func TestIsolatedAttachStdinOnce(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	c := isolatedShell(t, "c", "cat; echo input ended")
	c.Stdin, c.StdinOnce = true, true
	podWith(t, rt, podruntime.Pod{UID: "p"}, c)
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

// An exec into an isolated container runs inside it: in its PID and UTS
// namespaces, its cgroup, and its files (its own /tmp), with or without a
// terminal.
func TestIsolatedExec(t *testing.T) {
	rt := newIsolated(t, t.TempDir())
	c := isolatedShell(t, "c", "touch /tmp/only-in-the-container-5be2; while :; do sleep 1; done")
	podWith(t, rt, podruntime.Pod{UID: "p", Hostname: "inside"}, c)
	waitFor(t, "the container's file", func() bool {
		ok, _, _ := rt.Probe(t.Context(), "p", "c", podruntime.Probe{Exec: []string{"test", "-e", "/tmp/only-in-the-container-5be2"}})
		return ok
	})

	script := `test -e /tmp/only-in-the-container-5be2 && echo "own /tmp"
echo "host $(cat /proc/sys/kernel/hostname)"
grep -q only-in-the-container /proc/1/cmdline && echo "PID 1 is the container's"
test "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" && echo "its cgroup"
pwd`
	var out, errOut syncBuffer
	code, err := rt.Exec(t.Context(), "p", "c", []string{"sh", "-c", script + "; echo oops >&2; exit 4"}, podruntime.Streams{Stdout: &out, Stderr: &errOut})
	want := "own /tmp\nhost inside\nPID 1 is the container's\nits cgroup\n" + c.WorkingDir + "\n"
	if err != nil || code != 4 || out.String() != want || errOut.String() != "oops\n" {
		t.Errorf("Exec = %d, %v, output %q and %q; want 4, %q and \"oops\\n\"", code, err, out.String(), errOut.String(), want)
	}

	// Under a terminal, sized as asked.
	resize := make(chan podruntime.TerminalSize, 1)
	resize <- podruntime.TerminalSize{Width: 100, Height: 40}
	pr, pw := io.Pipe()
	defer pr.Close()
	var tty syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := rt.Exec(t.Context(), "p", "c", []string{"sh"}, podruntime.Streams{Stdin: pr, Stdout: &tty, TTY: true, Resize: resize})
		done <- result{code, err}
	}()
	send := func(s string) {
		t.Helper()
		if _, err := pw.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the terminal to be 40x100", func() bool {
		send("stty size\n")
		return strings.Contains(tty.String(), "40 100\r\n")
	})
	send(`test -e /tmp/only-in-the-container-5be2 && echo "tty $(cat /proc/sys/kernel/hostname)"; echo ctty >/dev/tty` + "\n")
	waitOutput(t, &tty, "tty inside\r\nctty\r\n")
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
		t.Errorf("Exec with a TTY = %d, %v; want 5", r.code, r.err)
	}

	_, err = rt.Exec(t.Context(), "p", "c", []string{"no-such-command"}, podruntime.Streams{})
	if err == nil || !strings.Contains(err.Error(), `"no-such-command": executable file not found in $PATH`) {
		t.Errorf("Exec of a missing command: %v", err)
	}
}

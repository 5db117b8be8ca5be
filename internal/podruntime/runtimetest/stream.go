package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"cella.dev/cella/internal/podruntime"
)

// RunTestExec: Exec runs a command in a running container and returns its
// exit code once its output (standard output and error apart) has been
// written; its input comes from Stdin, and is empty without; ctx ending
// ends it with ctx.Err(); the container exiting kills it (exit code 137);
// an empty command is ErrInvalid; the container runs on after an exec.
func RunTestExec(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	ann := map[string]string{}
	printAnn, printCmd := h.Exec(t, ExecOutput, "print")
	catAnn, catCmd := h.Exec(t, ExecCat, "cat")
	maps.Copy(ann, printAnn)
	maps.Copy(ann, catAnn)
	f := newPodWith(t, h, rt, 1, map[string]Behavior{"print": Serve, "cat": Serve}, ann)
	f.start("print", 0)
	f.start("cat", 0)
	f.waitLog("print", "serving\n")
	f.waitLog("cat", "serving\n")
	ctx := t.Context()
	uid := f.sb.UID

	var out, errOut syncBuffer
	code, err := rt.Exec(ctx, uid, "print", printCmd, podruntime.Streams{Stdout: &out, Stderr: &errOut})
	if err != nil || code != 3 || out.String() != "out\n" || errOut.String() != "err\n" {
		t.Errorf("Exec(%q) = %d, %v with stdout %q, stderr %q; want 3 with out and err apart", printCmd, code, err, out.String(), errOut.String())
	}

	out.Reset()
	code, err = rt.Exec(ctx, uid, "cat", catCmd, podruntime.Streams{Stdin: strings.NewReader("abc\ndef\n"), Stdout: &out, Stderr: &errOut})
	if err != nil || code != 0 || out.String() != "abc\ndef\n" {
		t.Errorf("Exec(%q) with input = %d, %v with stdout %q; want 0 and the input", catCmd, code, err, out.String())
	}
	out.Reset()
	code, err = rt.Exec(ctx, uid, "cat", catCmd, podruntime.Streams{Stdout: &out})
	if err != nil || code != 0 || out.String() != "" {
		t.Errorf("Exec(%q) without input = %d, %v with stdout %q; want 0 and nothing", catCmd, code, err, out.String())
	}

	// The end of ctx ends an exec that waits for input.
	out.Reset()
	pr, pw := io.Pipe()
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = pw.Write([]byte("x\n"))
		waitFor(t, "the exec's output", func() bool { return out.String() == "x\n" })
		cancel()
	})
	_, err = rt.Exec(cctx, uid, "cat", catCmd, podruntime.Streams{Stdin: pr, Stdout: &out})
	wg.Wait()
	pr.Close()
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Exec whose context ended: %v, want context.Canceled", err)
	}
	if st := f.status("cat"); st.State != podruntime.StateRunning {
		t.Errorf("container after its execs: %+v; want it running", st)
	}

	if _, err := rt.Exec(ctx, uid, "cat", nil, podruntime.Streams{}); !errors.Is(err, podruntime.ErrInvalid) {
		t.Errorf("Exec of no command: %v, want ErrInvalid", err)
	}

	// The container's exit kills what runs in it.
	pr, pw = io.Pipe()
	defer pw.Close()
	execDone := make(chan struct{})
	wg.Go(func() {
		defer close(execDone)
		code, err = rt.Exec(ctx, uid, "cat", catCmd, podruntime.Streams{Stdin: pr, Stdout: io.Discard})
	})
	if _, err := pw.Write([]byte("y\n")); err != nil { // the exec runs: it read this
		t.Fatal(err)
	}
	if err := rt.StopContainer(ctx, uid, "cat", waitTimeout); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the exec to end with its container", func() bool { return isDone(execDone) })
	pr.Close()
	if err != nil || code != 137 {
		t.Errorf("Exec in a container that exited = %d, %v; want 137 (killed)", code, err)
	}
}

// RunTestExecNotRunning: Exec and Attach are ErrNotFound in a pod without
// a sandbox, in a container never started and in one that has exited.
func RunTestExecNotRunning(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"done": Exit0})
	f.start("done", 0)
	f.waitExited("done", 0)
	ctx := t.Context()
	for _, tc := range []struct{ what, uid, name string }{
		{"in a pod without sandbox", uuid.NewString(), "done"},
		{"in a container never started", f.sb.UID, "never"},
		{"in a container that exited", f.sb.UID, "done"},
	} {
		if _, err := rt.Exec(ctx, tc.uid, tc.name, []string{"true"}, podruntime.Streams{}); !errors.Is(err, podruntime.ErrNotFound) {
			t.Errorf("Exec %s: %v, want ErrNotFound", tc.what, err)
		}
		if err := rt.Attach(ctx, tc.uid, tc.name, podruntime.Streams{Stdout: io.Discard}); !errors.Is(err, podruntime.ErrNotFound) {
			t.Errorf("Attach %s: %v, want ErrNotFound", tc.what, err)
		}
	}
}

// RunTestAttach: an attachment gets what the container writes from then
// on, and its input reaches the container; several attachments each see
// all the output; the end of one's input detaches only its input; the
// output is logged as well; ctx ending ends an attachment with ctx.Err();
// the container's exit ends every attachment with nil.
func RunTestAttach(t *testing.T, h Harness) {
	rt := h.New(t, t.TempDir())
	f := newPod(t, h, rt, 1, map[string]Behavior{"echo": Echo})
	f.start("echo", 0)
	ctx := t.Context()
	uid := f.sb.UID

	type attachment struct {
		in  *io.PipeWriter
		out syncBuffer
		err chan error
	}
	attach := func(ctx context.Context) *attachment {
		pr, pw := io.Pipe()
		a := &attachment{in: pw, err: make(chan error, 1)}
		go func() {
			a.err <- rt.Attach(ctx, uid, "echo", podruntime.Streams{Stdin: pr, Stdout: &a.out, Stderr: &a.out})
			pr.Close()
		}()
		return a
	}
	send := func(a *attachment, line string) {
		t.Helper()
		if _, err := a.in.Write([]byte(line)); err != nil {
			t.Fatalf("writing to an attachment: %v", err)
		}
	}
	waitOut := func(a *attachment, want string) {
		t.Helper()
		waitFor(t, "attached output "+strings.ReplaceAll(want, "\n", `\n`), func() bool { return a.out.String() == want })
	}

	one := attach(ctx)
	send(one, "one\n")
	waitOut(one, "one\n")
	two := attach(ctx)
	send(two, "two\n")
	waitOut(two, "two\n")
	waitOut(one, "one\ntwo\n")

	// The end of one's input leaves its output attached.
	one.in.Close()
	send(two, "three\n")
	waitOut(two, "two\nthree\n")
	waitOut(one, "one\ntwo\nthree\n")
	f.waitLog("echo", "one\ntwo\nthree\n")

	cctx, cancel := context.WithCancel(ctx)
	three := attach(cctx)
	send(three, "four\n")
	waitOut(three, "four\n")
	cancel()
	if err := waitErr(t, three.err); !errors.Is(err, context.Canceled) {
		t.Errorf("Attach whose context ended: %v, want context.Canceled", err)
	}
	three.in.Close()

	if err := rt.StopContainer(ctx, uid, "echo", waitTimeout); err != nil {
		t.Fatal(err)
	}
	for i, a := range []*attachment{one, two} {
		if err := waitErr(t, a.err); err != nil {
			t.Errorf("attachment %d when the container exited: %v, want nil", i+1, err)
		}
	}
	two.in.Close()
}

// waitErr waits for the error an attachment returned.
func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	var err error
	waitFor(t, "the attachment to end", func() bool {
		select {
		case err = <-ch:
			return true
		default:
			return false
		}
	})
	return err
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

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

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Reset()
}

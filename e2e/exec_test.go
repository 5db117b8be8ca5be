//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"cella.dev/cella/internal/app"
)

// processCluster is a cluster that runs pods as host processes, under the
// kubernetes profile. Its pods are deleted when the test ends, before the
// server stops (cleanups run last first), and the test waits until the
// agent has removed their sandboxes: an isolated pod's network namespace
// is mounted in the test's directory, and its shims would outlive the
// test.
func processCluster(t *testing.T) *cluster {
	c := newCluster(t, func(c *app.Config) { c.Runtime, c.Profile, c.NodeName = "process", "kubernetes", "proc-node" })
	t.Cleanup(func() {
		if r := c.run(t, "delete", "pods", "--all", "--timeout=60s"); r.code != 0 {
			t.Errorf("deleting the test's pods:\n%s", r)
		}
		// A finished pod leaves the API at once, before the agent removes
		// its sandbox: wait for that too.
		dir := filepath.Join(c.srv.Config.DataDir, "runtime")
		deadline := time.Now().Add(callTimeout)
		for {
			entries, _ := os.ReadDir(dir)
			if len(entries) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d sandboxes left in %s", len(entries), dir)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	return c
}

// terminal is kubectl running on a pseudo-terminal the test holds, as a
// user types into it.
type terminal struct {
	cmd  *exec.Cmd
	ptmx *os.File
	mu   sync.Mutex    // guards out
	out  bytes.Buffer  // everything the terminal showed
	read chan struct{} // closed once the terminal's output has ended
}

// startTerminal runs kubectl args on a new 24x80 terminal.
func (c *cluster) startTerminal(t *testing.T, args ...string) *terminal {
	t.Helper()
	cmd := exec.Command(kubectlBin, args...)
	cmd.Env = c.env
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
	if err != nil {
		t.Fatal(err)
	}
	term := &terminal{cmd: cmd, ptmx: ptmx, read: make(chan struct{})}
	go func() { // ends when the terminal closes; joined by wait
		defer close(term.read)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		term.wait(t)
	})
	return term
}

func (term *terminal) output() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// waitFor waits until the terminal shows want.
func (term *terminal) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(callTimeout)
	for !strings.Contains(term.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%s", want, term.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// typeKeys types keys, as a user does (Enter is "\r").
func (term *terminal) typeKeys(t *testing.T, keys string) {
	t.Helper()
	if _, err := term.ptmx.Write([]byte(keys)); err != nil {
		t.Fatalf("typing %q: %v", keys, err)
	}
}

// wait waits for kubectl to exit and returns its exit code.
func (term *terminal) wait(t *testing.T) int {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- term.cmd.Wait() }()
	var err error
	select {
	case err = <-exited:
	case <-time.After(callTimeout):
		term.cmd.Process.Kill()
		<-exited
		t.Fatalf("kubectl %s did not exit:\n%s", strings.Join(term.cmd.Args[1:], " "), term.output())
	}
	term.ptmx.Close()
	<-term.read
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// TestExecProcess: kubectl exec runs a command in a process pod: its
// output and exit code, piped input (-i), an interactive shell on a
// terminal (-it), and kubectl cp both ways, which runs tar through exec.
func TestExecProcess(t *testing.T) {
	t.Parallel()
	c := processCluster(t)
	// The trap: isolated, the shell is PID 1 of its namespace, which
	// ignores SIGTERM unless it handles it, and its deletion would wait
	// out the grace period.
	c.must(t, "run", "box", "--image=busybox", "--env=WHO=the pod", "--", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done")
	c.must(t, "wait", "--for=condition=Ready", "pod/box", "--timeout=20s")

	r := c.run(t, "exec", "box", "--", "sh", "-c", `echo "hi from $WHO"; exit 3`)
	if r.code != 3 || r.stdout != "hi from the pod\n" || !strings.Contains(r.stderr, "command terminated with exit code 3") {
		t.Errorf("kubectl exec with exit 3:\n%s", r)
	}
	if out := c.mustWith(t, call{stdin: "piped in\n"}, "exec", "-i", "box", "--", "tr", "a-z", "A-Z"); out != "PIPED IN\n" {
		t.Errorf("kubectl exec -i: %q", out)
	}
	// SPDY, as kubectl speaks it when told not to use WebSockets (and
	// when a WebSocket handshake fails).
	spdy := call{stdin: "over spdy\n", env: []string{"KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"}}
	if out := c.mustWith(t, spdy, "exec", "-i", "box", "--", "tr", "a-z", "A-Z"); out != "OVER SPDY\n" {
		t.Errorf("kubectl exec -i over SPDY: %q", out)
	}
	if r := c.runWith(t, spdy, "-v=6", "exec", "box", "--", "sh", "-c", "exit 6"); r.code != 6 || !strings.Contains(r.stderr, `verb="POST"`) || !strings.Contains(r.stderr, `status="101 Switching Protocols"`) {
		t.Errorf("kubectl exec over SPDY with exit 6:\n%s", r)
	}
	r = c.run(t, "exec", "box", "-c", "nope", "--", "true")
	if r.code == 0 || !strings.Contains(r.stderr, "container nope is not valid for pod box") {
		t.Errorf("kubectl exec -c nope:\n%s", r)
	}

	term := c.startTerminal(t, "exec", "-it", "box", "--", "sh")
	term.typeKeys(t, "echo $((6*7)) from $WHO\r")
	term.waitFor(t, "42 from the pod")
	term.typeKeys(t, "stty size\r")
	term.waitFor(t, "24 80")
	term.typeKeys(t, "exit 4\r")
	if code := term.wait(t); code != 4 {
		t.Errorf("kubectl exec -it ended with %d, want 4:\n%s", code, term.output())
	}

	// kubectl cp runs tar in the container. The pod's side is a directory
	// the container makes and the test reaches through kubectl exec: an
	// isolated container (Cella as root) has a /tmp of its own, a plain
	// one the host's.
	inPod := strings.TrimSpace(c.must(t, "exec", "box", "--", "mktemp", "-d"))
	defer c.run(t, "exec", "box", "--", "rm", "-rf", inPod)
	local := t.TempDir()
	src := filepath.Join(local, "up.txt")
	if err := os.WriteFile(src, []byte("going up\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.must(t, "cp", src, "box:"+inPod+"/up.txt")
	if out := c.must(t, "exec", "box", "--", "cat", inPod+"/up.txt"); out != "going up\n" {
		t.Errorf("after kubectl cp to the pod: %q", out)
	}
	c.must(t, "exec", "box", "--", "sh", "-c", `echo "coming down" > "$1"`, "sh", inPod+"/down.txt")
	dst := filepath.Join(local, "down.txt")
	c.must(t, "cp", "box:"+inPod+"/down.txt", dst)
	if b, err := os.ReadFile(dst); err != nil || string(b) != "coming down\n" {
		t.Errorf("after kubectl cp from the pod: %q %v", b, err)
	}
}

// TestAttachProcess: kubectl run -i attaches to the container it starts
// and pipes its input in; kubectl attach -it reaches a terminal container
// later, types into its shell, and ends when the shell exits.
func TestAttachProcess(t *testing.T) {
	t.Parallel()
	c := processCluster(t)
	out := c.mustWith(t, call{stdin: "hello\n"}, "run", "greeter", "--image=busybox", "-i", "--restart=Never", "--", "sh", "-c", `read name; echo "hi $name"`)
	if !strings.Contains(out, "hi hello\n") {
		t.Errorf("kubectl run -i: %q", out)
	}

	c.must(t, "run", "shell", "--image=busybox", "--stdin", "--tty", "--attach=false", "--restart=Never", "--", "sh")
	c.must(t, "wait", "--for=condition=Ready", "pod/shell", "--timeout=20s")
	term := c.startTerminal(t, "attach", "-it", "shell")
	// The shell printed its prompt before anyone attached: Enter shows it
	// again, as kubectl suggests.
	term.waitFor(t, "If you don't see a command prompt, try pressing enter.")
	term.typeKeys(t, "echo $((6*7))\r")
	term.waitFor(t, "42")
	term.typeKeys(t, "exit 0\r")
	if code := term.wait(t); code != 0 {
		t.Errorf("kubectl attach -it ended with %d:\n%s", code, term.output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for ctx.Err() == nil {
		if phase := c.must(t, "get", "pod", "shell", "-o", "jsonpath={.status.phase}"); phase == "Succeeded" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("the shell's pod did not complete once its shell exited")
}

// TestExecSim: with the sim runtime kubectl exec runs nothing but answers
// as the pod's annotations say, so clients' CI can script it.
func TestExecSim(t *testing.T) {
	t.Parallel()
	c := simCluster(t)
	c.must(t, "run", "sim", "--image=busybox", "--annotations=sim.cella.dev/exec-exit-code=2", "--", "sleep", "3600")
	c.must(t, "wait", "--for=condition=Ready", "pod/sim", "--timeout=20s")
	r := c.run(t, "exec", "sim", "--", "ls", "-l")
	if r.code != 2 || r.stdout != "sim: exec ls -l\n" {
		t.Errorf("kubectl exec in the sim:\n%s", r)
	}
}

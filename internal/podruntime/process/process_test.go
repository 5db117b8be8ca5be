//go:build linux

package process_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/process"
	"cella.dev/cella/internal/podruntime/runtimetest"
)

// TestMain makes the test binary a shim when the runtime re-executes it as
// one, as `cella runtime-shim` is in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "runtime-shim" {
		os.Exit(process.ShimMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == toolArg {
		os.Exit(runTool(os.Args[2:]))
	}
	if args := os.Getenv(childEnv); args != "" {
		dir, workdir, _ := strings.Cut(args, "\n")
		if err := startGated(dir, workdir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// Under -race a process sleeps a second before it exits; the shims
	// need not.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var err error
	workDirs, err = os.MkdirTemp("", "cella-process-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(workDirs)
	os.Exit(code)
}

// workDirs holds the containers' working directories. It outlives each
// test's cleanups, which would otherwise race with the processes they stop.
var workDirs string

// testShim runs the shim from the test binary.
var testShim = []string{os.Args[0], "runtime-shim"}

// newRuntime returns a runtime on dir that runs plain processes; when the
// test ends a fresh runtime on dir removes whatever is left running there.
func newRuntime(t *testing.T, dir string) *process.Runtime {
	t.Helper()
	return startRuntime(t, process.Config{Dir: dir, Shim: testShim, Plain: true})
}

func startRuntime(t *testing.T, cfg process.Config) *process.Runtime {
	t.Helper()
	rt, err := process.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		rt.Close()
		clean, err := process.New(cfg)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer clean.Close()
		ctx := context.Background()
		sbs, _ := clean.Sandboxes(ctx)
		for _, sb := range sbs {
			if err := clean.RemoveSandbox(ctx, sb.UID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return rt
}

// workDir makes a working directory for one container.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(workDirs, "c-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// shell returns a container running script with sh in its own working
// directory.
func shell(t *testing.T, name, script string) podruntime.Container {
	return podruntime.Container{
		Name:       name,
		Command:    []string{"sh", "-c", script},
		Env:        []string{"PATH=/usr/bin:/bin"},
		WorkingDir: workDir(t),
	}
}

// serveScript prints serving once SIGTERM is trapped and runs until it
// comes. (The shell's own note that sleep was terminated goes to
// /dev/null.)
const serveScript = `trap 'echo bye; exit 0' TERM; %s echo serving; while :; do sleep 1 & wait $!; done 2>/dev/null`

var harness = runtimetest.Harness{
	New: func(t *testing.T, dir string) podruntime.Runtime { return newRuntime(t, dir) },
	Container: func(t *testing.T, b runtimetest.Behavior, name string, attempt int) (map[string]string, podruntime.Container) {
		var c podruntime.Container
		switch b {
		case runtimetest.Exit0:
			c = shell(t, name, "echo hello; echo world")
		case runtimetest.Exit3:
			c = shell(t, name, "echo failing; exit 3")
		case runtimetest.PrintAttempt:
			c = shell(t, name, "echo attempt "+strconv.Itoa(attempt)+"; exit 1")
		case runtimetest.Serve:
			c = shell(t, name, fmt.Sprintf(serveScript, "touch ready;"))
		case runtimetest.NotReady:
			c = shell(t, name, fmt.Sprintf(serveScript, ""))
		case runtimetest.Stubborn:
			c = shell(t, name, "trap '' TERM; echo stubborn; while :; do sleep 1; done")
		case runtimetest.Gated:
			c = shell(t, name, "echo one; while [ ! -e gate ]; do sleep 0.02; done; echo two")
		case runtimetest.WritesMessage:
			c = shell(t, name, `printf bye > "$MESSAGE"; echo x; exit 1`)
			c.TerminationMessagePath = filepath.Join(c.WorkingDir, "termination-log")
			c.Env = append(c.Env, "MESSAGE="+c.TerminationMessagePath)
		case runtimetest.FailLoudly:
			c = shell(t, name, `i=1; while [ $i -le 100 ]; do echo "line $i"; i=$((i+1)); done; exit 2`)
		case runtimetest.Echo:
			// Not exec cat: isolated, the command is PID 1 of its
			// namespace, which ignores SIGTERM unless it handles it, and
			// a stop would wait out its grace period. (The copy of the
			// input on fd 3: a background command's own is /dev/null.)
			c = shell(t, name, `trap 'exit 0' TERM; exec 3<&0; cat <&3 3<&- & wait $!`)
			c.Stdin = true
		default:
			t.Fatalf("no process container for behaviour %d", b)
		}
		return nil, c
	},
	Exec: func(t *testing.T, b runtimetest.ExecBehavior, _ string) (map[string]string, []string) {
		switch b {
		case runtimetest.ExecOutput:
			return nil, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}
		case runtimetest.ExecCat:
			return nil, []string{"cat"}
		}
		t.Fatalf("no process exec for behaviour %d", b)
		return nil, nil
	},
	Release: func(t *testing.T, c podruntime.Container) {
		if err := os.WriteFile(filepath.Join(c.WorkingDir, "gate"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	},
	Probe: func(t *testing.T, sb podruntime.Sandbox, kind runtimetest.ProbeKind, ready bool) podruntime.Probe {
		switch kind {
		case runtimetest.ProbeExec:
			// Serve made the file in its working directory, NotReady did not.
			return podruntime.Probe{Exec: []string{"sh", "-c", "test -e ready"}}
		case runtimetest.ProbeHTTP:
			code := http.StatusServiceUnavailable
			if ready {
				code = http.StatusOK
			}
			ln := listen(t, sb.IP)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(code)
			})}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			return podruntime.Probe{HTTPGet: &podruntime.HTTPGet{Port: port(ln), Path: "/healthz"}}
		default:
			ln := listen(t, sb.IP)
			if !ready {
				ln.Close() // nothing listens: refused
			}
			return podruntime.Probe{TCPPort: port(ln)}
		}
	},
	Persistent: true,
}

// listen listens on a free port of ip, as a container of the pod would.
func listen(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) int { return ln.Addr().(*net.TCPAddr).Port }

func TestContract(t *testing.T) {
	runtimetest.Run(t, harness)
}

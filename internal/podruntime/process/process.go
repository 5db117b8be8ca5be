// Package process is the process runtime (`--runtime process`): each
// container is a host process running the container's command, with its
// environment and working directory.
//
// # Shims
//
// Every container attempt runs under a shim: Cella's own binary re-executed
// in a hidden mode (`cella runtime-shim <spec file>`, whose body is
// ShimMain), in a session of its own so it outlives Cella. The shim starts
// the command in a process group of its own, writes its standard output
// and error to the attempt's log, forwards the signals it gets (SIGTERM
// first of all) to the group, waits for the process, kills what is left of
// the group, and writes the exit code and termination message to a file.
// The runtime starts shims and signals them, and learns of an exit when
// its shim ends (through a pidfd, without a thread per container). Since
// the shim writes down everything the runtime needs, a Cella restart loses
// nothing: a new Runtime on the same directory finds the sandboxes, the
// containers that still run (it waits on their shims as on its own) and
// the exit codes of those that ended meanwhile.
//
// # State
//
// Config.Dir (<data-dir>/runtime) holds one directory per pod:
//
//	<uid>/sandbox.json                       the sandbox: names, IP, creation time, isolation
//	<uid>/netns, hosts, hostname             an isolated sandbox's network namespace and /etc files
//	<uid>/containers/<name>/<n>.spec.json    attempt n: what the shim runs (runtime)
//	<uid>/containers/<name>/<n>.started.json its shim and process, once running (shim)
//	<uid>/containers/<name>/<n>.exit.json    exit code, time, message, OOM kill (shim)
//	<uid>/containers/<name>/<n>.log          its output, CRI format (shim)
//	<uid>/containers/<name>/<n>.log.1        the rotated part of that output
//	<uid>/containers/<name>/<n>.attach       the shim's attach socket while it runs
//	<uid>/containers/<name>/<n>.termination-log  an isolated container's termination message
//	<uid>/containers/<name>/shim.log         the shims' own complaints
//
// A process is named by its PID, its start time in /proc/<pid>/stat and
// the host's boot ID, so that a PID reused by another process after a
// restart is never mistaken for a container's, nor signalled. The latest
// attempt of a container is the one started last; the one before it keeps
// its files (Logs with Previous), older ones are removed. A pod directory
// without sandbox.json is a sandbox whose creation Cella did not finish:
// the next runtime removes it, and what it may have made.
//
// Logs rotate when they reach Config.MaxLogBytes (10 MiB): one rotated
// file is kept, and Logs reads both.
//
// While it holds an isolated pod's network namespace, Config.Dir is a bind
// mount of itself, which containers do not see (netns_linux.go).
//
// # Durability
//
// Two files are synced (written to a temporary file, synced, renamed, and
// the directory synced): sandbox.json, so that after a crash of the host
// the sandbox is made again with its IP, and <n>.exit.json, so that an exit
// code outlives it. The others on the path of a start are not, since a
// crash of the host ends every container and leaves no need of them: a
// <n>.started.json that is lost or empty is an attempt that never ran
// (adoption skips it), a spec is read again only for what a running
// attempt needs, and hosts and hostname are written again from
// sandbox.json when the sandbox is adopted. started.json is still replaced
// by a rename, since a restarted runtime may read it while a shim writes
// it. A crash of Cella alone loses nothing: the files are in the page
// cache.
//
// # Exec and attach
//
// Exec runs a command as a process of its own, started by the runtime,
// with the container's environment and working directory, under a new
// pseudo-terminal when asked (exec.go): inside the container when it is
// isolated, as exec probes run (attempt.startProcess). Attach reaches the container's own
// streams through its shim, which holds them (the pipes, or the terminal
// of a TTY container, and the input of a container started with Stdin),
// copies the output to attached clients as well as to the log, and
// listens for them on <n>.attach (shimio.go).
//
// # Isolation
//
// When Cella runs as root on Linux (and Config.Plain is false) pods are
// isolated (launcher.go, isolated_linux.go):
//
//   - Each pod has a network namespace of its own, which all its
//     containers share (they reach each other on localhost), connected by
//     a veth pair to a bridge of the host (cella0), with an IP from the
//     pod's network (podruntime.Pod.CIDR, or Config.Network.CIDR,
//     10.88.0.0/16) and a default route through the bridge's address. The
//     host reaches pod IPs through the bridge; IPs are reserved host-wide
//     (netns_linux.go).
//   - Each container has PID, mount, UTS and IPC namespaces of its own: its
//     command is PID 1, its host name the pod's, and it sees the host's
//     files with its volumes mounted, and a /proc, /dev and /tmp of its
//     own (init_linux.go). The shim stays outside, in the host's
//     namespaces, so signals, exit codes and adoption work as for plain
//     processes.
//   - Each container has a cgroup below its pod's, which enforce their CPU
//     and memory limits (cgroup v1 or v2); a container the kernel killed
//     for memory is reported OOMKilled (cgroup_linux.go).
//
// What an isolated sandbox is made of is recorded in its sandbox.json: a
// restarted runtime finds it, and makes again what a reboot took away;
// RemoveSandbox undoes it. docs/architecture.md says why namespaces are
// made with os/exec and the cgroups and netlink libraries rather than
// with libcontainer.
//
// Otherwise (not root, not Linux, Config.Plain, or a host that refuses a
// bridge or a cgroup) containers are plain host processes and Info says
// why. Each pod gets a loopback address of its own, 127.x.y.z, as its IP;
// probes connect there, and a server that binds its pod's IP (rather than
// 0.0.0.0) coexists with the same server in another pod. Mounts are not
// applied: a container sees the host's files.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/changefeed"
)

// Config configures a process runtime.
type Config struct {
	// Dir holds the runtime's state (<data-dir>/runtime). It is created
	// if missing; when pods are isolated it is made a bind mount of itself
	// (netns_linux.go). Required.
	Dir string
	// Shim is the command that runs ShimMain, the shim's arguments
	// following it. Nil is {os.Executable(), "runtime-shim"}.
	Shim []string
	// MaxLogBytes is the size at which a container's log is rotated. Zero
	// is DefaultMaxLogBytes.
	MaxLogBytes int64
	// Logger receives what the runtime has to say; nil discards it.
	Logger *slog.Logger
	// Plain runs new pods as plain host processes even where they could
	// be isolated (root on Linux).
	Plain bool
	// Network configures the network of isolated pods.
	Network NetworkConfig
}

// DefaultMaxLogBytes is the size at which logs rotate unless Config says.
const DefaultMaxLogBytes = 10 << 20

// pollInterval is how often /proc is read where a pidfd cannot be waited
// on, and how often a followed log is checked for growth.
const pollInterval = 100 * time.Millisecond

// Runtime is the process runtime. It is safe for concurrent use; calls for
// different pods do not wait on each other.
type Runtime struct {
	dir      string
	shim     []string
	maxLog   int64
	log      *slog.Logger
	launcher launcher
	netState networkState // the reservations of isolated pods' IPs
	// stateMount is dir's real path when dir is a mount of its own
	// holding isolated pods' network namespaces (ownStateMount), else "".
	stateMount string
	bootID     string
	feed       *changefeed.Feed

	// ctx ends the watchers of running containers when the runtime closes.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watchers

	mu   sync.Mutex // guards pods and ips
	pods map[string]*pod
	ips  map[netip.Addr]bool
}

var _ podruntime.Runtime = (*Runtime)(nil)

// pod is one sandbox.
type pod struct {
	dir  string
	sb   podruntime.Sandbox
	addr netip.Addr
	iso  *isolation // nil for a plain sandbox

	mu         sync.Mutex // guards the fields below and the containers'
	containers map[string]*container
	gone       bool // removed, or its creation failed: calls answer ErrNotFound
}

// container is a container's latest attempt and the one before.
type container struct {
	latest, previous *attempt
}

// attempt is one start of a container.
type attempt struct {
	n       int
	dir     string // the container's directory
	spec    shimSpec
	started started
	exited  chan struct{} // closed once exit is set

	// Guarded by the pod's mu.
	exit     *exitStatus // nil while it runs
	stopping bool        // StopContainer or RemoveSandbox ended it: no Changes
}

func (a *attempt) path(suffix string) string {
	return filepath.Join(a.dir, strconv.Itoa(a.n)+suffix)
}

// New returns a process runtime on cfg.Dir and adopts what an earlier one
// left there: sandboxes, containers still running (watched again) and the
// exit codes of those that ended meanwhile.
func New(cfg Config) (*Runtime, error) {
	if !supported {
		return nil, errors.New("the process runtime needs Linux; use --runtime sim elsewhere")
	}
	if cfg.Dir == "" {
		return nil, errors.New("process runtime: no state directory")
	}
	// Absolute: pod directories name isolated pods' veths and cgroups and
	// own their IP reservations, host-wide.
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	shim := cfg.Shim
	if shim == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("process runtime: finding Cella's binary for the shims: %w", err)
		}
		shim = []string{exe, "runtime-shim"}
	}
	boot, err := readBootID()
	if err != nil {
		return nil, fmt.Errorf("process runtime: %w", err)
	}
	net := cfg.Network.withDefaults()
	r := &Runtime{
		dir:      dir,
		shim:     shim,
		maxLog:   cfg.MaxLogBytes,
		log:      cfg.Logger,
		netState: networkState{dir: net.StateDir},
		bootID:   boot,
		feed:     changefeed.New(),
		pods:     map[string]*pod{},
		ips:      map[netip.Addr]bool{},
	}
	if r.maxLog <= 0 {
		r.maxLog = DefaultMaxLogBytes
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.launcher = plainLauncher{why: plainWhy()}
	if !cfg.Plain && os.Geteuid() == 0 {
		l, err := newIsolatedLauncher(net)
		if err != nil {
			r.log.Warn("pods run without isolation", "err", err)
			r.launcher = plainLauncher{why: "isolation failed: " + err.Error()}
		} else {
			r.launcher = l
			if r.stateMount, err = ownStateMount(dir); err != nil {
				// Containers then detach the pods' namespaces one by
				// one.
				r.log.Warn("the state directory is not a mount of its own", "dir", dir, "err", err)
			}
		}
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := r.adopt(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// adopt loads the sandboxes and containers in the state directory.
func (r *Runtime) adopt() error {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.dir, e.Name())
		var sf sandboxFile
		if err := readJSON(filepath.Join(dir, "sandbox.json"), &sf); err != nil {
			// A sandbox whose creation did not finish: the agent makes it
			// again, from scratch.
			r.log.Warn("removing a pod directory without its sandbox", "dir", dir, "err", err)
			if err := removeLeftovers(dir); err != nil {
				r.log.Warn("removing what an unfinished sandbox left", "dir", dir, "err", err)
			}
			if err := os.RemoveAll(dir); err != nil {
				r.log.Warn("removing an unfinished sandbox", "dir", dir, "err", err)
			}
			continue
		}
		sb := podruntime.Sandbox{UID: sf.UID, Namespace: sf.Namespace, Name: sf.Name, IP: sf.IP, Created: sf.Created}
		addr, err := netip.ParseAddr(sb.IP)
		if err != nil || sb.UID != e.Name() {
			r.log.Warn("skipping a malformed sandbox", "dir", dir)
			continue
		}
		p := &pod{dir: dir, sb: sb, addr: addr, iso: sf.Isolation, containers: map[string]*container{}}
		r.pods[sb.UID] = p
		if p.iso == nil {
			r.ips[addr] = true
		} else if err := p.iso.adopt(dir, sb.IP, r.netState); err != nil {
			// Its containers fail to start, and say why, until it is
			// removed.
			r.log.Error("an isolated sandbox cannot be made again", "dir", dir, "err", err)
		}
		names, _ := os.ReadDir(filepath.Join(dir, "containers"))
		for _, n := range names {
			if c := r.adoptContainer(filepath.Join(dir, "containers", n.Name())); c != nil {
				p.containers[n.Name()] = c
				if a := c.latest; a.exit == nil {
					r.watch(p, a)
				}
			}
		}
	}
	return nil
}

// adoptContainer loads the attempts of the container in dir: the latest,
// and the one before, by start time.
func (r *Runtime) adoptContainer(dir string) *container {
	files, _ := os.ReadDir(dir)
	var attempts []*attempt
	for _, f := range files {
		num, ok := strings.CutSuffix(f.Name(), ".started.json")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		a := &attempt{n: n, dir: dir, exited: make(chan struct{})}
		if err := readJSON(a.path(".started.json"), &a.started); err != nil {
			r.log.Warn("skipping an unreadable container attempt", "file", a.path(".started.json"), "err", err)
			continue
		}
		_ = readJSON(a.path(".spec.json"), &a.spec)
		attempts = append(attempts, a)
	}
	if len(attempts) == 0 {
		return nil
	}
	slices.SortFunc(attempts, func(a, b *attempt) int { return b.started.StartedAt.Compare(a.started.StartedAt) })
	c := &container{latest: attempts[0]}
	if len(attempts) > 1 {
		c.previous = attempts[1]
	}
	for i, a := range attempts[:min(2, len(attempts))] {
		var ex exitStatus
		switch err := readJSON(a.path(".exit.json"), &ex); {
		case err == nil:
			a.finish(&ex)
		case i == 0 && a.started.BootID == r.bootID && live(a.started.Shim):
			// Still running: watched again.
		default:
			a.finish(r.lostShim(a))
		}
	}
	return c
}

// lostShim is the exit of an attempt whose shim ended without writing one
// (killed, or the host rebooted). What may remain of the container is
// killed.
func (r *Runtime) lostShim(a *attempt) *exitStatus {
	if a.started.BootID == r.bootID {
		signalProc(a.started.Process, true, syscall.SIGKILL)
	}
	return &exitStatus{
		ExitCode:   137,
		FinishedAt: time.Now(),
		Message:    "the container's shim ended without recording its exit: its exit code is unknown",
	}
}

// finish records the exit of a.
func (a *attempt) finish(ex *exitStatus) {
	a.exit = ex
	close(a.exited)
}

// watch waits, in a goroutine the runtime owns, for the running attempt a
// of a container of p to end, then records its exit and tells the agent
// unless it was stopped.
func (r *Runtime) watch(p *pod, a *attempt) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := waitExit(r.ctx, a.started.Shim, pollInterval); err != nil {
			return // the runtime closed; the container runs on
		}
		var ex exitStatus
		exp := &ex
		if err := readJSON(a.path(".exit.json"), &ex); err != nil {
			exp = r.lostShim(a)
		}
		p.mu.Lock()
		a.finish(exp)
		tell := !a.stopping && !p.gone
		p.mu.Unlock()
		if tell {
			r.feed.Add(p.sb.UID)
		}
	}()
}

// Info says what isolation pods get.
func (r *Runtime) Info() podruntime.Info { return r.launcher.info() }

// Changes delivers the UIDs of pods whose containers exited by themselves.
func (r *Runtime) Changes() <-chan string { return r.feed.C() }

// Close stops watching containers; they run on, and a new Runtime on the
// same directory finds them. A closed runtime must not be used.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	r.feed.Close()
	if r.stateMount != "" {
		releaseStateMount(r.stateMount)
	}
	return nil
}

// lookup returns the pod of uid, locked, or ErrNotFound.
func (r *Runtime) lookup(uid string) (*pod, error) {
	r.mu.Lock()
	p, ok := r.pods[uid]
	r.mu.Unlock()
	if ok {
		p.mu.Lock()
		if !p.gone {
			return p, nil
		}
		p.mu.Unlock()
	}
	return nil, fmt.Errorf("%w: no sandbox for pod %s", podruntime.ErrNotFound, uid)
}

// lookupContainer returns the pod of uid, locked, and its container name,
// or ErrNotFound.
func (r *Runtime) lookupContainer(uid, name string) (*pod, *container, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return nil, nil, err
	}
	c, ok := p.containers[name]
	if !ok {
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: container %q of pod %s was never started", podruntime.ErrNotFound, name, uid)
	}
	return p, c, nil
}

// readJSON decodes the JSON file path into v.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// replaceFile writes data to the file path through a temporary file and a
// rename, so that no reader sees it partly written, without syncing it:
// for files that a crash of the host leaves no need of (see Durability in
// the package doc).
func replaceFile(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// validName says whether s may name a directory of the state: a pod UID or
// a container name.
func validName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 253 {
		return false
	}
	return !strings.ContainsAny(s, "/\\\x00")
}

package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cella.dev/cella/internal/podruntime"
)

// defaultPATH is the PATH of a container whose environment has none, as
// container runtimes give it.
const defaultPATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// StartContainer starts c's command under a new shim and returns once it
// runs.
func (r *Runtime) StartContainer(ctx context.Context, uid string, c podruntime.Container, n int) error {
	if !validName(c.Name) {
		return fmt.Errorf("%w: container name %q cannot name a directory", podruntime.ErrInvalid, c.Name)
	}
	if len(c.Command) == 0 {
		return fmt.Errorf("%w: container %q has no command: the process runtime runs a container's command, and images come with a later version of Cella", podruntime.ErrInvalid, c.Name)
	}
	if n < 0 {
		return fmt.Errorf("%w: attempt %d", podruntime.ErrInvalid, n)
	}
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	ctr := p.containers[c.Name]
	if ctr != nil && ctr.latest.exit == nil {
		return fmt.Errorf("container %q of pod %s is running", c.Name, uid)
	}
	a := &attempt{n: n, dir: filepath.Join(p.dir, "containers", c.Name), exited: make(chan struct{})}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return err
	}
	// Files of an attempt with this number are stale (a start that failed,
	// or the agent counting again).
	removeAttempt(a.dir, n)
	a.spec = r.specFor(c, a)
	if p.iso != nil {
		if err := p.iso.prepare(p.dir, r.shim, r.stateMount, c, a, &a.spec); err != nil {
			return err
		}
	}
	st, err := r.launch(ctx, c.Name, a)
	if err != nil {
		removeAttempt(a.dir, n)
		return err
	}
	a.started = st

	if ctr == nil {
		ctr = &container{}
		p.containers[c.Name] = ctr
	}
	prev := ctr.latest
	if prev != nil && prev.n == n {
		prev = ctr.previous // its files were just replaced
	}
	ctr.latest, ctr.previous = a, prev
	keep := []int{n}
	if prev != nil {
		keep = append(keep, prev.n)
	}
	pruneAttempts(a.dir, keep)
	r.watch(p, a)
	return nil
}

// specFor is what the shim of attempt a of c runs.
func (r *Runtime) specFor(c podruntime.Container, a *attempt) shimSpec {
	env := slices.Clone(c.Env)
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		env = append(env, defaultPATH)
	}
	dir := c.WorkingDir
	if dir == "" {
		dir = "/"
	}
	return shimSpec{
		Command:                c.Command,
		Env:                    env,
		WorkingDir:             dir,
		TerminationMessagePath: c.TerminationMessagePath,
		LogOnFailure:           c.LogOnFailure,
		Log:                    a.path(".log"),
		MaxLogBytes:            r.maxLog,
		Started:                a.path(".started.json"),
		Exit:                   a.path(".exit.json"),
		Stdin:                  c.Stdin,
		StdinOnce:              c.Stdin && c.StdinOnce,
		TTY:                    c.TTY,
		AttachSocket:           a.path(".attach"),
	}
}

// launch writes a's spec, starts its shim and waits for the shim to report
// that the command runs, or why it does not.
func (r *Runtime) launch(ctx context.Context, name string, a *attempt) (started, error) {
	b, err := json.Marshal(a.spec)
	if err != nil {
		return started{}, err
	}
	// Not synced (Durability, in the package doc); the shim reads it
	// once it is written.
	specPath := a.path(".spec.json")
	if err := os.WriteFile(specPath, b, 0o600); err != nil {
		return started{}, err
	}
	shimLog, err := os.OpenFile(filepath.Join(a.dir, "shim.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return started{}, err
	}
	defer shimLog.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return started{}, err
	}
	defer rd.Close()
	cmd := exec.Command(r.shim[0], append(slices.Clone(r.shim[1:]), specPath)...)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = shimLog, shimLog
	cmd.ExtraFiles = []*os.File{wr} // fd 3: the report
	cmd.SysProcAttr = shimAttr()
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return started{}, fmt.Errorf("starting the shim of container %q: %w", name, err)
	}
	pid := cmd.Process.Pid
	// The runtime reaps its shims itself (waitExit), with no thread each.
	cmd.Process.Release()

	stop := context.AfterFunc(ctx, func() { rd.SetReadDeadline(time.Now()) })
	var rep shimReport
	err = json.NewDecoder(rd).Decode(&rep)
	stop()
	switch {
	case err != nil:
		// No report: the shim died, or ctx ended while it started.
		killChild(pid)
		waitChild(pid)
		if ctx.Err() != nil {
			return started{}, ctx.Err()
		}
		return started{}, fmt.Errorf("starting container %q: its shim ended without a report (see %s)", name, filepath.Join(a.dir, "shim.log"))
	case rep.Error != "":
		waitChild(pid)
		return started{}, fmt.Errorf("starting container %q: %s", name, rep.Error)
	case rep.Started == nil:
		waitChild(pid)
		return started{}, fmt.Errorf("starting container %q: its shim's report is empty", name)
	}
	return *rep.Started, nil
}

// removeAttempt removes the files of attempt n in dir.
func removeAttempt(dir string, n int) {
	prefix := strconv.Itoa(n) + "."
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		if strings.HasPrefix(f.Name(), prefix) {
			os.Remove(filepath.Join(dir, f.Name()))
		}
	}
}

// pruneAttempts removes the files of every attempt in dir but keep.
func pruneAttempts(dir string, keep []int) {
	files, _ := os.ReadDir(dir)
	for _, f := range files {
		num, _, ok := strings.Cut(f.Name(), ".")
		n, err := strconv.Atoi(num)
		if ok && err == nil && !slices.Contains(keep, n) {
			os.Remove(filepath.Join(dir, f.Name()))
		}
	}
}

// killWait bounds how long StopContainer waits for a killed container's
// shim to record its exit before it kills the shim too.
const killWait = 10 * time.Second

// StopContainer sends SIGTERM to the container (through its shim, which
// forwards it to the process group), then SIGKILL to the group once grace
// has passed, and returns once the shim recorded the exit.
func (r *Runtime) StopContainer(ctx context.Context, uid, name string, grace time.Duration) error {
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	var a *attempt
	if c, ok := p.containers[name]; ok && c.latest.exit == nil {
		a = c.latest
		a.stopping = true
	}
	p.mu.Unlock()
	if a == nil {
		return nil
	}

	signalProc(a.started.Shim, false, syscall.SIGTERM)
	if done, err := waitClosed(ctx, a.exited, grace); done || err != nil {
		return err
	}
	signalProc(a.started.Process, true, syscall.SIGKILL)
	if done, err := waitClosed(ctx, a.exited, killWait); done || err != nil {
		return err
	}
	// The shim does not record the exit: kill it too (its exit is then
	// unknown, 137).
	signalProc(a.started.Shim, false, syscall.SIGKILL)
	_, err = waitClosed(ctx, a.exited, killWait)
	if err == nil && !isClosed(a.exited) {
		err = fmt.Errorf("stopping container %q of pod %s: its shim does not end", name, uid)
	}
	return err
}

// waitClosed waits up to d for ch to close; done says it did.
func waitClosed(ctx context.Context, ch <-chan struct{}, d time.Duration) (done bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-t.C:
		return false, nil
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Status reports the sandbox and the latest attempt of each container.
func (r *Runtime) Status(_ context.Context, uid string) (podruntime.PodStatus, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return podruntime.PodStatus{}, err
	}
	defer p.mu.Unlock()
	st := podruntime.PodStatus{Sandbox: p.sb, Containers: make([]podruntime.ContainerStatus, 0, len(p.containers))}
	for name, c := range p.containers {
		st.Containers = append(st.Containers, c.latest.statusLocked(name))
	}
	slices.SortFunc(st.Containers, func(a, b podruntime.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// statusLocked is a's status; the pod's mu is held.
func (a *attempt) statusLocked(name string) podruntime.ContainerStatus {
	st := podruntime.ContainerStatus{Name: name, Attempt: a.n, StartedAt: a.started.StartedAt}
	if a.exit == nil {
		st.State, st.PID = podruntime.StateRunning, a.started.Process.PID
		return st
	}
	st.State, st.FinishedAt, st.ExitCode, st.Message = podruntime.StateExited, a.exit.FinishedAt, a.exit.ExitCode, a.exit.Message
	switch {
	case a.exit.OOMKilled:
		st.Reason = "OOMKilled"
	case st.ExitCode != 0:
		st.Reason = "Error"
	default:
		st.Reason = "Completed"
	}
	return st
}

var errNotRunning = errors.New("container is not running")

// startProcess starts cmd as a process of the running attempt a, for a
// probe (or exec): in the container's namespaces and cgroup when it is
// isolated, on the host otherwise. cmd.Path comes from a.lookPath.
func (a *attempt) startProcess(cmd *exec.Cmd) error {
	if a.spec.Isolated != nil {
		return startIn(cmd, a.started.Process, &a.spec)
	}
	return cmd.Start()
}

// lookPath finds the executable of name for a process of the running
// attempt a, as its PATH says, in the container's files.
func (a *attempt) lookPath(name string) (string, error) {
	if a.spec.Isolated != nil {
		return lookPathIn("/proc/"+strconv.Itoa(a.started.Process.PID)+"/root", name, a.spec.Env)
	}
	return lookPath(name, a.spec.Env)
}

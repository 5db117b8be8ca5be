package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/pump"
)

// Exec runs cmd as a process of the container, as a probe runs
// (attempt.startProcess and attempt.lookPath): inside an isolated
// container (its namespaces, its files, its cgroup), on the host beside a
// plain one. It has the container's environment and working directory and
// a process group of its own (with s.TTY a session of its own, whose
// controlling terminal is a new pseudo-terminal). The group is killed when
// ctx ends, when the container exits, and once the command has exited; a
// process that left the group ends with an isolated container, and may
// outlive a plain one.
func (r *Runtime) Exec(ctx context.Context, uid, name string, cmdline []string, s podruntime.Streams) (int, error) {
	p, c, err := r.lookupContainer(uid, name)
	if err != nil {
		return 0, err
	}
	a := c.latest
	running := a.exit == nil
	p.mu.Unlock()
	if !running {
		return 0, fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
	}
	if len(cmdline) == 0 {
		return 0, fmt.Errorf("%w: no command to run", podruntime.ErrInvalid)
	}
	path, err := a.lookPath(cmdline[0])
	if err != nil {
		return 0, err
	}
	cmd := &exec.Cmd{Path: path, Args: cmdline, Env: a.spec.Env, Dir: a.spec.WorkingDir}
	x := &execution{cmd: cmd, s: s}
	defer x.closeAll()
	if err := x.open(); err != nil {
		return 0, err
	}
	err = a.startProcess(cmd)
	x.closeChild()
	if errors.Is(err, errNotRunning) {
		return 0, fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
	}
	if err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	waited := make(chan struct{})
	go func() { // joined: waited is received below on every path
		_ = cmd.Wait()
		close(waited)
	}()
	x.startCopies()

	var ctxErr error
	select {
	case <-waited:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		killGroup(pid)
		<-waited
	case <-a.exited:
		killGroup(pid)
		<-waited
	}
	// What the command left running goes with it; its output is drained.
	killGroup(pid)
	x.finish()
	if ctxErr != nil {
		return 0, ctxErr
	}
	return exitCode(cmd.ProcessState), nil
}

// execution is the streams of one exec.
type execution struct {
	cmd *exec.Cmd
	s   podruntime.Streams

	// The command's ends, closed once it has started.
	child []*os.File
	// The runtime's ends: input (nil without), output and error (one
	// terminal with a TTY, so errOut is nil).
	in, out, errOut *os.File

	input  *pump.Pump
	copies sync.WaitGroup // the output copies
	feeds  sync.WaitGroup // the input and resize forwarders
	done   chan struct{}  // ends the forwarders
}

// open makes the streams and wires them to the command.
func (x *execution) open() error {
	x.done = make(chan struct{})
	if x.s.TTY {
		master, slave, err := openTerminal()
		if err != nil {
			return fmt.Errorf("allocating a terminal: %w", err)
		}
		x.out, x.child = master, []*os.File{slave}
		if x.s.Stdin != nil {
			x.in = master
		}
		x.cmd.Stdin, x.cmd.Stdout, x.cmd.Stderr = slave, slave, slave
		x.cmd.SysProcAttr = ownGroup(x.cmd.SysProcAttr, true)
		return nil
	}
	x.cmd.SysProcAttr = ownGroup(x.cmd.SysProcAttr, false)
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	x.out, x.child = outR, append(x.child, outW)
	errR, errW, err := os.Pipe()
	if err != nil {
		return err
	}
	x.errOut, x.child = errR, append(x.child, errW)
	x.cmd.Stdout, x.cmd.Stderr = outW, errW
	if x.s.Stdin != nil {
		inR, inW, err := os.Pipe()
		if err != nil {
			return err
		}
		x.in, x.child = inW, append(x.child, inR)
		x.cmd.Stdin = inR
	}
	return nil
}

func (x *execution) closeChild() {
	for _, f := range x.child {
		f.Close()
	}
	x.child = nil
}

// startCopies starts copying the output to the client and the client's
// input (and terminal sizes) to the command.
func (x *execution) startCopies() {
	x.copies.Go(func() { _, _ = io.Copy(orDiscard(x.s.Stdout), x.out) })
	if x.errOut != nil {
		x.copies.Go(func() { _, _ = io.Copy(orDiscard(x.s.Stderr), x.errOut) })
	}
	if x.in != nil {
		x.input = pump.Start(x.s.Stdin)
		x.feeds.Go(func() {
			for {
				select {
				case chunk, ok := <-x.input.C:
					if !ok {
						x.endInput()
						return
					}
					if _, err := x.in.Write(chunk); err != nil {
						return
					}
				case <-x.done:
					return
				}
			}
		})
	}
	if x.s.TTY && x.s.Resize != nil {
		x.feeds.Go(func() {
			for {
				select {
				case sz, ok := <-x.s.Resize:
					if !ok {
						return
					}
					_ = setTerminalSize(x.out, sz.Width, sz.Height)
				case <-x.done:
					return
				}
			}
		})
	}
}

// endInput closes the command's input: the pipe, or, under a terminal,
// whose input cannot be closed apart from its output, an end-of-file
// character (Ctrl-D) that ends the input of a program reading lines.
func (x *execution) endInput() {
	if x.s.TTY {
		_, _ = x.in.Write([]byte{0x04})
		return
	}
	x.in.Close()
}

// finish stops the forwarders of an exited command, then drains its
// output (within drainWait: a process that left its group may hold the
// output open), and joins every goroutine. The forwarders go first: the
// resize forwarder uses the terminal that a drain that takes too long
// closes.
func (x *execution) finish() {
	close(x.done)
	if x.input != nil {
		x.input.Stop()
	}
	if x.in != nil {
		_ = x.in.SetWriteDeadline(time.Now()) // ends a Write the command does not read
	}
	x.feeds.Wait()
	drained := make(chan struct{})
	go func() { x.copies.Wait(); close(drained) }() // joined by <-drained
	select {
	case <-drained:
	case <-time.After(drainWait):
		x.out.Close()
		if x.errOut != nil {
			x.errOut.Close()
		}
		<-drained
	}
}

// closeAll closes every stream left open.
func (x *execution) closeAll() {
	x.closeChild()
	for _, f := range []*os.File{x.in, x.out, x.errOut} {
		if f != nil {
			f.Close()
		}
	}
}

package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supported says the process runtime works here: it needs /proc and
// process groups.
const supported = true

// procStat reads the state and the start time (clock ticks after boot) of
// process pid from /proc/<pid>/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	// so the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is the state (field 3); the start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// readBootID returns the ID of this boot of the host: a process identity
// recorded in another boot names nothing.
func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b)), err
}

// selfID returns the identity of the calling process.
func selfID() (procID, error) {
	return idOf(os.Getpid())
}

// idOf returns the identity of process pid.
func idOf(pid int) (procID, error) {
	_, start, err := procStat(pid)
	return procID{PID: pid, Start: start}, err
}

// live says whether id names a running process: one with its PID and start
// time that is not a zombie.
func live(id procID) bool {
	if id.PID <= 0 {
		return false
	}
	state, start, err := procStat(id.PID)
	return err == nil && start == id.Start && state != 'Z'
}

// signalProc sends sig to process id, or to its process group, if it still
// runs. (The check and the kill are two steps; a PID reused between them
// within microseconds is the accepted risk.)
func signalProc(id procID, group bool, sig syscall.Signal) {
	if !live(id) {
		return
	}
	pid := id.PID
	if group {
		pid = -pid
	}
	_ = syscall.Kill(pid, sig)
}

// killGroup sends SIGKILL to process group pgid, whoever leads it. The
// kernel gives out no PID that still names a group, so pgid cannot have
// been reused while members remain.
func killGroup(pgid int) {
	if pgid > 0 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// waitExit returns once process id has exited, or ctx.Err() when ctx ends
// first. It waits on a pidfd through the Go poller (no thread is held);
// where pidfds are missing it polls /proc every pollInterval. A zombie
// child of this process is reaped.
func waitExit(ctx context.Context, id procID, pollInterval time.Duration) error {
	fd, err := unix.PidfdOpen(id.PID, unix.PIDFD_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return pollExit(ctx, id, pollInterval)
	}
	// The pidfd names whatever process had the PID when it was opened:
	// check that it is ours.
	if !live(id) {
		reap(fd)
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return pollExit(ctx, id, pollInterval)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	var exited bool
	err = rc.Read(func(fd uintptr) bool {
		// A pidfd is readable once its process has exited.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(fds, 0)
		exited = n > 0
		return exited
	})
	if exited {
		_ = rc.Control(func(fd uintptr) { reap(int(fd)) })
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// The poller cannot wait on this pidfd: poll instead.
		return pollExit(ctx, id, pollInterval)
	}
	return ctx.Err()
}

// reap collects the exit status of the process of pidfd if it is a child
// of this process, so it leaves no zombie.
func reap(pidfd int) {
	var info unix.Siginfo
	_ = unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
}

func pollExit(ctx context.Context, id procID, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for live(id) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(id.PID, &ws, syscall.WNOHANG, nil)
	return nil
}

// shimAttr detaches a shim from Cella: a session of its own, so that
// neither a signal to Cella's process group nor Cella's exit reaches it.
func shimAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}

// groupAttr puts a container's process in a process group of its own,
// which signals address as a whole.
func groupAttr() *syscall.SysProcAttr {
	return ownGroup(nil, false)
}

// ownGroup makes attr start a process in a process group of its own, or,
// with tty, in a session of its own (whose leader leads its group too)
// whose controlling terminal is its standard input. It keeps what else
// attr asks for (an isolated container's clone flags, the chroot of an
// exec into one); a nil attr is a new one. The two are exclusive: a
// session leader may not move to another group.
func ownGroup(attr *syscall.SysProcAttr, tty bool) *syscall.SysProcAttr {
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	if tty {
		attr.Setpgid, attr.Pgid = false, 0
		attr.Setsid, attr.Setctty, attr.Ctty = true, true, 0
	} else {
		attr.Setsid, attr.Setctty = false, false
		attr.Setpgid, attr.Pgid = true, 0
	}
	return attr
}

// exitCode is a process's exit code as a container's: its status, or 128
// plus the signal that killed it.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// forwarded are the signals a shim passes on to its container.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// signalGroup sends s to process group pgid.
func signalGroup(pgid int, s os.Signal) {
	if sig, ok := s.(syscall.Signal); ok && pgid > 0 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// killChild sends SIGKILL to child pid of this process, not yet reaped.
func killChild(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// waitChild waits for child pid of this process and reaps it.
func waitChild(pid int) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}

// groupUsage sums, for each process group in groups (keyed by its ID),
// the CPU time (utime and stime) and resident memory of its processes, in
// one pass over /proc.
func groupUsage(groups map[int]string) (map[int]procUsage, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	ticks := time.Second / time.Duration(clockTicks)
	page := int64(os.Getpagesize())
	out := map[int]procUsage{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		// After "pid (comm)": state(3) ppid(4) pgrp(5) ... utime(14)
		// stime(15) ... rss(24), so fields[k] is field k+3.
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 22 {
			continue
		}
		pgrp, _ := strconv.Atoi(f[2])
		if _, ok := groups[pgrp]; !ok {
			continue
		}
		utime, _ := strconv.ParseUint(f[11], 10, 64)
		stime, _ := strconv.ParseUint(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		u := out[pgrp]
		u.cpu += time.Duration(utime+stime) * ticks
		u.rss += rss * page
		out[pgrp] = u
	}
	return out, nil
}

// clockTicks is USER_HZ, the unit of CPU times in /proc: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

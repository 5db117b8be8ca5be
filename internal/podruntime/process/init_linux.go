package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"

	"cella.dev/cella/internal/mountinfo"
)

// An isolated container starts in two steps. The shim makes the
// container's cgroup and re-executes its own binary (`cella runtime-shim
// --init <spec>`, initMain) in new PID, mount, UTS and IPC namespaces;
// that process, PID 1 of its namespace, joins the pod's network namespace,
// sets the host name, builds the container's view of the files (below),
// and tells the shim it is ready. The shim says go once the cgroup is
// made, having moved the init into it (cgroup v2), or telling the init to
// enter it (v1: the thread that will execute the command enters each
// hierarchy); the init finds the command and executes it, so the command
// is PID 1 and is charged to the cgroup from its first page. The two talk
// over a socket pair on fd 3 of the init: the init sends initReport
// lines, the shim one byte to go; the socket closes on exec, which is how
// the shim learns that the command runs.
//
// The init gets the container's streams from the shim (containerIO.wire,
// shimio.go) and the command inherits them: the pipes the shim logs and
// the input attach connections write, or a terminal of the shim's
// allocating, the controlling terminal of the session the init leads.
// That terminal is one of the host's devpts; the container's /dev/pts is
// a devpts of its own, which does not list it.
//
// The container's files are the host's, seen through a mount namespace of
// its own whose mounts receive the host's (rslave) but never propagate
// back:
//
//	/proc               a proc of the container's PID namespace
//	/dev                a tmpfs with null, zero, full, random, urandom and
//	                    tty, a devpts of its own (pts, ptmx), shm and mqueue
//	/tmp                a tmpfs of its own
//	/etc/hosts          the pod's (where the host has the file)
//	/etc/hostname       the pod's (where the host has the file)
//	TerminationMessagePath  a file of the attempt's, which the shim reads
//	each mount          its host path, bind-mounted (read-only if asked)
//
// Mount points that do not exist are made: under /dev and /tmp in the
// container's own tmpfs, elsewhere on the host's file system (an empty
// directory or file is the one trace a container leaves there). The
// bind mounts of other pods' network namespaces, copied with the host's
// mounts, are detached, so a container holds no other pod's network: the
// runtime's state directory, which holds them, with one unmount once the
// pod's files in it are mounted (netns_linux.go), and any other with one
// each. A container does not see the state directory.

// initArg is the shim's argument that makes it a container's init.
const initArg = "--init"

// What the shim tells a ready init: go, in the cgroup it was moved into
// (goMoved), or after entering the cgroup itself (goEnter).
const (
	goMoved = 'g'
	goEnter = 'e'
)

// initReport is what the init tells the shim: ready, or why it failed.
type initReport struct {
	Ready bool   `json:"ready,omitempty"`
	Error string `json:"error,omitempty"`
}

// box is the cgroup of a running isolated container.
type box struct {
	paths map[string]string
	// made is closed once the cgroup is made (m and ooms set) or could
	// not be (err); the other fields are read only after it is.
	made chan struct{}
	err  error
	m    cgroups.Manager
	ooms uint64 // the cgroup's OOM kills before the container ran
}

// startIsolated starts the container of spec (whose file is specPath)
// isolated, with the streams of cio (its input, output and error, or its
// terminal, which the init passes on to the command), and returns once its
// command runs. The cgroup is made while the init starts and prepares the
// container; the init enters it only once it is ready.
func startIsolated(specPath string, spec *shimSpec, cio *containerIO) (*exec.Cmd, *box, error) {
	is := spec.Isolated
	b := &box{paths: is.Cgroup, made: make(chan struct{})}
	go func() {
		defer close(b.made)
		if b.m, b.err = makeCgroup(is.Cgroup, is.Limits); b.err == nil {
			b.ooms = oomKills(b.m)
		}
	}()
	cmd, err := b.start(specPath, spec, cio)
	if err != nil {
		<-b.made
		if b.err == nil {
			removeCgroup(is.Cgroup)
		}
		return nil, nil, err
	}
	return cmd, b, nil
}

func (b *box) start(specPath string, spec *shimSpec, cio *containerIO) (*exec.Cmd, error) {
	is := spec.Isolated
	if is.MessageFile != "" {
		f, err := os.OpenFile(is.MessageFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		f.Close()
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "init"), os.NewFile(uintptr(fds[1]), "init")
	defer ours.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       append(append([]string{is.Shim[0]}, is.Shim[1:]...), initArg, specPath),
		Env:        []string{},
		Dir:        "/",
		ExtraFiles: []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		},
	}
	// The container's streams, and its process group or, with a TTY, its
	// session and controlling terminal: the init's, which the command
	// inherits when the init executes it.
	cio.wire(cmd)
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("starting the container's init: %w", err)
	}
	// Under cgroup v1 the init enters the v1 hierarchies itself once told
	// to go (goEnter), which is cheaper than moving it (enterThread); the
	// unified hierarchy of a hybrid host, which has no controllers to
	// charge the init's setup to, it is moved into at once. Under cgroup
	// v2 it is moved once ready (goMoved), so that its setup is not
	// charged to the container's limits.
	v2 := cgroups.IsCgroup2UnifiedMode()
	var unifiedErr error // set before moved is closed
	moved := make(chan struct{})
	if dir, ok := b.paths[""]; ok && !v2 {
		go func() {
			defer close(moved)
			<-b.made
			if b.err == nil {
				unifiedErr = addToCgroup(map[string]string{"": dir}, cmd.Process.Pid)
			}
		}()
	} else {
		close(moved)
	}
	fail := func(err error) (*exec.Cmd, error) {
		cmd.Process.Kill()
		// Not reaped before the move is done, so the PID it moves is
		// still the init's.
		<-moved
		cmd.Wait()
		return nil, err
	}
	dec := json.NewDecoder(ours)
	var rep initReport
	if err := dec.Decode(&rep); err != nil {
		return fail(errors.New("the container's init ended before it was ready"))
	}
	if !rep.Ready {
		return fail(errors.New(rep.Error))
	}
	<-b.made
	if b.err != nil {
		return fail(b.err)
	}
	goByte := byte(goEnter)
	if v2 {
		goByte = goMoved
		if err := addToCgroup(b.paths, cmd.Process.Pid); err != nil {
			return fail(err)
		}
	} else {
		<-moved
		if unifiedErr != nil {
			return fail(unifiedErr)
		}
	}
	if _, err := ours.Write([]byte{goByte}); err != nil {
		return fail(fmt.Errorf("starting the container: %w", err))
	}
	// The socket closes when the command is executed; a report before
	// that is a failure.
	rep = initReport{}
	switch err := dec.Decode(&rep); {
	case errors.Is(err, io.EOF):
		return cmd, nil
	case err != nil:
		return fail(fmt.Errorf("starting the container: %w", err))
	default:
		return fail(errors.New(rep.Error))
	}
}

// finish, once the container has exited with code, says whether the
// kernel killed one of its processes for want of memory, kills what is
// left in its cgroup and removes it.
func (b *box) finish(code int) (oomKilled bool) {
	oomKilled = code != 0 && oomKills(b.m) > b.ooms
	if err := removeCgroup(b.paths); err != nil {
		fmt.Fprintf(os.Stderr, "runtime-shim: %v\n", err)
	}
	return oomKilled
}

// initMain is the body of the container's first process (`runtime-shim
// --init <spec file>`), in its new namespaces: it sets them up, reports to
// the shim on fd 3, waits for it, and executes the command.
func initMain(specPath string) int {
	// The network namespace is joined by this thread, which executes the
	// command.
	runtime.LockOSThread()
	sock := os.NewFile(3, "shim")
	report := func(r initReport) { json.NewEncoder(sock).Encode(r) }
	fail := func(err error) int {
		report(initReport{Error: err.Error()})
		return 1
	}
	var spec shimSpec
	if err := readJSON(specPath, &spec); err != nil {
		return fail(err)
	}
	if spec.Isolated == nil || len(spec.Command) == 0 {
		return fail(errors.New("not an isolated container's spec"))
	}
	is := spec.Isolated
	if err := joinNetNS(is.NetNS); err != nil {
		return fail(err)
	}
	if err := unix.Sethostname([]byte(is.Hostname)); err != nil {
		return fail(fmt.Errorf("setting the host name: %w", err))
	}
	if err := setupMounts(&spec); err != nil {
		return fail(err)
	}
	path, err := lookPath(spec.Command[0], spec.Env)
	if err != nil {
		return fail(err)
	}
	if err := os.Chdir(spec.WorkingDir); err != nil {
		return fail(fmt.Errorf("working directory: %w", err))
	}
	report(initReport{Ready: true})
	var b [1]byte
	if _, err := io.ReadFull(sock, b[:]); err != nil {
		return 1 // the shim is gone
	}
	if b[0] == goEnter {
		// This thread executes the command, which so starts in the
		// cgroup; the others end with the exec.
		if err := enterThread(is.Cgroup); err != nil {
			return fail(err)
		}
	}
	unix.CloseOnExec(3)
	err = unix.Exec(path, spec.Command, spec.Env)
	return fail(fmt.Errorf("exec %s: %w", spec.Command[0], err))
}

// joinNetNS moves the calling thread into the network namespace on path.
func joinNetNS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the pod's network namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the pod's network namespace: %w", err)
	}
	return nil
}

// setupMounts builds the container's view of the files (see above) in the
// init's mount namespace.
func setupMounts(spec *shimSpec) error {
	is := spec.Isolated
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making the container's mounts private: %w", err)
	}
	// The state directory, with every pod's network namespace, is
	// detached last, once the pod's files in it are mounted; it is held
	// open, since /tmp (where it may be) is replaced before.
	state := -1
	if is.StateMount != "" {
		fd, err := unix.Open(is.StateMount, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("the runtime's state directory: %w", err)
		}
		state = fd
		defer unix.Close(fd)
	}
	if err := detachNamespaces(is.StateMount); err != nil {
		return err
	}
	// The sources, opened before /tmp and /dev are replaced: they may be
	// there.
	type bind struct {
		src    *os.File
		target string
		ro     bool
	}
	var binds []bind
	defer func() {
		for _, b := range binds {
			b.src.Close()
		}
	}()
	open := func(host, target string, ro, optional bool) error {
		if optional {
			if _, err := os.Stat(target); err != nil {
				return nil
			}
		}
		f, err := os.OpenFile(host, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount of %s at %s: %w", host, target, err)
		}
		binds = append(binds, bind{src: f, target: target, ro: ro})
		return nil
	}
	if err := open(is.Hosts, "/etc/hosts", false, true); err != nil {
		return err
	}
	if err := open(is.HostnameFile, "/etc/hostname", false, true); err != nil {
		return err
	}
	for _, m := range is.Mounts {
		if err := open(m.HostPath, m.ContainerPath, m.ReadOnly, false); err != nil {
			return err
		}
	}
	if is.MessageFile != "" {
		if err := open(is.MessageFile, spec.TerminationMessagePath, false, false); err != nil {
			return err
		}
	}

	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	if err := setupDev(); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mounting /tmp: %w", err)
	}
	for _, b := range binds {
		if err := bindMount(b.src, b.target, b.ro); err != nil {
			return err
		}
	}
	if state >= 0 {
		// The container's /proc, which shows this process.
		if err := unix.Unmount("/proc/self/fd/"+strconv.Itoa(state), unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detaching the runtime's state directory: %w", err)
		}
	}
	return nil
}

// detachNamespaces detaches the namespaces bind-mounted on files (other
// pods' network namespaces) from the init's mount namespace, but for those
// in the directory state (if not ""), which is detached whole later.
func detachNamespaces(state string) error {
	mounts, err := mountinfo.Read()
	if err != nil {
		return err
	}
	var points []string
	for _, m := range mounts {
		if m.FSType == "nsfs" && (state == "" || !strings.HasPrefix(m.Point, state+"/")) {
			points = append(points, m.Point)
		}
	}
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detaching namespace %s: %w", p, err)
		}
	}
	return nil
}

// devices are the device nodes of a container's /dev, as runc makes them.
var devices = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// setupDev mounts the container's /dev.
func setupDev() error {
	if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev: %w", err)
	}
	old := unix.Umask(0)
	defer unix.Umask(old)
	for _, d := range devices {
		if err := unix.Mknod("/dev/"+d.name, unix.S_IFCHR|0o666, int(unix.Mkdev(d.major, d.minor))); err != nil {
			return fmt.Errorf("making /dev/%s: %w", d.name, err)
		}
	}
	for _, dir := range []string{"/dev/pts", "/dev/shm", "/dev/mqueue"} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", "/dev/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mounting /dev/pts: %w", err)
	}
	if err := unix.Mount("shm", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=1777,size=65536k"); err != nil {
		return fmt.Errorf("mounting /dev/shm: %w", err)
	}
	// A kernel without POSIX message queues has no mqueue: not an error.
	_ = unix.Mount("mqueue", "/dev/mqueue", "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	for link, target := range map[string]string{
		"/dev/ptmx": "pts/ptmx", "/dev/fd": "/proc/self/fd",
		"/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// bindMount mounts src (an O_PATH file) on target, made if missing as a
// directory or an empty file like src, read-only if ro.
func bindMount(src *os.File, target string, ro bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return err
	}
	if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			err = os.MkdirAll(target, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(target), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("making mount point %s: %w", target, err)
		}
	}
	source := "/proc/self/fd/" + strconv.Itoa(int(src.Fd()))
	if err := unix.Mount(source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", target, err)
	}
	if ro {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("making %s read-only: %w", target, err)
		}
	}
	return nil
}

package process

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"cella.dev/cella/internal/atomicfile"
	"cella.dev/cella/internal/podruntime/internal/podlog"
)

// shimSpec is what a shim runs: written by the runtime to <n>.spec.json,
// the shim's one argument.
type shimSpec struct {
	Command    []string `json:"command"`
	Env        []string `json:"env"`
	WorkingDir string   `json:"workingDir"`
	// TerminationMessagePath is read when the process has exited.
	TerminationMessagePath string `json:"terminationMessagePath,omitempty"`
	LogOnFailure           bool   `json:"logOnFailure,omitempty"`
	// Log is the attempt's log file; it rotates at MaxLogBytes to Log+".1".
	Log         string `json:"log"`
	MaxLogBytes int64  `json:"maxLogBytes"`
	// Started and Exit are the files the shim writes.
	Started string `json:"started"`
	Exit    string `json:"exit"`
	// Stdin, StdinOnce and TTY are the container's (shimio.go).
	Stdin     bool `json:"stdin,omitempty"`
	StdinOnce bool `json:"stdinOnce,omitempty"`
	TTY       bool `json:"tty,omitempty"`
	// AttachSocket is where the shim listens for attach connections
	// (shimio.go); "" for none, as in the specs of shims that predate
	// attach.
	AttachSocket string `json:"attachSocket,omitempty"`
	// Isolated, when set, says to run the command in namespaces and a
	// cgroup of its own, in the pod's network namespace (init_linux.go);
	// nil runs it as a plain host process.
	Isolated *isolatedSpec `json:"isolated,omitempty"`
}

// messageFile is where the shim reads the termination message: the
// container's path on the host, or the file mounted there.
func (s *shimSpec) messageFile() string {
	if s.Isolated != nil {
		return s.Isolated.MessageFile
	}
	return s.TerminationMessagePath
}

// started is <n>.started.json: who runs attempt n, written by the shim once
// the command runs.
type started struct {
	BootID    string    `json:"bootID"`
	Shim      procID    `json:"shim"`
	Process   procID    `json:"process"`
	StartedAt time.Time `json:"startedAt"`
}

// procID names one process of one boot.
type procID struct {
	PID int `json:"pid"`
	// Start is when the process started, in clock ticks after boot (field
	// 22 of /proc/<pid>/stat): another process that gets the PID later has
	// another.
	Start uint64 `json:"start"`
}

// exitStatus is <n>.exit.json: how attempt n ended, written by the shim.
type exitStatus struct {
	ExitCode   int       `json:"exitCode"`
	FinishedAt time.Time `json:"finishedAt"`
	Message    string    `json:"message,omitempty"`
	// OOMKilled says the kernel killed a process of the container for
	// want of memory (its cgroup counted an OOM kill) and it failed.
	OOMKilled bool `json:"oomKilled,omitempty"`
}

// shimReport is what a shim tells the runtime on fd 3 once the command
// runs (Started) or could not be started (Error).
type shimReport struct {
	Started *started `json:"started,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// Limits of the shim.
const (
	// maxMessage is the most of a termination message file read, as the
	// kubelet's.
	maxMessage = 4096
	// maxLine is the longest log record; a longer line is written as
	// partial records of this size.
	maxLine = 16 << 10
	// drainWait is how long the shim reads output after the group is
	// killed: a process that left the group may hold the pipes open.
	drainWait = 2 * time.Second
)

// ShimMain is the body of `cella runtime-shim <spec file>`, which the
// runtime starts for each container attempt: it runs the command of the
// spec in a process group of its own (isolated, when the spec says so),
// logs its output, holds its input and terminal and serves attach
// connections (shimio.go), forwards signals to the group, and writes the
// exit to the spec's files. It returns the shim's exit code: 0 once the exit is
// recorded, whatever the command's. `cella runtime-shim --init <spec
// file>` is an isolated container's first process, which the shim starts
// (initMain).
func ShimMain(args []string) int {
	if len(args) == 2 && args[0] == initArg {
		return initMain(args[1])
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: cella runtime-shim <spec file>")
		return 2
	}
	// The runtime reads the report from fd 3, which no child inherits.
	report := os.NewFile(3, "report")
	if report != nil {
		syscall.CloseOnExec(3)
	}
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "%s runtime-shim %s: %v\n", time.Now().UTC().Format(time.RFC3339), args[0], err)
		if report != nil {
			json.NewEncoder(report).Encode(shimReport{Error: err.Error()})
			report.Close()
		}
		return 1
	}
	if !supported {
		return fail(errors.New("the process runtime needs Linux"))
	}
	var spec shimSpec
	if err := readJSON(args[0], &spec); err != nil {
		return fail(err)
	}
	if len(spec.Command) == 0 {
		return fail(errors.New("no command"))
	}
	var path string
	if spec.Isolated == nil {
		// An isolated container's init looks in the container's files.
		var err error
		if path, err = lookPath(spec.Command[0], spec.Env); err != nil {
			return fail(err)
		}
	}
	logw, err := openLog(spec.Log, spec.MaxLogBytes)
	if err != nil {
		return fail(err)
	}
	defer logw.close()

	cio, err := openContainerIO(spec)
	if err != nil {
		return fail(err)
	}
	defer cio.close()
	// Signals that come before the command runs wait in sigs.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	var cmd *exec.Cmd
	var cg *box // an isolated container's cgroup
	if spec.Isolated != nil {
		cmd, cg, err = startIsolated(args[0], &spec, cio)
	} else {
		cmd = &exec.Cmd{Path: path, Args: spec.Command, Env: spec.Env, Dir: spec.WorkingDir}
		cio.wire(cmd)
		err = cmd.Start()
	}
	cio.closeChild()
	if err != nil {
		return fail(err)
	}
	at := time.Now().UTC()
	pid := cmd.Process.Pid
	abort := func(err error) int {
		killGroup(pid)
		if cg != nil {
			cmd.Wait()
			cg.finish(0)
		}
		return fail(err)
	}
	self, err := selfID()
	if err != nil {
		return abort(err)
	}
	// Not reaped before Wait, so its /proc entry is there.
	proc, err := idOf(pid)
	if err != nil {
		return abort(err)
	}
	boot, err := readBootID()
	if err != nil {
		return abort(err)
	}
	st := started{BootID: boot, Shim: self, Process: proc, StartedAt: at}
	b, _ := json.Marshal(st)
	// Replaced, not synced: see Durability in the package doc.
	if err := replaceFile(spec.Started, b, 0o600); err != nil {
		return abort(err)
	}
	if report != nil {
		json.NewEncoder(report).Encode(shimReport{Started: &st})
		report.Close()
	}

	stopForwarding := make(chan struct{})
	var forwarding sync.WaitGroup
	forwarding.Go(func() {
		for {
			select {
			case s := <-sigs:
				signalGroup(pid, s)
			case <-stopForwarding:
				return
			}
		}
	})
	var copying sync.WaitGroup
	copying.Go(func() { copyLines(cio.stdout(), podlog.Stdout, logw) })
	if r := cio.stderr(); r != nil {
		copying.Go(func() { copyLines(r, podlog.Stderr, logw) })
	}

	_ = cmd.Wait()
	finished := time.Now().UTC()
	// Signals from now on are caught and dropped: the shim must live to
	// record the exit.
	close(stopForwarding)
	forwarding.Wait()
	// The container ends with its main process, as in a PID namespace.
	killGroup(pid)
	drained := make(chan struct{})
	go func() { copying.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainWait):
		cio.closeOutput()
		<-drained
	}
	cio.finish()

	ex := exitStatus{ExitCode: exitCode(cmd.ProcessState), FinishedAt: finished}
	if cg != nil {
		ex.OOMKilled = cg.finish(ex.ExitCode)
	}
	ex.Message = terminationMessage(spec, ex.ExitCode)
	b, _ = json.Marshal(ex)
	if err := atomicfile.Write(spec.Exit, b, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "%s runtime-shim %s: recording the exit: %v\n", time.Now().UTC().Format(time.RFC3339), args[0], err)
		return 1
	}
	return 0
}

// terminationMessage is the message of an exit with code: the container's
// termination message file, else, for a failure with LogOnFailure, the end
// of its log.
func terminationMessage(spec shimSpec, code int) string {
	if file := spec.messageFile(); file != "" {
		if f, err := os.Open(file); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, maxMessage))
			f.Close()
			if len(b) > 0 {
				return string(b)
			}
		}
	}
	if spec.LogOnFailure && code != 0 {
		msg, err := podlog.Fallback(newFileSource(spec.Log, closedChan))
		if err != nil {
			return fmt.Sprintf("reading the termination message from the log: %v", err)
		}
		return msg
	}
	return ""
}

// lookPath finds the executable of name as the container's PATH says.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// copyLines writes what r yields to w as records of stream, one a line;
// lines longer than maxLine become partial records.
func copyLines(r io.Reader, stream string, w *logWriter) {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			rec := podlog.Record{Time: time.Now(), Stream: stream, Text: line}
			switch {
			case line[len(line)-1] == '\n':
				rec.Text = line[:len(line)-1]
			case errors.Is(err, bufio.ErrBufferFull):
				rec.Partial = true
			}
			w.write(rec)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// logWriter appends records to a log file and rotates it at max bytes,
// keeping one rotated file. It is safe for concurrent use.
type logWriter struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64 // of f, as far as this writer knows
	buf  []byte
	err  error // the first write error, reported once
}

func openLog(path string, max int64) (*logWriter, error) {
	if max <= 0 {
		max = DefaultMaxLogBytes
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logWriter{path: path, max: max, f: f, size: fi.Size()}, nil
}

func (w *logWriter) write(rec podlog.Record) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return
	}
	w.buf = podlog.Append(w.buf[:0], rec)
	n := int64(len(w.buf))
	if w.size > 0 && w.size+n > w.max {
		// TruncateLog may have emptied the file meanwhile.
		if fi, err := w.f.Stat(); err == nil {
			w.size = fi.Size()
		}
		if w.size > 0 && w.size+n > w.max {
			w.rotate()
		}
	}
	m, err := w.f.Write(w.buf)
	w.size += int64(m)
	if err != nil && w.err == nil {
		w.err = err
		fmt.Fprintf(os.Stderr, "%s runtime-shim: writing %s: %v (output is lost until writes succeed)\n", time.Now().UTC().Format(time.RFC3339), w.path, err)
	}
}

// rotate moves the log to path.1, replacing the one there, and starts an
// empty one.
func (w *logWriter) rotate() {
	if err := os.Rename(w.path, w.path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return // keep writing where it is
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return
	}
	w.f.Close()
	w.f, w.size = f, 0
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
}

// Package podruntime is the contract between the node agent and the things
// that run containers: what the agent asks (run a pod's sandbox, start and
// stop its containers, probe them, read their logs) and what it is told
// (each container's state). It is the CRI of Cella, smaller: the agent owns
// every decision (which container starts when, restarts and their back-off,
// when a pod is ready, the pod's status); a Runtime only does what it is
// asked and reports what happened.
//
// The types here are Cella's own and carry no Kubernetes API types: the
// agent (internal/node) resolves a pod spec (environment, volumes, command
// and arguments) into them. Each implementation lives in its own package:
// process/ runs host processes (isolated by namespaces and cgroups when
// Cella runs as root on Linux), sim/ simulates a lifecycle from pod
// annotations. runtimetest/ is the contract suite every implementation
// passes.
package podruntime

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors of every Runtime.
var (
	// ErrNotFound: no sandbox for the pod UID, or no container of that
	// name in it.
	ErrNotFound = errors.New("podruntime: not found")
	// ErrInvalid: the request cannot be run as given (a container without
	// a command where the runtime needs one, a bad mount); the message says
	// why, and the agent reports it as CreateContainerConfigError.
	ErrInvalid = errors.New("podruntime: invalid container config")
)

// Runtime runs pods on one node. Implementations must be safe for
// concurrent use; calls for different pods must not wait on each other.
// Every method is idempotent where its doc says so, because the agent
// repeats a step whose answer it did not get (a Cella restart in between).
type Runtime interface {
	// Info says what the runtime is and whether it isolates pods.
	Info() Info

	// RunSandbox creates the pod's shared environment: its network (an IP
	// of its own when isolated, a loopback address otherwise) and its
	// directories. A sandbox that exists for p.UID is returned as it is.
	RunSandbox(ctx context.Context, p Pod) (Sandbox, error)
	// RemoveSandbox stops whatever still runs in the pod (SIGKILL) and
	// removes the sandbox, its containers and their logs. A pod without a
	// sandbox is not an error.
	RemoveSandbox(ctx context.Context, uid string) error
	// Sandboxes lists the sandboxes that exist, so that an agent that
	// restarted can adopt its pods and remove the ones no longer wanted.
	Sandboxes(ctx context.Context) ([]Sandbox, error)

	// StartContainer creates and starts container c in the sandbox of uid.
	// attempt counts the starts of c, from 0; the log of the previous
	// attempt is kept (Logs with Previous). It returns once the container
	// runs (or failed to start: an error wrapping ErrInvalid when its
	// config is at fault). Starting a container that runs is an error.
	StartContainer(ctx context.Context, uid string, c Container, attempt int) error
	// StopContainer stops a running container: SIGTERM, then SIGKILL once
	// grace has passed. It returns once the container has exited. Stopping
	// a container that does not run is not an error.
	StopContainer(ctx context.Context, uid, name string, grace time.Duration) error
	// Status reports the sandbox of uid and the latest attempt of each
	// container started in it.
	Status(ctx context.Context, uid string) (PodStatus, error)
	// Changes delivers the UID of a pod whenever one of its containers
	// changes state by itself (it exited, was killed for memory), so the
	// agent need not poll. It never closes; sends never block the runtime
	// for long (a pod that is already pending delivery is not queued again).
	Changes() <-chan string

	// Probe runs one check of a container: an exec, httpGet, tcpSocket or
	// grpc probe, within the probe's timeout. A check that ran and failed
	// is (false, reason, nil); an error means the check could not be run.
	Probe(ctx context.Context, uid, container string, p Probe) (ok bool, reason string, err error)
	// Logs opens a container's log for reading (LogOptions says which part,
	// and whether to follow it until ctx ends or the container exits).
	Logs(ctx context.Context, uid, container string, o LogOptions) (io.ReadCloser, error)
	// TruncateLog empties the log of a container's latest attempt (the
	// pods/log DELETE); lines written afterwards are kept as usual.
	TruncateLog(ctx context.Context, uid, container string) error

	// Exec runs cmd in a running container (the pods/exec subresource),
	// with the container's environment and working directory, connected
	// to s. It returns the command's exit code once the command has exited
	// and its output has been written to s, or an error when the command
	// could not be run: ErrNotFound when the container does not run (or
	// never ran), an error wrapping ErrInvalid for an empty cmd, another
	// error for a command that cannot be started (an executable not
	// found). When ctx ends the command is killed and Exec returns
	// ctx.Err(); so is it when the container exits, as a process in its
	// namespaces would be.
	Exec(ctx context.Context, uid, container string, cmd []string, s Streams) (exitCode int, err error)
	// Attach connects s to the standard streams of a running container
	// (the pods/attach subresource): what the container writes from now on
	// goes to s.Stdout and s.Stderr as well as to its log, and s.Stdin
	// goes to the container's standard input when it was started with
	// Stdin (otherwise s.Stdin is read and dropped). With a TTY container,
	// everything comes on s.Stdout and s.Resize sizes its terminal. Several
	// attachments may be open at once; each sees all the output and each
	// one's input reaches the container. The end of s.Stdin detaches only
	// the input (and closes the container's standard input when it was
	// started with StdinOnce). Attach returns nil once the container has
	// exited and its last output was written to s, ctx.Err() when ctx ends
	// first, ErrNotFound when the container does not run.
	Attach(ctx context.Context, uid, container string, s Streams) error

	// Close stops the runtime's own goroutines. Containers keep running: a
	// Cella restart finds them again (Sandboxes, Status).
	Close() error
}

// Info describes a runtime.
type Info struct {
	// Name is "process" or "sim".
	Name string
	// Isolated is true when each pod gets its own network, PID, mount, UTS
	// and IPC namespaces and a cgroup that enforces its limits.
	Isolated bool
	// Why says, when Isolated is false and containers are processes on the
	// host, why they are not isolated (for the event the agent writes);
	// "" when isolation does not apply (the sim runtime runs nothing).
	Why string
}

// Pod is what a runtime needs of a pod to make its sandbox.
type Pod struct {
	UID       string
	Namespace string
	Name      string
	// Hostname is the pod's host name (spec.hostname or the pod name).
	Hostname string
	// Annotations are the pod's; the sim runtime reads its knobs here.
	Annotations map[string]string
	// Resources are the pod's total limits, enforced on the sandbox when
	// the runtime isolates (zero is unlimited).
	Resources Resources
	// CIDR is the network pod IPs come from when the runtime isolates
	// ("" for the default).
	CIDR string
}

// Resources are CPU and memory limits.
type Resources struct {
	// MilliCPU is the CPU limit in thousandths of a core.
	MilliCPU int64
	// MemoryBytes is the memory limit.
	MemoryBytes int64
}

// Sandbox is a pod's environment.
type Sandbox struct {
	UID       string
	Namespace string
	Name      string
	// IP is the pod's IP address.
	IP string
	// Created is when the sandbox was made.
	Created time.Time
}

// Container is one container to start, resolved by the agent: no
// references left to the API (environment values filled in, $(VAR)
// expanded in the command, volumes made into host directories).
type Container struct {
	Name string
	// Command is the executable and its arguments (command then args of
	// the spec). Empty only for images, which the process runtime cannot
	// run yet.
	Command    []string
	Env        []string // "NAME=value", in order
	WorkingDir string
	Mounts     []Mount
	Resources  Resources
	// Stdin keeps the container's standard input open for attach; TTY
	// gives it a terminal. StdinOnce closes its standard input when the
	// first attachment that brought input detaches.
	Stdin, StdinOnce, TTY bool
	// TerminationMessagePath is where the container may write its
	// termination message ("" for none); the runtime reads it on exit.
	TerminationMessagePath string
	// LogOnFailure says the runtime should use the tail of the log as
	// the termination message when none was written and the container
	// failed (terminationMessagePolicy FallbackToLogsOnError).
	LogOnFailure bool
}

// Mount makes a host path visible in a container.
type Mount struct {
	HostPath      string
	ContainerPath string
	ReadOnly      bool
}

// PodStatus is what a runtime knows of a pod.
type PodStatus struct {
	Sandbox    Sandbox
	Containers []ContainerStatus
}

// State of a container.
type State string

const (
	StateRunning State = "running"
	StateExited  State = "exited"
)

// ContainerStatus is the latest attempt of one container.
type ContainerStatus struct {
	Name    string
	Attempt int
	State   State
	// StartedAt is set once the container ran; FinishedAt once it exited.
	StartedAt, FinishedAt time.Time
	// ExitCode, Reason and Message are set once it exited. Reason is
	// "Completed" (exit 0), "Error", or "OOMKilled"; Message is the
	// termination message.
	ExitCode int
	Reason   string
	Message  string
	// PID is the container's main process on the host (0 when there is
	// none, as in the sim runtime).
	PID int
}

// Probe is one check. Exactly one of Exec, HTTPGet, TCPPort or GRPCPort is
// set.
type Probe struct {
	Exec    []string
	HTTPGet *HTTPGet
	TCPPort int
	// GRPCPort and GRPCService describe a gRPC health check.
	GRPCPort    int
	GRPCService string
	// Timeout bounds one check (1 s when zero).
	Timeout time.Duration
}

// HTTPGet is an httpGet probe, against the pod's IP unless Host is set.
type HTTPGet struct {
	Scheme  string // "HTTP" or "HTTPS"
	Host    string
	Port    int
	Path    string
	Headers map[string]string
}

// LogOptions choose what Logs returns, as the pods/log subresource does.
type LogOptions struct {
	// Previous reads the log of the attempt before the latest.
	Previous bool
	// Follow keeps the reader open for new lines until the context ends or
	// the container exits.
	Follow bool
	// SinceTime drops lines written before it (zero keeps all).
	SinceTime time.Time
	// TailLines keeps only the last lines (negative keeps all).
	TailLines int64
	// LimitBytes stops after that many bytes (zero is unlimited).
	LimitBytes int64
	// Timestamps prefixes each line with its RFC 3339 time.
	Timestamps bool
}

// Streams connect an exec or an attachment to its client.
//
// A runtime may still be in a Read of Stdin when Exec or Attach returns:
// the caller makes that Read return (it closes the pipe it reads from)
// once the call has returned, and what is read after that is dropped.
type Streams struct {
	// Stdin is the input; nil for none (an exec then reads an empty
	// input). Its end (io.EOF) closes the command's standard input.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil drops it. Writes to them
	// come from one goroutine each, never at once to the same writer.
	Stdout, Stderr io.Writer
	// TTY runs an exec under a terminal (Stdin and Stdout are its two
	// sides; Stderr is not used): output comes as a terminal shows it,
	// with "\r\n" line ends.
	TTY bool
	// Resize delivers the sizes of the client's terminal when TTY is set,
	// the first one as soon as the client knows it; nil when there are
	// none. The runtime stops reading it when the call returns.
	Resize <-chan TerminalSize
}

// TerminalSize is the size of a terminal in characters.
type TerminalSize struct {
	Width, Height uint16
}

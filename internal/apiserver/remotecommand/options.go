package remotecommand

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Streams connect a session to its client. Only the streams the request
// asked for are set; a TTY session has no Stderr (its terminal merges the
// output).
type Streams struct {
	// Stdin is the client's input; it ends (io.EOF) when the client
	// half-closes it (v5.channel.k8s.io only). The session may still be
	// in a Read of it when it returns: Serve ends that Read.
	Stdin io.Reader
	// Stdout and Stderr send to the client. Each may be written from its
	// own goroutine.
	Stdout, Stderr io.Writer
	// TTY says the client runs a terminal.
	TTY bool
	// Resize delivers the client's terminal sizes (TTY only); it is
	// closed when the client sends no more.
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's size in characters, as the resize channel
// carries it ({"Width":80,"Height":24}).
type TerminalSize struct {
	Width, Height uint16
}

// Session is an exec or an attachment ready to run: it runs until the
// command or the container ends, connected to s, and returns nil for a
// success, an ExitError for a command that exited with another code, or
// another error for a failure, which the client gets as an internal error
// unless it is a Status error (apierrors.APIStatus). ctx ends when the
// client goes away.
type Session func(ctx context.Context, s Streams) error

// ExitError is a command's exit with a code other than 0.
type ExitError struct {
	Code int
}

func (e ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// Query parameters of pods/exec and pods/attach.
const (
	paramCommand   = "command"
	paramContainer = "container"
	paramStdin     = "stdin"
	paramStdout    = "stdout"
	paramStderr    = "stderr"
	paramTTY       = "tty"
)

// ParseExecOptions reads the query of a pods/exec request: command
// (repeated), container, stdin, stdout, stderr and tty. The booleans read
// as kube-apiserver reads them: absent, "false" or "0" is false, anything
// else true. A request must ask for at least one of stdin, stdout and
// stderr, and name a command (400 otherwise); with tty, stderr is dropped,
// as the kubelet drops it.
func ParseExecOptions(q url.Values) (*corev1.PodExecOptions, error) {
	o := &corev1.PodExecOptions{
		Container: q.Get(paramContainer),
		Command:   q[paramCommand],
		Stdin:     boolParam(q, paramStdin),
		Stdout:    boolParam(q, paramStdout),
		Stderr:    boolParam(q, paramStderr),
		TTY:       boolParam(q, paramTTY),
	}
	if err := checkStreams(&o.Stdin, &o.Stdout, &o.Stderr, o.TTY); err != nil {
		return nil, err
	}
	if len(o.Command) == 0 || o.Command[0] == "" {
		return nil, apierrors.NewBadRequest("you must specify a command to execute: the command parameter is required")
	}
	return o, nil
}

// ParseAttachOptions reads the query of a pods/attach request: container,
// stdin, stdout, stderr and tty, as ParseExecOptions does.
func ParseAttachOptions(q url.Values) (*corev1.PodAttachOptions, error) {
	o := &corev1.PodAttachOptions{
		Container: q.Get(paramContainer),
		Stdin:     boolParam(q, paramStdin),
		Stdout:    boolParam(q, paramStdout),
		Stderr:    boolParam(q, paramStderr),
		TTY:       boolParam(q, paramTTY),
	}
	if err := checkStreams(&o.Stdin, &o.Stdout, &o.Stderr, o.TTY); err != nil {
		return nil, err
	}
	return o, nil
}

func boolParam(q url.Values, name string) bool {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] != "0" && !strings.EqualFold(v[0], "false")
}

func checkStreams(stdin, stdout, stderr *bool, tty bool) error {
	if tty {
		*stderr = false
	}
	if !*stdin && !*stdout && !*stderr {
		return apierrors.NewBadRequest("you must specify at least 1 of stdin, stdout, stderr")
	}
	return nil
}

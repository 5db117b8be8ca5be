package sim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/podlog"
	"cella.dev/cella/internal/podruntime/internal/pump"
)

// Control characters a TTY session of the sim understands.
const (
	ctrlC = 0x03
	ctrlD = 0x04
)

// Exec prints the container's exec-output and exec-stderr, copies the
// input to the output until it ends, and returns exec-exit-code (see the
// package doc).
func (r *Runtime) Exec(ctx context.Context, uid, name string, cmd []string, s podruntime.Streams) (int, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return 0, err
	}
	c, err := p.containerLocked(name)
	if err == nil && c.status.State != podruntime.StateRunning {
		err = fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
	}
	if err != nil {
		p.mu.Unlock()
		return 0, err
	}
	k, exited := c.knobs, c.exited
	p.mu.Unlock()
	if len(cmd) == 0 {
		return 0, fmt.Errorf("%w: no command to run", podruntime.ErrInvalid)
	}

	stdout, stderr := orDiscard(s.Stdout), orDiscard(s.Stderr)
	if s.TTY {
		stderr = stdout
	}
	fill := strings.NewReplacer("{container}", name, "{command}", strings.Join(cmd, " "))
	for _, out := range []struct {
		text string
		w    io.Writer
	}{{k.execOutput, stdout}, {k.execStderr, stderr}} {
		if out.text != "" {
			text := fill.Replace(out.text) + "\n"
			if s.TTY {
				text = strings.ReplaceAll(text, "\n", "\r\n")
			}
			if _, err := io.WriteString(out.w, text); err != nil {
				return 0, err
			}
		}
	}
	if s.Stdin == nil {
		return k.execExitCode, nil
	}
	in := pump.Start(s.Stdin)
	defer in.Stop()
	for {
		select {
		case chunk, ok := <-in.C:
			if !ok {
				return k.execExitCode, in.Err()
			}
			if !s.TTY {
				if _, err := stdout.Write(chunk); err != nil {
					return 0, err
				}
				continue
			}
			typed, end, interrupted := terminalInput(chunk)
			if _, err := stdout.Write(typed); err != nil {
				return 0, err
			}
			switch {
			case interrupted:
				return 130, nil
			case end:
				return k.execExitCode, nil
			}
		case <-exited:
			return 137, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// terminalInput is what a terminal echoes of keys typed in raw mode, up to
// a Ctrl-D (end) or a Ctrl-C (interrupted), which end the input.
func terminalInput(keys []byte) (echo []byte, end, interrupted bool) {
	for _, b := range keys {
		switch b {
		case ctrlC:
			return append(echo, "^C\r\n"...), true, true
		case ctrlD:
			return echo, true, false
		case '\r':
			echo = append(echo, '\r', '\n')
		default:
			echo = append(echo, b)
		}
	}
	return echo, false, false
}

// Attach streams what the container logs from now on until it exits, and
// logs the lines of input of a container started with Stdin.
func (r *Runtime) Attach(ctx context.Context, uid, name string, s podruntime.Streams) error {
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	c, err := p.containerLocked(name)
	if err == nil && c.status.State != podruntime.StateRunning {
		err = fmt.Errorf("%w: container %q of pod %s is not running", podruntime.ErrNotFound, name, uid)
	}
	if err != nil {
		p.mu.Unlock()
		return err
	}
	log, takesInput := c.log, c.spec.Stdin
	p.mu.Unlock()

	// From the end of the log as it is now: an attachment sees only what
	// comes after it.
	src := log.Source()
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := podlog.NewReader(ctx, src, podruntime.LogOptions{Follow: true, TailLines: -1})
	copied := make(chan error, 1)
	go func() { // joined below: out.Close ends its Read
		_, err := io.Copy(orDiscard(s.Stdout), out)
		copied <- err
	}()
	defer func() {
		out.Close()
		<-copied
	}()

	var input <-chan []byte
	if s.Stdin != nil {
		in := pump.Start(s.Stdin)
		defer in.Stop()
		input = in.C
	}
	var line []byte // input after its last line end
	afterCR := false
	for {
		select {
		case chunk, ok := <-input:
			if !ok {
				input = nil
				if takesInput && len(line) > 0 {
					log.Add(r.inputLine(line))
				}
				continue
			}
			if !takesInput {
				continue
			}
			// A line ends at "\n", "\r" (a terminal's Enter) or "\r\n".
			for _, b := range chunk {
				switch {
				case b == '\n' && afterCR:
				case b == '\r' || b == '\n':
					log.Add(r.inputLine(line))
					line = line[:0]
				default:
					line = append(line, b)
				}
				afterCR = b == '\r'
			}
		case err := <-copied:
			copied <- err // for the deferred join
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
	}
}

// inputLine is the record of a line of input a container echoes.
func (r *Runtime) inputLine(text []byte) podlog.Record {
	return podlog.Record{Time: r.now(), Stream: podlog.Stdout, Text: bytes.Clone(text)}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

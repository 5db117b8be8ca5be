package sim_test

import (
	"bytes"
	"strings"
	"testing"
	"testing/synctest"

	"cella.dev/cella/internal/podruntime"
)

// Exec prints what it would run unless exec-output says otherwise, and its
// exit code is exec-exit-code.
func TestExecKnobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		if err := startPod(t, rt, "plain", nil); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		code, err := rt.Exec(t.Context(), "plain", "c", []string{"ls", "-l", "/"}, podruntime.Streams{Stdout: &out})
		if err != nil || code != 0 || out.String() != "sim: exec ls -l /\n" {
			t.Errorf("Exec = %d, %v, %q; want 0 and what it would run", code, err, out.String())
		}
		if err := startPod(t, rt, "knobs", map[string]string{"exec-output": "{container}: {command}", "exec-stderr": "oops", "exec-exit-code": "2"}); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code, err = rt.Exec(t.Context(), "knobs", "c", []string{"date"}, podruntime.Streams{Stdout: &stdout, Stderr: &stderr})
		if err != nil || code != 2 || stdout.String() != "c: date\n" || stderr.String() != "oops\n" {
			t.Errorf("Exec = %d, %v, %q, %q", code, err, stdout.String(), stderr.String())
		}
		if err := startPod(t, rt, "bad", map[string]string{"exec-exit-code": "x"}); err == nil || !strings.Contains(err.Error(), "annotation sim.cella.dev/exec-exit-code") {
			t.Errorf("a bad exec-exit-code: %v", err)
		}
	})
}

// Under a TTY the sim echoes typed keys as a terminal does; Ctrl-D ends
// the command with exec-exit-code, Ctrl-C with 130.
func TestExecTTY(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime(t)
		if err := startPod(t, rt, "p", map[string]string{"exec-output": "welcome\nto the sim", "exec-exit-code": "4"}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			keys, want string
			code       int
		}{
			{"ls\rpwd\r\x04ignored", "welcome\r\nto the sim\r\nls\r\npwd\r\n", 4},
			{"sleep 100\x03", "welcome\r\nto the sim\r\nsleep 100^C\r\n", 130},
		} {
			var out bytes.Buffer
			code, err := rt.Exec(t.Context(), "p", "c", []string{"sh"}, podruntime.Streams{Stdin: strings.NewReader(tc.keys), Stdout: &out, TTY: true})
			if err != nil || code != tc.code || out.String() != tc.want {
				t.Errorf("keys %q: Exec = %d, %v, %q; want %d, %q", tc.keys, code, err, out.String(), tc.code, tc.want)
			}
		}
	})
}

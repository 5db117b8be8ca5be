package sim_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/runtimetest"
	"cella.dev/cella/internal/podruntime/sim"
)

// gateTime is how long a Gated container runs: Release sleeps it away on
// the bubble's clock.
const gateTime = time.Hour

// harness runs the contract suite in synctest bubbles on the time package's
// clock, so every duration passes at once and deterministically.
var harness = runtimetest.Harness{
	New: func(t *testing.T, _ string) podruntime.Runtime {
		rt := sim.New(sim.Config{})
		t.Cleanup(func() { rt.Close() })
		return rt
	},
	Container: func(t *testing.T, b runtimetest.Behavior, name string, attempt int) (map[string]string, podruntime.Container) {
		knobs := map[string]string{"exit-log": ""}
		switch b {
		case runtimetest.Exit0:
			knobs["log"], knobs["run-time"] = "hello\nworld", "0s"
		case runtimetest.Exit3:
			knobs["log"], knobs["run-time"], knobs["exit-code"] = "failing", "0s", "3"
		case runtimetest.PrintAttempt:
			knobs["log"], knobs["run-time"], knobs["exit-code"] = "attempt {attempt}", "0s", "1"
		case runtimetest.Serve:
			knobs["log"], knobs["exit-log"] = "serving", "bye"
		case runtimetest.NotReady:
			knobs["log"], knobs["exit-log"], knobs["readiness-delay"] = "serving", "bye", "1000h"
		case runtimetest.Stubborn:
			knobs["log"], knobs["ignore-sigterm"] = "stubborn", "true"
		case runtimetest.Gated:
			knobs["log"], knobs["exit-log"], knobs["run-time"] = "one", "two", gateTime.String()
		case runtimetest.WritesMessage:
			knobs["log"], knobs["run-time"], knobs["exit-code"], knobs["termination-message"] = "x", "0s", "1", "bye"
		case runtimetest.FailLoudly:
			var lines []string
			for i := 1; i <= 100; i++ {
				lines = append(lines, fmt.Sprintf("line %d", i))
			}
			knobs["log"], knobs["run-time"], knobs["exit-code"] = strings.Join(lines, "\n"), "0s", "2"
		case runtimetest.Echo:
			knobs["log"] = ""
		default:
			t.Fatalf("no sim container for behaviour %d", b)
		}
		ann := map[string]string{}
		for k, v := range knobs {
			ann[sim.Prefix+name+"."+k] = v
		}
		return ann, podruntime.Container{Name: name, Stdin: b == runtimetest.Echo}
	},
	Exec: func(t *testing.T, b runtimetest.ExecBehavior, name string) (map[string]string, []string) {
		knobs := map[string]string{"exec-output": ""}
		switch b {
		case runtimetest.ExecOutput:
			knobs["exec-output"], knobs["exec-stderr"], knobs["exec-exit-code"] = "out", "err", "3"
		case runtimetest.ExecCat:
		default:
			t.Fatalf("no sim exec for behaviour %d", b)
		}
		ann := map[string]string{}
		for k, v := range knobs {
			ann[sim.Prefix+name+"."+k] = v
		}
		return ann, []string{"anything"}
	},
	Release: func(t *testing.T, _ podruntime.Container) { time.Sleep(gateTime) },
	Probe: func(t *testing.T, _ podruntime.Sandbox, kind runtimetest.ProbeKind, _ bool) podruntime.Probe {
		switch kind {
		case runtimetest.ProbeExec:
			return podruntime.Probe{Exec: []string{"true"}}
		case runtimetest.ProbeHTTP:
			return podruntime.Probe{HTTPGet: &podruntime.HTTPGet{Port: 8080, Path: "/healthz"}}
		default:
			return podruntime.Probe{TCPPort: 8080}
		}
	},
	Bubble: synctest.Test,
}

func TestContract(t *testing.T) {
	runtimetest.Run(t, harness)
}

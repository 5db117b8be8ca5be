package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"cella.dev/cella/internal/podruntime"
)

// knobs are a container's annotations, parsed.
type knobs struct {
	startDelay      time.Duration
	runTime         time.Duration // negative: runs until stopped
	exitCode        int
	readinessDelay  time.Duration
	failProbesAfter time.Duration // negative: never
	ignoreSIGTERM   bool

	startError, configError string
	terminationMessage      string
	log, exitLog            string

	// execOutput, execStderr and execExitCode are what an exec prints and
	// returns (stream.go).
	execOutput, execStderr string
	execExitCode           int

	// cpuUsage (millicores) and memoryUsage (bytes) are what Stats reports
	// while the container runs.
	cpuUsage, memoryUsage int64
}

// Defaults of the usage knobs: a little, so kubectl top shows something.
const (
	defaultCPUUsage    = 1       // 1m
	defaultMemoryUsage = 1 << 20 // 1Mi
)

// Defaults of the log knobs.
const (
	defaultLog        = "sim: container {container} started"
	defaultExitLog    = "sim: container {container} exited with code {exit-code}"
	defaultExecOutput = "sim: exec {command}"
)

// knobs reads the knobs of container name from the pod's annotations: the
// container's own, else the pod's.
func (p *pod) knobs(name string) (knobs, error) {
	k := knobs{runTime: -1, failProbesAfter: -1, log: defaultLog, exitLog: defaultExitLog,
		execOutput: defaultExecOutput, cpuUsage: defaultCPUUsage, memoryUsage: defaultMemoryUsage}
	if len(p.annotations) == 0 {
		return k, nil
	}
	get := func(knob string) (string, string, bool) {
		key := Prefix + name + "." + knob
		if v, ok := p.annotations[key]; ok {
			return key, v, true
		}
		key = Prefix + knob
		v, ok := p.annotations[key]
		return key, v, ok
	}
	duration := func(knob string, into *time.Duration) error {
		key, v, ok := get(knob)
		if !ok {
			return nil
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%w: annotation %s: %q is not a duration such as 1.5s or 2m", podruntime.ErrInvalid, key, v)
		}
		*into = d
		return nil
	}
	for _, d := range []struct {
		knob string
		into *time.Duration
	}{
		{"start-delay", &k.startDelay},
		{"run-time", &k.runTime},
		{"readiness-delay", &k.readinessDelay},
		{"fail-probes-after", &k.failProbesAfter},
	} {
		if err := duration(d.knob, d.into); err != nil {
			return k, err
		}
	}
	for _, c := range []struct {
		knob string
		into *int
	}{
		{"exit-code", &k.exitCode},
		{"exec-exit-code", &k.execExitCode},
	} {
		if key, v, ok := get(c.knob); ok {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return k, fmt.Errorf("%w: annotation %s: %q is not an exit code", podruntime.ErrInvalid, key, v)
			}
			*c.into = int(n)
		}
	}
	if key, v, ok := get("ignore-sigterm"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return k, fmt.Errorf("%w: annotation %s: %q is not true or false", podruntime.ErrInvalid, key, v)
		}
		k.ignoreSIGTERM = b
	}
	for _, q := range []struct {
		knob  string
		milli bool
		into  *int64
	}{{"cpu-usage", true, &k.cpuUsage}, {"memory-usage", false, &k.memoryUsage}} {
		key, v, ok := get(q.knob)
		if !ok {
			continue
		}
		n, ok := parseQuantity(v, q.milli)
		if !ok {
			return k, fmt.Errorf("%w: annotation %s: %q is not a quantity such as 250m, 0.5, 64Mi or 1G", podruntime.ErrInvalid, key, v)
		}
		*q.into = n
	}
	for _, s := range []struct {
		knob string
		into *string
	}{
		{"start-error", &k.startError},
		{"config-error", &k.configError},
		{"termination-message", &k.terminationMessage},
		{"log", &k.log},
		{"exit-log", &k.exitLog},
		{"exec-output", &k.execOutput},
		{"exec-stderr", &k.execStderr},
	} {
		if _, v, ok := get(s.knob); ok {
			*s.into = v
		}
	}
	return k, nil
}

// parseQuantity reads a non-negative Kubernetes-style quantity: a number
// with an optional suffix m (thousandths), k M G T (powers of 1000) or Ki
// Mi Gi Ti (powers of 1024). It returns thousandths when milli is set,
// else whole units rounded down. (The runtimes do not import the API's
// resource package: podruntime has its own small types.)
func parseQuantity(s string, milli bool) (int64, bool) {
	mult := 1.0
	for _, u := range []struct {
		suffix string
		f      float64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"m", 1e-3}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.f
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, false
	}
	if milli {
		return int64(f*mult*1000 + 0.5), true
	}
	return int64(f * mult), true
}

package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"cella.dev/cella/internal/podruntime"
)

// containerProbes runs the startup, liveness and readiness probes of one
// container attempt, each in a goroutine of its own that ends with the
// attempt (stop). Results wake the pod worker when they change.
type containerProbes struct {
	attempt int
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu sync.Mutex
	// isStarted, isReady and kill are the latest results (guarded by mu):
	// started once the startup probe passed (at once without one); ready
	// while the readiness probe passes (once started without one); kill
	// says why the container must be restarted (liveness or startup
	// failure), "" while it need not.
	isStarted, isReady bool
	kill               string
}

func (p *containerProbes) started() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isStarted
}

func (p *containerProbes) ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.isReady
}

func (p *containerProbes) killReason() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kill
}

func (p *containerProbes) stop() {
	p.cancel()
	p.wg.Wait()
}

// startProbes starts the probes of a container attempt that runs.
func (w *podWorker) startProbes(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int) {
	w.stopProbes(c.Name)
	pctx, cancel := context.WithCancel(ctx)
	p := &containerProbes{attempt: attempt, cancel: cancel}
	p.isStarted = c.StartupProbe == nil
	p.isReady = p.isStarted && c.ReadinessProbe == nil
	w.probes[c.Name] = p
	startedCh := make(chan struct{})
	if p.isStarted {
		close(startedCh)
	}
	uid, name := string(pod.UID), c.Name
	run := func(kind string, spec *corev1.Probe, after <-chan struct{}, onResult func(ok bool, why string) bool) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if after != nil {
				select {
				case <-pctx.Done():
					return
				case <-after:
				}
			}
			w.a.probeLoop(pctx, pod, uid, name, c, kind, spec, onResult)
		}()
	}
	if c.StartupProbe != nil {
		run("Startup", c.StartupProbe, nil, func(ok bool, why string) bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			if ok {
				p.isStarted = true
				p.isReady = c.ReadinessProbe == nil
				close(startedCh)
			} else {
				p.kill = "failed startup probe"
			}
			w.signal()
			return false // the startup probe runs until it decides
		})
	}
	if c.LivenessProbe != nil {
		run("Liveness", c.LivenessProbe, startedCh, func(ok bool, why string) bool {
			if !ok {
				p.mu.Lock()
				p.kill = "failed liveness probe"
				p.mu.Unlock()
				w.signal()
				return false
			}
			return true
		})
	}
	if c.ReadinessProbe != nil {
		run("Readiness", c.ReadinessProbe, startedCh, func(ok bool, why string) bool {
			p.mu.Lock()
			changed := p.isReady != ok
			p.isReady = ok
			p.mu.Unlock()
			if changed {
				w.signal()
			}
			return true
		})
	}
}

func (w *podWorker) stopProbes(name string) {
	if p := w.probes[name]; p != nil {
		p.stop()
		delete(w.probes, name)
	}
}

func (w *podWorker) stopAllProbes() {
	for name := range w.probes {
		w.stopProbes(name)
	}
}

// probeLoop runs one probe by its timing (initialDelaySeconds,
// periodSeconds) and thresholds, calling onResult with each decided
// result: failureThreshold failures in a row, or successThreshold
// successes. It goes on while onResult returns true.
func (a *Agent) probeLoop(ctx context.Context, pod *corev1.Pod, uid, name string, c *corev1.Container, kind string, spec *corev1.Probe, onResult func(ok bool, why string) bool) {
	period := seconds(spec.PeriodSeconds, 10)
	failures, successes := int(orDefault(spec.FailureThreshold, 3)), int(orDefault(spec.SuccessThreshold, 1))
	probe, err := a.runtimeProbe(pod, c, spec.ProbeHandler, seconds(spec.TimeoutSeconds, 1))
	if err != nil {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe errored: %v", kind, err)
		return
	}
	delay := time.Duration(spec.InitialDelaySeconds) * time.Second
	var failed, succeeded int
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = period
		ok, why, err := a.rt.Probe(ctx, uid, name, probe)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			ok, why = false, err.Error()
		}
		if ok {
			failed, succeeded = 0, succeeded+1
			if succeeded >= successes && !onResult(true, "") {
				return
			}
			continue
		}
		succeeded, failed = 0, failed+1
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, why)
		if failed >= failures && !onResult(false, why) {
			return
		}
	}
}

// runHook runs a postStart or preStop hook within limit; ok is false with
// the reason when it failed.
func (a *Agent) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, h *corev1.LifecycleHandler, limit time.Duration) (bool, string) {
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(h.Sleep.Seconds)*time.Second, limit)):
		}
		return true, ""
	}
	handler := corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket}
	probe, err := a.runtimeProbe(pod, c, handler, max(limit, time.Second))
	if err != nil {
		return false, err.Error()
	}
	ok, why, err := a.rt.Probe(ctx, string(pod.UID), c.Name, probe)
	if err != nil {
		return false, err.Error()
	}
	return ok, why
}

// runtimeProbe turns a probe handler into the runtime's form, resolving
// named ports from the container's ports.
func (a *Agent) runtimeProbe(pod *corev1.Pod, c *corev1.Container, h corev1.ProbeHandler, timeout time.Duration) (podruntime.Probe, error) {
	p := podruntime.Probe{Timeout: timeout}
	switch {
	case h.Exec != nil:
		p.Exec = h.Exec.Command
	case h.HTTPGet != nil:
		port, err := resolvePort(h.HTTPGet.Port, c)
		if err != nil {
			return p, err
		}
		g := &podruntime.HTTPGet{Scheme: string(h.HTTPGet.Scheme), Host: h.HTTPGet.Host, Port: port, Path: h.HTTPGet.Path, Headers: map[string]string{}}
		if g.Scheme == "" {
			g.Scheme = "HTTP"
		}
		for _, hd := range h.HTTPGet.HTTPHeaders {
			g.Headers[hd.Name] = hd.Value
		}
		p.HTTPGet = g
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, c)
		if err != nil {
			return p, err
		}
		p.TCPPort = port
	case h.GRPC != nil:
		p.GRPCPort = int(h.GRPC.Port)
		if h.GRPC.Service != nil {
			p.GRPCService = *h.GRPC.Service
		}
	default:
		return p, fmt.Errorf("the probe of container %s names no action", c.Name)
	}
	return p, nil
}

// resolvePort is a probe's port: a number, or the name of a container port.
func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if strings.EqualFold(cp.Name, port.StrVal) {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

func seconds(v int32, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

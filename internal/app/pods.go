package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"

	metricsv1beta1 "cella.dev/cella/internal/apis/metrics/v1beta1"
	"cella.dev/cella/internal/apiserver"
	"cella.dev/cella/internal/apiserver/remotecommand"
	"cella.dev/cella/internal/controller/scheduler"
	"cella.dev/cella/internal/node"
	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/process"
	"cella.dev/cella/internal/podruntime/sim"
)

// Running pods: with --runtime other than none, Start makes the runtime,
// and startControllers starts the scheduler and the node agent over
// loopback like every controller. The API server reaches the agent for
// the streaming pod subresources (log, exec, attach) through podConnector,
// which answers 503 until the agent exists.

// newRuntime returns the runtime cfg names, or nil for none.
func newRuntime(cfg *Config, log *slog.Logger) (podruntime.Runtime, error) {
	switch cfg.Runtime {
	case "none":
		return nil, nil
	case "sim":
		return sim.New(sim.Config{}), nil
	case "process":
		return process.New(process.Config{
			Dir:    filepath.Join(cfg.DataDir, "runtime"),
			Logger: log.With("component", "process-runtime"),
		})
	}
	return nil, fmt.Errorf("--runtime %q is not supported", cfg.Runtime)
}

// startPods starts the scheduler and the node agent on cs.
func (s *Server) startPods(ctx context.Context, cs kubernetes.Interface) error {
	nc := node.Config{
		NodeName: s.cfg.NodeName, Client: cs, Runtime: s.runtime,
		Dir: filepath.Join(s.cfg.DataDir, "pods"), Version: Version.GitVersion,
		Logger:        s.log.With("component", "node-agent"),
		StatsInterval: s.cfg.MetricsResolution,
	}
	if s.cfg.Runtime == "sim" {
		// A simulated node is as large as a scale test needs, as kwok's
		// nodes are: nothing runs, so nothing is used up.
		nc.MaxPods = simMaxPods
		nc.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("1000"),
			corev1.ResourceMemory: resource.MustParse("4Ti"),
		}
	}
	agent, err := node.New(nc)
	if err != nil {
		return err
	}
	s.pods.agent.Store(agent)
	sched := scheduler.New(cs, s.log.With("component", "scheduler"))
	s.controllers.Add(2)
	go func() {
		defer s.controllers.Done()
		sched.Run(ctx)
	}()
	go func() {
		defer s.controllers.Done()
		if err := agent.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("the node agent stopped", "err", err)
		}
	}()
	return nil
}

// simMaxPods is the pods capacity of a simulated node.
const simMaxPods = 10000

// podUsage and nodeUsage are the node agent's measurements, none until it
// runs.
func (c *podConnector) podUsage(pod *corev1.Pod) (*metricsv1beta1.PodMetrics, bool) {
	if a := c.agent.Load(); a != nil {
		return a.PodUsage(pod)
	}
	return nil, false
}

func (c *podConnector) nodeUsage() []*metricsv1beta1.NodeMetrics {
	if a := c.agent.Load(); a != nil {
		if m, ok := a.NodeUsage(); ok {
			return []*metricsv1beta1.NodeMetrics{m}
		}
	}
	return nil
}

// podConnector hands the API server's pod streams to the node agent.
type podConnector struct {
	agent atomic.Pointer[node.Agent]
}

var _ apiserver.PodConnector = (*podConnector)(nil)

func (c *podConnector) get() (*node.Agent, error) {
	a := c.agent.Load()
	if a == nil {
		return nil, apierrors.NewServiceUnavailable("the node agent is not running yet")
	}
	return a, nil
}

func (c *podConnector) Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	a, err := c.get()
	if err != nil {
		return nil, err
	}
	return a.Logs(ctx, pod, opts)
}

func (c *podConnector) TruncateLog(ctx context.Context, pod *corev1.Pod, container string) error {
	a, err := c.get()
	if err != nil {
		return err
	}
	return a.TruncateLog(ctx, pod, container)
}

func (c *podConnector) Exec(ctx context.Context, pod *corev1.Pod, opts *corev1.PodExecOptions) (remotecommand.Session, error) {
	a, err := c.get()
	if err != nil {
		return nil, err
	}
	return a.Exec(ctx, pod, opts)
}

func (c *podConnector) Attach(ctx context.Context, pod *corev1.Pod, opts *corev1.PodAttachOptions) (remotecommand.Session, error) {
	a, err := c.get()
	if err != nil {
		return nil, err
	}
	return a.Attach(ctx, pod, opts)
}

package process

import (
	"context"
	"time"

	"cella.dev/cella/internal/podruntime"
)

var _ podruntime.StatsReporter = (*Runtime)(nil)

// Stats samples each running container of the pod uid: the CPU time and
// resident memory of every process in the container's process group (the
// command and what it started), read from /proc.
func (r *Runtime) Stats(_ context.Context, uid string) ([]podruntime.ContainerStats, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return nil, err
	}
	groups := map[int]string{}
	for name, c := range p.containers {
		if a := c.latest; a != nil && a.exit == nil && a.started.Process.PID > 0 {
			groups[a.started.Process.PID] = name
		}
	}
	p.mu.Unlock()
	if len(groups) == 0 {
		return nil, nil
	}
	usage, err := groupUsage(groups)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]podruntime.ContainerStats, 0, len(groups))
	for pgid, name := range groups {
		u := usage[pgid]
		out = append(out, podruntime.ContainerStats{Name: name, CPU: u.cpu, MemoryBytes: u.rss, At: now})
	}
	return out, nil
}

// procUsage is what the processes of one group use.
type procUsage struct {
	cpu time.Duration
	rss int64
}

package podruntime

import (
	"context"
	"time"
)

// StatsReporter is a Runtime that can measure what its containers use;
// the agent finds it by type assertion and derives usage rates (kubectl
// top pod) from successive samples.
type StatsReporter interface {
	// Stats samples the running containers of the pod uid. A pod without a
	// sandbox is ErrNotFound; containers that do not run are left out.
	Stats(ctx context.Context, uid string) ([]ContainerStats, error)
}

// ContainerStats is one sample of a running container.
type ContainerStats struct {
	Name string
	// CPU is the CPU time the container has used since it started, summed
	// over its processes; usage is its growth between two samples.
	CPU time.Duration
	// MemoryBytes is its working set now (resident memory).
	MemoryBytes int64
	// At is when the sample was taken.
	At time.Time
}

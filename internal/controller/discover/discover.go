// Package discover holds what the in-process controllers share about
// finding the resources they watch.
package discover

import (
	"context"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
)

// Preferred returns the preferred-version resource lists (namespaced ones
// only when namespaced is set), retrying with backoff until discovery
// answers with at least one group or ctx ends. A partial answer (some
// groups failed) is used and logged.
func Preferred(ctx context.Context, disc discovery.DiscoveryInterface, namespaced bool, log *slog.Logger) ([]*metav1.APIResourceList, error) {
	d := discovery.ToDiscoveryInterfaceWithContext(disc)
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		var lists []*metav1.APIResourceList
		var err error
		if namespaced {
			lists, err = discovery.ServerPreferredNamespacedResourcesWithContext(ctx, d)
		} else {
			lists, err = discovery.ServerPreferredResourcesWithContext(ctx, d)
		}
		if len(lists) > 0 {
			if err != nil {
				log.Warn("discovery is partial; going on with the groups found", "err", err)
			}
			return lists, nil
		}
		log.Debug("discovery failed", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

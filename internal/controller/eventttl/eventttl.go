// Package eventttl deletes Events an hour (the TTL) after they last
// happened, as kube-apiserver's --event-ttl does with etcd leases. Cella's
// storage has no leases, so a controller sweeps instead: it lists the
// Events of every namespace, page by page, once per sweep interval, and
// deletes each one whose last time is past the TTL, with a uid and
// resourceVersion precondition so that an Event written again meanwhile
// (a repeat that raised its count) stays. Like the other controllers it
// talks to the API only through client-go.
//
// An Event's last time is, as Kubernetes' printers read it: the last
// observed time of its series, else lastTimestamp, else eventTime, else
// firstTimestamp, else its creation time.
package eventttl

import (
	"context"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Options tune the sweeper.
type Options struct {
	// TTL is how long an Event is kept after it last happened; zero means
	// an hour, Kubernetes' default.
	TTL time.Duration
	// Every is how often the Events are swept; zero means a tenth of the
	// TTL, at most a minute.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Controller is the sweeper.
type Controller struct {
	client kubernetes.Interface
	log    *slog.Logger
	opts   Options
}

// New returns a sweeper; Run starts it.
func New(client kubernetes.Interface, log *slog.Logger, opts Options) *Controller {
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.Every <= 0 {
		opts.Every = min(opts.TTL/10, time.Minute)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Controller{client: client, log: log, opts: opts}
}

// Run sweeps until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("sweeping expired events", "deleted", n, "err", err)
		} else if n > 0 {
			c.log.Debug("swept expired events", "deleted", n)
		}
	}
}

// pageSize bounds each list of a sweep.
const pageSize = 500

// Sweep deletes the Events whose last time is older than the TTL and
// returns how many it deleted.
func (c *Controller) Sweep(ctx context.Context) (int, error) {
	deadline := c.opts.Now().Add(-c.opts.TTL)
	deleted := 0
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		list, err := c.client.CoreV1().Events("").List(ctx, opts)
		if err != nil {
			return deleted, err
		}
		for i := range list.Items {
			ev := &list.Items[i]
			if !LastTime(ev).Before(deadline) {
				continue
			}
			uid, rv := ev.UID, ev.ResourceVersion
			err := c.client.CoreV1().Events(ev.Namespace).Delete(ctx, ev.Name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
			})
			switch {
			case err == nil:
				deleted++
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				// Gone, or written again since the list: not expired.
			default:
				return deleted, err
			}
		}
		if list.Continue == "" {
			return deleted, nil
		}
		opts.Continue = list.Continue
	}
}

// LastTime is when an Event last happened.
func LastTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil && !ev.Series.LastObservedTime.IsZero():
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	case !ev.FirstTimestamp.IsZero():
		return ev.FirstTimestamp.Time
	}
	return ev.CreationTimestamp.Time
}

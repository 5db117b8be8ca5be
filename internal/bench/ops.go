package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// tally is what one goroutine saw. It is owned by that goroutine until the
// goroutine is joined.
type tally struct {
	rec       Recorder
	errors    int
	conflicts int
	firstErr  error
}

// observe records the outcome of one request that took d.
func (t *tally) observe(d time.Duration, err error) {
	if err == nil {
		t.rec.Add(d)
		return
	}
	t.fail(err)
	if apierrors.IsConflict(err) {
		t.conflicts++
	}
}

func (t *tally) fail(err error) {
	t.errors++
	if t.firstErr == nil {
		t.firstErr = err
	}
}

// merge folds the tallies of joined goroutines into one Result.
func merge(op string, elapsed time.Duration, ts []tally) Result {
	var all tally
	for i := range ts {
		all.rec.Merge(&ts[i].rec)
		all.errors += ts[i].errors
		all.conflicts += ts[i].conflicts
		if all.firstErr == nil {
			all.firstErr = ts[i].firstErr
		}
	}
	return newResult(op, elapsed, &all)
}

// drive runs do on Config.Concurrency workers in a closed loop until
// Config.Duration has passed, Config.Requests requests were sent or ctx
// ends, and times each call. do gets the worker's number and its call
// count, and a context bounded by requestTimeout.
func (b *bench) drive(ctx context.Context, op string, do func(ctx context.Context, worker, i int) error) Result {
	start := time.Now()
	deadline := start.Add(b.cfg.Duration)
	var sent atomic.Int64
	tallies := make([]tally, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tallies[w]
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				if b.cfg.Requests > 0 && sent.Add(1) > int64(b.cfg.Requests) {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				t0 := time.Now()
				err := do(rctx, w, i)
				d := time.Since(t0)
				cancel()
				if err != nil && ctx.Err() != nil {
					return // interrupted, not failed
				}
				t.observe(d, err)
			}
		})
	}
	wg.Wait()
	return merge(op, time.Since(start), tallies)
}

// createMany creates the ConfigMaps name(from) to name(to-1) on
// Config.Concurrency workers and times each create. keep, if not nil, gets
// each created object with its index; calls for different indexes may
// come at once. The first failure stops the workers and is returned, as is
// ctx's end.
func (b *bench) createMany(ctx context.Context, op string, from, to int, name func(int) string, keep func(int, *corev1.ConfigMap)) (Result, error) {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	start := time.Now()
	var next atomic.Int64
	next.Store(int64(from))
	var failed atomic.Bool
	tallies := make([]tally, b.cfg.Concurrency)
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tallies[w]
		wg.Go(func() {
			for ctx.Err() == nil && !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				rctx, cancel := context.WithTimeout(ctx, requestTimeout)
				t0 := time.Now()
				cm, err := cms.Create(rctx, b.newConfigMap(name(i)), metav1.CreateOptions{})
				d := time.Since(t0)
				cancel()
				if err != nil && ctx.Err() != nil {
					return
				}
				t.observe(d, err)
				if err != nil {
					failed.Store(true)
					return
				}
				if keep != nil {
					keep(i, cm)
				}
			}
		})
	}
	wg.Wait()
	res := merge(op, time.Since(start), tallies)
	if res.Errors > 0 {
		return res, fmt.Errorf("creating %s: %s", name(from), res.FirstError)
	}
	return res, ctx.Err()
}

// growPool creates pool ConfigMaps until there are n.
func (b *bench) growPool(ctx context.Context, n int) error {
	have := len(b.pool)
	if n <= have {
		return nil
	}
	b.log.Info("creating objects", "count", n-have)
	b.pool = append(b.pool, make([]*corev1.ConfigMap, n-have)...)
	// Each index is written by one worker; wg.Wait in createMany orders
	// the writes before the reads of later operations.
	_, err := b.createMany(ctx, "setup", have, n, poolName, func(i int, cm *corev1.ConfigMap) { b.pool[i] = cm })
	return err
}

func (b *bench) runCreate(ctx context.Context) Result {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	return b.drive(ctx, OpCreate, func(ctx context.Context, w, i int) error {
		_, err := cms.Create(ctx, b.newConfigMap(createName(w, i)), metav1.CreateOptions{})
		return err
	})
}

func (b *bench) runGet(ctx context.Context) Result {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	return b.drive(ctx, OpGet, func(ctx context.Context, _, _ int) error {
		_, err := cms.Get(ctx, poolName(rand.IntN(b.cfg.PoolSize)), metav1.GetOptions{})
		return err
	})
}

func (b *bench) runList(ctx context.Context) Result {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	want := b.cfg.ListSize
	return b.drive(ctx, OpList, func(ctx context.Context, _, _ int) error {
		l, err := cms.List(ctx, metav1.ListOptions{}) // no limit: the whole list
		if err != nil {
			return err
		}
		// Count only the pool: Kubernetes adds kube-root-ca.crt to every
		// namespace.
		got := 0
		for i := range l.Items {
			if strings.HasPrefix(l.Items[i].Name, poolPrefix) {
				got++
			}
		}
		if got != want {
			return fmt.Errorf("listed %d pool ConfigMaps, want %d", got, want)
		}
		return nil
	})
}

// runUpdate updates the first n pool objects; worker w owns those whose
// index is w modulo Config.Concurrency, so no two workers write one object.
func (b *bench) runUpdate(ctx context.Context, n int) Result {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	owned := make([][]*corev1.ConfigMap, b.cfg.Concurrency)
	for i, cm := range b.pool[:n] {
		w := i % b.cfg.Concurrency
		owned[w] = append(owned[w], cm.DeepCopy())
	}
	return b.drive(ctx, OpUpdate, func(ctx context.Context, w, i int) error {
		mine := owned[w]
		k := i % len(mine)
		cm := mine[k]
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["rev"] = strconv.Itoa(i)
		updated, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			// Someone else wrote it. Start from theirs next time (this
			// sample is an error and so is not timed).
			if cur, gerr := cms.Get(ctx, cm.Name, metav1.GetOptions{}); gerr == nil {
				mine[k] = cur
			}
		}
		if err != nil {
			return err
		}
		mine[k] = updated
		return nil
	})
}

// runWatch opens Config.Watchers watches, creates ConfigMaps at
// Config.WatchRate per second from one goroutine, and times each
// delivery from just before its create call.
func (b *bench) runWatch(ctx context.Context) (Result, error) {
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	n := max(int(b.cfg.Duration.Seconds()*b.cfg.WatchRate), 1)
	if b.cfg.Requests > 0 {
		n = min(n, b.cfg.Requests)
	}

	// The watches start after a marker object, so they replay nothing
	// that is already in the namespace.
	marker, err := cms.Create(ctx, b.newConfigMap("watch-start"), metav1.CreateOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("creating the start marker: %w", err)
	}

	// sent[i] is when the create of watchName(i) began, as 1 + nanoseconds
	// since base; 0 means not yet.
	base := time.Now()
	sent := make([]atomic.Int64, n)
	var delivered atomic.Int64

	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	tallies := make([]tally, b.cfg.Watchers)
	opened := make(chan error, len(tallies))
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tallies[w]
		wg.Go(func() {
			b.watch(wctx, t, marker.ResourceVersion, opened, func(name string) {
				i, ok := watchIndex(name, n)
				if !ok {
					return
				}
				if s := sent[i].Load(); s > 0 {
					t.rec.Add(time.Since(base) - time.Duration(s-1))
					delivered.Add(1)
				}
			})
		})
	}
	var openErrs tally
	for range tallies {
		if err := <-opened; err != nil {
			openErrs.fail(fmt.Errorf("opening watch: %w", err))
		}
	}
	watching := len(tallies) - openErrs.errors

	var creates tally
	created := 0
	start := time.Now()
	tick := time.NewTicker(max(time.Duration(float64(time.Second)/b.cfg.WatchRate), time.Microsecond))
	defer tick.Stop()
create:
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				break create
			case <-tick.C:
			}
		}
		sent[i].Store(int64(time.Since(base)) + 1)
		rctx, cancel := context.WithTimeout(ctx, requestTimeout)
		_, err := cms.Create(rctx, b.newConfigMap(watchName(i)), metav1.CreateOptions{})
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break create
			}
			creates.fail(fmt.Errorf("creating: %w", err))
			continue
		}
		created++
	}

	want := int64(watching * created)
	for graceEnd := time.Now().Add(watchGrace); delivered.Load() < want && ctx.Err() == nil && time.Now().Before(graceEnd); {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	stopWatches()
	wg.Wait()

	res := merge(OpWatch, elapsed, append(tallies, openErrs, creates))
	missed := max(want-int64(res.Count()), 0)
	if missed > 0 && ctx.Err() == nil {
		res.Errors += int(missed)
		if res.FirstError == "" {
			res.FirstError = fmt.Sprintf("%d deliveries missing %v after the last create", missed, watchGrace)
		}
	}
	res.Notes = fmt.Sprintf("%d watchers x %d creates at %g/s, %d missed", watching, created, b.cfg.WatchRate, missed)
	return res, ctx.Err()
}

// watch runs one watcher: it opens a watch from rv, reports the opening on
// opened (once), and calls added with the name of each ConfigMap added,
// until ctx ends. A watch the server ends is reopened where it left off,
// a few times; an ERROR event ends the watcher.
func (b *bench) watch(ctx context.Context, t *tally, rv string, opened chan<- error, added func(name string)) {
	const maxReopens = 5
	cms := b.cs.CoreV1().ConfigMaps(b.ns)
	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	opened <- err
	for reopens := 0; err == nil; reopens++ {
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					continue
				}
				rv = cm.ResourceVersion
				if ev.Type == watch.Added {
					added(cm.Name)
				}
			case watch.Error:
				if ctx.Err() != nil {
					// client-go reports the end of a canceled stream
					// as an ERROR event: it is ours, not the server's.
					w.Stop()
					return
				}
				t.fail(fmt.Errorf("watch: %w", apierrors.FromObject(ev.Object)))
				w.Stop()
				return
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return
		}
		if reopens == maxReopens {
			t.fail(fmt.Errorf("watch ended by the server %d times", reopens+1))
			return
		}
		w, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
		if err != nil && ctx.Err() == nil {
			t.fail(fmt.Errorf("reopening watch: %w", err))
		}
	}
}

func watchName(i int) string { return fmt.Sprintf("watch-%06d", i) }

// watchIndex is the inverse of watchName for i in [0, n).
func watchIndex(name string, n int) (int, bool) {
	s, ok := strings.CutPrefix(name, "watch-")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= n {
		return 0, false
	}
	return i, true
}

// Package admission holds kube-apiserver's admission plugins that Cella
// has, each done the way Kubernetes' plugin does it and wired into the
// catalogue's write sequence (kinds.Config):
//
//   - ResourceQuota (quota.go): charge the quota first, then write
//     (registry.Admission);
//   - LimitRanger (limitrange.go): defaults, then min, max and ratios;
//   - ServiceAccount (serviceaccount.go): a pod's ServiceAccount, which
//     must exist, and its token volume;
//   - PodSecurity (podsecurity.go): the Pod Security Standards a
//     namespace's labels choose, evaluated by k8s.io/pod-security-admission.
package admission

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/resourcequota"
)

// Quota enforces the ResourceQuotas of a namespace on creates in it. It is
// safe for concurrent use and holds no lock: see step 6.
//
// Steps for a new object O in namespace N:
//  1. Measure O (resourcequota.Usage), keeping the names it uses.
//  2. List the quotas of N that limit any of those names, by status.hard
//     or, for a quota whose count the cache may not show yet, spec.hard.
//     The list comes from the watch cache, which may lag behind storage
//     and miss a quota created a moment ago elsewhere; such a quota has no
//     status.used yet, and the controller's first count includes O.
//  3. Read each quota from storage, drop those that limit none of O's
//     names by status.hard (not counted yet, as in 2), and check O against
//     the rest (resourcequota.Charge): the first that refuses answers 403
//     Forbidden, and nothing has been charged.
//  4. If an object of O's name already exists, answer 409 AlreadyExists:
//     the write would fail, so nothing is charged.
//  5. With dryRun, stop here.
//  6. Charge each quota: write its status.used with O added, conditional on
//     the revision just read. Store.Update retries a write that lost a race
//     with a fresh read, so the check runs again on the usage the winner
//     left. This compare-and-swap keeps concurrent creates, on this server
//     or on any other sharing the storage, from overrunning a quota
//     together. A quota a concurrent create filled since step 3 refuses:
//     the charges already made are taken back and the answer is 403.
//  7. Return an undo that takes every charge back; the Store calls it if
//     O's write fails. (An undo that fails leaves an overcharge, which
//     refuses too much, never too little, until the quota controller's next
//     count.)
type Quota struct {
	quotas *registry.Store
	log    *slog.Logger
}

// NewQuota returns the quota admission, reading and charging the quotas
// in quotas (the resourcequotas Store).
func NewQuota(quotas *registry.Store, log *slog.Logger) *Quota {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Quota{quotas: quotas, log: log}
}

var _ registry.Admission = (*Quota)(nil).Admit

// casAttempts bounds the writes of one quota's status against concurrent
// creates: each lost race means another create won one.
const casAttempts = 32

// undoTimeout bounds taking charges back after a failed write, which runs
// even when the request's context has ended.
const undoTimeout = 10 * time.Second

// Admit is a registry.Admission; see Quota for its steps.
func (a *Quota) Admit(ctx context.Context, s *registry.Store, obj runtime.Object, dryRun bool) (func(), error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	gr := s.Resource.GroupResource()
	ns, name := m.GetNamespace(), m.GetName()
	delta := resourcequota.NonZero(resourcequota.Usage(gr, obj))
	if len(delta) == 0 {
		return nil, nil
	}
	names, err := a.covering(ctx, ns, delta)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	enforced := names[:0]
	for _, qn := range names {
		cur, err := a.quotas.GetObject(ctx, ns, qn)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		q := cur.(*corev1.ResourceQuota)
		if !resourcequota.Covers(q, delta) {
			continue // not counted yet: the controller's first count includes O
		}
		if _, err := resourcequota.Charge(q, delta); err != nil {
			return nil, apierrors.NewForbidden(gr, name, err)
		}
		enforced = append(enforced, qn)
	}
	names = enforced
	if len(names) == 0 {
		return nil, nil
	}
	if _, err := s.Get(ctx, ns, name); err == nil {
		return nil, apierrors.NewAlreadyExists(gr, name)
	} else if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if dryRun {
		return nil, nil
	}

	charged := make(map[string]corev1.ResourceList, len(names))
	undo := func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), undoTimeout)
		defer cancel()
		for qn, d := range charged {
			if err := a.release(uctx, ns, qn, d); err != nil {
				a.log.Warn("taking back a quota charge failed; the quota controller will recount",
					"namespace", ns, "quota", qn, "err", err)
			}
		}
	}
	for _, qn := range names {
		d, err := a.charge(ctx, ns, qn, delta)
		if err != nil {
			undo()
			if r := (quotaRefusal{}); errors.As(err, &r) {
				return nil, apierrors.NewForbidden(gr, name, r.err)
			}
			return nil, err
		}
		if d != nil {
			charged[qn] = d
		}
	}
	return undo, nil
}

// covering returns the names of the quotas in ns that limit a name in
// delta, from the watch cache.
func (a *Quota) covering(ctx context.Context, ns string, delta corev1.ResourceList) ([]string, error) {
	res, err := a.quotas.List(ctx, ns, registry.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, raw := range res.Items {
		obj, err := a.quotas.Decode(raw.JSON)
		if err != nil {
			return nil, err
		}
		// A quota the cache shows limiting none of delta's names by its
		// status may be one whose first count the cache has not seen
		// yet: its spec decides here, storage in step 3.
		q := obj.(*corev1.ResourceQuota)
		if resourcequota.Covers(q, delta) || coversBySpec(q, delta) {
			names = append(names, q.Name)
		}
	}
	return names, nil
}

// coversBySpec reports whether q's spec.hard limits a name in delta.
func coversBySpec(q *corev1.ResourceQuota, delta corev1.ResourceList) bool {
	for n := range delta {
		if _, ok := q.Spec.Hard[n]; ok {
			return true
		}
	}
	return false
}

// quotaRefusal carries Charge's words out of an update function, so that
// they reach the client under the created object's name.
type quotaRefusal struct{ err error }

func (r quotaRefusal) Error() string { return r.err.Error() }

// charge adds delta to quota qn's status.used with a compare-and-swap and
// returns what it added (delta less the names qn does not limit), or nil
// when qn no longer exists. A refusal is a quotaRefusal.
func (a *Quota) charge(ctx context.Context, ns, qn string, delta corev1.ResourceList) (corev1.ResourceList, error) {
	var added corev1.ResourceList
	err := a.updateStatus(ctx, ns, qn, func(q *corev1.ResourceQuota) error {
		used, err := resourcequota.Charge(q, delta)
		if err != nil {
			return quotaRefusal{err}
		}
		added = corev1.ResourceList{}
		for n, d := range delta {
			if _, ok := q.Status.Hard[n]; ok {
				added[n] = d
			}
		}
		q.Status.Used = used
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return added, err
}

// release takes d off quota qn's status.used with a compare-and-swap.
func (a *Quota) release(ctx context.Context, ns, qn string, d corev1.ResourceList) error {
	err := a.updateStatus(ctx, ns, qn, func(q *corev1.ResourceQuota) error {
		q.Status.Used = resourcequota.Release(q.Status.Used, d)
		return nil
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// updateStatus applies change to the status of quota qn as read from
// storage and writes it, conditional on the revision read. A write that
// loses a race (409 Conflict) is tried again from a fresh read, so change
// always sees the usage the winner left.
func (a *Quota) updateStatus(ctx context.Context, ns, qn string, change func(*corev1.ResourceQuota) error) error {
	update := func(cur runtime.Object) (runtime.Object, error) {
		q := cur.(*corev1.ResourceQuota)
		if err := change(q); err != nil {
			return nil, err
		}
		return q, nil // still carrying the resourceVersion read
	}
	for attempt := 1; ; attempt++ {
		_, err := a.quotas.Update(ctx, ns, qn, update, registry.UpdateOptions{Subresource: "status"})
		if !apierrors.IsConflict(err) || attempt == casAttempts {
			return err
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

// backoff waits up to a few jittered milliseconds, growing with attempt,
// before another compare-and-swap, so that racing creates spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.IntN(min(attempt, 10)+1)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

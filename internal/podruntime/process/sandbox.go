package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"cella.dev/cella/internal/atomicfile"
	"cella.dev/cella/internal/podruntime"
)

// sandboxFile is <uid>/sandbox.json.
type sandboxFile struct {
	UID       string    `json:"uid"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Hostname  string    `json:"hostname,omitempty"`
	IP        string    `json:"ip"`
	Created   time.Time `json:"created"`
	// Isolation is what an isolated sandbox is made of; nil for a plain
	// one.
	Isolation *isolation `json:"isolation,omitempty"`
}

// RunSandbox makes the pod's directory and what the launcher makes of a
// sandbox (its address; for isolation its network, cgroup and files), or
// returns the sandbox that exists.
func (r *Runtime) RunSandbox(_ context.Context, p podruntime.Pod) (podruntime.Sandbox, error) {
	if !validName(p.UID) {
		return podruntime.Sandbox{}, fmt.Errorf("%w: pod UID %q cannot name a directory", podruntime.ErrInvalid, p.UID)
	}
	r.mu.Lock()
	if existing, ok := r.pods[p.UID]; ok {
		r.mu.Unlock()
		// Its creation may still be under way: the lock waits for it.
		existing.mu.Lock()
		defer existing.mu.Unlock()
		if existing.gone {
			return podruntime.Sandbox{}, fmt.Errorf("the sandbox of pod %s is being removed", p.UID)
		}
		return existing.sb, nil
	}
	np := &pod{
		dir: filepath.Join(r.dir, p.UID),
		sb: podruntime.Sandbox{
			UID: p.UID, Namespace: p.Namespace, Name: p.Name,
			Created: time.Now().UTC().Round(0),
		},
		containers: map[string]*container{},
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	r.pods[p.UID] = np
	r.mu.Unlock()

	sf := sandboxFile{UID: p.UID, Namespace: p.Namespace, Name: p.Name, Hostname: p.Hostname, Created: np.sb.Created}
	err := os.MkdirAll(filepath.Join(np.dir, "containers"), 0o700)
	if err == nil {
		err = r.launcher.create(p, np.dir, &sf, r.claim)
	}
	if err == nil {
		np.sb.IP, np.iso = sf.IP, sf.Isolation
		np.addr, err = netip.ParseAddr(sf.IP)
	}
	if err == nil {
		var b []byte
		if b, err = json.Marshal(sf); err == nil {
			err = atomicfile.Write(filepath.Join(np.dir, "sandbox.json"), b, 0o600)
		}
	}
	if err != nil {
		np.gone = true
		if sf.Isolation != nil {
			if rerr := sf.Isolation.remove(np.dir, r.netState); rerr != nil {
				r.log.Warn("removing a sandbox whose creation failed", "pod", p.UID, "err", rerr)
			}
		}
		os.RemoveAll(np.dir)
		r.mu.Lock()
		delete(r.pods, p.UID)
		if addr, perr := netip.ParseAddr(sf.IP); perr == nil && sf.Isolation == nil {
			delete(r.ips, addr)
		}
		r.mu.Unlock()
		if errors.Is(err, podruntime.ErrInvalid) {
			return podruntime.Sandbox{}, err
		}
		return podruntime.Sandbox{}, fmt.Errorf("making the sandbox of pod %s: %w", p.UID, err)
	}
	return np.sb, nil
}

// claim takes loopback address a for a new plain sandbox, if no other
// sandbox of this runtime has it.
func (r *Runtime) claim(a netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ips[a] {
		return false
	}
	r.ips[a] = true
	return true
}

// removeWait bounds how long RemoveSandbox waits for killed shims to end.
const removeWait = 30 * time.Second

// RemoveSandbox kills the pod's containers and their shims, undoes its
// isolation and removes its directory. After an error it may be called
// again, and carries on.
func (r *Runtime) RemoveSandbox(ctx context.Context, uid string) error {
	r.mu.Lock()
	p, ok := r.pods[uid]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	p.mu.Lock()
	p.gone = true
	var running []*attempt
	for _, c := range p.containers {
		if a := c.latest; a.exit == nil {
			a.stopping = true
			running = append(running, a)
		}
	}
	p.mu.Unlock()

	// The shim first, so it writes nothing more into what is removed.
	for _, a := range running {
		signalProc(a.started.Shim, false, syscall.SIGKILL)
		signalProc(a.started.Process, true, syscall.SIGKILL)
	}
	timeout := time.NewTimer(removeWait)
	defer timeout.Stop()
	for _, a := range running {
		select {
		case <-a.exited:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("removing the sandbox of pod %s: a container's shim did not end", uid)
		}
	}
	if p.iso != nil {
		if err := p.iso.remove(p.dir, r.netState); err != nil {
			return fmt.Errorf("removing the sandbox of pod %s: %w", uid, err)
		}
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("removing the sandbox of pod %s: %w", uid, err)
	}
	r.mu.Lock()
	if r.pods[uid] == p {
		delete(r.pods, uid)
	}
	if p.iso == nil {
		delete(r.ips, p.addr)
	}
	r.mu.Unlock()
	return nil
}

// Sandboxes lists the sandboxes, by UID.
func (r *Runtime) Sandboxes(context.Context) ([]podruntime.Sandbox, error) {
	r.mu.Lock()
	pods := make([]*pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	r.mu.Unlock()
	list := make([]podruntime.Sandbox, 0, len(pods))
	for _, p := range pods {
		p.mu.Lock()
		if !p.gone {
			list = append(list, p.sb)
		}
		p.mu.Unlock()
	}
	slices.SortFunc(list, func(a, b podruntime.Sandbox) int { return strings.Compare(a.UID, b.UID) })
	return list, nil
}

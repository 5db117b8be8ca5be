package process

import (
	"context"
	"encoding/json"
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
}

// RunSandbox makes the pod's directory and picks its address, or returns
// the sandbox that exists.
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
	addr, err := r.launcher.address(p, func(a netip.Addr) bool { return r.ips[a] })
	if err != nil {
		r.mu.Unlock()
		return podruntime.Sandbox{}, err
	}
	np := &pod{
		dir:  filepath.Join(r.dir, p.UID),
		addr: addr,
		sb: podruntime.Sandbox{
			UID: p.UID, Namespace: p.Namespace, Name: p.Name,
			IP: addr.String(), Created: time.Now().UTC().Round(0),
		},
		containers: map[string]*container{},
	}
	np.mu.Lock()
	defer np.mu.Unlock()
	r.pods[p.UID] = np
	r.ips[addr] = true
	r.mu.Unlock()

	err = os.MkdirAll(filepath.Join(np.dir, "containers"), 0o700)
	if err == nil {
		var b []byte
		b, err = json.Marshal(sandboxFile{
			UID: p.UID, Namespace: p.Namespace, Name: p.Name, Hostname: p.Hostname,
			IP: np.sb.IP, Created: np.sb.Created,
		})
		if err == nil {
			err = atomicfile.Write(filepath.Join(np.dir, "sandbox.json"), b, 0o600)
		}
	}
	if err != nil {
		np.gone = true
		os.RemoveAll(np.dir)
		r.mu.Lock()
		delete(r.pods, p.UID)
		delete(r.ips, addr)
		r.mu.Unlock()
		return podruntime.Sandbox{}, fmt.Errorf("making the sandbox of pod %s: %w", p.UID, err)
	}
	return np.sb, nil
}

// removeWait bounds how long RemoveSandbox waits for killed shims to end.
const removeWait = 30 * time.Second

// RemoveSandbox kills the pod's containers and their shims and removes its
// directory.
func (r *Runtime) RemoveSandbox(ctx context.Context, uid string) error {
	r.mu.Lock()
	p, ok := r.pods[uid]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return nil
	}
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
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("removing the sandbox of pod %s: %w", uid, err)
	}
	r.mu.Lock()
	delete(r.pods, uid)
	delete(r.ips, p.addr)
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

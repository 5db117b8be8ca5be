// Package sim is the simulated runtime (`--runtime sim`): it runs no
// process and touches no network. Each container follows a deterministic
// lifecycle that the pod's annotations describe, so that scale tests and
// clients' CI can drive thousands of pods through their phases cheaply: a
// container costs a few hundred bytes and at most one timer, never a
// goroutine of its own.
//
// # Annotations
//
// Every knob is an annotation of the pod, "sim.cella.dev/<knob>", which
// applies to each of its containers; "sim.cella.dev/<container>.<knob>"
// applies to one container and wins over the pod-wide one. (An annotation
// name is at most 63 characters, so per-container knobs need short
// container names.) A bad value fails StartContainer with an error
// wrapping podruntime.ErrInvalid that names the annotation.
//
//	start-delay          duration  StartContainer takes this long (think
//	                               of an image pull); default 0
//	run-time             duration  the container exits by itself this long
//	                               after it started; absent, it runs until
//	                               stopped
//	exit-code            integer   its exit code when it exits by itself;
//	                               default 0
//	readiness-delay      duration  probes fail until it has run this long;
//	                               default 0
//	fail-probes-after    duration  probes fail once it has run this long
//	                               (a liveness failure); absent, never
//	ignore-sigterm       "true"    StopContainer waits the whole grace
//	                               period, then kills it (exit code 137);
//	                               otherwise it exits at once with code 0
//	start-error          text      StartContainer fails with this message,
//	                               as a runtime does for a missing
//	                               executable
//	config-error         text      StartContainer fails with this message
//	                               and podruntime.ErrInvalid (the agent
//	                               reports CreateContainerConfigError)
//	termination-message  text      the message of its exit
//	log                  lines     what it prints when it starts; default
//	                               "sim: container {container} started"
//	exit-log             lines     what it prints when it exits by itself
//	                               or on SIGTERM (a kill leaves no time to
//	                               print); default "sim: container
//	                               {container} exited with code {exit-code}"
//	exec-output          lines     what a command run in it (pods/exec)
//	                               prints on standard output; default
//	                               "sim: exec {command}"
//	exec-stderr          lines     what such a command prints on standard
//	                               error; default nothing
//	exec-exit-code       integer   the exit code of such a command;
//	                               default 0
//	cpu-usage            quantity  the CPU it uses while it runs, as
//	                               Stats reports it (kubectl top); default
//	                               1m
//	memory-usage         quantity  the memory it uses; default 1Mi
//
// Durations are Go durations ("1.5s", "2m"). In log and exit-log, lines
// are separated by newlines, an empty value prints nothing, and
// {container}, {attempt} and {exit-code} are replaced by the container's
// name, the attempt and the exit code; exec-output and exec-stderr take
// {container} and {command} (the command's words joined by spaces). A
// container that failed with LogOnFailure and no termination-message gets
// the tail of its log as its message, as a real one does.
//
// # Exec and attach
//
// Exec runs nothing: the command prints exec-output and exec-stderr, then
// copies its standard input to its standard output until the input ends
// (as cat does; with no input it ends at once), and exits with
// exec-exit-code. Under a TTY the input is echoed as a terminal echoes
// typed keys (a carriage return as "\r\n"), Ctrl-D ends it and Ctrl-C
// ends the command with exit code 130, so that `kubectl exec -it` can be
// left. The command is killed (exit code 137) when the container exits
// first.
//
// Attach streams the lines the container logs from then on (its exit-log
// when it exits) and ends when it exits. A container started with Stdin
// echoes each line of input it gets to its log, as a `cat` container
// would, so attached clients see what they type; its exit comes from its
// knobs as before.
//
// Probes of any kind (exec, httpGet, tcpSocket, grpc) pass while the
// container runs, from readiness-delay after its start until
// fail-probes-after; they check nothing else.
//
// # Addresses and state
//
// A sandbox gets an IPv4 address from the pod's CIDR, or 10.88.0.0/16,
// picked from a hash of the pod UID (the next free one on a collision), so
// a pod gets the same address on every run. Nothing is configured on the
// host.
//
// All state is in memory: a Cella restart with the sim runtime finds no
// sandboxes, and the agent starts its pods again (their restarts count).
// Time comes from Config's clock, so tests can drive it.
package sim

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cella.dev/cella/internal/podruntime"
	"cella.dev/cella/internal/podruntime/internal/changefeed"
	"cella.dev/cella/internal/podruntime/internal/podlog"
)

// Prefix starts the name of every annotation the sim reads.
const Prefix = "sim.cella.dev/"

// DefaultCIDR is where pod addresses come from when the pod names no CIDR.
const DefaultCIDR = "10.88.0.0/16"

// Config configures a sim runtime. The zero value is ready to use.
type Config struct {
	// Now tells the time; nil is time.Now.
	Now func() time.Time
	// AfterFunc calls f in its own goroutine once d has passed and returns
	// a function that cancels the call, reporting whether it did (as
	// time.AfterFunc's Stop); nil uses time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Runtime is the sim runtime. It is safe for concurrent use.
type Runtime struct {
	now       func() time.Time
	afterFunc func(time.Duration, func()) func() bool
	feed      *changefeed.Feed

	mu     sync.Mutex // guards pods and ips
	pods   map[string]*pod
	ips    map[netip.Addr]bool
	closed bool
}

var _ podruntime.Runtime = (*Runtime)(nil)

// New returns a sim runtime with no sandboxes.
func New(cfg Config) *Runtime {
	r := &Runtime{
		now:       cfg.Now,
		afterFunc: cfg.AfterFunc,
		feed:      changefeed.New(),
		pods:      map[string]*pod{},
		ips:       map[netip.Addr]bool{},
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.afterFunc == nil {
		r.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	return r
}

// pod is one sandbox and its containers.
type pod struct {
	sb          podruntime.Sandbox
	addr        netip.Addr
	annotations map[string]string // only the sim's, copied

	mu         sync.Mutex // guards the fields below and every container's
	containers map[string]*container
	gone       bool // removed: every call answers ErrNotFound
}

// container is the latest attempt of one container, and the log of the
// one before.
type container struct {
	status   podruntime.ContainerStatus
	spec     podruntime.Container
	knobs    knobs
	log      *podlog.Memory
	prevLog  *podlog.Memory // nil before the second attempt
	stopExit func() bool    // cancels the run-time timer; nil when none
	exited   chan struct{}  // closed when the attempt exits
	starting bool           // a StartContainer waits out its start-delay
}

// Info says the sim isolates nothing.
func (r *Runtime) Info() podruntime.Info {
	// No Why: isolation does not apply to containers that are not
	// processes.
	return podruntime.Info{Name: "sim"}
}

// RunSandbox makes the sandbox of p, or returns the existing one.
func (r *Runtime) RunSandbox(_ context.Context, p podruntime.Pod) (podruntime.Sandbox, error) {
	if p.UID == "" {
		return podruntime.Sandbox{}, fmt.Errorf("%w: a pod without UID", podruntime.ErrInvalid)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if existing, ok := r.pods[p.UID]; ok {
		return existing.sb, nil
	}
	addr, err := r.allocateLocked(p.UID, p.CIDR)
	if err != nil {
		return podruntime.Sandbox{}, err
	}
	ann := map[string]string{}
	for k, v := range p.Annotations {
		if strings.HasPrefix(k, Prefix) {
			ann[k] = v
		}
	}
	np := &pod{
		sb: podruntime.Sandbox{
			UID: p.UID, Namespace: p.Namespace, Name: p.Name,
			IP: addr.String(), Created: r.now(),
		},
		addr:        addr,
		annotations: ann,
		containers:  map[string]*container{},
	}
	r.pods[p.UID] = np
	r.ips[addr] = true
	return np.sb, nil
}

// allocateLocked picks the address of a new sandbox: from a hash of uid,
// the next free one on a collision.
func (r *Runtime) allocateLocked(uid, cidr string) (netip.Addr, error) {
	if cidr == "" {
		cidr = DefaultCIDR
	}
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil || !prefix.Addr().Is4() || prefix.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("%w: the sim runtime allocates from an IPv4 CIDR of at least 4 addresses, not %q", podruntime.ErrInvalid, cidr)
	}
	prefix = prefix.Masked()
	hosts := uint32(1)<<(32-prefix.Bits()) - 2 // without network and broadcast
	base := prefix.Addr().As4()
	network := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	h := fnv.New32a()
	h.Write([]byte(uid))
	start := h.Sum32() % hosts
	for i := range hosts {
		n := network + 1 + (start+i)%hosts
		addr := netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		if !r.ips[addr] {
			return addr, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %s", cidr)
}

// RemoveSandbox stops the pod's containers at once and forgets it.
func (r *Runtime) RemoveSandbox(_ context.Context, uid string) error {
	r.mu.Lock()
	p, ok := r.pods[uid]
	if ok {
		delete(r.pods, uid)
		delete(r.ips, p.addr)
	}
	r.mu.Unlock()
	if !ok {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
	now := r.now()
	for _, c := range p.containers {
		if c.status.State == podruntime.StateRunning {
			c.exitLocked(now, 137, false)
		}
	}
	return nil
}

// Sandboxes lists the sandboxes, by UID.
func (r *Runtime) Sandboxes(context.Context) ([]podruntime.Sandbox, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]podruntime.Sandbox, 0, len(r.pods))
	for _, p := range r.pods {
		list = append(list, p.sb)
	}
	slices.SortFunc(list, func(a, b podruntime.Sandbox) int { return strings.Compare(a.UID, b.UID) })
	return list, nil
}

// lookup returns the pod of uid, locked, or ErrNotFound.
func (r *Runtime) lookup(uid string) (*pod, error) {
	r.mu.Lock()
	p, ok := r.pods[uid]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: no sandbox for pod %s", podruntime.ErrNotFound, uid)
	}
	p.mu.Lock()
	if p.gone {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: no sandbox for pod %s", podruntime.ErrNotFound, uid)
	}
	return p, nil
}

// containerLocked returns the container name of p, or ErrNotFound.
func (p *pod) containerLocked(name string) (*container, error) {
	c, ok := p.containers[name]
	if !ok || c.log == nil {
		return nil, fmt.Errorf("%w: container %q of pod %s was never started", podruntime.ErrNotFound, name, p.sb.UID)
	}
	return c, nil
}

// StartContainer starts c after its start-delay.
func (r *Runtime) StartContainer(ctx context.Context, uid string, c podruntime.Container, attempt int) error {
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	k, err := p.knobs(c.Name)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	if k.configError != "" {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", podruntime.ErrInvalid, k.configError)
	}
	if k.startError != "" {
		p.mu.Unlock()
		return fmt.Errorf("sim: starting container %q: %s", c.Name, k.startError)
	}
	ctr := p.containers[c.Name]
	if ctr == nil {
		ctr = &container{}
		p.containers[c.Name] = ctr
	}
	if ctr.starting || ctr.status.State == podruntime.StateRunning {
		p.mu.Unlock()
		return fmt.Errorf("sim: container %q of pod %s is running", c.Name, uid)
	}
	if k.startDelay > 0 {
		ctr.starting = true
		p.mu.Unlock()
		err := r.sleep(ctx, k.startDelay)
		p.mu.Lock()
		ctr.starting = false
		if err == nil && p.gone {
			err = fmt.Errorf("%w: the sandbox of pod %s was removed", podruntime.ErrNotFound, uid)
		}
		if err != nil {
			p.mu.Unlock()
			return err
		}
	}
	defer p.mu.Unlock()

	now := r.now()
	if ctr.log != nil {
		ctr.prevLog = ctr.log
	}
	ctr.log = podlog.NewMemory()
	ctr.spec, ctr.knobs = c, k
	ctr.exited = make(chan struct{})
	ctr.status = podruntime.ContainerStatus{
		Name: c.Name, Attempt: attempt, State: podruntime.StateRunning, StartedAt: now,
	}
	ctr.log.Add(lines(now, k.log, c.Name, attempt, 0)...)
	ctr.stopExit = nil
	if k.runTime >= 0 {
		exited := ctr.exited
		ctr.stopExit = r.afterFunc(k.runTime, func() { r.exitByItself(p, ctr, exited) })
	}
	return nil
}

// exitByItself ends the attempt whose exited channel is exited when its
// run-time is over, and tells the agent.
func (r *Runtime) exitByItself(p *pod, c *container, exited chan struct{}) {
	p.mu.Lock()
	if p.gone || c.exited != exited || c.status.State != podruntime.StateRunning {
		p.mu.Unlock()
		return
	}
	c.exitLocked(r.now(), c.knobs.exitCode, true)
	p.mu.Unlock()
	r.feed.Add(p.sb.UID)
}

// exitLocked ends the running attempt with code. logged says the container
// prints its exit-log (a SIGKILL leaves no time to print).
func (c *container) exitLocked(now time.Time, code int, logged bool) {
	if c.stopExit != nil {
		c.stopExit()
		c.stopExit = nil
	}
	if logged {
		c.log.Add(lines(now, c.knobs.exitLog, c.status.Name, c.status.Attempt, code)...)
	}
	c.log.Finish()
	st := &c.status
	st.State, st.FinishedAt, st.ExitCode = podruntime.StateExited, now, code
	st.Reason = "Completed"
	if code != 0 {
		st.Reason = "Error"
	}
	st.Message = c.knobs.terminationMessage
	if st.Message == "" && code != 0 && c.spec.LogOnFailure {
		st.Message, _ = podlog.Fallback(c.log.Source())
	}
	close(c.exited)
}

// StopContainer stops a running container: at once, or after grace when
// it ignores SIGTERM.
func (r *Runtime) StopContainer(ctx context.Context, uid, name string, grace time.Duration) error {
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	c, ok := p.containers[name]
	if !ok || c.status.State != podruntime.StateRunning {
		p.mu.Unlock()
		return nil
	}
	if !c.knobs.ignoreSIGTERM {
		c.exitLocked(r.now(), 0, true)
		p.mu.Unlock()
		return nil
	}
	exited := c.exited
	p.mu.Unlock()

	wait, stop := r.timer(grace)
	defer stop()
	select {
	case <-exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-wait:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.exited == exited && c.status.State == podruntime.StateRunning {
		c.exitLocked(r.now(), 137, false)
	}
	return nil
}

// Status reports the sandbox and the latest attempt of each container.
func (r *Runtime) Status(_ context.Context, uid string) (podruntime.PodStatus, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return podruntime.PodStatus{}, err
	}
	defer p.mu.Unlock()
	st := podruntime.PodStatus{Sandbox: p.sb, Containers: make([]podruntime.ContainerStatus, 0, len(p.containers))}
	for _, c := range p.containers {
		if c.log != nil {
			st.Containers = append(st.Containers, c.status)
		}
	}
	slices.SortFunc(st.Containers, func(a, b podruntime.ContainerStatus) int { return strings.Compare(a.Name, b.Name) })
	return st, nil
}

// Changes delivers the UIDs of pods whose containers exited by themselves.
func (r *Runtime) Changes() <-chan string { return r.feed.C() }

// Probe passes while the container runs, between its readiness-delay and
// its fail-probes-after.
func (r *Runtime) Probe(_ context.Context, uid, name string, _ podruntime.Probe) (bool, string, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return false, "", err
	}
	defer p.mu.Unlock()
	c, err := p.containerLocked(name)
	if err != nil {
		return false, "", err
	}
	if c.status.State != podruntime.StateRunning {
		return false, "", fmt.Errorf("sim: container %q of pod %s is not running", name, uid)
	}
	ran := r.now().Sub(c.status.StartedAt)
	if ran < c.knobs.readinessDelay {
		return false, fmt.Sprintf("sim: not ready until %v after its start (readiness-delay)", c.knobs.readinessDelay), nil
	}
	if c.knobs.failProbesAfter >= 0 && ran >= c.knobs.failProbesAfter {
		return false, fmt.Sprintf("sim: probes fail from %v after its start (fail-probes-after)", c.knobs.failProbesAfter), nil
	}
	return true, "", nil
}

// Logs reads the log of the latest attempt, or the one before.
func (r *Runtime) Logs(ctx context.Context, uid, name string, o podruntime.LogOptions) (io.ReadCloser, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	c, err := p.containerLocked(name)
	if err != nil {
		return nil, err
	}
	log := c.log
	if o.Previous {
		if c.prevLog == nil {
			return nil, fmt.Errorf("%w: container %q of pod %s has no previous attempt", podruntime.ErrNotFound, name, uid)
		}
		log = c.prevLog
	}
	return podlog.NewReader(ctx, log.Source(), o), nil
}

// TruncateLog empties the log of the latest attempt.
func (r *Runtime) TruncateLog(_ context.Context, uid, name string) error {
	p, err := r.lookup(uid)
	if err != nil {
		return err
	}
	defer p.mu.Unlock()
	c, err := p.containerLocked(name)
	if err != nil {
		return err
	}
	c.log.Truncate()
	return nil
}

// Close stops the delivery of changes and every timer: a closed sim
// runtime changes nothing by itself any more.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	pods := make([]*pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	r.mu.Unlock()
	for _, p := range pods {
		p.mu.Lock()
		for _, c := range p.containers {
			if c.stopExit != nil {
				c.stopExit()
				c.stopExit = nil
			}
		}
		p.mu.Unlock()
	}
	r.feed.Close()
	return nil
}

// sleep waits d on the runtime's clock, or until ctx ends.
func (r *Runtime) sleep(ctx context.Context, d time.Duration) error {
	wait, stop := r.timer(d)
	defer stop()
	select {
	case <-wait:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// timer returns a channel closed once d has passed on the runtime's clock,
// and a function that cancels it.
func (r *Runtime) timer(d time.Duration) (<-chan struct{}, func() bool) {
	ch := make(chan struct{})
	return ch, r.afterFunc(d, func() { close(ch) })
}

// lines makes the records a container prints: text split at newlines,
// with its placeholders filled in.
func lines(at time.Time, text, name string, attempt, code int) []podlog.Record {
	if text == "" {
		return nil
	}
	text = strings.NewReplacer(
		"{container}", name,
		"{attempt}", strconv.Itoa(attempt),
		"{exit-code}", strconv.Itoa(code),
	).Replace(text)
	parts := strings.Split(text, "\n")
	recs := make([]podlog.Record, len(parts))
	for i, line := range parts {
		recs[i] = podlog.Record{Time: at, Stream: podlog.Stdout, Text: []byte(line)}
	}
	return recs
}

var _ podruntime.StatsReporter = (*Runtime)(nil)

// Stats reports each running container's usage as its cpu-usage and
// memory-usage knobs say: CPU time grows at cpu-usage from the start.
func (r *Runtime) Stats(_ context.Context, uid string) ([]podruntime.ContainerStats, error) {
	p, err := r.lookup(uid)
	if err != nil {
		return nil, err
	}
	defer p.mu.Unlock()
	now := r.now()
	var out []podruntime.ContainerStats
	for name, c := range p.containers {
		if c.status.State != podruntime.StateRunning {
			continue
		}
		ran := now.Sub(c.status.StartedAt)
		out = append(out, podruntime.ContainerStats{
			Name: name, CPU: time.Duration(int64(ran) / 1000 * c.knobs.cpuUsage),
			MemoryBytes: c.knobs.memoryUsage, At: now,
		})
	}
	return out, nil
}

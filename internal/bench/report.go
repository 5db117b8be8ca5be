package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the outcome of a run.
type Report struct {
	Server        string `json:"server"`
	ServerVersion string `json:"serverVersion,omitempty"`
	// Protocol is what the server chose, e.g. "HTTP/2.0" or "HTTP/1.1".
	Protocol    string        `json:"protocol"`
	Namespace   string        `json:"namespace"`
	Concurrency int           `json:"concurrency"`
	Duration    time.Duration `json:"durationNs"`
	ObjectBytes int           `json:"objectBytes"`
	// Kept is true when the namespace and its objects were left in place
	// (Config.RSSObjects).
	Kept    bool     `json:"kept"`
	Machine Machine  `json:"machine"`
	Results []Result `json:"results"`
}

// Result is what one operation measured.
type Result struct {
	Op string `json:"op"`
	// Latency covers the requests that succeeded (for watch, the
	// deliveries); its Count is theirs.
	Latency Summary `json:"latency"`
	// Errors counts failed requests (for watch, also failed watches and
	// missing deliveries); Conflicts, those of them that were 409s.
	Errors     int    `json:"errors"`
	Conflicts  int    `json:"conflicts"`
	FirstError string `json:"firstError,omitempty"`
	// Elapsed is the operation's wall time; PerSecond is Latency.Count
	// over it.
	Elapsed   time.Duration `json:"elapsedNs"`
	PerSecond float64       `json:"perSecond"`
	Notes     string        `json:"notes,omitempty"`
}

// Count is the number of requests (or deliveries) that succeeded.
func (r Result) Count() int { return r.Latency.Count }

func newResult(op string, elapsed time.Duration, t *tally) Result {
	res := Result{
		Op:        op,
		Latency:   t.rec.Summary(),
		Errors:    t.errors,
		Conflicts: t.conflicts,
		Elapsed:   elapsed,
	}
	if t.firstErr != nil {
		res.FirstError = t.firstErr.Error()
	}
	if elapsed > 0 {
		res.PerSecond = float64(res.Latency.Count) / elapsed.Seconds()
	}
	if t.conflicts > 0 {
		res.Notes = fmt.Sprintf("%d conflicts", t.conflicts)
	}
	return res
}

// Failed is the number of failed requests over all results.
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// WriteTable writes the report for people: a few header lines, then one
// row per operation.
func (r *Report) WriteTable(w io.Writer) error {
	version := ""
	if r.ServerVersion != "" {
		version = " (" + r.ServerVersion + ")"
	}
	fmt.Fprintf(w, "server:  %s%s over %s, namespace %s\n", r.Server, version, r.Protocol, r.Namespace)
	perOp := ""
	if !r.Kept { // a Config.RSSObjects run is bounded by count alone
		perOp = fmt.Sprintf(", %v per op", r.Duration)
	}
	fmt.Fprintf(w, "client:  %d workers, %d-byte objects%s\n", r.Concurrency, r.ObjectBytes, perOp)
	fmt.Fprintf(w, "machine: %s\n\n", r.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OP\tCOUNT\tERRORS\tREQ/S\tP50\tP99\tMAX")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\n", res.Op, res.Latency.Count, res.Errors, res.PerSecond,
			ms(res.Latency.P50), ms(res.Latency.P99), ms(res.Latency.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, res := range r.Results {
		if res.Notes != "" {
			fmt.Fprintf(w, "%s: %s\n", res.Op, res.Notes)
		}
		if res.FirstError != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", res.Op, res.FirstError)
		}
	}
	if r.Kept {
		_, err := fmt.Fprintf(w, "left namespace %s in place; delete it with: kubectl delete namespace %s\n", r.Namespace, r.Namespace)
		return err
	}
	return nil
}

// ms formats d in milliseconds to the microsecond.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

// WriteJSON writes the report as one indented JSON object. Durations are
// in nanoseconds, in fields whose names end in Ns.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Machine describes the computer the benchmark client ran on (with a
// loopback server, the server's too).
type Machine struct {
	CPU   string `json:"cpu"`
	Cores int    `json:"cores"`
	Go    string `json:"go"`
	OS    string `json:"os"`
	Arch  string `json:"arch"`
}

func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %s %s/%s", m.CPU, m.Cores, m.Go, m.OS, m.Arch)
}

// LocalMachine describes this computer. Cores is the CPUs this process may
// use (runtime.NumCPU), which a CPU affinity mask or cgroup can make fewer
// than the machine has.
func LocalMachine() Machine {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpu = cpuModel(string(b))
	}
	return Machine{CPU: cpu, Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
}

// cpuModel returns the first "model name" of a /proc/cpuinfo, or "unknown".
func cpuModel(cpuinfo string) string {
	for line := range strings.Lines(cpuinfo) {
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

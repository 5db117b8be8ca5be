package bench

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr []string // substrings; none means valid
	}{
		{"defaults", func(*Config) {}, nil},
		{"rss only", func(c *Config) { c.Ops = nil; c.RSSObjects = 10 }, nil},
		{"no ops", func(c *Config) { c.Ops = nil }, []string{"--ops must name"}},
		{"unknown op", func(c *Config) { c.Ops = []string{"get", "patch"} }, []string{`--ops "patch"`}},
		{"every problem at once", func(c *Config) {
			c.Concurrency = 0
			c.Duration = 0
			c.Namespace = "Not_A_Label"
			c.WatchRate = 0
		}, []string{"--concurrency", "--duration", "--namespace", "--watch-rate"}},
		{"object too big", func(c *Config) { c.ObjectBytes = 2 << 20 }, []string{"--object-bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			tt.change(c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors about %v", tt.wantErr)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Validate() = %q, want it to mention %q", err, s)
				}
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	const cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n"
	if got, want := cpuModel(cpuinfo), "Intel(R) Xeon(R) CPU @ 2.20GHz"; got != want {
		t.Errorf("cpuModel() = %q, want %q", got, want)
	}
	if got := cpuModel("processor\t: 0\nBogoMIPS\t: 50.00\n"); got != "unknown" {
		t.Errorf("cpuModel(no model name) = %q, want unknown", got)
	}
}

func TestWriteTable(t *testing.T) {
	rep := &Report{
		Server:        "https://127.0.0.1:6443",
		ServerVersion: "v1.37.2",
		Protocol:      "HTTP/2.0",
		Namespace:     "cella-bench-abcde",
		Concurrency:   8,
		Duration:      10 * time.Second,
		ObjectBytes:   1024,
		Machine:       Machine{CPU: "Test CPU", Cores: 2, Go: "go1.26.8", OS: "linux", Arch: "amd64"},
		Results: []Result{
			{Op: "get", Latency: Summary{Count: 12345, P50: 512 * time.Microsecond, P99: 2100 * time.Microsecond, Max: 15 * time.Millisecond}, PerSecond: 1234.5},
			{Op: "update", Latency: Summary{Count: 10, P50: time.Millisecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond},
				Errors: 1, Conflicts: 1, PerSecond: 1, Notes: "1 conflicts", FirstError: "conflict"},
		},
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `server:  https://127.0.0.1:6443 (v1.37.2) over HTTP/2.0, namespace cella-bench-abcde
client:  8 workers, 1024-byte objects, 10s per op
machine: Test CPU, 2 cores, go1.26.8 linux/amd64

OP      COUNT  ERRORS  REQ/S   P50      P99      MAX
get     12345  0       1234.5  0.512ms  2.100ms  15.000ms
update  10     1       1.0     1.000ms  2.000ms  3.000ms
update: 1 conflicts
update: first error: conflict
`
	if got := b.String(); got != want {
		t.Errorf("WriteTable:\n%s\nwant:\n%s", got, want)
	}
}

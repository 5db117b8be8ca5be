//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cella.dev/cella/internal/servertest"
)

// callTimeout bounds one kubectl invocation. Every call here is a single
// request or a short sequence of them against a loopback server, so a call
// that takes longer has hung.
const callTimeout = 30 * time.Second

// cluster is one running server and a kubectl pointed at it.
// Its methods take the calling test, so subtests of one test can share a
// cluster and still fail on their own.
type cluster struct {
	srv        *servertest.Server
	kubeconfig string
	// env is the environment every kubectl call starts from: the test
	// process's, with KUBECONFIG and the discovery cache pointed at this
	// cluster so nothing on the host (a real ~/.kube) leaks in.
	env []string
}

// newCluster starts a fresh server for t; it stops when t ends. opts
// change its Config (the runtime, the profile).
func newCluster(t testing.TB, opts ...servertest.Option) *cluster {
	t.Helper()
	srv := servertest.Start(t, opts...)
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "KUBECONFIG="), strings.HasPrefix(kv, "KUBECACHEDIR="),
			strings.HasPrefix(kv, "KUBE_EDITOR="), strings.HasPrefix(kv, "EDITOR="):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "KUBECONFIG="+srv.Kubeconfig, "KUBECACHEDIR="+filepath.Join(t.TempDir(), "cache"))
	return &cluster{srv: srv, kubeconfig: srv.Kubeconfig, env: env}
}

// result is what one kubectl call did.
type result struct {
	args   []string
	stdout string
	stderr string
	// code is the exit code, or -1 when kubectl did not exit by itself
	// (it timed out and was killed).
	code int
}

func (r result) String() string {
	return fmt.Sprintf("kubectl %s\nexit code: %d\n--- stdout\n%s--- stderr\n%s",
		strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// call holds the optional parts of a kubectl invocation.
type call struct {
	stdin string
	env   []string // extra KEY=VALUE pairs
}

// run runs kubectl with args and returns what it did; it never fails the
// test by itself.
func (c *cluster) run(t testing.TB, args ...string) result {
	t.Helper()
	return c.runWith(t, call{}, args...)
}

// runWith is run with stdin and extra environment.
func (c *cluster) runWith(t testing.TB, opt call, args ...string) result {
	t.Helper()
	return runTool(t, kubectlBin, append(append([]string(nil), c.env...), opt.env...), opt.stdin, callTimeout, args...)
}

// runTool runs the client bin with env and stdin, killed after timeout,
// and returns what it did; only a failure to start it fails the test.
func runTool(t testing.TB, bin string, env []string, stdin string, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		r.code = -1
		r.stderr += fmt.Sprintf("\n(killed after %s)\n", timeout)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("running %s: %v", filepath.Base(bin), err)
	}
	return r
}

// must runs kubectl and fails the test unless it exits 0; it returns
// stdout.
func (c *cluster) must(t testing.TB, args ...string) string {
	t.Helper()
	return c.mustWith(t, call{}, args...)
}

// mustWith is must with stdin and extra environment.
func (c *cluster) mustWith(t testing.TB, opt call, args ...string) string {
	t.Helper()
	r := c.runWith(t, opt, args...)
	if r.code != 0 {
		t.Fatalf("want exit code 0:\n%s", r)
	}
	return r.stdout
}

// getJSON runs `kubectl get ARGS -o json` and decodes the object into v.
func (c *cluster) getJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	out := c.must(t, append(append([]string{"get"}, args...), "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("decoding kubectl get %s -o json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// table is one table that kubectl printed: a header and rows of cells.
// kubectl separates cells with runs of spaces and no cell that the tests
// read holds a space, so strings.Fields splits a line into its cells.
type table struct {
	header []string
	rows   [][]string
}

// parseTables splits kubectl's human-readable output into its tables:
// `get all` prints one per resource, separated by blank lines.
func parseTables(out string) []table {
	var tables []table
	var cur *table
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			cur = nil
		case cur == nil:
			tables = append(tables, table{header: f})
			cur = &tables[len(tables)-1]
		default:
			cur.rows = append(cur.rows, f)
		}
	}
	return tables
}

// parseTable is parseTables for output that holds a single table.
func parseTable(t testing.TB, out string) table {
	t.Helper()
	ts := parseTables(out)
	if len(ts) != 1 {
		t.Fatalf("want one table, got %d:\n%s", len(ts), out)
	}
	return ts[0]
}

// row returns the row whose first cell is name, as a map from column name
// to cell, or nil. Cells past the header's columns are dropped; a header
// cell with a space in it (none of the tables here has one) would shift
// the columns after it.
func (tb table) row(name string) map[string]string {
	for _, r := range tb.rows {
		if len(r) > 0 && r[0] == name {
			m := make(map[string]string, len(tb.header))
			for i, h := range tb.header {
				if i < len(r) {
					m[h] = r[i]
				}
			}
			return m
		}
	}
	return nil
}

// names returns the first cell of every row.
func (tb table) names() []string {
	var out []string
	for _, r := range tb.rows {
		out = append(out, r[0])
	}
	return out
}

// wantContains fails t unless s contains every one of subs.
func wantContains(t testing.TB, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s: want %q in:\n%s", what, sub, s)
		}
	}
}

package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/app"
	"cella.dev/cella/internal/bench"
	"cella.dev/cella/internal/servertest"
)

// tinyConfig runs every operation briefly, small enough for a laptop test.
func tinyConfig() *bench.Config {
	cfg := bench.NewConfig()
	cfg.Concurrency = 2
	cfg.Duration = 200 * time.Millisecond
	cfg.PoolSize = 10
	cfg.ListSize = 20
	cfg.Watchers = 2
	cfg.WatchRate = 50
	return cfg
}

func TestRunAgainstCella(t *testing.T) {
	srv := servertest.Start(t)
	// Through the kubeconfig, as `cella bench` does.
	rc, err := bench.RestConfigFromKubeconfig(srv.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cfg := tinyConfig()
	cfg.Namespace = "bench-e2e"
	rep, err := bench.Run(ctx, cfg, rc, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}

	if rep.Protocol != "HTTP/2.0" {
		t.Errorf("Protocol = %q, want HTTP/2.0 (TLS offers h2 by default)", rep.Protocol)
	}
	var ops []string
	for _, res := range rep.Results {
		ops = append(ops, res.Op)
		l := res.Latency
		switch {
		case res.Errors != 0 || res.FirstError != "":
			t.Errorf("%s: %d errors, first %q", res.Op, res.Errors, res.FirstError)
		case l.Count == 0 || res.PerSecond <= 0:
			t.Errorf("%s: count %d, %.1f/s; want some", res.Op, l.Count, res.PerSecond)
		case !(0 < l.P50 && l.P50 <= l.P99 && l.P99 <= l.Max && l.Max < 10*time.Second):
			t.Errorf("%s: latencies p50 %v p99 %v max %v are not ordered or not plausible", res.Op, l.P50, l.P99, l.Max)
		case res.Op != bench.OpWatch && res.Elapsed < cfg.Duration: // watch's last create is one interval short of it
			t.Errorf("%s: ran %v, less than --duration %v", res.Op, res.Elapsed, cfg.Duration)
		}
	}
	if got, want := strings.Join(ops, ","), strings.Join(bench.Ops(), ","); got != want {
		t.Errorf("results for %s, want %s", got, want)
	}
	for _, res := range rep.Results {
		if res.Op == bench.OpWatch && res.Latency.Count%cfg.Watchers != 0 {
			t.Errorf("watch: %d deliveries, not a multiple of %d watchers (%s)", res.Latency.Count, cfg.Watchers, res.Notes)
		}
	}

	// The namespace is gone, or going.
	ns, err := srv.Clientset().CoreV1().Namespaces().Get(ctx, cfg.Namespace, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Errorf("namespace %s still there and not being deleted", cfg.Namespace)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("getting namespace: %v", err)
	}

	var table, js bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, op := range bench.Ops() {
		if !strings.Contains(table.String(), "\n"+op+" ") {
			t.Errorf("table has no row for %s:\n%s", op, table.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back bench.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Results) != len(rep.Results) {
		t.Errorf("JSON does not round-trip (%v):\n%s", err, js.String())
	}
	t.Logf("\n%s", table.String())
}

func TestRunHTTP1AndRSS(t *testing.T) {
	srv := servertest.Start(t)
	ctx := t.Context()

	cfg := tinyConfig()
	cfg.Ops = []string{bench.OpGet}
	cfg.HTTP1 = true
	rep, err := bench.Run(ctx, cfg, srv.RestConfig(), nil)
	if err != nil {
		t.Fatalf("Run --http1: %v", err)
	}
	if rep.Protocol != "HTTP/1.1" {
		t.Errorf("Protocol = %q with HTTP1, want HTTP/1.1", rep.Protocol)
	}
	if len(rep.Results) != 1 || rep.Results[0].Latency.Count == 0 || rep.Failed() != 0 {
		t.Errorf("get over HTTP/1.1: %+v", rep.Results)
	}

	cfg = tinyConfig()
	cfg.RSSObjects = 30
	cfg.Namespace = "bench-rss"
	rep, err = bench.Run(ctx, cfg, srv.RestConfig(), nil)
	if err != nil {
		t.Fatalf("Run --rss-objects: %v", err)
	}
	if !rep.Kept || len(rep.Results) != 1 || rep.Results[0].Latency.Count != 30 {
		t.Errorf("rss run: kept %v, results %+v", rep.Kept, rep.Results)
	}
	// The bench's own, beside the namespace's kube-root-ca.crt.
	list, err := srv.Clientset().CoreV1().ConfigMaps(cfg.Namespace).List(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name!=kube-root-ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 30 {
		t.Errorf("namespace %s holds %d ConfigMaps after --rss-objects 30, want 30 left in place", cfg.Namespace, len(list.Items))
	}
}

// TestPodsAgainstSim: the pods operation starts its pods on a server that
// runs them (the sim runtime), times each to Running, and splits the
// latency at the moment the watch shows the pod bound.
func TestPodsAgainstSim(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Runtime = "sim" })
	rc, err := bench.RestConfigFromKubeconfig(srv.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.Ops = []string{bench.OpPods}
	cfg.Pods = 10
	cfg.Namespace = "bench-pods"
	rep, err := bench.Run(t.Context(), cfg, rc, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want the pods operation's", len(rep.Results))
	}
	res := rep.Results[0]
	if res.Errors != 0 || res.Latency.Count != cfg.Pods {
		t.Fatalf("pods: %d errors (first %q), %d timed; want %d Running", res.Errors, res.FirstError, res.Latency.Count, cfg.Pods)
	}
	for _, want := range []string{"create to bound p50 ", "bound to Running p50 "} {
		if !strings.Contains(res.Notes, want) {
			t.Errorf("notes %q do not give %q", res.Notes, want)
		}
	}
}

// TestPodsPaced: with PodsRate the pods operation creates its pods no
// faster than that, so the last one starts no sooner than (n-1)/rate
// after the first.
func TestPodsPaced(t *testing.T) {
	srv := servertest.Start(t, func(c *app.Config) { c.Runtime = "sim" })
	rc, err := bench.RestConfigFromKubeconfig(srv.Kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := tinyConfig()
	cfg.Ops = []string{bench.OpPods}
	cfg.Pods = 6
	cfg.PodsRate = 20
	cfg.Namespace = "bench-paced"
	rep, err := bench.Run(t.Context(), cfg, rc, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	res := rep.Results[0]
	if res.Errors != 0 || res.Latency.Count != cfg.Pods {
		t.Fatalf("pods: %d errors (first %q), %d timed; want %d Running", res.Errors, res.FirstError, res.Latency.Count, cfg.Pods)
	}
	if least := 250 * time.Millisecond; res.Elapsed < least {
		t.Errorf("the run took %v; 6 pods at 20/s cannot all run before %v", res.Elapsed, least)
	}
	if !strings.Contains(res.Notes, "created at 20/s") {
		t.Errorf("notes %q do not give the rate", res.Notes)
	}
	cfg.PodsRate = -1
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "--pods-rate") {
		t.Errorf("Validate with a negative rate: %v", err)
	}
}

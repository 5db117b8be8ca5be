package app

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"cella.dev/cella/internal/bench"
)

// addBench adds `cella bench`, which load-tests any Kubernetes-style API
// server; the work is done by package bench.
func addBench(root *cobra.Command, stdout, stderr io.Writer) {
	root.AddCommand(newBenchCommand(stdout, stderr))
}

// benchFlags are the flags of `cella bench` that are not bench.Config's:
// where the server is and how to print.
type benchFlags struct {
	kubeconfig  string
	kubeContext string
	json        bool
}

func newBenchCommand(stdout, stderr io.Writer) *cobra.Command {
	cfg := bench.NewConfig()
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the throughput and latency of a Kubernetes-style API server",
		Long: `Measure a Kubernetes-style API server (Cella or Kubernetes) with client-go.

bench creates a namespace, runs each operation for --duration (or
--requests) with --concurrency workers sending requests back to back, and
deletes the namespace. It prints req/s and p50/p99/max latency per
operation, and the CPU, cores and Go version of this machine.

  create  create ConfigMaps with an --object-bytes payload
  get     get random ConfigMaps of a pool of --pool-size
  list    list all of a namespace of --list-size ConfigMaps (no limit)
  update  update pool ConfigMaps, each worker its own (409s are counted)
  watch   open --watchers watches, create ConfigMaps at --watch-rate/s,
          and time create-to-ADDED for every watcher

The operations run in the order list, get, update, create, watch, so that
list sees exactly --list-size objects.

Requests are not rate-limited on the client, and share one connection pool.
Over TLS bench offers HTTP/2, as client-go does, so all requests and
watches are streams on one connection; --http1 (or DISABLE_HTTP2 in the
environment, as client-go honours it) makes each concurrent request and
each watch use a connection of its own.

Point it at loopback or a test cluster: it creates thousands of objects.`,
		Example: `  # Benchmark the server of the current kubeconfig context
  cella bench

  # A short run of two operations over HTTP/1.1, as JSON
  cella bench --ops get,list --duration 3s --http1 --json

  # Leave 100000 ConfigMaps in a namespace, then measure the server's RSS
  cella bench --rss-objects 100000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("http1") && os.Getenv("DISABLE_HTTP2") != "" {
				cfg.HTTP1 = true
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			rc, err := bench.RestConfigFromKubeconfig(f.kubeconfig, f.kubeContext)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			rep, err := bench.Run(ctx, cfg, rc, newLogger(stderr, "info"))
			if rep != nil && (len(rep.Results) > 0 || err == nil) {
				write := rep.WriteTable
				if f.json {
					write = rep.WriteJSON
				}
				if werr := write(stdout); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if n := rep.Failed(); n > 0 {
				return fmt.Errorf("%d requests failed", n)
			}
			return nil
		},
	}
	addBenchFlags(cmd.Flags(), cfg, &f)
	return cmd
}

func addBenchFlags(fs *pflag.FlagSet, c *bench.Config, f *benchFlags) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Kubeconfig of the server to measure (default $KUBECONFIG, else ~/.kube/config).")
	fs.StringVar(&f.kubeContext, "context", "", "Kubeconfig context to use (default the current context).")
	fs.BoolVar(&f.json, "json", false, "Print the report as JSON (durations in nanoseconds).")
	fs.StringSliceVar(&c.Ops, "ops", c.Ops, "Operations to run: "+strings.Join(bench.AllOps(), ", ")+" (pods needs a server that runs pods).")
	fs.IntVar(&c.Pods, "pods", c.Pods, "Pods the pods operation starts.")
	fs.StringSliceVar(&c.PodCommand, "pod-command", c.PodCommand, "Command the pods of the pods operation run.")
	fs.BoolVar(&c.PodsUnsized, "pods-unsized", c.PodsUnsized, "Give the pods of the pods operation no resources (BestEffort; needs a server with --profile kubernetes).")
	fs.Float64Var(&c.PodsRate, "pods-rate", c.PodsRate, "Pods per second the pods operation creates, to measure start latency below the server's capacity (0 = as fast as the workers go).")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "Concurrent workers per operation.")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "How long each operation runs (for watch: how long it creates objects).")
	fs.IntVar(&c.Requests, "requests", c.Requests, "Most requests per operation (for watch: creates); 0 = no cap.")
	fs.StringVar(&c.Namespace, "namespace", c.Namespace, "Namespace to create, use and delete; it must not exist (default cella-bench-<random>).")
	fs.IntVar(&c.ObjectBytes, "object-bytes", c.ObjectBytes, "Payload bytes of each ConfigMap.")
	fs.IntVar(&c.PoolSize, "pool-size", c.PoolSize, "ConfigMaps that get and update work on.")
	fs.IntVar(&c.ListSize, "list-size", c.ListSize, "ConfigMaps in the namespace that list lists.")
	fs.IntVar(&c.Watchers, "watchers", c.Watchers, "Watches the watch operation opens.")
	fs.Float64Var(&c.WatchRate, "watch-rate", c.WatchRate, "ConfigMaps per second the watch operation creates.")
	fs.BoolVar(&c.HTTP1, "http1", c.HTTP1, "Offer HTTP/1.1 only; by default TLS connections offer HTTP/2 first.")
	fs.IntVar(&c.RSSObjects, "rss-objects", c.RSSObjects, "Instead of the operations, create this many ConfigMaps, leave them and the namespace in place, and stop.")
}

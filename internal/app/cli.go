// Package app is Cella's command line: the cobra commands, the flags that
// fill Config, and the wiring that starts storage, the API and the listener
// in order and stops them in reverse.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"cella.dev/cella/internal/podruntime/process"
)

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == shimCommand {
		// Not a user's command: the process runtime re-executes cella as
		// the supervisor of each container (process.ShimMain).
		return process.ShimMain(args[1:])
	}
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

// shimCommand is the hidden first argument that makes cella a container's
// shim.
const shimCommand = "runtime-shim"

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "cella",
		Short: "cella serves the Kubernetes-native CCI API on your own machine",
		Long: `cella is a self-hosted Cloud Container Instance (CCI) service.

It serves the Kubernetes-native CCI API (namespaces, pods, services, config
maps, secrets, deployments, jobs, ingresses, networks, RBAC, ...) so that
kubectl and client-go work against it unchanged, and keeps its objects in an
embedded store in one data directory.

Find more information in the README.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCommand(stdout, stderr))
	// bench: see bench.go
	addBench(root, stdout, stderr)
	return root
}

func newServeCommand(stdout, stderr io.Writer) *cobra.Command {
	cfg := NewConfig()
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API on the embedded store",
		Long: `Serve the CCI API.

On first start cella creates the data directory with its store, a
self-signed CA, an admin token (user admin, group system:masters) and a
kubeconfig, and prints the line that points kubectl at it. A restart on the
same data directory keeps every object, the CA and the token.

One cella at a time may use a data directory: a second one exits at once,
naming the first one's PID. Once the store holds objects, cella refuses to
start if it is missing or empty rather than start an empty cluster in its
place; the error says how to start fresh on purpose.

On SIGTERM or SIGINT cella drains: /readyz and every new request answer
503 with Retry-After (/healthz and /livez stay 200), watches end cleanly,
running requests finish, then the listener and storage close and cella
exits 0, all within --shutdown-grace-period. A second signal ends it at
once.`,
		Example: `  # Serve on https://127.0.0.1:6443 with data in ./cella-data
  cella serve

  # Serve plain HTTP on another port, with Kubernetes' rules only
  cella serve --tls=false --listen 127.0.0.1:8080 --profile kubernetes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(stderr, cfg.LogLevel)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			start := time.Now()
			srv, err := Start(ctx, cfg, log)
			if err != nil {
				return err
			}
			log.Info("serving", "url", srv.URL, "dataDir", cfg.DataDir, "startup", time.Since(start).Round(time.Microsecond))
			fmt.Fprintf(stdout, "Cella is serving on %s\nexport KUBECONFIG=%s\n", srv.URL, absPath(srv.Kubeconfig))
			select {
			case <-ctx.Done():
			case err := <-srv.Done():
				return err
			}
			signalled := time.Now()
			// A second signal ends the process at once, the default action.
			stop()
			log.Info("shutting down", "gracePeriod", cfg.ShutdownGracePeriod, "delay", cfg.ShutdownDelay)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGracePeriod)
			defer cancel()
			if err := srv.Close(sctx); err != nil {
				return err
			}
			log.Info("stopped", "shutdown", time.Since(signalled).Round(time.Millisecond))
			return nil
		},
	}
	cfg.AddFlags(cmd.Flags())
	return cmd
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// Command helm is the stock Helm 4 client, built from helm.sh/helm/v4 at the
// version the Cella e2e suite is written against, so the tests exercise the
// server with the same client a user runs. It does what Helm's own
// cmd/helm main does and nothing more.
package main

import (
	"errors"
	"log/slog"
	"os"

	helmcmd "helm.sh/helm/v4/pkg/cmd"
	"helm.sh/helm/v4/pkg/kube"
)

func main() {
	// The field manager Helm's server-side applies name, fixed here as
	// Helm's own main fixes it, rather than derived from the binary's name.
	kube.ManagedFieldsManager = "helm"

	cmd, err := helmcmd.NewRootCmd(os.Stdout, os.Args[1:], helmcmd.SetupLogging)
	if err != nil {
		slog.Warn("command failed", slog.Any("error", err))
		os.Exit(1)
	}
	if err := cmd.Execute(); err != nil {
		var cerr helmcmd.CommandError
		if errors.As(err, &cerr) {
			os.Exit(cerr.ExitCode)
		}
		os.Exit(1)
	}
}

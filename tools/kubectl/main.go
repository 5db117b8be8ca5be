// Command kubectl is the stock kubectl, built from k8s.io/kubectl at the
// version the Cella e2e suite is written against, so the tests exercise the
// server with the same client a user runs.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}

// Command cella is a self-hosted Cloud Container Instance service: one
// binary that serves the Kubernetes-native CCI API.
package main

import (
	"os"

	"cella.dev/cella/internal/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

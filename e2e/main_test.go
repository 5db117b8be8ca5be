//go:build e2e

// Package e2e drives a real Cella server with a stock kubectl, the way a
// user does after the quick start: every test starts its own server on a
// loopback port, runs the kubectl binary against the kubeconfig the server
// wrote, and asserts on what kubectl prints and on its exit code.
//
// The kubectl is built from tools/kubectl (k8s.io/kubectl at a pinned
// version) by scripts/build-kubectl.sh, or taken from $KUBECTL. Run with
//
//	go test -tags e2e ./e2e/ -count=1 -v
//
// kubectl is the reference: when a test and the server disagree about what
// kubectl should see, the server is wrong.
package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cella.dev/cella/internal/podruntime/process"
)

// kubectlBin is the absolute path of the kubectl binary, set by TestMain
// before any test runs and read-only after.
var kubectlBin string

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "runtime-shim" {
		// The process runtime of a test server re-executes this binary as
		// a container's shim, as it re-executes cella in production.
		os.Exit(process.ShimMain(os.Args[2:]))
	}
	bin, err := findKubectl()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	kubectlBin = bin
	os.Exit(m.Run())
}

// findKubectl returns $KUBECTL when set, and otherwise builds the pinned
// kubectl with scripts/build-kubectl.sh, which prints the binary's path as
// its last line.
func findKubectl() (string, error) {
	if p := os.Getenv("KUBECTL"); p != "" {
		return exec.LookPath(p)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "build-kubectl.sh"))
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building kubectl: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	bin := lines[len(lines)-1]
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("build-kubectl.sh printed %q: %v", bin, err)
	}
	return bin, nil
}

//go:build !linux

package process

import (
	"errors"
	"net/netip"
	"os/exec"

	"cella.dev/cella/internal/podruntime"
)

// Isolation needs Linux; elsewhere the process runtime does not run at
// all (supported is false), and these are never reached.

var errNoIsolation = errors.New("pods are isolated only on Linux")

type isolatedLauncher struct{}

func newIsolatedLauncher(NetworkConfig) (*isolatedLauncher, error) { return nil, errNoIsolation }

func (*isolatedLauncher) info() podruntime.Info { return podruntime.Info{} }

type networkState struct{ dir string }

type box struct{}

func (*box) finish(int) bool { return false }

const initArg = "--init"

func initMain(string) int { return 1 }

func startIsolated(string, *shimSpec, *containerIO) (*exec.Cmd, *box, error) {
	return nil, nil, errNoIsolation
}

func (*isolation) adopt(string, string, networkState) error { return errNoIsolation }
func (*isolation) remove(string, networkState) error        { return nil }
func (*isolation) prepare(string, []string, string, podruntime.Container, *attempt, *shimSpec) error {
	return errNoIsolation
}

func removeLeftovers(string) error { return nil }

func ownStateMount(string) (string, error) { return "", errNoIsolation }

func releaseStateMount(string) {}

func startIn(*exec.Cmd, procID, *shimSpec) error { return errNoIsolation }

func lookPathIn(_, name string, env []string) (string, error) { return lookPath(name, env) }

func (*isolatedLauncher) create(podruntime.Pod, string, *sandboxFile, func(netip.Addr) bool) error {
	return errNoIsolation
}

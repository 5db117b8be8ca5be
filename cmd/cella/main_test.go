package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestReleaseBinaryLinksNoTestSeams: the packages that let tests break
// storage or make a request panic (storagetest.Faulty, installed by
// servertest through app.Config.WrapStorage) are not part of the cella
// binary, so nothing a client sends can reach them.
func TestReleaseBinaryLinksNoTestSeams(t *testing.T) {
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(gotool, "list", "-deps", "cella.dev/cella/cmd/cella").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch pkg {
		case "cella.dev/cella/internal/storage/storagetest", "cella.dev/cella/internal/servertest", "testing":
			t.Errorf("the cella binary links %s", pkg)
		}
	}
}

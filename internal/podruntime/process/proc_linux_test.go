package process

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A process's start time is read past a command name holding spaces and
// parentheses; the identity tells a live process from a zombie, and a
// process from another with its PID.
func TestProcIdentity(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep")
	}
	odd := filepath.Join(t.TempDir(), "a) (b c")
	if err := os.Symlink(sleep, odd); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(odd, "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := idOf(cmd.Process.Pid)
	if err != nil || id.Start == 0 {
		t.Fatalf("idOf = %+v, %v", id, err)
	}
	if !live(id) {
		t.Errorf("a running process is not live")
	}
	if live(procID{PID: id.PID, Start: id.Start + 1}) {
		t.Errorf("another start time is live")
	}
	self, err := selfID()
	if err != nil || !live(self) || self.Start > id.Start {
		t.Errorf("selfID = %+v, %v", self, err)
	}
	cmd.Process.Kill()
	// Until it is reaped, the child is a zombie: not live.
	waitUntil(t, func() bool { return !live(id) })
	cmd.Wait()
	if live(id) {
		t.Errorf("a reaped process is live")
	}
}

// Without a pidfd, an exit is found by polling /proc; a zombie child is
// reaped.
func TestPollExit(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 0.2")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	id, err := idOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Process.Release()
	if err := pollExit(context.Background(), id, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(id.PID)); err == nil {
		t.Errorf("the child was not reaped")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	self, _ := selfID()
	if err := pollExit(ctx, self, time.Millisecond); err != context.Canceled {
		t.Errorf("pollExit with an ended context = %v", err)
	}
	if err := waitExit(ctx, self, time.Millisecond); err != context.Canceled {
		t.Errorf("waitExit with an ended context = %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

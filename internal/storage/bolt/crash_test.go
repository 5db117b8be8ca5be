package bolt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv, when set to a file path, turns TestCrashChild into the child
// process of TestCrashDurability.
const crashChildEnv = "CELLA_BOLT_CRASH_CHILD"

// Bounds of the crash test. The parent kills the child once it has read
// crashKillAfterAcks acknowledgements or crashKillAfter has passed; the child
// stops by itself after crashChildMaxWrites or crashChildMaxTime, so that it
// never outlives a parent that died.
const (
	crashWriters        = 8
	crashKillAfterAcks  = 3000
	crashKillAfter      = 5 * time.Second
	crashChildMaxWrites = 200000
	crashChildMaxTime   = 60 * time.Second
)

// TestCrashDurability checks that every write acknowledged before a SIGKILL
// is in the file after reopening it: Create returns only after the commit
// that holds the write is durable.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	type ack struct {
		key string
		rev int64
	}
	acks := make(chan ack, 1024)
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(acks)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line cut off by the kill has no newline and was
				// never a complete acknowledgement.
				if err != io.EOF {
					readErr = err
				}
				return
			}
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "ack" {
				continue // test framework output
			}
			rev, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				readErr = fmt.Errorf("bad ack line %q", line)
				return
			}
			acks <- ack{f[1], rev}
		}
	})

	var got []ack
	killed := false
	kill := func() {
		if !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Errorf("kill child: %v", err)
			}
			killed = true
		}
	}
	deadline := time.After(crashKillAfter)
read:
	for {
		select {
		case a, ok := <-acks:
			if !ok {
				break read
			}
			got = append(got, a)
			if len(got) >= crashKillAfterAcks {
				kill()
			}
		case <-deadline:
			kill()
		}
	}
	wg.Wait()
	waitErr := cmd.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if !killed {
		t.Fatalf("child exited before it was killed (%v) after %d acks", waitErr, len(got))
	}
	if len(got) < 100 {
		t.Fatalf("only %d acknowledged writes before the kill; the test proves little", len(got))
	}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	var maxRev int64
	for _, a := range got {
		kv, err := s.Get(ctx, a.key)
		if err != nil {
			t.Fatalf("acknowledged %s at %d is lost: %v", a.key, a.rev, err)
		}
		if string(kv.Value) != crashValue(a.key) || kv.ModRevision != a.rev {
			t.Fatalf("acknowledged %s at %d reads back as %q at %d", a.key, a.rev, kv.Value, kv.ModRevision)
		}
		maxRev = max(maxRev, a.rev)
	}
	rev, _ := s.CurrentRevision(ctx)
	if rev < maxRev {
		t.Errorf("CurrentRevision %d is below an acknowledged revision %d", rev, maxRev)
	}
	if kv, err := s.Create(ctx, "/crash/after", nil); err != nil || kv.ModRevision != rev+1 {
		t.Errorf("Create after reopen = %+v, %v; want revision %d", kv, err, rev+1)
	}
	t.Logf("%d acknowledged writes survived SIGKILL; the file holds revision %d", len(got), rev)
}

func crashValue(key string) string { return "value of " + key }

// TestCrashChild is the child of TestCrashDurability: several goroutines
// create keys and print "ack <key> <revision>" for each acknowledged write,
// until the parent kills the process.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("runs only as the child of TestCrashDurability")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), crashChildMaxTime)
	defer cancel()
	var mu sync.Mutex // one write per line, lines never interleave
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Go(func() {
			for i := range crashChildMaxWrites / crashWriters {
				key := fmt.Sprintf("/crash/%d/%06d", g, i)
				kv, err := s.Create(ctx, key, []byte(crashValue(key)))
				if err != nil {
					return
				}
				mu.Lock()
				_, err = fmt.Fprintf(os.Stdout, "ack %s %d\n", key, kv.ModRevision)
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

package app_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"cella.dev/cella/internal/app"
)

// childEnv switches the test binary into running `cella serve`.
const childEnv = "CELLA_TEST_CHILD_SERVE"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		os.Exit(app.Main(strings.Fields(args), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startChild runs `cella serve` in a child process on dir and returns a
// clientset for it and the process.
func startChild(t *testing.T, dir string) (kubernetes.Interface, *exec.Cmd) {
	t.Helper()
	cfg, cmd := startChildConfig(t, dir)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, cmd
}

// startChildConfig runs `cella serve` with the extra flags in a child
// process on dir and returns a client-go config for it (from the
// kubeconfig it wrote) and the process.
func startChildConfig(t *testing.T, dir string, extra ...string) (*rest.Config, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	args := append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--log-level", "error", "--runtime", "none"}, extra...)
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("child exited before serving")
			}
			if strings.HasPrefix(line, "export KUBECONFIG=") {
				cfg, err := clientcmd.BuildConfigFromFlags("", strings.TrimPrefix(line, "export KUBECONFIG="))
				if err != nil {
					t.Fatal(err)
				}
				cfg.QPS = -1
				return cfg, cmd
			}
		case <-deadline:
			t.Fatal("child did not start serving in 30s")
		}
	}
}

// TestAcknowledgedWritesSurviveSIGKILL kills a serving child with SIGKILL in
// the middle of a concurrent create load, restarts it on the same data
// directory, and checks that every create that was acknowledged is there.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child servers")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cs, child := startChild(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 2000 && ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": name},
				}, metav1.CreateOptions{})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		}(w)
	}
	// Kill once a good number of writes were acknowledged.
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}

	cs2, _ := startChild(t, dir)
	list, err := cs2.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	have := map[string]string{}
	for _, cm := range list.Items {
		have[cm.Name] = cm.Data["i"]
	}
	var lost []string
	for _, name := range acked {
		if have[name] != name {
			lost = append(lost, name)
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged creates lost after SIGKILL, e.g. %v", len(lost), len(acked), lost[:min(5, len(lost))])
	}
	t.Logf("%d acknowledged creates, all present after SIGKILL and restart (%d stored)", len(acked), len(list.Items))
}

// Bounds of the mixed-load SIGKILL test: the child is killed once
// mixedKillAfterAcks writes were acknowledged, or after mixedLoadCap if it
// is slower than that.
const (
	mixedWorkers       = 6
	mixedKillAfterAcks = 800
	mixedLoadCap       = 15 * time.Second
)

// The life of one object of the mixed load: created with version 0,
// updated to 1 and 2, and every other object then deleted. A step is the
// version written, or stepDeleted; stepNone means nothing yet.
const (
	stepNone     = -1
	stepLast     = 2
	stepDeleted  = 3
	mixedObjects = "mixed-"
)

// mixedObject is what a worker knows of one of its objects: the last step
// the server acknowledged and the last one it sent (which may or may not
// have been applied when the kill cut it off).
type mixedObject struct {
	name           string
	acked, tried   int
	deleteWhenDone bool
}

// TestMixedWritesSurviveSIGKILL kills a serving child with SIGKILL under
// concurrent creates, updates and deletes, restarts it on the same data
// directory, and checks every acknowledged write: an acknowledged create or
// update is there with at least the acknowledged version, an acknowledged
// delete is gone. A write in flight at the kill may or may not be there,
// and nothing is there that no one wrote.
func TestMixedWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child servers")
	}
	dir := filepath.Join(t.TempDir(), "data")
	cs, child := startChild(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	acks := make(chan int, 1024) // the step of each acknowledged write
	objects := make([][]*mixedObject, mixedWorkers)
	var wg sync.WaitGroup
	for w := range mixedWorkers {
		wg.Go(func() {
			cms := cs.CoreV1().ConfigMaps("default")
			for i := 0; ctx.Err() == nil; i++ {
				o := &mixedObject{name: fmt.Sprintf("%s%d-%d", mixedObjects, w, i), acked: stepNone, tried: stepNone, deleteWhenDone: i%2 == 0}
				objects[w] = append(objects[w], o)
				o.tried = 0
				cm, err := cms.Create(ctx, &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: o.name}, Data: map[string]string{"v": "0"},
				}, metav1.CreateOptions{})
				if err != nil {
					return // the server is gone
				}
				o.acked = 0
				acks <- 0
				for v := 1; v <= stepLast; v++ {
					cm.Data["v"] = fmt.Sprint(v)
					o.tried = v
					if cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
						return
					}
					o.acked = v
					acks <- v
				}
				if o.deleteWhenDone {
					o.tried = stepDeleted
					if err := cms.Delete(ctx, o.name, metav1.DeleteOptions{}); err != nil {
						return
					}
					o.acked = stepDeleted
					acks <- stepDeleted
				}
			}
		})
	}
	var counts [stepDeleted + 1]int
	total := 0
	capped := time.After(mixedLoadCap)
load:
	for total < mixedKillAfterAcks {
		select {
		case step := <-acks:
			counts[step]++
			total++
		case <-capped:
			break load
		}
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	cancel()
	go func() { wg.Wait(); close(acks) }()
	for step := range acks {
		counts[step]++
	}
	if counts[0] == 0 || counts[1]+counts[2] == 0 || counts[stepDeleted] == 0 {
		t.Fatalf("acknowledged before the kill: %d creates, %d updates, %d deletes; the test needs some of each", counts[0], counts[1]+counts[2], counts[stepDeleted])
	}

	cs2, _ := startChild(t, dir)
	list, err := cs2.CoreV1().ConfigMaps("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list after restart: %v", err)
	}
	stored := map[string]int{}
	for _, cm := range list.Items {
		if !strings.HasPrefix(cm.Name, mixedObjects) {
			continue
		}
		v, err := strconv.Atoi(cm.Data["v"])
		if err != nil {
			t.Fatalf("%s holds %q", cm.Name, cm.Data)
		}
		stored[cm.Name] = v
	}
	var wrong []string
	for _, objs := range objects {
		for _, o := range objs {
			v, present := stored[o.name]
			delete(stored, o.name)
			var ok bool
			switch {
			case o.acked == stepDeleted:
				ok = !present
			case !present:
				// Only a create or a delete in flight may leave it absent.
				ok = o.acked == stepNone || o.tried == stepDeleted
			default:
				ok = v >= max(o.acked, 0) && v <= min(o.tried, stepLast)
			}
			if !ok {
				wrong = append(wrong, fmt.Sprintf("%s: acknowledged step %d, sent step %d, stored version %d (present %v)", o.name, o.acked, o.tried, v, present))
			}
		}
	}
	for name := range stored {
		wrong = append(wrong, name+": stored, but never written")
	}
	if len(wrong) > 0 {
		t.Fatalf("%d objects do not match the acknowledged writes after SIGKILL, e.g.\n%s", len(wrong), strings.Join(wrong[:min(10, len(wrong))], "\n"))
	}
	t.Logf("acknowledged before SIGKILL: %d creates, %d updates, %d deletes; all reflected after restart", counts[0], counts[1]+counts[2], counts[stepDeleted])
}

package node_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// TestEventsOfABurst starts a thousand pods at once on the sim runtime
// and finds each pod's Scheduled (the scheduler's), Created and Started
// (the agent's) events. A single client-go record broadcaster, writing
// one event at a time behind a queue of about 2,000, dropped most of the
// agent's here (internal/controller/recorder).
func TestEventsOfABurst(t *testing.T) {
	_, cs := startSim(t)
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := simPod(fmt.Sprintf("burst-%d", i), nil, corev1.RestartPolicyAlways)
			if _, err := cs.CoreV1().Pods("default").Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	want := []string{"Scheduled", "Created", "Started"}
	var missing []string
	// Generous: under -race on a busy machine the writes take a while;
	// nothing here measures speed.
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen := map[string]map[string]bool{}
		for _, e := range l.Items {
			if e.InvolvedObject.Kind != "Pod" {
				continue
			}
			if seen[e.InvolvedObject.Name] == nil {
				seen[e.InvolvedObject.Name] = map[string]bool{}
			}
			seen[e.InvolvedObject.Name][e.Reason] = true
		}
		missing = missing[:0]
		for i := range n {
			name := fmt.Sprintf("burst-%d", i)
			for _, r := range want {
				if !seen[name][r] {
					missing = append(missing, name+" "+r)
				}
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		lost := len(missing)
		if lost > 5 {
			missing = append(missing[:5], "...")
		}
		t.Fatalf("%v: %d of %d events missing: %v", err, lost, 3*n, missing)
	}
}

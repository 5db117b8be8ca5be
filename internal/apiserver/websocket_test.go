package apiserver

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestNegotiateSubprotocol(t *testing.T) {
	watch := []string{"", "binary.k8s.io", "base64.binary.k8s.io"}
	exec := []string{"v5.channel.k8s.io", "v4.channel.k8s.io", "base64.channel.k8s.io"}
	for _, tc := range []struct {
		name      string
		offered   []string
		supported []string
		chosen    string
		ok        bool
	}{
		{"none offered, none needed", nil, watch, "", true},
		{"none offered, one needed", nil, exec, "", false},
		{"the client's order wins", []string{"base64.binary.k8s.io", "binary.k8s.io"}, watch, "base64.binary.k8s.io", true},
		{"unknown offers are skipped", []string{"base64url.bearer.authorization.k8s.io.dG9r", "v4.channel.k8s.io"}, exec, "v4.channel.k8s.io", true},
		{"nothing shared", []string{"v5.channel.k8s.io"}, watch, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chosen, ok := negotiateSubprotocol(tc.offered, tc.supported)
			if chosen != tc.chosen || ok != tc.ok {
				t.Fatalf("got %q %v, want %q %v", chosen, ok, tc.chosen, tc.ok)
			}
		})
	}
}

// TestStreamTrackerWaitsForStreams: wait returns only when every stream
// is done, or when its context ends, and refuses new streams from the
// moment it is called.
func TestStreamTrackerWaitsForStreams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tr streamTracker
		if !tr.add() || !tr.add() {
			t.Fatal("add refused before wait")
		}
		waited := make(chan error, 1)
		go func() { waited <- tr.wait(context.Background()) }()
		synctest.Wait()
		if tr.add() {
			t.Fatal("add accepted after wait")
		}
		tr.done()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("wait returned with a stream still open")
		default:
		}
		tr.done()
		if err := <-waited; err != nil {
			t.Fatalf("wait: %v", err)
		}

		var stuck streamTracker
		stuck.add()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := stuck.wait(ctx); err != context.DeadlineExceeded {
			t.Fatalf("wait on a stuck stream: %v, want the context's deadline", err)
		}
	})
}

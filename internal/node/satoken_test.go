package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// TestProjectedTokenRefresh: a projected token is replaced once 80% of its
// lifetime has passed, bound to the pod each time, and no longer once the
// pod is gone. The API is a fake whose tokens are token-1, token-2, ...;
// time is synctest's.
func TestProjectedTokenRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := fake.NewClientset()
		var mu sync.Mutex
		var requests []*authenticationv1.TokenRequest
		cs.PrependReactor("create", "serviceaccounts", func(action k8stesting.Action) (bool, runtime.Object, error) {
			ca := action.(k8stesting.CreateAction)
			if ca.GetSubresource() != "token" {
				return false, nil, nil
			}
			mu.Lock()
			defer mu.Unlock()
			tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
			requests = append(requests, tr)
			tr.Status = authenticationv1.TokenRequestStatus{
				Token:               fmt.Sprintf("token-%d", len(requests)),
				ExpirationTimestamp: metav1.NewTime(time.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second)),
			}
			return true, tr, nil
		})
		a, err := New(Config{NodeName: "n", Client: cs, Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer a.recorder.Shutdown()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		a.ctx = ctx

		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1"},
			Spec: corev1.PodSpec{ServiceAccountName: "robot"}}
		if err := a.pods.Add(pod); err != nil {
			t.Fatal(err)
		}
		vol := &corev1.Volume{Name: "v"}
		src := &corev1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr.To(int64(1000))}
		path := a.tokenPath(pod, vol, src)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		tok, refresh, err := a.requestPodToken(ctx, pod, src)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Now().Add(800 * time.Second); !refresh.Equal(want) {
			t.Errorf("refresh at %v, want %v (80%% of 1000s)", refresh, want)
		}
		if err := os.WriteFile(path, tok, 0o644); err != nil {
			t.Fatal(err)
		}
		a.refreshPodToken(pod, src, path, 0o644, tok, refresh)

		held := func() string {
			t.Helper()
			synctest.Wait()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
		time.Sleep(799 * time.Second)
		if got := held(); got != "token-1" {
			t.Fatalf("before 80%% of the lifetime the file holds %q, want token-1", got)
		}
		time.Sleep(2 * time.Second)
		if got := held(); got != "token-2" {
			t.Fatalf("after 80%% of the lifetime the file holds %q, want token-2", got)
		}
		time.Sleep(800 * time.Second)
		if got := held(); got != "token-3" {
			t.Fatalf("after the second token's 80%% the file holds %q, want token-3", got)
		}
		mu.Lock()
		for _, r := range requests {
			if ref := r.Spec.BoundObjectRef; ref == nil || ref.Kind != "Pod" || ref.Name != "p" || ref.UID != "uid-1" ||
				len(r.Spec.Audiences) != 1 || r.Spec.Audiences[0] != "vault" {
				t.Errorf("token request %+v, want bound to pod p for audience vault", r.Spec)
			}
		}
		mu.Unlock()

		// The pod gone, the refresher stops: no more requests.
		if err := a.pods.Delete(pod); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		if got := held(); got != "token-3" {
			t.Errorf("after the pod is gone the file holds %q, want token-3 still", got)
		}
		a.wg.Wait()
	})
}

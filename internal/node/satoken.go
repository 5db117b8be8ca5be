package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/atomicfile"
)

// Projected service account tokens, as the kubelet provides them: a token
// bound to the pod (it dies with the pod), requested through the
// TokenRequest API, written into the volume and replaced once 80% of its
// lifetime has passed (or a day, whichever comes first).

// maxTokenRefresh is the longest a token stays unrefreshed, as the
// kubelet's token manager allows.
const maxTokenRefresh = 24 * time.Hour

// requestPodToken asks the API for a token of pod's service account bound
// to pod, for src's audience and lifetime. It returns the token and when
// to replace it.
func (a *Agent) requestPodToken(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) ([]byte, time.Time, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: src.ExpirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := a.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("requesting a token of service account %s/%s: %w", pod.Namespace, sa, err)
	}
	now := a.now()
	life := tr.Status.ExpirationTimestamp.Sub(now)
	refresh := now.Add(min(life*8/10, maxTokenRefresh))
	return []byte(tr.Status.Token), refresh, nil
}

// refreshPodToken keeps the token file at path fresh: at refresh it writes
// a new token, and so on, until the agent stops, the pod is gone, or the
// file no longer holds the token it wrote (a later container start wrote
// a newer one and its own refresher took over). Its caller, a pod worker,
// holds a count of the agent's WaitGroup, so the Add here cannot race the
// agent's Wait.
func (a *Agent) refreshPodToken(pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, path string, mode os.FileMode, token []byte, refresh time.Time) {
	a.mu.Lock()
	ctx := a.ctx
	a.mu.Unlock()
	if ctx == nil {
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			t := time.NewTimer(refresh.Sub(a.now()))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			cur := a.pod(pod.UID)
			if cur == nil || cur.DeletionTimestamp != nil {
				return
			}
			if held, err := os.ReadFile(path); err != nil || !bytes.Equal(held, token) {
				return
			}
			next, at, err := a.requestPodToken(ctx, cur, src)
			if err != nil {
				a.log.Warn("refreshing a projected service account token", "pod", pod.Namespace+"/"+pod.Name, "err", err)
				refresh = a.now().Add(10 * time.Second)
				continue
			}
			if err := atomicfile.Write(path, next, mode); err != nil {
				// The pod's directory is gone with the pod.
				return
			}
			token, refresh = next, at
		}
	}()
}

// tokenPath is where a projected token of vol is written on the host.
func (a *Agent) tokenPath(pod *corev1.Pod, vol *corev1.Volume, src *corev1.ServiceAccountTokenProjection) string {
	return filepath.Join(a.podDir(pod.UID), "volumes", vol.Name, filepath.Clean("/"+src.Path))
}

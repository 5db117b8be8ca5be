package quota_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"cella.dev/cella/internal/servertest"
)

// These tests run against the whole server: the quota admission in its
// Stores and the quota controller it starts.

const ns = "default"

func resources(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// eventually polls cond for up to 30s: generous, since the machine may be
// busy; no test asserts how fast the controller is.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

// createQuota creates a quota and waits until the controller has counted
// every name of hard (until then it enforces nothing).
func createQuota(t *testing.T, cs kubernetes.Interface, name string, hard corev1.ResourceList) {
	t.Helper()
	_, err := cs.CoreV1().ResourceQuotas(ns).Create(t.Context(), &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating quota %s: %v", name, err)
	}
	eventually(t, "quota "+name+" is counted", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for n := range hard {
			if _, ok := q.Status.Used[n]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
}

// used returns the quota's status.used of one name.
func used(t *testing.T, cs kubernetes.Interface, quota string, name corev1.ResourceName) resource.Quantity {
	t.Helper()
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(t.Context(), quota, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return q.Status.Used[name]
}

func wantUsed(t *testing.T, cs kubernetes.Interface, quota string, name corev1.ResourceName, want string) {
	t.Helper()
	if got := used(t, cs, quota, name); got.Cmp(resource.MustParse(want)) != 0 {
		t.Errorf("quota %s: used %s = %s, want %s", quota, name, got.String(), want)
	}
}

func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// pod asks for 0.25 cores and 1Gi, the smallest pod the CCI profile allows.
func pod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "nginx",
			Resources: corev1.ResourceRequirements{Limits: resources("cpu", "250m", "memory", "1Gi")},
		}}},
	}
}

func TestQuotaExceededIs403(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	// The namespace already holds kube-root-ca.crt, which counts, as in
	// Kubernetes.
	createQuota(t, cs, "compute", resources("count/configmaps", "3", "pods", "1", "requests.cpu", "500m"))

	cms := cs.CoreV1().ConfigMaps(ns)
	for _, name := range []string{"cm1", "cm2"} {
		if _, err := cms.Create(ctx, configMap(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s under the limit: %v", name, err)
		}
	}
	wantUsed(t, cs, "compute", "count/configmaps", "3")

	const wantMsg = `configmaps "cm3" is forbidden: exceeded quota: compute, requested: count/configmaps=1, used: count/configmaps=3, limited: count/configmaps=3`
	_, err := cms.Create(ctx, configMap("cm3"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != wantMsg {
		t.Fatalf("client-go create over the limit: %v\nwant Forbidden: %s", err, wantMsg)
	}

	// The same over raw HTTP: code, reason, message and details.
	body := []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm3"}}`)
	resp, err := srv.HTTPClient().Do(srv.Request(http.MethodPost, "/api/v1/namespaces/"+ns+"/configmaps", body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st metav1.Status
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	if resp.StatusCode != http.StatusForbidden || st.Code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden ||
		st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Message != wantMsg {
		t.Errorf("raw create over the limit: HTTP %d %s", resp.StatusCode, raw)
	}
	if d := st.Details; d == nil || d.Kind != "configmaps" || d.Name != "cm3" || d.Group != "" {
		t.Errorf("details = %+v, want kind configmaps, name cm3", st.Details)
	}

	// A refused create changes nothing: no object, no charge.
	if _, err := cms.Get(ctx, "cm3", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get cm3 after the refusal: %v, want NotFound", err)
	}
	wantUsed(t, cs, "compute", "count/configmaps", "3")

	// Validation comes first: an invalid object over the limit is 422.
	if _, err := cms.Create(ctx, configMap("Not_A_Name"), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Errorf("invalid create over the limit: %v, want 422 Invalid", err)
	}
	// A dry run over the limit is refused too.
	if _, err := cms.Create(ctx, configMap("cm3"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); !apierrors.IsForbidden(err) {
		t.Errorf("dry-run create over the limit: %v, want Forbidden", err)
	}

	// Pods: the count is the limit here (requests.cpu would allow two).
	pods := cs.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, pod("p1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("dry-run pod under the limit: %v", err)
	}
	if _, err := pods.Create(ctx, pod("p1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating p1 under the limit (a dry run must not have charged): %v", err)
	}
	wantUsed(t, cs, "compute", "pods", "1")
	wantUsed(t, cs, "compute", "requests.cpu", "250m")
	_, err = pods.Create(ctx, pod("p2"), metav1.CreateOptions{})
	const wantPodMsg = `pods "p2" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1`
	if !apierrors.IsForbidden(err) || err.Error() != wantPodMsg {
		t.Fatalf("pod over the limit: %v\nwant Forbidden: %s", err, wantPodMsg)
	}
	// Objects the quota does not limit are not held back.
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Errorf("secret, which the quota does not limit: %v", err)
	}
}

func TestQuotaCPUAndMemoryAreSummed(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	createQuota(t, cs, "compute", resources("requests.cpu", "500m", "limits.memory", "3Gi", "cpu", "1"))
	pods := cs.CoreV1().Pods(ns)
	for _, name := range []string{"p1", "p2"} {
		if _, err := pods.Create(t.Context(), pod(name), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	_, err := pods.Create(t.Context(), pod("p3"), metav1.CreateOptions{})
	const want = `pods "p3" is forbidden: exceeded quota: compute, requested: requests.cpu=250m, used: requests.cpu=500m, limited: requests.cpu=500m`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Fatalf("third pod: %v\nwant %s", err, want)
	}
	wantUsed(t, cs, "compute", "requests.cpu", "500m")
	wantUsed(t, cs, "compute", "cpu", "500m")
	wantUsed(t, cs, "compute", "limits.memory", "2Gi")
}

func TestQuotaDeleteFreesRoom(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	cms := cs.CoreV1().ConfigMaps(ns)
	// Objects made before the quota are counted by the controller.
	for _, name := range []string{"cm1", "cm2"} {
		if _, err := cms.Create(ctx, configMap(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// With kube-root-ca.crt, three.
	createQuota(t, cs, "objects", resources("configmaps", "3"))
	wantUsed(t, cs, "objects", "configmaps", "3")
	if _, err := cms.Create(ctx, configMap("cm3"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create over the limit: %v, want Forbidden", err)
	}

	if err := cms.Delete(ctx, "cm1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete is counted", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "objects", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		u := q.Status.Used["configmaps"]
		return u.Cmp(resource.MustParse("2")) == 0, nil
	})
	if _, err := cms.Create(ctx, configMap("cm3"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after the delete freed room: %v", err)
	}
	wantUsed(t, cs, "objects", "configmaps", "3")
}

func TestQuotaSpecChangeIsEnforced(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	createQuota(t, cs, "objects", resources("count/secrets", "1"))
	secrets := cs.CoreV1().Secrets(ns)
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "objects", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	q.Spec.Hard = resources("count/secrets", "2")
	if _, err := cs.CoreV1().ResourceQuotas(ns).Update(ctx, q, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "status.hard follows spec.hard", func(ctx context.Context) (bool, error) {
		q, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "objects", metav1.GetOptions{})
		return err == nil && equality.Semantic.DeepEqual(q.Status.Hard, q.Spec.Hard), err
	})
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s2"}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create under the raised limit: %v", err)
	}
	if _, err := secrets.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s3"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("create over the raised limit: %v, want Forbidden", err)
	}
}

// race runs n creates at once and returns how many succeeded and the
// errors of the others.
func race(n int, create func(i int) error) (ok int, errs []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			err := create(i)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return ok, errs
}

func TestQuotaConcurrentCreatesStayWithinLimit(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	// kube-root-ca.crt and "first" take two of four slots.
	createQuota(t, cs, "objects", resources("count/configmaps", "4"))
	cms := cs.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(ctx, configMap("first"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Ten creates race for the last two slots.
	ok, errs := race(10, func(i int) error {
		_, err := cms.Create(ctx, configMap(fmt.Sprintf("racer-%d", i)), metav1.CreateOptions{})
		return err
	})
	if ok != 2 {
		t.Errorf("%d creates succeeded, want exactly 2", ok)
	}
	for _, err := range errs {
		if !apierrors.IsForbidden(err) {
			t.Errorf("a losing create: %v, want Forbidden", err)
		}
	}
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 4 {
		t.Errorf("%d configmaps stored, want 4", len(list.Items))
	}
	wantUsed(t, cs, "objects", "count/configmaps", "4")
}

func TestQuotaFailedWriteIsNotCharged(t *testing.T) {
	srv := servertest.Start(t)
	cs := srv.Clientset()
	ctx := t.Context()
	createQuota(t, cs, "objects", resources("count/configmaps", "20"))
	cms := cs.CoreV1().ConfigMaps(ns)

	// Ten creates of one name: one is stored; each other fails with 409,
	// before its charge or by taking it back after the write failed.
	ok, errs := race(10, func(int) error {
		_, err := cms.Create(ctx, configMap("same"), metav1.CreateOptions{})
		return err
	})
	if ok != 1 {
		t.Errorf("%d creates succeeded, want exactly 1", ok)
	}
	for _, err := range errs {
		if !apierrors.IsAlreadyExists(err) {
			t.Errorf("a losing create: %v, want AlreadyExists", err)
		}
	}
	// Read at once: the count must be right without the controller
	// (kube-root-ca.crt and "same").
	wantUsed(t, cs, "objects", "count/configmaps", "2")
}

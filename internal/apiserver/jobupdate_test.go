package apiserver_test

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	batchv1ac "k8s.io/client-go/applyconfigurations/batch/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/util/csaupgrade"

	"cella.dev/cella/internal/servertest"
)

// TestJobUpdate: a Job can be updated (its labels here), since its
// immutable fields are compared by semantic equality rather than by their
// printed form (which holds pointer addresses); changing spec.template,
// spec.selector or spec.completionMode is a 422 naming the field.
func TestJobUpdate(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	jobs := srv.Clientset().BatchV1().Jobs("default")
	job, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    runnablePod("p").Spec.Containers,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Labels = map[string]string{"team": "a"}
	job, err = jobs.Update(ctx, job, metav1.UpdateOptions{})
	if err != nil || job.Labels["team"] != "a" {
		t.Fatalf("label update of a Job: %v", err)
	}
	indexed := batchv1.IndexedCompletion
	for _, tc := range []struct {
		field  string
		change func(*batchv1.Job)
	}{
		{"spec.template", func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "alpine" }},
		{"spec.selector", func(j *batchv1.Job) {
			j.Spec.Selector.MatchLabels["extra"] = "x"
			j.Spec.Template.Labels["extra"] = "x"
		}},
		{"spec.completionMode", func(j *batchv1.Job) { j.Spec.CompletionMode = &indexed }},
	} {
		t.Run(tc.field, func(t *testing.T) {
			j := job.DeepCopy()
			tc.change(j)
			_, err := jobs.Update(ctx, j, metav1.UpdateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("want 422 Invalid, got %v", err)
			}
			st := err.(apierrors.APIStatus).Status()
			found := false
			for _, c := range st.Details.Causes {
				if c.Field == tc.field && strings.Contains(c.Message, "field is immutable") {
					found = true
				}
			}
			if !found {
				t.Fatalf("want a cause naming %s as immutable, got %+v", tc.field, st.Details.Causes)
			}
		})
	}
}

// TestSuspendedJobScheduling: while a suspended Job has not started, its
// template's scheduling directives may change (node selector,
// tolerations, labels), as Kubernetes allows; the rest of the template
// stays immutable.
func TestSuspendedJobScheduling(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	jobs := srv.Clientset().BatchV1().Jobs("default")
	suspend := true
	job, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "held"},
		Spec: batchv1.JobSpec{Suspend: &suspend, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    runnablePod("p").Spec.Containers,
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	job.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	job.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
	job.Spec.Template.Labels["extra"] = "x"
	if job, err = jobs.Update(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("changing the scheduling of a suspended Job: %v", err)
	}
	job.Spec.Template.Spec.Containers[0].Image = "alpine"
	if _, err := jobs.Update(ctx, job, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template") {
		t.Fatalf("changing the image of a suspended Job: want 422 naming spec.template, got %v", err)
	}
}

// TestJobSelectorIsNobodys: the selector and pod labels the server
// generates for a new Job belong to no manager, as in kube-apiserver,
// which generates them after its field manager ran. So a Job created by a
// client-side apply (an Update of its manager, Helm 3's or kubectl
// apply's) moves to server-side apply the way Helm 4 and kubectl move it:
// its Update entry becomes the manager's Apply entry (client-go's
// csaupgrade), and the next apply of the same manifest, which names no
// selector, changes nothing rather than removing the selector and the
// labels (a 422: both are immutable).
func TestJobSelectorIsNobodys(t *testing.T) {
	srv := servertest.Start(t)
	ctx := ctxT(t)
	jobs := srv.Clientset().BatchV1().Jobs("default")
	const manager = "helm"
	job, err := jobs.Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "migrated"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "demo"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    runnablePod("p").Spec.Containers,
			},
		}},
	}, metav1.CreateOptions{FieldManager: manager})
	if err != nil {
		t.Fatal(err)
	}
	uid := string(job.UID)
	if job.Spec.Selector == nil || job.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != uid || job.Spec.Template.Labels["controller-uid"] != uid {
		t.Fatalf("created Job: selector %v, template labels %v", job.Spec.Selector, job.Spec.Template.Labels)
	}
	e, ok := managers(job)[manager+"/Update/"]
	if !ok {
		t.Fatalf("no Update entry of %s: %+v", manager, job.ManagedFields)
	}
	for _, f := range []string{"selector", "batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name", "job-name"} {
		if owns(e, f) {
			t.Errorf("the creator owns %s, which the server generated: %s", f, e.FieldsV1.Raw)
		}
	}
	if !owns(e, "app") || !owns(e, "backoffLimit") {
		t.Errorf("the creator does not own what it sent and its defaults: %s", e.FieldsV1.Raw)
	}

	patch, err := csaupgrade.UpgradeManagedFieldsPatch(job, sets.New(manager), manager)
	if err != nil || patch == nil {
		t.Fatalf("csaupgrade: %v, patch %s", err, patch)
	}
	if job, err = jobs.Patch(ctx, job.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("moving the managedFields to an Apply entry: %v", err)
	}
	if _, ok := managers(job)[manager+"/Apply/"]; !ok {
		t.Fatalf("no Apply entry of %s after the move: %+v", manager, job.ManagedFields)
	}

	// The manifest the Job was created from, applied.
	c := runnablePod("p").Spec.Containers[0]
	applied, err := jobs.Apply(ctx, batchv1ac.Job("migrated", "default").WithSpec(batchv1ac.JobSpec().WithTemplate(
		corev1ac.PodTemplateSpec().WithLabels(map[string]string{"app": "demo"}).WithSpec(corev1ac.PodSpec().
			WithRestartPolicy(corev1.RestartPolicyNever).
			WithContainers(corev1ac.Container().WithName(c.Name).WithImage(c.Image).
				WithResources(corev1ac.ResourceRequirements().WithLimits(c.Resources.Limits)))))),
		metav1.ApplyOptions{FieldManager: manager})
	if err != nil {
		t.Fatalf("apply after the move to server-side apply: %v", err)
	}
	if applied.Spec.Selector == nil || applied.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != uid || applied.Spec.Template.Labels["job-name"] != "migrated" {
		t.Errorf("after the apply: selector %v, template labels %v", applied.Spec.Selector, applied.Spec.Template.Labels)
	}
}

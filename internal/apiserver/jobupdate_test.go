package apiserver_test

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

package convert

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCronJobRoundTrip(t *testing.T) {
	t.Run("v1beta1", func(t *testing.T) { roundTrip(t, CronJobV1beta1ToV1, CronJobV1ToV1beta1) })
	t.Run("v1", func(t *testing.T) { roundTrip(t, CronJobV1ToV1beta1, CronJobV1beta1ToV1) })
	t.Run("list v1beta1", func(t *testing.T) { roundTrip(t, CronJobListV1beta1ToV1, CronJobListV1ToV1beta1) })
	t.Run("list v1", func(t *testing.T) { roundTrip(t, CronJobListV1ToV1beta1, CronJobListV1beta1ToV1) })
}

func TestCronJobV1beta1ToV1(t *testing.T) {
	tz := "Asia/Shanghai"
	last := metav1.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	spec := batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyOnFailure,
		Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
	}}}
	in := &batchv1beta1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "default", Annotations: map[string]string{"a": "b"}},
		Spec: batchv1beta1.CronJobSpec{
			Schedule:                   "0 3 * * *",
			TimeZone:                   &tz,
			StartingDeadlineSeconds:    new(int64(100)),
			ConcurrencyPolicy:          batchv1beta1.ForbidConcurrent,
			Suspend:                    new(true),
			JobTemplate:                batchv1beta1.JobTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": "nightly"}}, Spec: spec},
			SuccessfulJobsHistoryLimit: new(int32(3)),
			FailedJobsHistoryLimit:     new(int32(1)),
		},
		Status: batchv1beta1.CronJobStatus{
			Active:             []corev1.ObjectReference{{Kind: "Job", Name: "nightly-1"}},
			LastScheduleTime:   &last,
			LastSuccessfulTime: &last,
		},
	}
	want := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: in.ObjectMeta,
		Spec: batchv1.CronJobSpec{
			Schedule:                   "0 3 * * *",
			TimeZone:                   &tz,
			StartingDeadlineSeconds:    new(int64(100)),
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			Suspend:                    new(true),
			JobTemplate:                batchv1.JobTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"job": "nightly"}}, Spec: spec},
			SuccessfulJobsHistoryLimit: new(int32(3)),
			FailedJobsHistoryLimit:     new(int32(1)),
		},
		Status: batchv1.CronJobStatus{
			Active:             []corev1.ObjectReference{{Kind: "Job", Name: "nightly-1"}},
			LastScheduleTime:   &last,
			LastSuccessfulTime: &last,
		},
	}
	if got := CronJobV1beta1ToV1(in); !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("CronJobV1beta1ToV1 =\n%s\nwant\n%s", mustJSON(got), mustJSON(want))
	}
	checkTypeMeta(t, CronJobV1ToV1beta1(want), "batch/v1beta1", "CronJob")
	list := CronJobListV1ToV1beta1(&batchv1.CronJobList{Items: []batchv1.CronJob{*want}})
	checkTypeMeta(t, list, "batch/v1beta1", "CronJobList")
	checkItemsTypeMeta(t, list)
}

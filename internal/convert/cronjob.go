package convert

import (
	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CronJobV1beta1ToV1 converts a batch/v1beta1 CronJob to batch/v1. The two
// versions have the same fields.
func CronJobV1beta1ToV1(in *batchv1beta1.CronJob) *batchv1.CronJob {
	in = in.DeepCopy()
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob"},
		ObjectMeta: in.ObjectMeta,
		Spec: batchv1.CronJobSpec{
			Schedule:                in.Spec.Schedule,
			TimeZone:                in.Spec.TimeZone,
			StartingDeadlineSeconds: in.Spec.StartingDeadlineSeconds,
			ConcurrencyPolicy:       batchv1.ConcurrencyPolicy(in.Spec.ConcurrencyPolicy),
			Suspend:                 in.Spec.Suspend,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: in.Spec.JobTemplate.ObjectMeta,
				Spec:       in.Spec.JobTemplate.Spec,
			},
			SuccessfulJobsHistoryLimit: in.Spec.SuccessfulJobsHistoryLimit,
			FailedJobsHistoryLimit:     in.Spec.FailedJobsHistoryLimit,
		},
		Status: batchv1.CronJobStatus{
			Active:             in.Status.Active,
			LastScheduleTime:   in.Status.LastScheduleTime,
			LastSuccessfulTime: in.Status.LastSuccessfulTime,
		},
	}
}

// CronJobV1ToV1beta1 converts a batch/v1 CronJob to batch/v1beta1.
func CronJobV1ToV1beta1(in *batchv1.CronJob) *batchv1beta1.CronJob {
	in = in.DeepCopy()
	return &batchv1beta1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1beta1.SchemeGroupVersion.String(), Kind: "CronJob"},
		ObjectMeta: in.ObjectMeta,
		Spec: batchv1beta1.CronJobSpec{
			Schedule:                in.Spec.Schedule,
			TimeZone:                in.Spec.TimeZone,
			StartingDeadlineSeconds: in.Spec.StartingDeadlineSeconds,
			ConcurrencyPolicy:       batchv1beta1.ConcurrencyPolicy(in.Spec.ConcurrencyPolicy),
			Suspend:                 in.Spec.Suspend,
			JobTemplate: batchv1beta1.JobTemplateSpec{
				ObjectMeta: in.Spec.JobTemplate.ObjectMeta,
				Spec:       in.Spec.JobTemplate.Spec,
			},
			SuccessfulJobsHistoryLimit: in.Spec.SuccessfulJobsHistoryLimit,
			FailedJobsHistoryLimit:     in.Spec.FailedJobsHistoryLimit,
		},
		Status: batchv1beta1.CronJobStatus{
			Active:             in.Status.Active,
			LastScheduleTime:   in.Status.LastScheduleTime,
			LastSuccessfulTime: in.Status.LastSuccessfulTime,
		},
	}
}

// CronJobListV1beta1ToV1 converts a list with CronJobV1beta1ToV1.
func CronJobListV1beta1ToV1(in *batchv1beta1.CronJobList) *batchv1.CronJobList {
	return &batchv1.CronJobList{
		TypeMeta: metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJobList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, CronJobV1beta1ToV1),
	}
}

// CronJobListV1ToV1beta1 converts a list with CronJobV1ToV1beta1.
func CronJobListV1ToV1beta1(in *batchv1.CronJobList) *batchv1beta1.CronJobList {
	return &batchv1beta1.CronJobList{
		TypeMeta: metav1.TypeMeta{APIVersion: batchv1beta1.SchemeGroupVersion.String(), Kind: "CronJobList"},
		ListMeta: *in.ListMeta.DeepCopy(),
		Items:    convertItems(in.Items, CronJobV1ToV1beta1),
	}
}

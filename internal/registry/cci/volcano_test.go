package cci

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	volcanov1alpha1 "cella.dev/cella/internal/apis/volcano/v1alpha1"
)

func volcanoTask(name string, replicas int32) volcanov1alpha1.TaskSpec {
	return volcanov1alpha1.TaskSpec{
		Name:     name,
		Replicas: replicas,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{sizedContainer("main", "1", "2Gi")},
		}},
	}
}

func TestValidateVolcanoJob(t *testing.T) {
	valid := volcanov1alpha1.JobSpec{
		SchedulerName: "volcano",
		MinAvailable:  3,
		Tasks:         []volcanov1alpha1.TaskSpec{volcanoTask("ps", 1), volcanoTask("worker", 2)},
		Policies: []volcanov1alpha1.LifecyclePolicy{
			{Event: volcanov1alpha1.PodEvictedEvent, Action: volcanov1alpha1.RestartJobAction},
			{Events: []volcanov1alpha1.Event{volcanov1alpha1.PodFailedEvent, volcanov1alpha1.AnyEvent}, Action: volcanov1alpha1.AbortJobAction},
			{ExitCode: new(int32(3)), Action: volcanov1alpha1.RestartTaskAction},
		},
	}
	with := func(change func(*volcanov1alpha1.JobSpec)) volcanov1alpha1.JobSpec {
		s := *valid.DeepCopy()
		change(&s)
		return s
	}
	for _, tc := range []struct {
		name string
		spec volcanov1alpha1.JobSpec
		want []string
	}{
		{name: "valid", spec: valid},
		{name: "zero replicas", spec: with(func(s *volcanov1alpha1.JobSpec) { s.MinAvailable = 0; s.Tasks[1].Replicas = 0 })},
		{name: "task minAvailable", spec: with(func(s *volcanov1alpha1.JobSpec) { s.Tasks[1].MinAvailable = new(int32(2)) })},

		{name: "no tasks", spec: volcanov1alpha1.JobSpec{}, want: []string{"Required value spec.tasks"}},
		{name: "negative counts", spec: with(func(s *volcanov1alpha1.JobSpec) {
			s.MinAvailable, s.MaxRetry, s.TTLSecondsAfterFinished = -1, -1, new(int32(-1))
			s.Tasks[0].Replicas, s.Tasks[0].MaxRetry = -1, -1
		}), want: []string{
			"Invalid value spec.minAvailable", "Invalid value spec.maxRetry", "Invalid value spec.ttlSecondsAfterFinished",
			"Invalid value spec.tasks[0].replicas", "Invalid value spec.tasks[0].maxRetry",
		}},
		{name: "minAvailable above replicas", spec: with(func(s *volcanov1alpha1.JobSpec) { s.MinAvailable = 4 }),
			want: []string{"Invalid value spec.minAvailable"}},
		{name: "task minAvailable above replicas", spec: with(func(s *volcanov1alpha1.JobSpec) { s.Tasks[1].MinAvailable = new(int32(3)) }),
			want: []string{"Invalid value spec.tasks[1].minAvailable"}},
		{name: "task names", spec: with(func(s *volcanov1alpha1.JobSpec) {
			s.MinAvailable = 0
			s.Tasks = append(s.Tasks, volcanoTask("", 1), volcanoTask("Worker_1", 1), volcanoTask("ps", 1))
		}), want: []string{
			"Required value spec.tasks[2].name", "Invalid value spec.tasks[3].name", "Duplicate value spec.tasks[4].name",
		}},
		{name: "task template", spec: with(func(s *volcanov1alpha1.JobSpec) {
			s.Tasks[1].Template.Spec.NodeName = "n1"
			s.Tasks[1].Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU] = mustQuantity("300m")
			s.Tasks[1].Template.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = mustQuantity("300m")
		}), want: []string{
			"Forbidden spec.tasks[1].template.spec.nodeName",
			"Invalid value spec.tasks[1].template.spec.containers[0].resources.limits[cpu]",
		}},
		{name: "policies", spec: with(func(s *volcanov1alpha1.JobSpec) {
			s.Policies = []volcanov1alpha1.LifecyclePolicy{
				{Event: volcanov1alpha1.PodFailedEvent},
				{Event: "PodExploded", Action: "Explode"},
				{Events: []volcanov1alpha1.Event{volcanov1alpha1.PodFailedEvent, "Nope"}, Action: volcanov1alpha1.AbortJobAction},
				{Event: volcanov1alpha1.PodFailedEvent, ExitCode: new(int32(1)), Action: volcanov1alpha1.AbortJobAction},
				{ExitCode: new(int32(0)), Action: volcanov1alpha1.AbortJobAction},
				{Action: volcanov1alpha1.AbortJobAction},
			}
			s.Tasks[0].Policies = []volcanov1alpha1.LifecyclePolicy{{Event: volcanov1alpha1.TaskCompletedEvent, Action: "Celebrate"}}
		}), want: []string{
			"Required value spec.policies[0].action",
			"Unsupported value spec.policies[1].action",
			"Unsupported value spec.policies[1].event",
			"Unsupported value spec.policies[2].events[1]",
			"Forbidden spec.policies[3].exitCode",
			"Invalid value spec.policies[4].exitCode",
			"Required value spec.policies[5].event",
			"Unsupported value spec.tasks[0].policies[0].action",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidateVolcanoJob(&volcanov1alpha1.Job{Spec: tc.spec}, DefaultFlavors()), tc.want...)
		})
	}
	errs := ValidateVolcanoJob(&volcanov1alpha1.Job{Spec: with(func(s *volcanov1alpha1.JobSpec) { s.MinAvailable = 4 })}, DefaultFlavors())
	checkDetail(t, errs, "spec.minAvailable", "sum of the tasks' replicas (3)")
	errs = ValidateVolcanoJob(&volcanov1alpha1.Job{Spec: with(func(s *volcanov1alpha1.JobSpec) {
		s.Policies = []volcanov1alpha1.LifecyclePolicy{{Event: "x", Action: "y"}}
	})}, DefaultFlavors())
	checkDetail(t, errs, "spec.policies[0].action", `"RestartJob"`, `"CompleteJob"`)
	checkDetail(t, errs, "spec.policies[0].event", `"PodEvicted"`, `"TaskCompleted"`)
}

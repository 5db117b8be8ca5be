package cci

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	volcanov1alpha1 "cella.dev/cella/internal/apis/volcano/v1alpha1"
)

// policyEvents returns the events a LifecyclePolicy may name.
func policyEvents() []volcanov1alpha1.Event {
	return []volcanov1alpha1.Event{
		volcanov1alpha1.AnyEvent, volcanov1alpha1.PodFailedEvent, volcanov1alpha1.PodEvictedEvent,
		volcanov1alpha1.PodPendingEvent, volcanov1alpha1.JobUnknownEvent,
		volcanov1alpha1.TaskCompletedEvent, volcanov1alpha1.TaskFailedEvent,
	}
}

// policyActions returns the actions a LifecyclePolicy may take.
func policyActions() []volcanov1alpha1.Action {
	return []volcanov1alpha1.Action{
		volcanov1alpha1.AbortJobAction, volcanov1alpha1.RestartJobAction, volcanov1alpha1.RestartTaskAction,
		volcanov1alpha1.RestartPodAction, volcanov1alpha1.TerminateJobAction, volcanov1alpha1.CompleteJobAction,
	}
}

// ValidateVolcanoJob checks a Volcano Job: minAvailable, maxRetry and
// ttlSecondsAfterFinished are not negative; there is at least one task;
// task names are distinct DNS labels; replicas are not negative, a task's
// minAvailable is within its replicas and the job's minAvailable within
// the sum of them; lifecycle policies name a known action and known events
// or a non-zero exit code; and each task's template passes
// ValidatePodTemplate. Run DefaultPodResources on each template first.
func ValidateVolcanoJob(job *volcanov1alpha1.Job, f Flavors) field.ErrorList {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	nonNegative := func(path *field.Path, v int32) {
		if v < 0 {
			errs = append(errs, field.Invalid(path, v, "must be greater than or equal to 0"))
		}
	}
	nonNegative(spec.Child("minAvailable"), job.Spec.MinAvailable)
	nonNegative(spec.Child("maxRetry"), job.Spec.MaxRetry)
	if ttl := job.Spec.TTLSecondsAfterFinished; ttl != nil {
		nonNegative(spec.Child("ttlSecondsAfterFinished"), *ttl)
	}
	if len(job.Spec.Tasks) == 0 {
		errs = append(errs, field.Required(spec.Child("tasks"), "a job needs at least one task"))
	}

	var replicas int64
	names := map[string]bool{}
	for i := range job.Spec.Tasks {
		task := &job.Spec.Tasks[i]
		path := spec.Child("tasks").Index(i)
		switch msgs := validation.IsDNS1123Label(task.Name); {
		case task.Name == "":
			errs = append(errs, field.Required(path.Child("name"), "a task needs a name, a DNS label unique within the job"))
		case len(msgs) > 0:
			errs = append(errs, field.Invalid(path.Child("name"), task.Name, strings.Join(msgs, "; ")))
		case names[task.Name]:
			errs = append(errs, field.Duplicate(path.Child("name"), task.Name))
		}
		names[task.Name] = true

		nonNegative(path.Child("replicas"), task.Replicas)
		replicas += int64(max(task.Replicas, 0))
		if m := task.MinAvailable; m != nil && (*m < 0 || *m > task.Replicas) {
			errs = append(errs, field.Invalid(path.Child("minAvailable"), *m,
				fmt.Sprintf("must be from 0 to the task's replicas (%d)", task.Replicas)))
		}
		nonNegative(path.Child("maxRetry"), task.MaxRetry)
		errs = append(errs, validatePolicies(task.Policies, path.Child("policies"))...)
		errs = append(errs, ValidatePodTemplate(&task.Template, path.Child("template"), f)...)
	}
	if m := job.Spec.MinAvailable; len(job.Spec.Tasks) > 0 && int64(m) > replicas {
		errs = append(errs, field.Invalid(spec.Child("minAvailable"), m,
			fmt.Sprintf("must not exceed the sum of the tasks' replicas (%d)", replicas)))
	}
	return append(errs, validatePolicies(job.Spec.Policies, spec.Child("policies"))...)
}

func validatePolicies(policies []volcanov1alpha1.LifecyclePolicy, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range policies {
		path := path.Index(i)
		switch {
		case p.Action == "":
			errs = append(errs, field.Required(path.Child("action"), fmt.Sprintf("must be one of %q", policyActions())))
		case !slices.Contains(policyActions(), p.Action):
			errs = append(errs, field.NotSupported(path.Child("action"), p.Action, policyActions()))
		}
		if p.Event != "" && !slices.Contains(policyEvents(), p.Event) {
			errs = append(errs, field.NotSupported(path.Child("event"), p.Event, policyEvents()))
		}
		for j, e := range p.Events {
			if !slices.Contains(policyEvents(), e) {
				errs = append(errs, field.NotSupported(path.Child("events").Index(j), e, policyEvents()))
			}
		}
		hasEvent := p.Event != "" || len(p.Events) > 0
		switch {
		case p.ExitCode != nil && hasEvent:
			errs = append(errs, field.Forbidden(path.Child("exitCode"), "must not be set together with event or events"))
		case p.ExitCode != nil && *p.ExitCode == 0:
			errs = append(errs, field.Invalid(path.Child("exitCode"), 0, "must not be 0, which means success"))
		case p.ExitCode == nil && !hasEvent:
			errs = append(errs, field.Required(path.Child("event"), "set event, events or exitCode"))
		}
	}
	return errs
}

package kinds

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/convert"
	"cella.dev/cella/internal/registry"
)

// Job labels, as Kubernetes sets them.
const (
	jobControllerUIDLabel = "batch.kubernetes.io/controller-uid"
	jobNameLabel          = "batch.kubernetes.io/job-name"
	legacyControllerUID   = "controller-uid"
	legacyJobName         = "job-name"
)

func (b *builder) batch() {
	b.stored(&registry.Resource{
		Group: "batch", Version: "v1", Kind: "Job", Plural: "jobs", Singular: "job", Namespaced: true, Categories: []string{"all"},
		New: func() runtime.Object { return &batchv1.Job{} }, NewList: func() runtime.Object { return &batchv1.JobList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			j := obj.(*batchv1.Job)
			defaultJobSpec(&j.Spec)
			j.Status = batchv1.JobStatus{}
		},
		GenerateForCreate: func(_ context.Context, obj runtime.Object) { generateJobSelector(obj.(*batchv1.Job)) },
		PrepareForUpdate:  func(_ context.Context, obj, _ runtime.Object) { defaultJobSpec(&obj.(*batchv1.Job).Spec) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			j := obj.(*batchv1.Job)
			return b.validateJobSpec(&j.Spec, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			j, o := obj.(*batchv1.Job), old.(*batchv1.Job)
			errs := b.validateJobSpec(&j.Spec, field.NewPath("spec"))
			return append(errs, validateJobSpecUpdate(&j.Spec, &o.Spec, suspendedUnstarted(o), field.NewPath("spec"))...)
		},
		Fields: func(obj runtime.Object) fields.Set {
			j := obj.(*batchv1.Job)
			return fields.Set{"status.successful": fmt.Sprint(j.Status.Succeeded)}
		},
		Columns: []metav1.TableColumnDefinition{
			col("Status", "string", "Status of the job."),
			col("Completions", "string", "The completion status of the job."),
			col("Duration", "string", "Time required to complete the job."),
			ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""), wide("Selector", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			j := obj.(*batchv1.Job)
			completions := fmt.Sprintf("%d/%d", j.Status.Succeeded, deref(j.Spec.Completions))
			if j.Spec.Completions == nil {
				completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, deref(j.Spec.Parallelism))
			}
			dur := ""
			if j.Status.StartTime != nil {
				end := b.cfg.Now()
				if j.Status.CompletionTime != nil {
					end = j.Status.CompletionTime.Time
				}
				dur = duration.HumanDuration(end.Sub(j.Status.StartTime.Time))
			}
			names, images := containerColumns(&j.Spec.Template)
			return []any{jobStatus(j), completions, dur, b.age(j), names, images, selectorText(j.Spec.Selector)}
		},
	}, "status")

	cronjobs := b.stored(&registry.Resource{
		Group: "batch", Version: "v1", Kind: "CronJob", Plural: "cronjobs", Singular: "cronjob", Namespaced: true,
		ShortNames: []string{"cj"}, Categories: []string{"all"},
		New: func() runtime.Object { return &batchv1.CronJob{} }, NewList: func() runtime.Object { return &batchv1.CronJobList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			c := obj.(*batchv1.CronJob)
			defaultCronJob(c)
			c.Status = batchv1.CronJobStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { defaultCronJob(obj.(*batchv1.CronJob)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return b.validateCronJob(obj.(*batchv1.CronJob))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Schedule", "string", "The schedule in Cron format."),
			col("Timezone", "string", "The time zone for the schedule."),
			col("Suspend", "boolean", "Whether the cron job is suspended."),
			col("Active", "integer", "Number of active jobs."),
			col("Last Schedule", "string", "When the job was last scheduled."),
			ageColumn,
			wide("Containers", "string", ""), wide("Images", "string", ""), wide("Selector", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*batchv1.CronJob)
			tz := "<none>"
			if c.Spec.TimeZone != nil {
				tz = *c.Spec.TimeZone
			}
			suspend := c.Spec.Suspend != nil && *c.Spec.Suspend
			names, images := containerColumns(&c.Spec.JobTemplate.Spec.Template)
			return []any{c.Spec.Schedule, tz, suspend, int64(len(c.Status.Active)), b.since(c.Status.LastScheduleTime), b.age(c), names, images, selectorText(c.Spec.JobTemplate.Spec.Selector)}
		},
	}, "status")
	b.alias(cronjobs, "batch", "v1beta1", "CronJob",
		func() runtime.Object { return &batchv1beta1.CronJob{} }, func() runtime.Object { return &batchv1beta1.CronJobList{} },
		func(o runtime.Object) (runtime.Object, error) {
			return convert.CronJobV1beta1ToV1(o.(*batchv1beta1.CronJob)), nil
		},
		func(o runtime.Object) (runtime.Object, error) {
			return convert.CronJobV1ToV1beta1(o.(*batchv1.CronJob)), nil
		},
		"status")
}

func jobStatus(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "Complete"
		case batchv1.JobFailed:
			return "Failed"
		case batchv1.JobSuspended:
			return "Suspended"
		}
	}
	if j.DeletionTimestamp != nil {
		return "Terminating"
	}
	return "Running"
}

func defaultJobSpec(s *batchv1.JobSpec) {
	one := int32(1)
	if s.Parallelism == nil {
		p := one
		s.Parallelism = &p
	}
	if s.Completions == nil && (s.CompletionMode == nil || *s.CompletionMode == batchv1.NonIndexedCompletion) && *s.Parallelism == 1 {
		c := one
		s.Completions = &c
	}
	if s.BackoffLimit == nil {
		six := int32(6)
		s.BackoffLimit = &six
	}
	if s.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.ManualSelector == nil {
		// Left unset, as Kubernetes does.
	}
	if s.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		s.PodReplacementPolicy = &p
	}
	if s.Template.Spec.RestartPolicy == "" {
		s.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	defaultPodSpec(&s.Template.Spec)
}

// generateJobSelector fills, unless the user chose a manual selector, the
// generated selector and template labels that tie pods to the job. They
// are the server's, not the creator's: kube-apiserver's Job strategy
// generates them after the write's field manager ran.
func generateJobSelector(j *batchv1.Job) {
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	uid := string(j.UID)
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{jobControllerUIDLabel: uid}}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	l := j.Spec.Template.Labels
	l[jobControllerUIDLabel], l[legacyControllerUID] = uid, uid
	l[jobNameLabel], l[legacyJobName] = j.Name, j.Name
}

// validateJobSpecUpdate checks the fields of a Job's spec that cannot
// change once the Job exists, compared by semantic equality as
// kube-apiserver compares them. Completions may change only for an Indexed
// Job and only together with parallelism, keeping the two equal (elastic
// Indexed Jobs). While a suspended Job has not started (mutableScheduling),
// its template's scheduling directives may change: node selector and
// affinity, tolerations, scheduling gates, labels and annotations.
func validateJobSpecUpdate(s, old *batchv1.JobSpec, mutableScheduling bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	elastic := s.CompletionMode != nil && *s.CompletionMode == batchv1.IndexedCompletion &&
		s.Completions != nil && s.Parallelism != nil && *s.Completions == *s.Parallelism
	if !elastic {
		errs = append(errs, apivalidation.ValidateImmutableField(s.Completions, old.Completions, p.Child("completions"))...)
	}
	errs = append(errs, apivalidation.ValidateImmutableField(s.Selector, old.Selector, p.Child("selector"))...)
	oldTemplate := &old.Template
	if mutableScheduling {
		oldTemplate = old.Template.DeepCopy()
		t := &s.Template
		oldTemplate.Labels, oldTemplate.Annotations = t.Labels, t.Annotations
		oldTemplate.Spec.NodeSelector, oldTemplate.Spec.Tolerations = t.Spec.NodeSelector, t.Spec.Tolerations
		oldTemplate.Spec.SchedulingGates = t.Spec.SchedulingGates
		switch a, oa := t.Spec.Affinity, oldTemplate.Spec.Affinity; {
		case a == nil && oa != nil:
			// Clearing the affinity is allowed when node affinity was all it held.
			oa.NodeAffinity = nil
			if equality.Semantic.DeepEqual(*oa, corev1.Affinity{}) {
				oldTemplate.Spec.Affinity = nil
			}
		case a != nil && oa == nil:
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: a.NodeAffinity}
		case a != nil && oa != nil:
			oa.NodeAffinity = a.NodeAffinity
		}
	}
	errs = append(errs, apivalidation.ValidateImmutableField(s.Template, *oldTemplate, p.Child("template"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(s.CompletionMode, old.CompletionMode, p.Child("completionMode"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(s.PodFailurePolicy, old.PodFailurePolicy, p.Child("podFailurePolicy"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(s.BackoffLimitPerIndex, old.BackoffLimitPerIndex, p.Child("backoffLimitPerIndex"))...)
	errs = append(errs, apivalidation.ValidateImmutableField(s.ManagedBy, old.ManagedBy, p.Child("managedBy"))...)
	return append(errs, apivalidation.ValidateImmutableField(s.SuccessPolicy, old.SuccessPolicy, p.Child("successPolicy"))...)
}

// suspendedUnstarted reports whether a Job is suspended and has never
// started, when Kubernetes lets its scheduling directives change.
func suspendedUnstarted(j *batchv1.Job) bool {
	return j.Spec.Suspend != nil && *j.Spec.Suspend && j.Status.StartTime == nil
}

func (b *builder) validateJobSpec(s *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, v := range map[string]*int32{"parallelism": s.Parallelism, "completions": s.Completions, "backoffLimit": s.BackoffLimit} {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be greater than or equal to 0"))
		}
	}
	switch s.Template.Spec.RestartPolicy {
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), s.Template.Spec.RestartPolicy, []string{"OnFailure", "Never"}))
	}
	if s.Selector != nil {
		errs = append(errs, validateSelectorMatches(s.Selector, s.Template.Labels, p)...)
	}
	errs = append(errs, b.validateTemplate(&s.Template, p.Child("template"))...)
	return errs
}

func defaultCronJob(c *batchv1.CronJob) {
	s := &c.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		n := int32(3)
		s.SuccessfulJobsHistoryLimit = &n
	}
	if s.FailedJobsHistoryLimit == nil {
		n := int32(1)
		s.FailedJobsHistoryLimit = &n
	}
	js := &s.JobTemplate.Spec
	if js.Template.Spec.RestartPolicy == "" {
		js.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	defaultPodSpec(&js.Template.Spec)
}

func (b *builder) validateCronJob(c *batchv1.CronJob) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if err := validateSchedule(c.Spec.Schedule); err != nil {
		errs = append(errs, field.Invalid(p.Child("schedule"), c.Spec.Schedule, err.Error()))
	}
	switch c.Spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), c.Spec.ConcurrencyPolicy, []string{"Allow", "Forbid", "Replace"}))
	}
	if tz := c.Spec.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil {
			errs = append(errs, field.Invalid(p.Child("timeZone"), *tz, "unknown time zone"))
		}
	}
	// A cron job's name becomes part of its jobs' names.
	if len(c.Name) > 52 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), c.Name, "must be no more than 52 characters"))
	}
	errs = append(errs, b.validateJobSpec(&c.Spec.JobTemplate.Spec, p.Child("jobTemplate", "spec"))...)
	return errs
}

// validateSchedule checks a standard five-field cron expression or one of
// the @ macros.
func validateSchedule(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("must be a cron expression such as \"*/5 * * * *\"")
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return fmt.Errorf("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
	}
	if strings.HasPrefix(s, "@") {
		switch s {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		if strings.HasPrefix(s, "@every ") {
			if _, err := time.ParseDuration(strings.TrimPrefix(s, "@every ")); err == nil {
				return nil
			}
		}
		return fmt.Errorf("unrecognized descriptor: %s", s)
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return fmt.Errorf("expected exactly 5 fields, found %d: %s", len(f), s)
	}
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}
	for i, fld := range f {
		if err := validateCronField(fld, bounds[i][0], bounds[i][1]); err != nil {
			return err
		}
	}
	return nil
}

func validateCronField(f string, lo, hi int) error {
	for _, part := range strings.Split(f, ",") {
		rng, step, hasStep := strings.Cut(part, "/")
		if hasStep {
			var n int
			if _, err := fmt.Sscanf(step, "%d", &n); err != nil || n <= 0 {
				return fmt.Errorf("invalid step %q", step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		a, bb, isRange := strings.Cut(rng, "-")
		for _, v := range []string{a, bb} {
			if !isRange && v == bb {
				continue
			}
			var n int
			if _, err := fmt.Sscanf(v, "%d", &n); err != nil {
				if isNamed(v) {
					continue
				}
				return fmt.Errorf("failed to parse %q in %q", v, f)
			}
			if n < lo || n > hi {
				return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
			}
		}
	}
	return nil
}

func isNamed(v string) bool {
	switch strings.ToLower(v) {
	case "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
		"sun", "mon", "tue", "wed", "thu", "fri", "sat":
		return true
	}
	return false
}

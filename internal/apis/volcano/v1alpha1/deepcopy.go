package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Hand-written deep copies. Every slice, map and pointer is copied, so a copy
// can be changed without touching the original; types_test.go checks this
// for every field.

// DeepCopyInto copies j into out.
func (j *Job) DeepCopyInto(out *Job) {
	*out = *j
	j.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	j.Spec.DeepCopyInto(&out.Spec)
	j.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy of j, or nil if j is nil.
func (j *Job) DeepCopy() *Job {
	if j == nil {
		return nil
	}
	out := new(Job)
	j.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (j *Job) DeepCopyObject() runtime.Object {
	if c := j.DeepCopy(); c != nil {
		return c
	}
	return nil
}

// DeepCopyInto copies s into out.
func (s *JobSpec) DeepCopyInto(out *JobSpec) {
	*out = *s
	if s.Volumes != nil {
		out.Volumes = make([]VolumeSpec, len(s.Volumes))
		for i := range s.Volumes {
			s.Volumes[i].DeepCopyInto(&out.Volumes[i])
		}
	}
	if s.Tasks != nil {
		out.Tasks = make([]TaskSpec, len(s.Tasks))
		for i := range s.Tasks {
			s.Tasks[i].DeepCopyInto(&out.Tasks[i])
		}
	}
	out.Policies = copyPolicies(s.Policies)
	if s.Plugins != nil {
		out.Plugins = make(map[string][]string, len(s.Plugins))
		for k, v := range s.Plugins {
			if v == nil {
				out.Plugins[k] = nil
				continue
			}
			out.Plugins[k] = append([]string{}, v...)
		}
	}
	if s.RunningEstimate != nil {
		out.RunningEstimate = new(*s.RunningEstimate)
	}
	if s.TTLSecondsAfterFinished != nil {
		out.TTLSecondsAfterFinished = new(*s.TTLSecondsAfterFinished)
	}
	if s.MinSuccess != nil {
		out.MinSuccess = new(*s.MinSuccess)
	}
}

// DeepCopy returns a deep copy of s, or nil if s is nil.
func (s *JobSpec) DeepCopy() *JobSpec {
	if s == nil {
		return nil
	}
	out := new(JobSpec)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies v into out.
func (v *VolumeSpec) DeepCopyInto(out *VolumeSpec) {
	*out = *v
	out.VolumeClaim = v.VolumeClaim.DeepCopy()
}

// DeepCopyInto copies t into out.
func (t *TaskSpec) DeepCopyInto(out *TaskSpec) {
	*out = *t
	if t.MinAvailable != nil {
		out.MinAvailable = new(*t.MinAvailable)
	}
	t.Template.DeepCopyInto(&out.Template)
	out.Policies = copyPolicies(t.Policies)
	if t.DependsOn != nil {
		out.DependsOn = &DependsOn{Iteration: t.DependsOn.Iteration}
		if t.DependsOn.Name != nil {
			out.DependsOn.Name = append([]string{}, t.DependsOn.Name...)
		}
	}
}

// DeepCopy returns a deep copy of t, or nil if t is nil.
func (t *TaskSpec) DeepCopy() *TaskSpec {
	if t == nil {
		return nil
	}
	out := new(TaskSpec)
	t.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies p into out.
func (p *LifecyclePolicy) DeepCopyInto(out *LifecyclePolicy) {
	*out = *p
	if p.Events != nil {
		out.Events = append([]Event{}, p.Events...)
	}
	if p.ExitCode != nil {
		out.ExitCode = new(*p.ExitCode)
	}
	if p.Timeout != nil {
		out.Timeout = new(*p.Timeout)
	}
}

func copyPolicies(in []LifecyclePolicy) []LifecyclePolicy {
	if in == nil {
		return nil
	}
	out := make([]LifecyclePolicy, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}

// DeepCopyInto copies s into out.
func (s *JobStatus) DeepCopyInto(out *JobStatus) {
	*out = *s
	s.State.LastTransitionTime.DeepCopyInto(&out.State.LastTransitionTime)
	if s.TaskStatusCount != nil {
		out.TaskStatusCount = make(map[string]TaskState, len(s.TaskStatusCount))
		for k, v := range s.TaskStatusCount {
			var c TaskState
			if v.Phase != nil {
				c.Phase = make(map[corev1.PodPhase]int32, len(v.Phase))
				for phase, n := range v.Phase {
					c.Phase[phase] = n
				}
			}
			out.TaskStatusCount[k] = c
		}
	}
	if s.RunningDuration != nil {
		out.RunningDuration = new(*s.RunningDuration)
	}
	if s.ControlledResources != nil {
		out.ControlledResources = make(map[string]string, len(s.ControlledResources))
		for k, v := range s.ControlledResources {
			out.ControlledResources[k] = v
		}
	}
	if s.Conditions != nil {
		out.Conditions = make([]JobCondition, len(s.Conditions))
		for i, c := range s.Conditions {
			out.Conditions[i] = JobCondition{Status: c.Status, LastTransitionTime: c.LastTransitionTime.DeepCopy()}
		}
	}
}

// DeepCopy returns a deep copy of s, or nil if s is nil.
func (s *JobStatus) DeepCopy() *JobStatus {
	if s == nil {
		return nil
	}
	out := new(JobStatus)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyInto copies l into out.
func (l *JobList) DeepCopyInto(out *JobList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Job, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy returns a deep copy of l, or nil if l is nil.
func (l *JobList) DeepCopy() *JobList {
	if l == nil {
		return nil
	}
	out := new(JobList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *JobList) DeepCopyObject() runtime.Object {
	if c := l.DeepCopy(); c != nil {
		return c
	}
	return nil
}

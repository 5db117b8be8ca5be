package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobPhase is the lifecycle phase of a Job.
type JobPhase string

// The phases of a Job.
const (
	Pending     JobPhase = "Pending"
	Aborting    JobPhase = "Aborting"
	Aborted     JobPhase = "Aborted"
	Running     JobPhase = "Running"
	Restarting  JobPhase = "Restarting"
	Completing  JobPhase = "Completing"
	Completed   JobPhase = "Completed"
	Terminating JobPhase = "Terminating"
	Terminated  JobPhase = "Terminated"
	Failed      JobPhase = "Failed"
)

// Event is something that happens to a Job's pods or tasks and that a
// LifecyclePolicy can react to.
type Event string

// The events a LifecyclePolicy may name.
const (
	AnyEvent           Event = "*"
	PodFailedEvent     Event = "PodFailed"
	PodEvictedEvent    Event = "PodEvicted"
	PodPendingEvent    Event = "PodPending"
	JobUnknownEvent    Event = "Unknown"
	TaskCompletedEvent Event = "TaskCompleted"
	TaskFailedEvent    Event = "TaskFailed"
)

// Action is what a LifecyclePolicy does when its event happens.
type Action string

// The actions a LifecyclePolicy may take.
const (
	AbortJobAction     Action = "AbortJob"
	RestartJobAction   Action = "RestartJob"
	RestartTaskAction  Action = "RestartTask"
	RestartPodAction   Action = "RestartPod"
	TerminateJobAction Action = "TerminateJob"
	CompleteJobAction  Action = "CompleteJob"
)

// Job is a Volcano batch job: a set of tasks, each a pod template with a
// replica count, started together once MinAvailable pods can run.
type Job struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   JobSpec   `json:"spec,omitempty"`
	Status JobStatus `json:"status,omitempty"`
}

// JobSpec is the desired behaviour of a Job.
type JobSpec struct {
	SchedulerName string `json:"schedulerName,omitempty"`
	// MinAvailable is the number of pods that must be able to run before any
	// of them starts (gang scheduling).
	MinAvailable int32        `json:"minAvailable,omitempty"`
	Volumes      []VolumeSpec `json:"volumes,omitempty"`
	// Tasks are the job's groups of identical pods; at least one.
	Tasks []TaskSpec `json:"tasks,omitempty"`
	// Policies apply to every task that has no policy for the same event.
	Policies []LifecyclePolicy `json:"policies,omitempty"`
	// Plugins maps a plugin name (env, svc, ssh, ...) to its arguments.
	Plugins                 map[string][]string `json:"plugins,omitempty"`
	RunningEstimate         *metav1.Duration    `json:"runningEstimate,omitempty"`
	Queue                   string              `json:"queue,omitempty"`
	MaxRetry                int32               `json:"maxRetry,omitempty"`
	TTLSecondsAfterFinished *int32              `json:"ttlSecondsAfterFinished,omitempty"`
	PriorityClassName       string              `json:"priorityClassName,omitempty"`
	MinSuccess              *int32              `json:"minSuccess,omitempty"`
}

// VolumeSpec mounts a persistent volume claim into every pod of a Job.
type VolumeSpec struct {
	MountPath string `json:"mountPath"`
	// VolumeClaimName names an existing claim; if empty, one is created from
	// VolumeClaim.
	VolumeClaimName string                            `json:"volumeClaimName,omitempty"`
	VolumeClaim     *corev1.PersistentVolumeClaimSpec `json:"volumeClaim,omitempty"`
}

// TaskSpec is one group of identical pods in a Job.
type TaskSpec struct {
	// Name is unique within the Job and a DNS label.
	Name     string `json:"name,omitempty"`
	Replicas int32  `json:"replicas,omitempty"`
	// MinAvailable is the number of this task's pods that must be able to
	// run; nil means all replicas.
	MinAvailable   *int32                 `json:"minAvailable,omitempty"`
	Template       corev1.PodTemplateSpec `json:"template,omitempty"`
	Policies       []LifecyclePolicy      `json:"policies,omitempty"`
	TopologyPolicy string                 `json:"topologyPolicy,omitempty"`
	MaxRetry       int32                  `json:"maxRetry,omitempty"`
	DependsOn      *DependsOn             `json:"dependsOn,omitempty"`
}

// DependsOn names the tasks that must run before a task starts.
type DependsOn struct {
	Name []string `json:"name,omitempty"`
	// Iteration is "any" or "all" (the default): whether one or every named
	// task must be running.
	Iteration string `json:"iteration,omitempty"`
}

// LifecyclePolicy says what to do when an event happens or a container exits
// with a given code.
type LifecyclePolicy struct {
	Action Action  `json:"action,omitempty"`
	Event  Event   `json:"event,omitempty"`
	Events []Event `json:"events,omitempty"`
	// ExitCode triggers Action when a container exits with it; it excludes
	// Event and Events, and must not be 0.
	ExitCode *int32           `json:"exitCode,omitempty"`
	Timeout  *metav1.Duration `json:"timeout,omitempty"`
}

// JobStatus is the observed state of a Job.
type JobStatus struct {
	State               JobState             `json:"state,omitempty"`
	MinAvailable        int32                `json:"minAvailable,omitempty"`
	TaskStatusCount     map[string]TaskState `json:"taskStatusCount,omitempty"`
	Pending             int32                `json:"pending,omitempty"`
	Running             int32                `json:"running,omitempty"`
	Succeeded           int32                `json:"succeeded,omitempty"`
	Failed              int32                `json:"failed,omitempty"`
	Terminating         int32                `json:"terminating,omitempty"`
	Unknown             int32                `json:"unknown,omitempty"`
	Version             int32                `json:"version,omitempty"`
	RetryCount          int32                `json:"retryCount,omitempty"`
	RunningDuration     *metav1.Duration     `json:"runningDuration,omitempty"`
	ControlledResources map[string]string    `json:"controlledResources,omitempty"`
	Conditions          []JobCondition       `json:"conditions,omitempty"`
}

// JobState is a Job's current phase and why it is in it.
type JobState struct {
	Phase              JobPhase    `json:"phase,omitempty"`
	Reason             string      `json:"reason,omitempty"`
	Message            string      `json:"message,omitempty"`
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}

// TaskState counts a task's pods by pod phase.
type TaskState struct {
	Phase map[corev1.PodPhase]int32 `json:"phase,omitempty"`
}

// JobCondition records when a Job entered a phase.
type JobCondition struct {
	Status             JobPhase     `json:"status"`
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// JobList is a list of Jobs.
type JobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`

	Items []Job `json:"items"`
}

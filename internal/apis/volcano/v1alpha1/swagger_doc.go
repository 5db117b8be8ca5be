package v1alpha1

// The SwaggerDoc methods describe each type for the OpenAPI documents and
// kubectl explain, in the convention of k8s.io/api's generated
// types_swagger_doc_generated.go: the "" key describes the type, the other
// keys are JSON field names. Each call returns a new map.

// SwaggerDoc describes Job.
func (Job) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "Job is a Volcano batch job: a set of tasks, each a pod template with a replica count, started together once minAvailable pods can run.",
		"metadata": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
		"spec":     "Spec is the desired behaviour of the job.",
		"status":   "Status is the most recently observed state of the job. Read-only.",
	}
}

// SwaggerDoc describes JobSpec.
func (JobSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                        "JobSpec is the desired behaviour of a Job.",
		"schedulerName":           "Scheduler that places the job's pods. Defaults to volcano.",
		"minAvailable":            "Number of pods that must be able to run before any of them starts (gang scheduling). At most the sum of the tasks' replicas.",
		"volumes":                 "Persistent volumes mounted into every pod of the job.",
		"tasks":                   "Groups of identical pods that make up the job. At least one; names are unique DNS labels.",
		"policies":                "Lifecycle policies for every task that has no policy for the same event.",
		"plugins":                 "Job plugins, such as env, svc or ssh, each with its arguments.",
		"runningEstimate":         "Expected running time of the job, used by the scheduler.",
		"queue":                   "Queue the job is submitted to. Defaults to default.",
		"maxRetry":                "Number of times the job is retried before it is marked Failed.",
		"ttlSecondsAfterFinished": "Seconds after the job finishes (Completed, Failed or Terminated) before it is deleted. Unset means never.",
		"priorityClassName":       "Priority class of the job's pods.",
		"minSuccess":              "Number of pods that must succeed for the job to be Completed.",
	}
}

// SwaggerDoc describes VolumeSpec.
func (VolumeSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                "VolumeSpec mounts a persistent volume claim into every pod of a Job.",
		"mountPath":       "Path in each container at which the volume is mounted.",
		"volumeClaimName": "Name of an existing persistent volume claim. If empty, a claim is created from volumeClaim.",
		"volumeClaim":     "Spec of the persistent volume claim to create.",
	}
}

// SwaggerDoc describes TaskSpec.
func (TaskSpec) SwaggerDoc() map[string]string {
	return map[string]string{
		"":               "TaskSpec is one group of identical pods in a Job.",
		"name":           "Name of the task: a DNS label, unique within the job.",
		"replicas":       "Number of pods of the task.",
		"minAvailable":   "Number of the task's pods that must be able to run. Defaults to replicas.",
		"template":       "Pod template of the task's pods. CCI's pod rules apply: every container sets CPU and memory limits equal to its requests, within the allowed instance sizes.",
		"policies":       "Lifecycle policies of the task; they take precedence over the job's.",
		"topologyPolicy": "Topology manager policy of the task's pods: none, best-effort, restricted or single-numa-node.",
		"maxRetry":       "Number of times the task is retried before it is marked failed.",
		"dependsOn":      "Tasks that must be running before this task starts.",
	}
}

// SwaggerDoc describes DependsOn.
func (DependsOn) SwaggerDoc() map[string]string {
	return map[string]string{
		"":          "DependsOn names the tasks that must run before a task starts.",
		"name":      "Names of the tasks this task depends on.",
		"iteration": "any or all (the default): whether one or every named task must be running.",
	}
}

// SwaggerDoc describes LifecyclePolicy.
func (LifecyclePolicy) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "LifecyclePolicy says what to do when an event happens or a container exits with a given code.",
		"action":   "What to do: AbortJob, RestartJob, RestartTask, RestartPod, TerminateJob or CompleteJob.",
		"event":    "Event that triggers the action: *, PodFailed, PodEvicted, PodPending, Unknown, TaskCompleted or TaskFailed.",
		"events":   "Events that trigger the action, as in event.",
		"exitCode": "Container exit code that triggers the action. Excludes event and events; must not be 0.",
		"timeout":  "Time to wait after the event before taking the action.",
	}
}

// SwaggerDoc describes JobStatus.
func (JobStatus) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                    "JobStatus is the observed state of a Job.",
		"state":               "Current phase of the job and why it is in it.",
		"minAvailable":        "Gang size the job was scheduled with.",
		"taskStatusCount":     "Pod counts by phase for each task.",
		"pending":             "Number of pending pods.",
		"running":             "Number of running pods.",
		"succeeded":           "Number of pods that succeeded.",
		"failed":              "Number of pods that failed.",
		"terminating":         "Number of pods being terminated.",
		"unknown":             "Number of pods in an unknown state.",
		"version":             "Version of the job, increased on each restart.",
		"retryCount":          "Number of times the job has been retried.",
		"runningDuration":     "How long the job has been running.",
		"controlledResources": "Resources, such as plugins' services, created for the job.",
		"conditions":          "Phases the job has passed through, with when it entered each.",
	}
}

// SwaggerDoc describes JobState.
func (JobState) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                   "JobState is a Job's current phase and why it is in it.",
		"phase":              "Phase: Pending, Aborting, Aborted, Running, Restarting, Completing, Completed, Terminating, Terminated or Failed.",
		"reason":             "Machine-readable reason for the last phase change.",
		"message":            "Human-readable detail about the last phase change.",
		"lastTransitionTime": "When the job last changed phase.",
	}
}

// SwaggerDoc describes TaskState.
func (TaskState) SwaggerDoc() map[string]string {
	return map[string]string{
		"":      "TaskState counts a task's pods by pod phase.",
		"phase": "Number of the task's pods in each pod phase.",
	}
}

// SwaggerDoc describes JobCondition.
func (JobCondition) SwaggerDoc() map[string]string {
	return map[string]string{
		"":                   "JobCondition records when a Job entered a phase.",
		"status":             "Phase the job entered.",
		"lastTransitionTime": "When the job entered the phase.",
	}
}

// SwaggerDoc describes JobList.
func (JobList) SwaggerDoc() map[string]string {
	return map[string]string{
		"":         "JobList is a list of Volcano Jobs.",
		"metadata": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
		"items":    "Items is the list of Jobs.",
	}
}

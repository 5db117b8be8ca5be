// Package v1alpha1 holds the batch.volcano.sh/v1alpha1 API CCI serves: the
// Volcano Job, a batch job made of tasks, each a pod template with a replica
// count, scheduled as a gang (minAvailable) and steered by lifecycle
// policies.
//
// The shape follows Volcano's published Job so that vcjob manifests apply
// unchanged.
package v1alpha1

package v1alpha1

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/apis/apistest"
)

func TestDeepCopy(t *testing.T) {
	apistest.DeepCopy(t, &Job{}, &JobList{})
}

func TestSwaggerDocs(t *testing.T) {
	apistest.SwaggerDocs(t, Job{}, JobList{})
}

func TestJSONRoundTrip(t *testing.T) {
	one := resource.MustParse("1")
	twoGi := resource.MustParse("2Gi")
	job := &Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: SchemeGroupVersion.String(), Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: "train", Namespace: "default"},
		Spec: JobSpec{
			SchedulerName: "volcano",
			MinAvailable:  2,
			Queue:         "default",
			MaxRetry:      3,
			Plugins:       map[string][]string{"env": {}, "svc": {"--publish-not-ready-addresses"}},
			Policies:      []LifecyclePolicy{{Event: PodEvictedEvent, Action: RestartJobAction}},
			Tasks: []TaskSpec{{
				Name:     "worker",
				Replicas: 2,
				Policies: []LifecyclePolicy{{ExitCode: new(int32(3)), Action: RestartTaskAction, Timeout: &metav1.Duration{Duration: time.Minute}}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "main", Image: "busybox",
						Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: one, corev1.ResourceMemory: twoGi}},
					}},
				}},
			}},
			TTLSecondsAfterFinished: new(int32(60)),
		},
		Status: JobStatus{
			State:           JobState{Phase: Running, LastTransitionTime: metav1.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
			MinAvailable:    2,
			Running:         2,
			TaskStatusCount: map[string]TaskState{"worker": {Phase: map[corev1.PodPhase]int32{corev1.PodRunning: 2}}},
			Conditions:      []JobCondition{{Status: Pending}, {Status: Running}},
		},
	}
	apistest.JSONRoundTrip(t, job, &JobList{Items: []Job{*job}})
}

func TestAddToScheme(t *testing.T) {
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&Job{}, &JobList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil || len(gvks) != 1 || gvks[0].GroupVersion() != SchemeGroupVersion {
			t.Errorf("%T: kinds %v, %v; want one in %v", obj, gvks, err, SchemeGroupVersion)
		}
	}
}

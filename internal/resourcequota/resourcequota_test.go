package resourcequota

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func list(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func container(name, cpuReq, cpuLim, memReq, memLim string) corev1.Container {
	c := corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}}
	set := func(l corev1.ResourceList, n corev1.ResourceName, v string) {
		if v != "" {
			l[n] = resource.MustParse(v)
		}
	}
	set(c.Resources.Requests, corev1.ResourceCPU, cpuReq)
	set(c.Resources.Limits, corev1.ResourceCPU, cpuLim)
	set(c.Resources.Requests, corev1.ResourceMemory, memReq)
	set(c.Resources.Limits, corev1.ResourceMemory, memLim)
	return c
}

func TestUsage(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := container("side", "250m", "250m", "256Mi", "256Mi")
	sidecar.RestartPolicy = &always
	noAlloc := false
	pods := schema.GroupResource{Resource: "pods"}
	services := schema.GroupResource{Resource: "services"}
	tests := []struct {
		name string
		gr   schema.GroupResource
		obj  runtime.Object
		want corev1.ResourceList
	}{{
		name: "configmap counts twice",
		gr:   schema.GroupResource{Resource: "configmaps"},
		obj:  &corev1.ConfigMap{},
		want: list("count/configmaps", "1", "configmaps", "1"),
	}, {
		name: "grouped resource by metadata",
		gr:   schema.GroupResource{Group: "apps", Resource: "deployments"},
		obj:  &metav1.PartialObjectMetadata{},
		want: list("count/deployments.apps", "1"),
	}, {
		name: "core resource without a legacy name",
		gr:   schema.GroupResource{Resource: "serviceaccounts"},
		obj:  &corev1.ServiceAccount{},
		want: list("count/serviceaccounts", "1"),
	}, {
		name: "pod sums app containers; requests default to limits",
		gr:   pods,
		obj: &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
			container("a", "250m", "500m", "1Gi", "1Gi"),
			container("b", "", "250m", "", "512Mi"),
		}}},
		want: list("count/pods", "1", "pods", "1",
			"requests.cpu", "500m", "cpu", "500m", "limits.cpu", "750m",
			"requests.memory", "1536Mi", "memory", "1536Mi", "limits.memory", "1536Mi"),
	}, {
		name: "largest init container wins over the app sum",
		gr:   pods,
		obj: &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{container("i1", "2", "2", "1Gi", "1Gi"), container("i2", "250m", "250m", "4Gi", "4Gi")},
			Containers:     []corev1.Container{container("a", "1", "1", "2Gi", "2Gi")},
		}},
		want: list("count/pods", "1", "pods", "1",
			"requests.cpu", "2", "cpu", "2", "limits.cpu", "2",
			"requests.memory", "4Gi", "memory", "4Gi", "limits.memory", "4Gi"),
	}, {
		name: "sidecars count with the app containers and beside later init containers",
		gr:   pods,
		obj: &corev1.Pod{Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar, container("i", "1", "1", "256Mi", "256Mi")},
			Containers:     []corev1.Container{container("a", "250m", "250m", "1Gi", "1Gi")},
		}},
		want: list("count/pods", "1", "pods", "1",
			"requests.cpu", "1250m", "cpu", "1250m", "limits.cpu", "1250m",
			"requests.memory", "1280Mi", "memory", "1280Mi", "limits.memory", "1280Mi"),
	}, {
		name: "finished pod consumes nothing",
		gr:   pods,
		obj: &corev1.Pod{
			Spec:   corev1.PodSpec{Containers: []corev1.Container{container("a", "1", "1", "1Gi", "1Gi")}},
			Status: corev1.PodStatus{Phase: corev1.PodSucceeded},
		},
		want: corev1.ResourceList{},
	}, {
		name: "ClusterIP service",
		gr:   services,
		obj:  &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}},
		want: list("count/services", "1", "services", "1", "services.loadbalancers", "0", "services.nodeports", "0"),
	}, {
		name: "NodePort service",
		gr:   services,
		obj:  &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}},
		want: list("count/services", "1", "services", "1", "services.loadbalancers", "0", "services.nodeports", "2"),
	}, {
		name: "LoadBalancer service without node ports",
		gr:   services,
		obj: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: &noAlloc,
			Ports: []corev1.ServicePort{{Port: 80}}}},
		want: list("count/services", "1", "services", "1", "services.loadbalancers", "1", "services.nodeports", "0"),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Usage(tc.gr, tc.obj)
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("Usage = %v\nwant    %v", got, tc.want)
			}
			for n := range got {
				if src, ok := Source(n); !ok || src != tc.gr {
					t.Errorf("Source(%s) = %v, %v; want %v", n, src, ok, tc.gr)
				}
			}
		})
	}
}

func TestSource(t *testing.T) {
	tests := []struct {
		name string
		want schema.GroupResource
		ok   bool
	}{
		{"count/pods", schema.GroupResource{Resource: "pods"}, true},
		{"count/jobs.batch.volcano.sh", schema.GroupResource{Group: "batch.volcano.sh", Resource: "jobs"}, true},
		{"memory", schema.GroupResource{Resource: "pods"}, true},
		{"resourcequotas", schema.GroupResource{Resource: "resourcequotas"}, true},
		{"services.nodeports", schema.GroupResource{Resource: "services"}, true},
		{"requests.storage", schema.GroupResource{}, false},
		{"requests.nvidia.com/gpu", schema.GroupResource{}, false},
		{"count/", schema.GroupResource{}, false},
		{"endpoints", schema.GroupResource{}, false},
	}
	for _, tc := range tests {
		got, ok := Source(corev1.ResourceName(tc.name))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Source(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCharge(t *testing.T) {
	quota := func(hard, used corev1.ResourceList) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "q"},
			Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
		}
	}
	tests := []struct {
		name    string
		q       *corev1.ResourceQuota
		delta   corev1.ResourceList
		want    corev1.ResourceList
		wantErr string
	}{{
		name:  "under the limit; names the quota does not limit are left out",
		q:     quota(list("pods", "2", "requests.cpu", "1"), list("pods", "1", "requests.cpu", "250m")),
		delta: list("pods", "1", "requests.cpu", "500m", "count/pods", "1"),
		want:  list("pods", "2", "requests.cpu", "750m"),
	}, {
		name:    "one name over",
		q:       quota(list("pods", "2", "requests.cpu", "500m"), list("pods", "1", "requests.cpu", "250m")),
		delta:   list("pods", "1", "requests.cpu", "500m"),
		wantErr: "exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=250m, limited: requests.cpu=500m",
	}, {
		name:    "every name over, sorted",
		q:       quota(list("pods", "1", "count/pods", "1"), list("pods", "1", "count/pods", "1")),
		delta:   list("pods", "1", "count/pods", "1"),
		wantErr: "exceeded quota: q, requested: count/pods=1,pods=1, used: count/pods=1,pods=1, limited: count/pods=1,pods=1",
	}, {
		name:    "usage not counted yet",
		q:       quota(list("pods", "1", "configmaps", "1"), nil),
		delta:   list("pods", "1", "configmaps", "1"),
		wantErr: "status unknown for quota: q, resource: configmaps,pods",
	}, {
		name:  "exactly at the limit is allowed",
		q:     quota(list("limits.memory", "2Gi"), list("limits.memory", "1Gi")),
		delta: list("limits.memory", "1024Mi"),
		want:  list("limits.memory", "2Gi"),
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.q.DeepCopy()
			got, err := Charge(tc.q, tc.delta)
			if !equality.Semantic.DeepEqual(tc.q, before) {
				t.Errorf("Charge modified the quota")
			}
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Charge error = %v\nwant           %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("Charge = %v, want %v", got, tc.want)
			}
			if back := Release(got, tc.delta); !equality.Semantic.DeepEqual(back, tc.q.Status.Used) {
				t.Errorf("Release(Charge) = %v, want %v", back, tc.q.Status.Used)
			}
		})
	}
}

func TestReleaseStopsAtZero(t *testing.T) {
	got := Release(list("pods", "1", "requests.cpu", "250m"), list("pods", "2", "requests.cpu", "500m", "count/pods", "1"))
	if want := list("pods", "0", "requests.cpu", "0"); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("Release = %v, want %v", got, want)
	}
}

func TestNonZero(t *testing.T) {
	got := NonZero(list("pods", "1", "limits.cpu", "0", "services.nodeports", "0"))
	if want := list("pods", "1"); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("NonZero = %v, want %v", got, want)
	}
}

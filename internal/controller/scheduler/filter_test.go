package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readyNode(name string, cpu, mem string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
				corev1.ResourcePods: resource.MustParse("3"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func podRequesting(cpu, mem string) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}}}
}

func TestFilter(t *testing.T) {
	noSchedule := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	preferNo := corev1.Taint{Key: "soft", Effect: corev1.TaintEffectPreferNoSchedule}
	for _, tc := range []struct {
		name string
		pod  func() *corev1.Pod
		node *corev1.Node
		used usage
		want string
	}{
		{"fits", func() *corev1.Pod { return podRequesting("1", "1Gi") }, readyNode("n", "2", "2Gi", nil), usage{}, ""},
		{"cpu", func() *corev1.Pod { return podRequesting("3", "") }, readyNode("n", "2", "2Gi", nil), usage{}, reasonCPU},
		{"cpu with what runs", func() *corev1.Pod { return podRequesting("1", "") }, readyNode("n", "2", "2Gi", nil),
			usage{milliCPU: 1500, pods: 1}, reasonCPU},
		{"memory", func() *corev1.Pod { return podRequesting("", "3Gi") }, readyNode("n", "2", "2Gi", nil), usage{}, reasonMemory},
		{"pods", func() *corev1.Pod { return podRequesting("", "") }, readyNode("n", "2", "2Gi", nil), usage{pods: 3}, reasonTooManyPods},
		{"not ready", func() *corev1.Pod { return podRequesting("", "") }, func() *corev1.Node {
			n := readyNode("n", "2", "2Gi", nil)
			n.Status.Conditions[0].Status = corev1.ConditionFalse
			return n
		}(), usage{}, reasonNotReady},
		{"cordoned", func() *corev1.Pod { return podRequesting("", "") }, func() *corev1.Node {
			n := readyNode("n", "2", "2Gi", nil)
			n.Spec.Unschedulable = true
			return n
		}(), usage{}, reasonUnschedulable},
		{"selector", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			return p
		}, readyNode("n", "2", "2Gi", map[string]string{"disk": "hdd"}), usage{}, reasonSelector},
		{"selector matches", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			return p
		}, readyNode("n", "2", "2Gi", map[string]string{"disk": "ssd"}), usage{}, ""},
		{"affinity In", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"}}}},
				}}}}
			return p
		}, readyNode("n", "2", "2Gi", map[string]string{"zone": "c"}), usage{}, reasonSelector},
		{"affinity second term", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{
					{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
					{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"n"}}}},
				}}}}
			return p
		}, readyNode("n", "2", "2Gi", map[string]string{"zone": "c"}), usage{}, ""},
		{"taint", func() *corev1.Pod { return podRequesting("", "") }, readyNode("n", "2", "2Gi", nil, noSchedule), usage{}, reasonTaint},
		{"taint tolerated", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
			return p
		}, readyNode("n", "2", "2Gi", nil, noSchedule), usage{}, ""},
		{"tolerate everything", func() *corev1.Pod {
			p := podRequesting("", "")
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
			return p
		}, readyNode("n", "2", "2Gi", nil, noSchedule), usage{}, ""},
		{"PreferNoSchedule does not filter", func() *corev1.Pod { return podRequesting("", "") }, readyNode("n", "2", "2Gi", nil, preferNo), usage{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod()
			if got := filter(pod, tc.node, requestsOf(pod), tc.used); got != tc.want {
				t.Errorf("filter = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPodRequestsInitContainers(t *testing.T) {
	p := podRequesting("500m", "1Gi")
	p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("512Mi"),
	}}}}
	got := podRequests(p)
	if got.Cpu().MilliValue() != 2000 || got.Memory().Value() != 1<<30 {
		t.Errorf("requests %v: want the larger of init (2 cpu) and containers (1Gi)", got)
	}
}

func TestScorePrefersFreeRoom(t *testing.T) {
	big, small := readyNode("big", "8", "16Gi", nil), readyNode("small", "2", "2Gi", nil)
	req := requestsOf(podRequesting("1", "1Gi"))
	if score(big, req, usage{}) <= score(small, req, usage{}) {
		t.Error("the node with more free room should score higher")
	}
}

func TestFitError(t *testing.T) {
	got := fitError(3, map[string]int{reasonCPU: 2, reasonTaint: 1})
	want := "0/3 nodes are available: 1 node(s) had untolerated taint, 2 Insufficient cpu."
	if got != want {
		t.Errorf("fitError = %q, want %q", got, want)
	}
}

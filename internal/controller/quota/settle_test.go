package quota

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resources(pairs ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		l[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

// TestSettle follows step 3 of the package doc: higher counts are taken at
// once, a lower one only once it has held, at one resourceVersion, for
// Settle.
func TestSettle(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &Controller{opts: Options{Settle: time.Second, Now: func() time.Time { return now }}, lower: map[string]lowerCount{}}
	quota := func(rv string, used corev1.ResourceList) *corev1.ResourceQuota {
		return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}, Status: corev1.ResourceQuotaStatus{Used: used}}
	}
	steps := []struct {
		name      string
		advance   time.Duration
		q         *corev1.ResourceQuota
		counted   corev1.ResourceList
		want      corev1.ResourceList
		wantAgain bool
	}{
		{"first count takes everything", 0, quota("1", nil),
			resources("pods", "2", "configmaps", "1"), resources("pods", "2", "configmaps", "1"), false},
		{"higher is taken at once", 0, quota("2", resources("pods", "2", "configmaps", "1")),
			resources("pods", "3", "configmaps", "1"), resources("pods", "3", "configmaps", "1"), false},
		{"lower waits; higher names still move", 0, quota("3", resources("pods", "3", "configmaps", "1")),
			resources("pods", "1", "configmaps", "2"), resources("pods", "3", "configmaps", "2"), true},
		{"lower, not yet held for Settle", 500 * time.Millisecond, quota("3", resources("pods", "3", "configmaps", "1")),
			resources("pods", "1", "configmaps", "2"), resources("pods", "3", "configmaps", "2"), true},
		{"a charge came between: start again", 600 * time.Millisecond, quota("4", resources("pods", "4", "configmaps", "2")),
			resources("pods", "1", "configmaps", "2"), resources("pods", "4", "configmaps", "2"), true},
		{"another count differs: start again", time.Second, quota("4", resources("pods", "4", "configmaps", "2")),
			resources("pods", "2", "configmaps", "2"), resources("pods", "4", "configmaps", "2"), true},
		{"held for Settle: taken", time.Second, quota("4", resources("pods", "4", "configmaps", "2")),
			resources("pods", "2", "configmaps", "2"), resources("pods", "2", "configmaps", "2"), false},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		got, again := c.settle("ns/q", s.q, s.counted)
		if !equality.Semantic.DeepEqual(got, s.want) || again != s.wantAgain {
			t.Fatalf("%s: settle = %v, %v; want %v, %v", s.name, got, again, s.want, s.wantAgain)
		}
	}
	if len(c.lower) != 0 {
		t.Errorf("a settled count is still remembered: %v", c.lower)
	}
}

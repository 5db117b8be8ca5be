package cci

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// checkErrors fails t unless got holds exactly the errors in want, each
// written "<type> <path>" as in "Forbidden spec.nodeName", and no two on
// one path.
func checkErrors(t *testing.T, got field.ErrorList, want ...string) {
	t.Helper()
	var have []string
	paths := map[string]bool{}
	for _, e := range got {
		have = append(have, e.Type.String()+" "+e.Field)
		if paths[e.Field] {
			t.Errorf("two errors on %s: %v", e.Field, got)
		}
		paths[e.Field] = true
	}
	slices.Sort(have)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("errors:\n  %s\nwant:\n  %s\nfull: %v", strings.Join(have, "\n  "), strings.Join(want, "\n  "), got)
	}
}

// checkDetail fails t unless the error on path mentions every one of words.
func checkDetail(t *testing.T, errs field.ErrorList, path string, words ...string) {
	t.Helper()
	for _, e := range errs {
		if e.Field != path {
			continue
		}
		for _, w := range words {
			if !strings.Contains(e.Error(), w) {
				t.Errorf("error on %s does not mention %q: %s", path, w, e.Error())
			}
		}
		return
	}
	t.Errorf("no error on %s in %v", path, errs)
}

// sizedContainer returns a container limited (and requesting) cpu and mem.
func sizedContainer(name, cpu, mem string) corev1.Container {
	list := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	return corev1.Container{
		Name:      name,
		Image:     "busybox",
		Resources: corev1.ResourceRequirements{Limits: list, Requests: list.DeepCopy()},
	}
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

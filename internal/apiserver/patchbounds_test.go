package apiserver

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func TestLongestArray(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`{}`, 0},
		{`[]`, 0},
		{`[1]`, 1},
		{`[1, 2 ,3]`, 3},
		{`{"a":[1,2],"b":[[1,2,3,4],[]]}`, 4},
		{`["a,b,c", "[", "]", "\"[,,,]"]`, 4},
		{`[{"x":[1,2,3]},{"y":"]"},true,null,-1.5e3]`, 5},
		{`{"a":{"b":{"c":[{},{},{}]}}}`, 3},
	} {
		if !json.Valid([]byte(tc.in)) {
			t.Fatalf("bad case %s", tc.in)
		}
		if got := longestArray([]byte(tc.in)); got != tc.want {
			t.Errorf("longestArray(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestMergedElements(t *testing.T) {
	meta, err := strategicpatch.NewPatchMetaFromStruct(&corev1.Pod{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		patch          string
		elems, longest int
	}{
		// containers merge by name; env merges by name; args replaces.
		{`{"spec":{"containers":[{"name":"a","args":["1","2","3"],"env":[{"name":"x"},{"name":"y"}]}]}}`, 3, 2},
		{`{"spec":{"containers":[{"name":"a"}],"$setElementOrder/containers":[{"name":"a"},{"name":"b"}]}}`, 3, 2},
		{`{"metadata":{"finalizers":["a","b"],"labels":{"a":"b"}}}`, 2, 2},
		{`{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}`, 1, 1},
		{`{"unknown":[1,2,3],"spec":{"nodeSelector":{"a":"b"}}}`, 0, 0},
	} {
		var p map[string]any
		if err := json.Unmarshal([]byte(tc.patch), &p); err != nil {
			t.Fatal(err)
		}
		elems, longest := mergedElements(p, meta)
		if elems != tc.elems || longest != tc.longest {
			t.Errorf("mergedElements(%s) = %d, %d; want %d, %d", tc.patch, elems, longest, tc.elems, tc.longest)
		}
	}
}

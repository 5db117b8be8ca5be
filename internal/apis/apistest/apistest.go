// Package apistest checks the hand-written parts of Cella's API types: that
// DeepCopy copies every field without sharing memory, that every JSON field
// has a SwaggerDoc description, and that objects survive a JSON round trip.
package apistest

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"
)

// fuzzRounds is how many random objects each check fills per type.
const fuzzRounds = 20

// DeepCopy fills each object with random values (every pointer, slice and
// map set), deep-copies it, and fails t unless the copy equals the original
// and changing every value in the copy leaves the original as it was.
func DeepCopy(t *testing.T, objs ...runtime.Object) {
	t.Helper()
	codecs := serializer.NewCodecFactory(runtime.NewScheme())
	for _, proto := range objs {
		name := reflect.TypeOf(proto).Elem().Name()
		t.Run(name, func(t *testing.T) {
			for seed := range int64(fuzzRounds) {
				f := fuzzer.FuzzerFor(fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, timePointers), rand.NewSource(seed), codecs).
					NilChance(0).NumElements(1, 2)
				orig := reflect.New(reflect.TypeOf(proto).Elem()).Interface().(runtime.Object)
				f.Fill(orig)
				before, err := json.Marshal(orig)
				if err != nil {
					t.Fatalf("seed %d: marshal: %v", seed, err)
				}

				cp := orig.DeepCopyObject()
				if !apiequality.Semantic.DeepEqual(orig, cp) {
					t.Fatalf("seed %d: copy differs from original:\n%#v\n%#v", seed, orig, cp)
				}
				if shared := sharedMemory(reflect.ValueOf(orig), reflect.ValueOf(cp), name); len(shared) > 0 {
					t.Fatalf("seed %d: copy shares memory with the original at %s", seed, strings.Join(shared, ", "))
				}
				fuzzer.ValueFuzz(cp)
				after, err := json.Marshal(orig)
				if err != nil {
					t.Fatalf("seed %d: marshal: %v", seed, err)
				}
				if string(before) != string(after) {
					t.Fatalf("seed %d: changing the copy changed the original near:\nbefore ...%s...\nafter  ...%s...",
						seed, around(before, after), around(after, before))
				}
			}
		})
	}
}

// timePointers makes the filler set *metav1.Time fields: metav1.Time fills
// itself, and on a nil pointer that does nothing.
func timePointers(serializer.CodecFactory) []any {
	return []any{
		func(p **metav1.Time, c randfill.Continue) {
			*p = new(metav1.Time)
			c.Fill(*p)
		},
	}
}

// sharedMemory walks a and b, values of one type, in step and returns the
// paths of exported pointers, slices and maps that point at the same memory.
// Unexported fields are skipped: time.Time's *Location is meant to be shared.
func sharedMemory(a, b reflect.Value, path string) []string {
	var shared []string
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return nil
		}
		if a.Kind() == reflect.Pointer && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		return sharedMemory(a.Elem(), b.Elem(), path)
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		for i := range min(a.Len(), b.Len()) {
			shared = append(shared, sharedMemory(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Map:
		if !a.IsNil() && !b.IsNil() && a.Pointer() == b.Pointer() {
			return []string{path}
		}
		for _, k := range a.MapKeys() {
			if bv := b.MapIndex(k); bv.IsValid() {
				shared = append(shared, sharedMemory(a.MapIndex(k), bv, fmt.Sprintf("%s[%v]", path, k))...)
			}
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if f := a.Type().Field(i); f.IsExported() {
				shared = append(shared, sharedMemory(a.Field(i), b.Field(i), path+"."+f.Name)...)
			}
		}
	}
	return shared
}

// SwaggerDocs fails t unless every struct type reachable from objs and
// declared in the same package has a SwaggerDoc method whose keys are
// exactly "" and the JSON names of its non-inline fields.
func SwaggerDocs(t *testing.T, objs ...any) {
	t.Helper()
	seen := map[reflect.Type]bool{}
	for _, o := range objs {
		typ := reflect.TypeOf(o)
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		checkSwaggerDoc(t, typ, typ.PkgPath(), seen)
	}
}

func checkSwaggerDoc(t *testing.T, typ reflect.Type, pkg string, seen map[reflect.Type]bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ.PkgPath() != pkg || seen[typ] {
		return
	}
	seen[typ] = true

	var want []string
	want = append(want, "")
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" && (f.Anonymous || strings.Contains(opts, "inline")) {
			continue // metav1.TypeMeta: apiVersion and kind are described by the OpenAPI builder
		}
		if name == "" {
			t.Errorf("%s.%s has no json name", typ.Name(), f.Name)
			continue
		}
		want = append(want, name)
		checkSwaggerDoc(t, f.Type, pkg, seen)
	}

	m, ok := reflect.New(typ).Elem().Interface().(interface{ SwaggerDoc() map[string]string })
	if !ok {
		t.Errorf("%s has no SwaggerDoc method", typ.Name())
		return
	}
	doc := m.SwaggerDoc()
	var got []string
	for k, v := range doc {
		got = append(got, k)
		if strings.TrimSpace(v) == "" {
			t.Errorf("%s.SwaggerDoc()[%q] is empty", typ.Name(), k)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s.SwaggerDoc() keys = %q, want %q", typ.Name(), got, want)
	}
	doc["mutated"] = "x"
	if _, leaked := m.SwaggerDoc()["mutated"]; leaked {
		t.Errorf("%s.SwaggerDoc() returns a shared map", typ.Name())
	}
}

// JSONRoundTrip fails t unless each object encodes to JSON and decodes back
// into an equal object of the same type.
func JSONRoundTrip(t *testing.T, objs ...runtime.Object) {
	t.Helper()
	for _, obj := range objs {
		data, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("marshal %T: %v", obj, err)
		}
		back := reflect.New(reflect.TypeOf(obj).Elem()).Interface()
		if err := json.Unmarshal(data, back); err != nil {
			t.Fatalf("unmarshal %T: %v\n%s", obj, err, data)
		}
		if !apiequality.Semantic.DeepEqual(obj, back) {
			t.Errorf("%T changed in a JSON round trip:\n%s", obj, data)
		}
	}
}

// around returns the part of a near its first difference from b.
func around(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return string(a[max(0, i-120):min(len(a), i+40)])
}

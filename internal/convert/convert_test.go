package convert

import (
	"encoding/json"
	"math/rand"
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"
)

// fuzzRounds is how many random objects each round-trip test converts.
const fuzzRounds = 50

// validFuzzFuncs keep random objects within what the source version
// validates, where the conversions are lossless by design.
func validFuzzFuncs(serializer.CodecFactory) []any {
	return []any{
		// A string port has a name: "" is not a port.
		func(p *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*p = intstr.FromInt32(c.Int31())
			} else {
				*p = intstr.FromString("p" + c.String(8))
			}
		},
		// A v1 service backend has a name and exactly one of port name and number.
		func(s *networkingv1.IngressServiceBackend, c randfill.Continue) {
			s.Name = "svc" + c.String(8)
			if c.Bool() {
				s.Port = networkingv1.ServiceBackendPort{Number: c.Int31()}
			} else {
				s.Port = networkingv1.ServiceBackendPort{Name: "p" + c.String(8)}
			}
		},
		// metav1.Time fills itself, which does nothing on a nil pointer.
		func(p **metav1.Time, c randfill.Continue) {
			*p = new(metav1.Time)
			c.Fill(*p)
		},
	}
}

// roundTrip fills random objects of type In, converts them there and back,
// and fails t unless each comes back equal, the conversions leave their
// arguments alone, and results share no memory with them.
func roundTrip[In, Mid any, PIn interface {
	*In
	runtime.Object
}, PMid interface {
	*Mid
	runtime.Object
}](t *testing.T, there func(PIn) PMid, back func(PMid) PIn) {
	t.Helper()
	codecs := serializer.NewCodecFactory(runtime.NewScheme())
	for seed := range int64(fuzzRounds) {
		f := fuzzer.FuzzerFor(fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, validFuzzFuncs), rand.NewSource(seed), codecs).
			NilChance(0.2).NumElements(0, 2)
		in := PIn(new(In))
		f.Fill(in)
		in.GetObjectKind().SetGroupVersionKind(back(there(PIn(new(In)))).GetObjectKind().GroupVersionKind())

		mid := checkPure(t, in, there)
		got := checkPure(t, mid, back)
		if !apiequality.Semantic.DeepEqual(in, got) {
			t.Fatalf("seed %d: round trip changed the object:\n in: %s\nmid: %s\nout: %s", seed, mustJSON(in), mustJSON(mid), mustJSON(got))
		}
	}
}

// checkPure converts in with conv and fails t if the conversion changed in
// or if changing the result changes in.
func checkPure[PIn, POut runtime.Object](t *testing.T, in PIn, conv func(PIn) POut) POut {
	t.Helper()
	before := mustJSON(in)
	out := conv(in)
	if after := mustJSON(in); after != before {
		t.Fatalf("%T conversion changed its argument:\nbefore %s\nafter  %s", in, before, after)
	}
	scratch := out.DeepCopyObject()
	fuzzer.ValueFuzz(out)
	if after := mustJSON(in); after != before {
		t.Fatalf("%T conversion result shares memory with its argument", in)
	}
	return scratch.(POut)
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// checkTypeMeta fails t unless obj's TypeMeta is apiVersion/kind.
func checkTypeMeta(t *testing.T, obj runtime.Object, apiVersion, kind string) {
	t.Helper()
	gvk := obj.GetObjectKind().GroupVersionKind()
	if got, _ := gvk.ToAPIVersionAndKind(); got != apiVersion || gvk.Kind != kind {
		t.Errorf("%T TypeMeta = %s %s, want %s %s", obj, got, gvk.Kind, apiVersion, kind)
	}
}

// checkItemsTypeMeta fails t if any item of list carries a TypeMeta.
func checkItemsTypeMeta(t *testing.T, list runtime.Object) {
	t.Helper()
	items := reflect.ValueOf(list).Elem().FieldByName("Items")
	for i := range items.Len() {
		if tm := items.Index(i).FieldByName("TypeMeta").Interface().(metav1.TypeMeta); tm != (metav1.TypeMeta{}) {
			t.Errorf("%T item %d has TypeMeta %v, want none", list, i, tm)
		}
	}
}

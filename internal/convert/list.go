package convert

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// convertItems converts list items one by one with conv and clears each
// result's TypeMeta: list items carry none. A nil slice stays nil.
func convertItems[In, Out any, PO interface {
	*Out
	runtime.Object
}](in []In, conv func(*In) PO) []Out {
	if in == nil {
		return nil
	}
	out := make([]Out, len(in))
	for i := range in {
		o := conv(&in[i])
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		out[i] = *o
	}
	return out
}

package apiserver

import (
	"encoding/json"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"

	"cella.dev/cella/internal/registry"
)

// defaultColumns are used for kinds without their own columns.
var defaultColumns = []metav1.TableColumnDefinition{
	{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
	{Name: "Age", Type: "string", Description: "CreationTimestamp is the time the object was created."},
}

// table renders objects (stored version) as a meta.k8s.io Table with the
// kind's columns. includeObject is None, Metadata (default) or Object.
func (s *Server) table(ep *registry.Endpoint, objs []runtime.Object, rv, version, includeObject string) *metav1.Table {
	r := ep.Resource
	t := &metav1.Table{}
	t.APIVersion = "meta.k8s.io/" + version
	t.Kind = "Table"
	t.ResourceVersion = rv
	switch {
	case r.Columns == nil:
		t.ColumnDefinitions = defaultColumns
	case r.NamedRow:
		t.ColumnDefinitions = r.Columns
	default:
		t.ColumnDefinitions = append([]metav1.TableColumnDefinition{defaultColumns[0]}, r.Columns...)
	}
	now := s.now()
	t.Rows = make([]metav1.TableRow, 0, len(objs))
	for _, obj := range objs {
		m, err := meta.Accessor(obj)
		if err != nil {
			continue
		}
		row := metav1.TableRow{Cells: []any{m.GetName()}}
		if r.NamedRow {
			row.Cells = row.Cells[:0]
		}
		if r.Row == nil {
			row.Cells = append(row.Cells, Age(m.GetCreationTimestamp(), now))
		} else {
			row.Cells = append(row.Cells, r.Row(obj)...)
		}
		switch includeObject {
		case "None":
		case "Object":
			served, err := ep.ToServedObject(obj.DeepCopyObject())
			if err == nil {
				data, _ := json.Marshal(served)
				row.Object = runtime.RawExtension{Raw: data}
			}
		default:
			data, _ := json.Marshal(partialMetadata(obj, "v1"))
			row.Object = runtime.RawExtension{Raw: data}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// Age renders a creation time the way kubectl does ("5m", "2d3h").
func Age(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// partialMetadata returns the PartialObjectMetadata of obj.
func partialMetadata(obj runtime.Object, version string) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{}
	p.APIVersion = "meta.k8s.io/" + version
	p.Kind = "PartialObjectMetadata"
	if u, ok := obj.(*unstructured.Unstructured); ok {
		// A custom resource: its metadata is a map.
		if m, ok := u.Object["metadata"].(map[string]any); ok {
			_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &p.ObjectMeta)
		}
		return p
	}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			p.ObjectMeta = *om
		}
	}
	return p
}

// partialMetadataList returns the PartialObjectMetadataList of objs.
func partialMetadataList(objs []runtime.Object, lm metav1.ListMeta, version string) *metav1.PartialObjectMetadataList {
	l := &metav1.PartialObjectMetadataList{ListMeta: lm}
	l.APIVersion = "meta.k8s.io/" + version
	l.Kind = "PartialObjectMetadataList"
	l.Items = make([]metav1.PartialObjectMetadata, 0, len(objs))
	for _, o := range objs {
		l.Items = append(l.Items, *partialMetadata(o, version))
	}
	return l
}

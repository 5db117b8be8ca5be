package crd

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/util/jsonpath"

	"cella.dev/cella/internal/registry"
)

// printerColumn is one additionalPrinterColumn with its parsed JSONPath.
type printerColumn struct {
	def  metav1.TableColumnDefinition
	path *jsonpath.JSONPath
}

// tableColumns sets r's Table columns and rows from the version's
// additionalPrinterColumns (after the name), with cells typed as
// kube-apiserver types them: integers, numbers and booleans as JSON
// values, dates as ages ("5m"), strings as printed; a missing value is an
// empty cell. A column whose JSONPath does not parse leaves the default
// columns, as Kubernetes falls back.
func tableColumns(r *registry.Resource, cols []apiextensionsv1.CustomResourceColumnDefinition, now func() time.Time) {
	parsed := make([]printerColumn, 0, len(cols))
	for _, c := range cols {
		p := jsonpath.New(c.Name)
		p.AllowMissingKeys(true)
		if err := p.Parse(fmt.Sprintf("{%s}", c.JSONPath)); err != nil {
			return
		}
		parsed = append(parsed, printerColumn{
			def:  metav1.TableColumnDefinition{Name: c.Name, Type: c.Type, Format: c.Format, Description: c.Description, Priority: c.Priority},
			path: p,
		})
	}
	r.Columns = make([]metav1.TableColumnDefinition, len(parsed))
	for i, c := range parsed {
		r.Columns[i] = c.def
	}
	r.Row = func(obj runtime.Object) []any {
		u := obj.(*unstructured.Unstructured)
		cells := make([]any, len(parsed))
		for i, c := range parsed {
			results, err := c.path.FindResults(u.Object)
			if err != nil || len(results) == 0 || len(results[0]) == 0 {
				continue
			}
			cells[i] = cell(c, results[0][0].Interface(), now)
		}
		return cells
	}
}

// cell renders one value of a column of the given type.
func cell(c printerColumn, value any, now func() time.Time) any {
	if value == nil {
		return nil
	}
	switch c.def.Type {
	case "string":
		var buf bytes.Buffer
		if err := c.path.PrintResults(&buf, []reflect.Value{reflect.ValueOf(value)}); err != nil {
			return nil
		}
		return buf.String()
	case "integer":
		switch v := value.(type) {
		case int64:
			return v
		case float64:
			return int64(v)
		}
	case "number":
		switch v := value.(type) {
		case int64:
			return float64(v)
		case float64:
			return v
		}
	case "boolean":
		if b, ok := value.(bool); ok {
			return b
		}
	case "date":
		s, ok := value.(string)
		if !ok {
			return nil
		}
		var t metav1.Time
		if err := t.UnmarshalQueryParameter(s); err != nil {
			return "<invalid>"
		}
		if t.IsZero() {
			return "<unknown>"
		}
		return duration.HumanDuration(now().Sub(t.Time))
	default:
		return strings.TrimSpace(fmt.Sprint(value))
	}
	return nil
}

package apiserver

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Media types Cella reads and writes.
const (
	mediaJSON           = "application/json"
	mediaYAML           = "application/yaml"
	mediaProtobuf       = "application/vnd.kubernetes.protobuf"
	mediaJSONPatch      = "application/json-patch+json"
	mediaMergePatch     = "application/merge-patch+json"
	mediaStrategicPatch = "application/strategic-merge-patch+json"
	mediaApplyPatch     = "application/apply-patch+yaml"
)

// outputKind is the shape of a response body.
type outputKind int

const (
	outObject  outputKind = iota // the object or list itself
	outTable                     // meta.k8s.io Table
	outPartial                   // meta.k8s.io PartialObjectMetadata(List)
)

// output is the negotiated response format.
type output struct {
	kind outputKind
	yaml bool
	// tableVersion is v1 or v1beta1 for outTable and outPartial.
	tableVersion string
}

// acceptError is the 406 answer, listing what the path can produce.
func acceptError(accept string, table bool) error {
	types := []string{mediaJSON, mediaYAML}
	if table {
		types = append(types, "application/json;as=Table;v=v1;g=meta.k8s.io")
	}
	err := apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "", 0, false)
	err.ErrStatus.Reason = "NotAcceptable"
	err.ErrStatus.Message = fmt.Sprintf("the server cannot produce a response in %q; supported media types: %s", accept, strings.Join(types, ", "))
	err.ErrStatus.Details = nil
	return err
}

// negotiateOutput picks the response format from Accept. Resource
// endpoints can also render Tables and partial metadata (allowMeta).
func negotiateOutput(accept string, allowMeta bool) (output, error) {
	if strings.TrimSpace(accept) == "" {
		return output{}, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case mediaJSON, "application/*", "*/*", mediaYAML:
		default:
			continue
		}
		out := output{yaml: mt == mediaYAML}
		if as := params["as"]; as != "" {
			if !allowMeta || params["g"] != "meta.k8s.io" {
				continue
			}
			v := params["v"]
			if v != "v1" && v != "v1beta1" {
				continue
			}
			out.tableVersion = v
			switch as {
			case "Table":
				out.kind = outTable
			case "PartialObjectMetadata", "PartialObjectMetadataList":
				out.kind = outPartial
			default:
				continue
			}
		}
		return out, nil
	}
	return output{}, acceptError(accept, allowMeta)
}

// contentType returns the Content-Type for an output.
func (o output) contentType() string {
	if o.yaml {
		return mediaYAML
	}
	return mediaJSON
}

// encodeBody renders JSON in the output's media type.
func (o output) encodeBody(data []byte) ([]byte, error) {
	if !o.yaml {
		return data, nil
	}
	return yaml.JSONToYAML(data)
}

// bodyDecoder decodes request bodies into typed objects.
type bodyDecoder struct {
	protobuf *protobuf.Serializer
}

func newBodyDecoder(scheme *runtime.Scheme) *bodyDecoder {
	return &bodyDecoder{protobuf: protobuf.NewSerializer(scheme, scheme)}
}

// requestMediaType returns the media type of the request body.
func requestMediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// unsupportedMediaType is the 415 answer, listing the accepted types.
func unsupportedMediaType(got string, accepted []string) error {
	err := apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "", 0, false)
	err.ErrStatus.Reason = "UnsupportedMediaType"
	err.ErrStatus.Message = fmt.Sprintf("the body of the request was in an unknown format %q - accepted media types include: %s", got, strings.Join(accepted, ", "))
	err.ErrStatus.Details = nil
	return err
}

// objectMediaTypes are the body types of create and update.
var objectMediaTypes = []string{mediaJSON, mediaYAML, mediaProtobuf}

// decode decodes body (of media type mt) into into. Unknown and duplicate
// fields are returned as strict errors, for fieldValidation to judge.
func (d *bodyDecoder) decode(mt string, body []byte, into runtime.Object) (strict []error, err error) {
	switch mt {
	case mediaJSON:
	case mediaYAML:
		body, err = yaml.YAMLToJSON(body)
		if err != nil {
			return nil, apierrors.NewBadRequest("the request body is not valid YAML: " + err.Error())
		}
	case mediaProtobuf:
		if _, ok := into.(*unstructured.Unstructured); ok {
			// Custom resources have no protobuf form, as in Kubernetes.
			return nil, unsupportedMediaType(mt, []string{mediaJSON, mediaYAML})
		}
		if _, _, err := d.protobuf.Decode(body, nil, into); err != nil {
			return nil, apierrors.NewBadRequest("the request body is not a valid protobuf object: " + err.Error())
		}
		return nil, nil
	default:
		return nil, unsupportedMediaType(mt, objectMediaTypes)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty: send an object")
	}
	if u, ok := into.(*unstructured.Unstructured); ok {
		// Custom resources: any object decodes, numbers that are whole
		// stay integers; the schema's pruning finds the unknown fields.
		var m map[string]any
		if strict, err = sigsjson.UnmarshalStrict(body, &m, sigsjson.DisallowDuplicateFields); err != nil || m == nil {
			return nil, apierrors.NewBadRequest("the request body is not a valid object: the body must be a JSON object")
		}
		u.Object = m
		return strict, nil
	}
	strict, err = sigsjson.UnmarshalStrict(body, into, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return nil, apierrors.NewBadRequest("the request body is not a valid object: " + err.Error())
	}
	return strict, nil
}

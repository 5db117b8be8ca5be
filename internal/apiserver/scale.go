package apiserver

import (
	"encoding/json"
	"errors"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"cella.dev/cella/internal/registry"
)

// serveScale serves the /scale subresource as autoscaling/v1 Scale.
func (h *resourceHandler) serveScale(w http.ResponseWriter, r *http.Request) error {
	out, err := negotiateOutput(r.Header.Get("Accept"), false)
	if err != nil {
		return err
	}
	h.out = out
	ns, name := h.namespaceFor(), h.info.Name
	sf := h.ep.Resource.Scale
	switch h.info.Verb {
	case "get":
		obj, err := h.ep.Store.GetObject(r.Context(), ns, name)
		if err != nil {
			return err
		}
		return h.writeJSON(w, http.StatusOK, scaleOf(obj, sf))
	case "update", "patch":
	default:
		return methodNotAllowed(r, h.ep.Resource.GroupResource(), allowSubObject)
	}
	dry, err := dryRun(r.URL.Query())
	if err != nil {
		return err
	}
	mt := requestMediaType(r)
	if h.info.Verb == "patch" && mt == mediaApplyPatch {
		return h.applyScale(w, r, dry)
	}
	var manager string
	if h.info.Verb == "patch" {
		manager, _, err = patchOptions(r, false)
	} else {
		manager, err = writeManager(r, "UpdateOptions")
	}
	if err != nil {
		return err
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	var patch jsonpatch.Patch
	if h.info.Verb == "patch" {
		switch mt {
		case mediaJSONPatch:
			if patch, err = jsonpatch.DecodePatch(body); err != nil {
				return apierrors.NewBadRequest("the JSON patch is not valid: " + err.Error())
			}
		case mediaMergePatch, mediaStrategicPatch:
		default:
			return unsupportedMediaType(mt, patchMediaTypes)
		}
	}
	updated, err := h.ep.Store.Update(r.Context(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
		current := scaleOf(cur, sf)
		want := &autoscalingv1.Scale{}
		if h.info.Verb == "update" {
			if _, err := h.s.decoder.decode(mt, body, want); err != nil {
				return nil, err
			}
		} else {
			curJSON, _ := json.Marshal(current)
			patched, err := applyPatch(mt, patch, body, curJSON, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(patched, want); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		if want.ResourceVersion != "" && want.ResourceVersion != current.ResourceVersion {
			return nil, apierrors.NewConflict(h.ep.Resource.GroupResource(), name, errors.New(registry.ConflictMessage))
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), name,
				fieldErrs("spec.replicas", want.Spec.Replicas, "must be greater than or equal to 0"))
		}
		sf.Set(cur, want.Spec.Replicas)
		return cur, nil
	}, registry.UpdateOptions{WriteOptions: registry.WriteOptions{DryRun: dry, Track: h.tracker("scale", manager)}})
	if err != nil {
		return err
	}
	return h.writeJSON(w, http.StatusOK, scaleOf(updated, sf))
}

// scaleOf returns the Scale view of a scalable object.
func scaleOf(obj runtime.Object, sf *registry.ScaleFuncs) *autoscalingv1.Scale {
	m, _ := meta.Accessor(obj)
	spec, status, sel := sf.Get(obj)
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: sel},
	}
	return sc
}

package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"cella.dev/cella/internal/registry"
)

// writeManager reads the fieldManager of a create or update (optionsKind
// CreateOptions or UpdateOptions): a 422 for one that is too long or holds
// unprintable characters, as kube-apiserver answers; the User-Agent's
// prefix when the request names none.
func writeManager(r *http.Request, optionsKind string) (string, error) {
	m := r.URL.Query().Get("fieldManager")
	if errs := metavalidation.ValidateFieldManager(m, field.NewPath("fieldManager")); len(errs) > 0 {
		return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: optionsKind}, "", errs)
	}
	return managerOrUserAgent(m, r.UserAgent()), nil
}

// patchOptions reads the fieldManager and force of a PATCH, checked as
// kube-apiserver checks PatchOptions (422): an apply must name its manager,
// and only an apply may force.
func patchOptions(r *http.Request, apply bool) (manager string, force bool, err error) {
	q := r.URL.Query()
	opts := &metav1.PatchOptions{FieldManager: q.Get("fieldManager")}
	if vals, ok := q["force"]; ok && len(vals) > 0 {
		b, perr := strconv.ParseBool(vals[0])
		if perr != nil {
			return "", false, apierrors.NewBadRequest(fmt.Sprintf("invalid force %q: must be true or false", vals[0]))
		}
		opts.Force = &b
	}
	patchType := types.MergePatchType
	if apply {
		patchType = types.ApplyPatchType
	}
	if errs := metavalidation.ValidatePatchOptions(opts, patchType); len(errs) > 0 {
		return "", false, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", errs)
	}
	if apply {
		return opts.FieldManager, opts.Force != nil && *opts.Force, nil
	}
	return managerOrUserAgent(opts.FieldManager, r.UserAgent()), false, nil
}

// apply serves server-side apply: PATCH with application/apply-patch+yaml
// (a YAML or JSON body) of an object or its status. The body is merged into
// the live object by the kind's field manager, which records it as an Apply
// operation of the fieldManager and answers 409 Conflict, naming each field
// and its manager, when the body changes a field another manager owns
// (unless force=true, which takes the fields over). The merged object then
// goes through the same write sequence as any update (validation,
// admission, quota, dryRun). An apply to a missing object creates it (201);
// through a subresource it is a 404. An apply that changes nothing writes
// nothing, so the resourceVersion stays.
func (h *resourceHandler) apply(w http.ResponseWriter, r *http.Request, dry bool, fv string) error {
	manager, force, err := patchOptions(r, true)
	if err != nil {
		return err
	}
	pin, err := h.checkWrite(w, r)
	if err != nil {
		return err
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	patch, err := h.decodeApply(w, body, fv)
	if err != nil {
		return err
	}
	fm, err := h.s.fields.get(h.ep, h.info.Subresource)
	if err != nil {
		return fmt.Errorf("field manager of %s: %w", h.ep.GroupVersionKind(), err)
	}
	gvk := h.ep.GroupVersionKind()
	applyTo := func(live runtime.Object) (runtime.Object, error) {
		out, err := serverSideApply(fm, live, patch, manager, force, gvk)
		if err != nil {
			return nil, err
		}
		m, err := meta.Accessor(out)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if err := h.checkNamespace(m); err != nil {
			return nil, err
		}
		return out, nil
	}
	ns, name := h.namespaceFor(), h.info.Name
	for attempt := 0; ; attempt++ {
		updated, err := h.ep.Store.Update(r.Context(), ns, name, func(cur runtime.Object) (runtime.Object, error) {
			live, err := h.ep.ToServedObject(cur)
			if err != nil {
				return nil, err
			}
			out, err := applyTo(live)
			if err != nil {
				return nil, err
			}
			return h.ep.FromServedObject(out)
		}, registry.UpdateOptions{WriteOptions: registry.WriteOptions{DryRun: dry, ManagedFields: true}, Subresource: h.info.Subresource, Preconditions: pin.preconditions()})
		if err == nil {
			return h.writeObject(w, http.StatusOK, updated)
		}
		if !apierrors.IsNotFound(err) || h.info.Subresource != "" || pin.preconditions() != nil || attempt > 0 {
			return h.lateConflict(w, r, pin, err)
		}
		// The object does not exist: the apply creates it from an empty one.
		empty := h.ep.New()
		em, _ := meta.Accessor(empty)
		em.SetName(name)
		em.SetNamespace(ns)
		out, err := applyTo(empty)
		if err != nil {
			return err
		}
		stored, err := h.ep.FromServedObject(out)
		if err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
		created, err := h.ep.Store.Create(r.Context(), stored, registry.WriteOptions{DryRun: dry, ManagedFields: true})
		if apierrors.IsAlreadyExists(err) {
			continue // created meanwhile: apply to it
		}
		if err != nil {
			return err
		}
		return h.writeObject(w, http.StatusCreated, created)
	}
}

// decodeApply reads an apply body (YAML, or JSON, which is YAML) as the
// unstructured object the field manager merges. Fields the kind does not
// have and duplicate fields are judged by fieldValidation as for any write;
// the name must be the URL's, and apiVersion and kind the endpoint's.
func (h *resourceHandler) decodeApply(w http.ResponseWriter, body []byte, fv string) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return nil, apierrors.NewBadRequest("error decoding YAML: " + err.Error())
	}
	patch := &unstructured.Unstructured{}
	if err := utiljson.Unmarshal(js, &patch.Object); err != nil || patch.Object == nil {
		return nil, apierrors.NewBadRequest("the apply patch must be a YAML or JSON object")
	}
	probe := h.ep.New()
	strict, err := h.decode(mediaJSON, js, probe)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if u, ok := probe.(*unstructured.Unstructured); ok {
		// A custom resource: the body decoded and pruned by its schema
		// is the patch (what the schema does not know is not applied).
		patch = u
	}
	if err := checkStrict(w, fv, strict); err != nil {
		return nil, err
	}
	want := h.ep.GroupVersionKind()
	if patch.GetAPIVersion() == "" {
		return nil, apierrors.NewBadRequest("apiVersion must be set in an apply patch")
	}
	if patch.GetKind() == "" {
		return nil, apierrors.NewBadRequest("kind must be set in an apply patch")
	}
	if err := checkTypeMetaFor(patch.DeepCopy(), want); err != nil {
		return nil, err
	}
	if n := patch.GetName(); n != "" && n != h.info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", n, h.info.Name))
	}
	return patch, nil
}

// applyScale serves server-side apply of an autoscaling/v1 Scale through
// /scale. The Scale's spec.replicas is the parent's (spec.replicas for
// every scalable kind Cella serves), so the body is applied to the parent
// as an object holding only that field, by the parent's field manager for
// the scale subresource: the managedFields entry is the parent's, with
// subresource scale, as kube-apiserver records it.
func (h *resourceHandler) applyScale(w http.ResponseWriter, r *http.Request, dry bool) error {
	manager, force, err := patchOptions(r, true)
	if err != nil {
		return err
	}
	body, err := h.readBody(r)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(body)
	if err != nil {
		return apierrors.NewBadRequest("error decoding YAML: " + err.Error())
	}
	scale := &autoscalingv1.Scale{}
	strict, err := h.s.decoder.decode(mediaJSON, js, scale)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if len(strict) > 0 && r.URL.Query().Get("fieldValidation") == "Strict" {
		return apierrors.NewBadRequest("strict decoding error: " + errors.Join(strict...).Error())
	}
	if err := checkTypeMetaFor(scale, autoscalingv1.SchemeGroupVersion.WithKind("Scale")); err != nil {
		return err
	}
	var fields map[string]any
	if err := json.Unmarshal(js, &fields); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	gvk := h.ep.GroupVersionKind()
	patch := &unstructured.Unstructured{Object: map[string]any{}}
	patch.SetGroupVersionKind(gvk)
	patch.SetName(h.info.Name)
	if spec, ok := fields["spec"].(map[string]any); ok {
		if n, ok := spec["replicas"]; ok {
			patch.Object["spec"] = map[string]any{"replicas": n}
		}
	}
	if scale.Spec.Replicas < 0 {
		return apierrors.NewInvalid(autoscalingv1.SchemeGroupVersion.WithKind("Scale").GroupKind(), h.info.Name,
			fieldErrs("spec.replicas", scale.Spec.Replicas, "must be greater than or equal to 0"))
	}
	fm, err := h.s.fields.get(h.ep, "scale")
	if err != nil {
		return fmt.Errorf("field manager of %s: %w", gvk, err)
	}
	updated, err := h.ep.Store.Update(r.Context(), h.namespaceFor(), h.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		live, err := h.ep.ToServedObject(cur)
		if err != nil {
			return nil, err
		}
		out, err := serverSideApply(fm, live, patch, manager, force, gvk)
		if err != nil {
			return nil, err
		}
		return h.ep.FromServedObject(out)
	}, registry.UpdateOptions{WriteOptions: registry.WriteOptions{DryRun: dry, ManagedFields: true}})
	if err != nil {
		return err
	}
	return h.writeJSON(w, http.StatusOK, scaleOf(updated, h.ep.Resource.Scale))
}

// serverSideApply applies patch to live as manager through fm, both in the
// served version gvk. A Status error of the field manager (a conflict, 409)
// passes as it is; anything else it refuses is the patch's fault, 400: a
// field the kind does not have, a list that repeats a key.
func serverSideApply(fm *managedfields.FieldManager, live runtime.Object, patch *unstructured.Unstructured, manager string, force bool, gvk schema.GroupVersionKind) (runtime.Object, error) {
	live.GetObjectKind().SetGroupVersionKind(gvk)
	out, err := fm.Apply(live, patch.DeepCopy(), manager, force)
	if err != nil {
		var status apierrors.APIStatus
		if errors.As(err, &status) {
			return nil, err
		}
		return nil, apierrors.NewBadRequest(err.Error())
	}
	out.GetObjectKind().SetGroupVersionKind(gvk)
	return out, nil
}

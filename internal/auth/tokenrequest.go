package auth

import (
	"context"
	"fmt"
	"slices"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ObjectInfo is what token checks need to know of a ServiceAccount, Pod,
// Secret or Node.
type ObjectInfo struct {
	UID string
	// Deleting is the object's deletionTimestamp, nil when unset.
	Deleting *time.Time
	// ServiceAccountName and NodeName are a pod's.
	ServiceAccountName, NodeName string
	// Token is a Secret's data.token.
	Token []byte
}

// ObjectSource finds the objects service account tokens name.
//
// Object returns (ObjectInfo{}, false, nil) when the object does not
// exist; resource is one of "serviceaccounts", "pods", "secrets" and
// "nodes" (namespace "" for nodes). What it returns may be shared
// between calls: callers must not modify it. Implementations must be
// safe for concurrent use. The source an authenticator uses is asked on every
// request and must answer from memory (a watch cache or an informer),
// never from storage.
type ObjectSource interface {
	Object(ctx context.Context, resource, namespace, name string) (ObjectInfo, bool, error)
}

// Token lifetimes, as kube-apiserver bounds them.
const (
	// DefaultTokenExpirationSeconds is a TokenRequest's default lifetime.
	DefaultTokenExpirationSeconds = 3600
	minTokenExpirationSeconds     = 10 * 60
	maxTokenExpirationSeconds     = 1 << 32
)

var tokenRequestKind = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest").GroupKind()

// RequestToken serves POST serviceaccounts/NAME/token, as kube-apiserver's
// TokenREST does: it fills the defaults of req (audiences: the API
// server's; expirationSeconds: 3600), validates it (422 below 10 minutes or
// above 2^32 seconds), checks the ServiceAccount and the bound object
// (404 when absent, 409 for another uid, 400 for a pod of another service
// account or an object of another kind) and returns a copy of req with the
// signed token in its status. objects should answer from storage, not a
// cache, so that a just-created object is found.
func (i *TokenIssuer) RequestToken(ctx context.Context, objects ObjectSource, namespace, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestKind, name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestKind, name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	sa, ok, err := objects.Object(ctx, "serviceaccounts", namespace, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
	}
	out := req.DeepCopy()
	if len(out.Spec.Audiences) == 0 {
		out.Spec.Audiences = slices.Clone(i.audiences)
	}
	if out.Spec.ExpirationSeconds == nil {
		s := int64(DefaultTokenExpirationSeconds)
		out.Spec.ExpirationSeconds = &s
	}
	out.Name, out.Namespace = name, namespace
	now := i.now()
	out.CreationTimestamp = metav1.NewTime(now)
	out.Status = authenticationv1.TokenRequestStatus{}
	if errs := validateTokenRequest(out); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestKind, "", errs)
	}

	b := BoundToken{
		Namespace: namespace, ServiceAccount: ObjectRef{Name: name, UID: sa.UID},
		Audiences: out.Spec.Audiences, Lifetime: time.Duration(*out.Spec.ExpirationSeconds) * time.Second,
	}
	if ref := out.Spec.BoundObjectRef; ref != nil {
		gv, err := schema.ParseGroupVersion(ref.APIVersion)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		gvk := gv.WithKind(ref.Kind)
		var uid string
		switch {
		case gvk.Group == "" && gvk.Kind == "Pod":
			pod, ok, err := objects.Object(ctx, "pods", namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, ref.Name)
			}
			if pod.ServiceAccountName != name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name))
			}
			uid = pod.UID
			b.Pod = &ObjectRef{Name: ref.Name, UID: pod.UID}
			if pod.NodeName != "" {
				// As kube-apiserver: a node that cannot be read is left
				// out, not an error; nothing asked for it.
				if node, ok, err := objects.Object(ctx, "nodes", "", pod.NodeName); err == nil && ok {
					b.Node = &ObjectRef{Name: pod.NodeName, UID: node.UID}
				}
			}
		case gvk.Group == "" && gvk.Kind == "Secret":
			s, ok, err := objects.Object(ctx, "secrets", namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, ref.Name)
			}
			uid = s.UID
			b.Secret = &ObjectRef{Name: ref.Name, UID: s.UID}
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot bind token to object of type %s", gvk.String()))
		}
		if ref.UID != "" && string(ref.UID) != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: gvk.Kind}, ref.Name,
				fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}
	tok, exp, err := i.Issue(b)
	if err != nil {
		return nil, err
	}
	// The status's expiration is computed from the same now as the
	// token's exp, so it is never later.
	out.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	return out, nil
}

// validateTokenRequest is kube-apiserver's ValidateTokenRequest.
func validateTokenRequest(tr *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	if s := *tr.Spec.ExpirationSeconds; s < minTokenExpirationSeconds {
		errs = append(errs, field.Invalid(p, s, "may not specify a duration less than 10 minutes"))
	} else if s > maxTokenExpirationSeconds {
		errs = append(errs, field.Invalid(p, s, "may not specify a duration larger than 2^32 seconds"))
	}
	return errs
}

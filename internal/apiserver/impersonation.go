package apiserver

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"cella.dev/cella/internal/auth"
)

// anonymousUser is the user name of unauthenticated requests, as
// Kubernetes spells it.
const anonymousUser = "system:anonymous"

// withImpersonation acts on the Impersonate-User, Impersonate-Group,
// Impersonate-Uid and Impersonate-Extra-* headers as kube-apiserver does:
// the authenticated user must be allowed the verb impersonate on each
// thing asked for (users, groups or serviceaccounts in the core group;
// uids and userextras/KEY in authentication.k8s.io), else 403 naming the
// first refused; then the request runs as the impersonated user, with no
// trace of the requester's groups. The headers are removed. Asking for
// groups, a uid or extras without a user is 400.
//
// The impersonated user's groups are the ones asked for; a service
// account (system:serviceaccount:NS:NAME) asked for without groups gets
// its own. system:authenticated is added unless system:unauthenticated is
// asked for or the user is system:anonymous.
func (s *Server) withImpersonation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hasImpersonation(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		r2, err := s.impersonate(r)
		if err != nil {
			s.errs.Write(w, r, err)
			return
		}
		next.ServeHTTP(w, r2)
	})
}

func hasImpersonation(h http.Header) bool {
	for k := range h {
		switch {
		case k == authnv1.ImpersonateUserHeader, k == authnv1.ImpersonateGroupHeader, k == authnv1.ImpersonateUIDHeader,
			strings.HasPrefix(k, authnv1.ImpersonateUserExtraHeaderPrefix):
			return true
		}
	}
	return false
}

// impersonation is one thing asked for, as the attributes authorized for
// it.
type impersonation struct {
	group, resource, subresource string
	namespace, name              string
}

// impersonate returns the request running as the user its headers ask
// for, or the error to answer.
//
//go:noinline
func (s *Server) impersonate(r *http.Request) (*http.Request, error) {
	requester, ok := auth.UserFrom(r.Context())
	if !ok {
		// An anonymous read of a public path: nobody to act for.
		return nil, apierrors.NewUnauthorized("Unauthorized")
	}
	h := r.Header
	name := h.Get(authnv1.ImpersonateUserHeader)
	groups := h.Values(authnv1.ImpersonateGroupHeader)
	uid := h.Get(authnv1.ImpersonateUIDHeader)
	extra := map[string][]string{}
	var asks []impersonation
	for k, vs := range h {
		if !strings.HasPrefix(k, authnv1.ImpersonateUserExtraHeaderPrefix) {
			continue
		}
		key := strings.ToLower(k[len(authnv1.ImpersonateUserExtraHeaderPrefix):])
		if u, err := url.PathUnescape(key); err == nil {
			key = u
		}
		for _, v := range vs {
			extra[key] = append(extra[key], v)
			asks = append(asks, impersonation{group: authnv1.GroupName, resource: "userextras", subresource: key, name: v})
		}
	}
	if name == "" {
		var asked []string
		if len(groups) > 0 {
			asked = append(asked, "groups")
		}
		if uid != "" {
			asked = append(asked, "uid")
		}
		if len(extra) > 0 {
			asked = append(asked, "user-extra")
		}
		if len(asked) == 0 {
			asked = append(asked, "an empty user")
		}
		return nil, apierrors.NewBadRequest(fmt.Sprintf("requested %s without impersonating a user", strings.Join(asked, ", ")))
	}
	user := auth.User{Name: name, UID: uid, Extra: extra}
	if ns, sa, isSA := splitServiceAccount(name); isSA {
		asks = append([]impersonation{{resource: "serviceaccounts", namespace: ns, name: sa}}, asks...)
		if len(groups) == 0 {
			user.Groups = []string{auth.GroupServiceAccounts, "system:serviceaccounts:" + ns}
		}
	} else {
		asks = append([]impersonation{{resource: "users", name: name}}, asks...)
	}
	for _, g := range groups {
		asks = append(asks, impersonation{resource: "groups", name: g})
		user.Groups = append(user.Groups, g)
	}
	if uid != "" {
		asks = append(asks, impersonation{group: authnv1.GroupName, resource: "uids", name: uid})
	}
	if s.cfg.Authorizer != nil {
		for _, a := range asks {
			d, err := s.cfg.Authorizer.Authorize(r.Context(), auth.Attributes{
				User: requester, Verb: "impersonate", ResourceRequest: true,
				APIGroup: a.group, Resource: a.resource, Subresource: a.subresource,
				Namespace: a.namespace, Name: a.name,
			})
			if err != nil {
				return nil, authorizationFailed(err)
			}
			if !d.Allowed {
				return nil, forbidden(requester, "impersonate", &RequestInfo{
					IsResourceRequest: true, APIGroup: a.group, Resource: a.resource, Subresource: a.subresource,
					Namespace: a.namespace, Name: a.name,
				}, r)
			}
		}
	}
	if name == anonymousUser {
		if !slices.Contains(user.Groups, auth.GroupUnauthenticated) {
			user.Groups = append(user.Groups, auth.GroupUnauthenticated)
		}
	} else if !slices.Contains(user.Groups, auth.GroupAuthenticated) && !slices.Contains(user.Groups, auth.GroupUnauthenticated) {
		user.Groups = append(user.Groups, auth.GroupAuthenticated)
	}
	if len(user.Extra) == 0 {
		user.Extra = nil
	}
	r2 := r.WithContext(auth.WithUser(r.Context(), user))
	r2.Header.Del(authnv1.ImpersonateUserHeader)
	r2.Header.Del(authnv1.ImpersonateGroupHeader)
	r2.Header.Del(authnv1.ImpersonateUIDHeader)
	for k := range r2.Header {
		if strings.HasPrefix(k, authnv1.ImpersonateUserExtraHeaderPrefix) {
			r2.Header.Del(k)
		}
	}
	return r2, nil
}

// splitServiceAccount splits system:serviceaccount:NS:NAME.
func splitServiceAccount(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, "system:serviceaccount:")
	if !found {
		return "", "", false
	}
	namespace, name, found = strings.Cut(rest, ":")
	if !found || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

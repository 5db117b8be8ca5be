package auth

import (
	"context"
	"slices"
	"strings"
)

// Well-known user and group names, as Kubernetes spells them.
const (
	// GroupMasters is the group allowed every request, whatever RBAC says.
	GroupMasters = "system:masters"
	// GroupAuthenticated is added to every authenticated user.
	GroupAuthenticated = "system:authenticated"
	// GroupUnauthenticated names anonymous requests in bindings.
	GroupUnauthenticated = "system:unauthenticated"
	// GroupServiceAccounts holds every service account.
	GroupServiceAccounts = "system:serviceaccounts"
	// AdminUser is the name of the user the admin token authenticates.
	AdminUser = "admin"

	serviceAccountUserPrefix  = "system:serviceaccount:"
	serviceAccountGroupPrefix = "system:serviceaccounts:"
)

// User is an authenticated identity. The zero User is nobody.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra carries authenticator-specific attributes; it may be nil.
	Extra map[string][]string
}

// InGroup reports whether u is a member of group.
func (u User) InGroup(group string) bool {
	return slices.Contains(u.Groups, group)
}

// ServiceAccountUsername returns the user name Kubernetes gives the service
// account name in namespace: system:serviceaccount:NAMESPACE:NAME.
func ServiceAccountUsername(namespace, name string) string {
	return serviceAccountUserPrefix + namespace + ":" + name
}

// ServiceAccountGroups returns the groups a service account in namespace
// belongs to: system:serviceaccounts, system:serviceaccounts:NAMESPACE and
// system:authenticated.
func ServiceAccountGroups(namespace string) []string {
	return []string{GroupServiceAccounts, serviceAccountGroupPrefix + namespace, GroupAuthenticated}
}

// ServiceAccountUser returns the User a service account token authenticates.
func ServiceAccountUser(namespace, name, uid string) User {
	return User{
		Name:   ServiceAccountUsername(namespace, name),
		UID:    uid,
		Groups: ServiceAccountGroups(namespace),
	}
}

// SplitServiceAccountUsername returns the namespace and name of a service
// account user name, and false when username names no service account.
func SplitServiceAccountUsername(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, serviceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// withAuthenticatedGroup returns groups with system:authenticated appended
// unless already present. It never modifies groups.
func withAuthenticatedGroup(groups []string) []string {
	if slices.Contains(groups, GroupAuthenticated) {
		return slices.Clone(groups)
	}
	return append(slices.Clone(groups), GroupAuthenticated)
}

type userKey struct{}

// WithUser returns a copy of ctx carrying u; the authentication filter calls
// it once per request.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the User stored in ctx by WithUser, and false when the
// request was not authenticated.
func UserFrom(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}

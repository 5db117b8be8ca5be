// Package auth answers the two questions every Cella request must pass:
// who is calling (Authenticator) and may they do this (Authorizer).
//
// Authentication is by bearer token, tried in turn (Union): the admin token
// and Kubernetes' static token file format (TokenAuthenticator), then
// service account tokens (ServiceAccountAuthenticator): JWTs the
// TokenIssuer signs for the TokenRequest API and for legacy token Secrets,
// valid while what they name exists with the uid they name. TokenIssuer
// also serves the issuer's OpenID discovery documents. Authorization is Kubernetes RBAC
// (RBACAuthorizer) read from Roles, ClusterRoles and their bindings through
// RBACSource, which the API server implements over its store. The default
// policy a fresh cluster starts with is BootstrapClusterRoles and
// BootstrapClusterRoleBindings.
//
// EscalationGuard keeps RBAC from being a way around itself: the Store runs
// it on every create and update of Roles, ClusterRoles and their bindings,
// and refuses (403) grants the writer does not hold herself (Covers), unless
// she may "escalate" roles or "bind" the role referred to, as Kubernetes
// does.
//
// Nothing here writes HTTP: the apiserver's filters turn a failed
// authentication into 401 and a denial into 403.
package auth

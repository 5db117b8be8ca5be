package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Attributes describe one request to authorize.
type Attributes struct {
	User User
	// Verb is, for a resource request, one of get list watch create update
	// patch delete deletecollection (or a custom verb a rule may name); for
	// a non-resource request, the lowercase HTTP method.
	Verb string
	// Namespace is empty for cluster-scoped resources and non-resource
	// requests. For the namespaces resource itself it is the namespace's own
	// name, as Kubernetes sets it, so a RoleBinding in a namespace can grant
	// access to that namespace.
	Namespace   string
	APIGroup    string // "" is the core group
	Resource    string
	Subresource string
	// Name is empty for create, and for list, watch and deletecollection
	// unless a metadata.name field selector names a single object.
	Name string
	// ResourceRequest is true for API resources and false for other paths
	// such as /healthz and /version, which are matched against Path.
	ResourceRequest bool
	Path            string
}

// Decision is the answer to an authorization request.
type Decision struct {
	Allowed bool
	// Reason says which binding allowed the request, or why it was denied
	// when something in the policy could not be read. It is safe to show to
	// the user the request was for.
	Reason string
}

// Authorizer decides whether a request is allowed.
//
// A denial is a Decision with Allowed false, not an error. Authorize returns
// an error only when the policy itself could not be read and nothing that
// could be read allowed the request: the answer may then be wrong, and the
// caller should fail the request with a server error rather than 403.
// Implementations must be safe for concurrent use.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (Decision, error)
}

// RuleResolver lists what a user may do; it answers SelfSubjectRulesReview.
//
// RulesFor returns the rules that apply to u in namespace (cluster-wide
// grants included). When some bindings could not be resolved, incomplete is
// true, err says why, and the rules are still the ones that could be.
// The rules may share memory with the policy objects: treat them as
// read-only.
type RuleResolver interface {
	RulesFor(ctx context.Context, u User, namespace string) (resourceRules []authorizationv1.ResourceRule, nonResourceRules []authorizationv1.NonResourceRule, incomplete bool, err error)
}

// RBACSource gives the RBAC authorizer the objects it evaluates. The API
// server implements it over its store, typically an in-memory cache, and
// each request calls it several times, so calls should be cheap.
//
// Returned objects are shared: the authorizer never modifies them, and the
// source must not modify them afterwards either. Order is not significant.
// A Get of an object that does not exist returns (nil, nil) or an error for
// which apierrors.IsNotFound is true; both mean the binding referring to it
// grants nothing. Any other error means the source could not answer.
// Implementations must be safe for concurrent use.
type RBACSource interface {
	ListClusterRoles(ctx context.Context) ([]*rbacv1.ClusterRole, error)
	ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error)
	ListRoleBindings(ctx context.Context, namespace string) ([]*rbacv1.RoleBinding, error)
	GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error)
	GetRole(ctx context.Context, namespace, name string) (*rbacv1.Role, error)
}

// RBACAuthorizer evaluates Kubernetes RBAC over an RBACSource, reading the
// policy afresh on every call, so changes apply to the next request.
//
// Members of system:masters are allowed everything before RBAC is consulted,
// as Kubernetes' privileged-group authorizer does. ClusterRoles with an
// aggregationRule are expanded when evaluated; see ClusterRoleRules.
type RBACAuthorizer struct {
	src RBACSource // immutable
}

var (
	_ Authorizer   = (*RBACAuthorizer)(nil)
	_ RuleResolver = (*RBACAuthorizer)(nil)
)

// NewRBACAuthorizer returns an RBACAuthorizer reading policy from src.
func NewRBACAuthorizer(src RBACSource) *RBACAuthorizer {
	return &RBACAuthorizer{src: src}
}

// Authorize implements Authorizer.
func (z *RBACAuthorizer) Authorize(ctx context.Context, a Attributes) (Decision, error) {
	if a.User.InGroup(GroupMasters) {
		return Decision{Allowed: true, Reason: "allowed: member of " + GroupMasters}, nil
	}
	var reason string
	notes, failures := z.visitRules(ctx, &a.User, a.Namespace, func(by grant, rule *rbacv1.PolicyRule) bool {
		if ruleAllows(&a, rule) {
			reason = "RBAC: allowed by " + by.String()
			return false
		}
		return true
	})
	if reason != "" {
		return Decision{Allowed: true, Reason: reason}, nil
	}
	d := Decision{}
	if all := append(notes, failures...); len(all) > 0 {
		d.Reason = "RBAC: " + errors.Join(all...).Error()
		d.Reason = strings.ReplaceAll(d.Reason, "\n", "; ")
	}
	if len(failures) > 0 {
		return d, errors.Join(failures...)
	}
	return d, nil
}

// RulesFor implements RuleResolver. Members of system:masters get the
// wildcard rules that stand for their unconditional access. Non-resource
// rules reached through RoleBindings are left out: non-resource requests
// have no namespace, so only ClusterRoleBindings can grant them.
func (z *RBACAuthorizer) RulesFor(ctx context.Context, u User, namespace string) ([]authorizationv1.ResourceRule, []authorizationv1.NonResourceRule, bool, error) {
	var (
		res    []authorizationv1.ResourceRule
		nonres []authorizationv1.NonResourceRule
	)
	if u.InGroup(GroupMasters) {
		all := []string{"*"}
		res = append(res, authorizationv1.ResourceRule{Verbs: all, APIGroups: all, Resources: all})
		nonres = append(nonres, authorizationv1.NonResourceRule{Verbs: all, NonResourceURLs: all})
	}
	notes, failures := z.visitRules(ctx, &u, namespace, func(by grant, rule *rbacv1.PolicyRule) bool {
		if len(rule.Resources) > 0 {
			res = append(res, authorizationv1.ResourceRule{
				Verbs:         rule.Verbs,
				APIGroups:     rule.APIGroups,
				Resources:     rule.Resources,
				ResourceNames: rule.ResourceNames,
			})
		}
		if len(rule.NonResourceURLs) > 0 && by.bindingNamespace == "" {
			nonres = append(nonres, authorizationv1.NonResourceRule{
				Verbs:           rule.Verbs,
				NonResourceURLs: rule.NonResourceURLs,
			})
		}
		return true
	})
	all := append(notes, failures...)
	return res, nonres, len(all) > 0, errors.Join(all...)
}

// ClusterRoleRules returns the rules role grants. For a role with an
// aggregationRule that is the union of the rules of every other ClusterRole
// matching one of its selectors, expanded recursively (admin aggregates edit,
// which aggregates view), and the role's own Rules field is ignored: in
// Kubernetes a controller overwrites it, and Cella computes it instead.
// Invalid selectors are reported in err along with the rules that could be
// gathered. The rules may share memory with the roles: treat them as
// read-only.
func ClusterRoleRules(ctx context.Context, src RBACSource, role *rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	if role.AggregationRule == nil {
		return role.Rules, nil
	}
	all, err := src.ListClusterRoles(ctx)
	if err != nil {
		return nil, err
	}
	var rules []rbacv1.PolicyRule
	var errs []error
	seen := map[string]bool{role.Name: true}
	var expand func(*rbacv1.ClusterRole)
	expand = func(r *rbacv1.ClusterRole) {
		selectors := make([]labels.Selector, 0, len(r.AggregationRule.ClusterRoleSelectors))
		for i := range r.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&r.AggregationRule.ClusterRoleSelectors[i])
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: ClusterRole %q: aggregationRule selector %d: %v", errInvalidPolicy, r.Name, i, err))
				continue
			}
			selectors = append(selectors, sel)
		}
		for _, c := range all {
			if seen[c.Name] || !matchesAny(selectors, labels.Set(c.Labels)) {
				continue
			}
			seen[c.Name] = true
			if c.AggregationRule != nil {
				expand(c)
			} else {
				rules = append(rules, c.Rules...)
			}
		}
	}
	expand(role)
	return rules, errors.Join(errs...)
}

func matchesAny(selectors []labels.Selector, l labels.Set) bool {
	for _, s := range selectors {
		if s.Matches(l) {
			return true
		}
	}
	return false
}

// grant names the binding and role a rule came from, for Decision.Reason.
type grant struct {
	bindingKind      string // ClusterRoleBinding or RoleBinding
	bindingNamespace string
	bindingName      string
	roleKind         string
	roleName         string
	subject          *rbacv1.Subject
}

func (g grant) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", g.bindingKind, g.bindingName)
	if g.bindingNamespace != "" {
		fmt.Fprintf(&b, " in namespace %q", g.bindingNamespace)
	}
	fmt.Fprintf(&b, " of %s %q to %s %q", g.roleKind, g.roleName, g.subject.Kind, g.subject.Name)
	return b.String()
}

// visitRules calls visit for every rule granted to u in namespace, first
// through ClusterRoleBindings, then, when namespace is set, through the
// RoleBindings there; it stops when visit returns false. It returns notes
// (bindings to roles that do not exist or are invalid: they grant nothing,
// which is not a failure) and failures (the source could not answer).
func (z *RBACAuthorizer) visitRules(ctx context.Context, u *User, namespace string, visit func(grant, *rbacv1.PolicyRule) bool) (notes, failures []error) {
	record := func(err error) {
		if err == nil {
			return
		}
		if apierrors.IsNotFound(err) || errors.Is(err, errInvalidPolicy) {
			notes = append(notes, err)
		} else {
			failures = append(failures, err)
		}
	}
	// visitRole returns false when visit asked to stop.
	visitRole := func(g grant) bool {
		rules, err := z.roleRules(ctx, g)
		record(err)
		for i := range rules {
			if !visit(g, &rules[i]) {
				return false
			}
		}
		return true
	}

	crbs, err := z.src.ListClusterRoleBindings(ctx)
	record(err)
	for _, b := range crbs {
		s := firstSubject(u, b.Subjects, "")
		if s == nil {
			continue
		}
		g := grant{bindingKind: "ClusterRoleBinding", bindingName: b.Name, roleKind: b.RoleRef.Kind, roleName: b.RoleRef.Name, subject: s}
		if g.roleKind != "ClusterRole" {
			record(fmt.Errorf("%w: ClusterRoleBinding %q refers to a %s", errInvalidPolicy, b.Name, b.RoleRef.Kind))
			continue
		}
		if !visitRole(g) {
			return notes, failures
		}
	}
	if namespace == "" {
		return notes, failures
	}
	rbs, err := z.src.ListRoleBindings(ctx, namespace)
	record(err)
	for _, b := range rbs {
		s := firstSubject(u, b.Subjects, namespace)
		if s == nil {
			continue
		}
		g := grant{bindingKind: "RoleBinding", bindingNamespace: namespace, bindingName: b.Name, roleKind: b.RoleRef.Kind, roleName: b.RoleRef.Name, subject: s}
		if !visitRole(g) {
			return notes, failures
		}
	}
	return notes, failures
}

// errInvalidPolicy marks a binding that can never grant anything.
var errInvalidPolicy = errors.New("invalid binding")

// roleRules returns the rules of the role g refers to. A missing role is an
// error for which apierrors.IsNotFound is true.
func (z *RBACAuthorizer) roleRules(ctx context.Context, g grant) ([]rbacv1.PolicyRule, error) {
	rules, known, err := z.refRules(ctx, g.roleKind, g.roleName, g.bindingNamespace)
	if !known {
		return nil, fmt.Errorf("%w: %s %q refers to unknown role kind %q", errInvalidPolicy, g.bindingKind, g.bindingName, g.roleKind)
	}
	return rules, err
}

// refRules returns the rules of the role a binding in namespace ("" for a
// ClusterRoleBinding) grants by referring to kind and name, aggregation
// expanded. A missing role is an error for which apierrors.IsNotFound is
// true; known is false when kind is neither ClusterRole nor Role.
func (z *RBACAuthorizer) refRules(ctx context.Context, kind, name, namespace string) (rules []rbacv1.PolicyRule, known bool, err error) {
	switch kind {
	case "ClusterRole":
		r, err := z.src.GetClusterRole(ctx, name)
		if err == nil && r == nil {
			err = apierrors.NewNotFound(rbacv1.Resource("clusterroles"), name)
		}
		if err != nil {
			return nil, true, err
		}
		rules, err := ClusterRoleRules(ctx, z.src, r)
		return rules, true, err
	case "Role":
		r, err := z.src.GetRole(ctx, namespace, name)
		if err == nil && r == nil {
			err = apierrors.NewNotFound(rbacv1.Resource("roles"), name)
		}
		if err != nil {
			return nil, true, err
		}
		return r.Rules, true, nil
	}
	return nil, false, nil
}

// firstSubject returns the first of subjects that names u, or nil.
func firstSubject(u *User, subjects []rbacv1.Subject, namespace string) *rbacv1.Subject {
	for i := range subjects {
		if appliesTo(u, &subjects[i], namespace) {
			return &subjects[i]
		}
	}
	return nil
}

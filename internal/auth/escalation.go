package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// EscalationGuard keeps users from granting through RBAC objects what they
// cannot do themselves, as kube-apiserver's RBAC storage does: without it,
// anyone who may write RoleBindings could bind herself to cluster-admin.
// It is safe for concurrent use.
type EscalationGuard struct {
	// z answers the escalate and bind checks and resolves the rules a user
	// holds and a role grants. Immutable.
	z *RBACAuthorizer
}

// NewEscalationGuard returns an EscalationGuard over z's policy.
func NewEscalationGuard(z *RBACAuthorizer) *EscalationGuard {
	return &EscalationGuard{z: z}
}

// fullAuthority is what cluster-admin grants: every verb on every resource
// and every non-resource URL.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{rbacv1.VerbAll}, APIGroups: []string{rbacv1.APIGroupAll}, Resources: []string{rbacv1.ResourceAll}},
	{Verbs: []string{rbacv1.VerbAll}, NonResourceURLs: []string{rbacv1.NonResourceAll}},
}

// Admit checks a create (old is nil) or an update (old is the stored
// object) of a Role, ClusterRole, RoleBinding or ClusterRoleBinding by the
// user in ctx, and accepts any other object. The Store runs it after
// validation, so obj is valid (a binding's roleRef names a ClusterRole, or a
// Role for RoleBindings). The write may go ahead when one of these holds, in
// Kubernetes' order:
//
//   - ctx carries no user: only the server's own writes (the bootstrap
//     policy) reach the Store without one, every request has a user;
//   - the user is in system:masters;
//   - an update changes nothing but ownerReferences and finalizers, the
//     fields the garbage collector writes;
//   - for a Role (ClusterRole), RBAC allows her the verb "escalate" on roles
//     (clusterroles) in the role's namespace; the name is asked only on
//     update, since kube-apiserver asks with the request's name, which a
//     create does not have;
//   - for a RoleBinding (ClusterRoleBinding), RBAC allows her the verb
//     "bind" on the referenced role (roles or clusterroles, by name) in the
//     binding's namespace (cluster-wide);
//   - she holds every rule the object would grant (Covers): the role's
//     rules, or the referenced role's, aggregation expanded, with what she
//     holds in the object's namespace (cluster-wide grants included), or
//     cluster-wide for the cluster-scoped kinds.
//
// A ClusterRole that has an aggregationRule, or an update of one that had
// it, also needs every permission held cluster-wide unless escalate allowed
// it: an aggregationRule can gather any rule.
//
// A refusal is 403 Forbidden in kube-apiserver's words: user "U"
// (groups=[...]) is attempting to grant RBAC permissions not currently
// held, the missing rules one per line, and "; resolution errors: [...]"
// when bindings of hers refer to roles that do not exist. A binding to a
// role that does not exist is 404 NotFound for the role, unless bind allowed
// it. When the policy could not be read and what could be read does not
// cover the object, the source's error is returned instead of a 403 that
// may be wrong.
func (g *EscalationGuard) Admit(ctx context.Context, obj, old runtime.Object) error {
	u, ok := UserFrom(ctx)
	if !ok || u.InGroup(GroupMasters) {
		return nil
	}
	if old != nil && onlyGCFieldsChange(obj, old) {
		return nil
	}
	switch o := obj.(type) {
	case *rbacv1.Role:
		return g.admitRole(ctx, &u, "roles", o.Namespace, o.Name, old == nil, o.Rules, false)
	case *rbacv1.ClusterRole:
		aggregated := hasAggregationRule(o)
		if prev, ok := old.(*rbacv1.ClusterRole); ok && hasAggregationRule(prev) {
			aggregated = true
		}
		return g.admitRole(ctx, &u, "clusterroles", "", o.Name, old == nil, o.Rules, aggregated)
	case *rbacv1.RoleBinding:
		return g.admitBinding(ctx, &u, "rolebindings", o.Namespace, o.Name, o.RoleRef)
	case *rbacv1.ClusterRoleBinding:
		return g.admitBinding(ctx, &u, "clusterrolebindings", "", o.Name, o.RoleRef)
	}
	return nil
}

func (g *EscalationGuard) admitRole(ctx context.Context, u *User, resource, namespace, name string, create bool, rules []rbacv1.PolicyRule, aggregated bool) error {
	a := Attributes{User: *u, Verb: "escalate", Namespace: namespace, APIGroup: rbacv1.GroupName, Resource: resource, ResourceRequest: true}
	if !create {
		a.Name = name
	}
	if g.allows(ctx, a) {
		return nil
	}
	gr := rbacv1.Resource(resource)
	if err := g.confirmHeld(ctx, u, namespace, rules); err != nil {
		return forbiddenOr(gr, name, err, nil)
	}
	if aggregated {
		if err := g.confirmHeld(ctx, u, "", fullAuthority); err != nil {
			return forbiddenOr(gr, name, err, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
	}
	return nil
}

func (g *EscalationGuard) admitBinding(ctx context.Context, u *User, resource, namespace, name string, ref rbacv1.RoleRef) error {
	a := Attributes{User: *u, Verb: "bind", Namespace: namespace, APIGroup: ref.APIGroup, Name: ref.Name, ResourceRequest: true}
	switch ref.Kind {
	case "ClusterRole":
		a.Resource = "clusterroles"
	case "Role":
		a.Resource = "roles"
	}
	if a.Resource != "" && g.allows(ctx, a) {
		return nil
	}
	rules, known, err := g.z.refRules(ctx, ref.Kind, ref.Name, namespace)
	if !known {
		err = fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
	}
	if err != nil {
		return err
	}
	if err := g.confirmHeld(ctx, u, namespace, rules); err != nil {
		return forbiddenOr(rbacv1.Resource(resource), name, err, nil)
	}
	return nil
}

// allows asks the authorizer. An error counts as a denial: the rules
// check that follows meets the same unreadable policy and reports it.
func (g *EscalationGuard) allows(ctx context.Context, a Attributes) bool {
	d, err := g.z.Authorize(ctx, a)
	return err == nil && d.Allowed
}

// notHeldError lists the rules a user tried to grant without holding them.
type notHeldError struct{ msg string }

func (e *notHeldError) Error() string { return e.msg }

// forbiddenOr turns a notHeldError from confirmHeld into 403 Forbidden for
// the object (with reason in place of the list when reason is set), and
// returns any other error as it is.
func forbiddenOr(gr schema.GroupResource, name string, err, reason error) error {
	var nh *notHeldError
	if !errors.As(err, &nh) {
		return err
	}
	if reason == nil {
		reason = nh
	}
	return apierrors.NewForbidden(gr, name, reason)
}

// confirmHeld returns nil when u holds every one of rules in namespace
// ("" for cluster-wide grants only), a *notHeldError naming what she lacks,
// or the source's error when the policy could not be read and what could be
// read does not cover rules.
func (g *EscalationGuard) confirmHeld(ctx context.Context, u *User, namespace string, rules []rbacv1.PolicyRule) error {
	held, notes, failures := g.z.heldRules(ctx, u, namespace)
	covered, missing := Covers(held, rules)
	if covered {
		return nil
	}
	if len(failures) > 0 {
		return errors.Join(failures...)
	}
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		u.Name, u.Groups, describeRules(missing))
	if len(notes) > 0 {
		msg += fmt.Sprintf("; resolution errors: [%s]", aggregateMessage(notes))
	}
	return &notHeldError{msg: msg}
}

// heldRules returns every rule granted to u in namespace, through
// ClusterRoleBindings and, when namespace is set, the RoleBindings there,
// non-resource rules included as Kubernetes' rule resolver returns them. It
// is RulesFor's walk (visitRules) without its translation; notes and
// failures are visitRules'.
func (z *RBACAuthorizer) heldRules(ctx context.Context, u *User, namespace string) (rules []rbacv1.PolicyRule, notes, failures []error) {
	notes, failures = z.visitRules(ctx, u, namespace, func(_ grant, r *rbacv1.PolicyRule) bool {
		rules = append(rules, *r)
		return true
	})
	return rules, notes, failures
}

// aggregateMessage words errs as apimachinery's aggregate error does: the
// one message, or the distinct messages in brackets, comma-separated.
func aggregateMessage(errs []error) string {
	var msgs []string
	for _, err := range errs {
		if m := err.Error(); !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 1 {
		return msgs[0]
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

func hasAggregationRule(r *rbacv1.ClusterRole) bool {
	return r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0
}

// onlyGCFieldsChange reports whether obj differs from old in nothing but
// ownerReferences and finalizers (and selfLink, which is never stored).
func onlyGCFieldsChange(obj, old runtime.Object) bool {
	cp := obj.DeepCopyObject()
	m, err := meta.Accessor(cp)
	if err != nil {
		return false
	}
	om, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	m.SetOwnerReferences(om.GetOwnerReferences())
	m.SetFinalizers(om.GetFinalizers())
	m.SetSelfLink(om.GetSelfLink())
	return equality.Semantic.DeepEqual(cp, old)
}

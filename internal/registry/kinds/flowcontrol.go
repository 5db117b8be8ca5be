package kinds

import (
	"context"
	"fmt"
	"slices"
	"strings"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/apiserver/pkg/util/shufflesharding"

	"cella.dev/cella/internal/registry"
)

// flowControl serves flowcontrol.apiserver.k8s.io/v1: FlowSchemas and
// PriorityLevelConfigurations, defaulted and validated as Kubernetes does.
// Cella stores them for the clients that read or write them; its own
// request limits (max in-flight, rate limits) do not follow them.
func (b *builder) flowControl() {
	b.stored(&registry.Resource{
		Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Kind: "FlowSchema", Plural: "flowschemas", Singular: "flowschema",
		New:     func() runtime.Object { return &flowcontrolv1.FlowSchema{} },
		NewList: func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			fs := obj.(*flowcontrolv1.FlowSchema)
			fs.Status = flowcontrolv1.FlowSchemaStatus{}
			defaultFlowSchema(fs)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { defaultFlowSchema(obj.(*flowcontrolv1.FlowSchema)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateFlowSchema(obj.(*flowcontrolv1.FlowSchema))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validateFlowSchema(obj.(*flowcontrolv1.FlowSchema))
		},
		Columns: []metav1.TableColumnDefinition{
			col("PriorityLevel", "string", flowcontrolv1.PriorityLevelConfigurationReference{}.SwaggerDoc()["name"]),
			col("MatchingPrecedence", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["matchingPrecedence"]),
			col("DistinguisherMethod", "string", flowcontrolv1.FlowSchemaSpec{}.SwaggerDoc()["distinguisherMethod"]),
			ageColumn,
			col("MissingPL", "string", "references a broken or non-existent PriorityLevelConfiguration"),
		},
		Row: func(obj runtime.Object) []any {
			fs := obj.(*flowcontrolv1.FlowSchema)
			method := "<none>"
			if fs.Spec.DistinguisherMethod != nil {
				method = string(fs.Spec.DistinguisherMethod.Type)
			}
			missing := "?"
			for _, c := range fs.Status.Conditions {
				if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
					missing = string(c.Status)
					break
				}
			}
			return []any{fs.Spec.PriorityLevelConfiguration.Name, int64(fs.Spec.MatchingPrecedence), method, b.age(fs), missing}
		},
	}, "status")
	b.stored(&registry.Resource{
		Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Kind: "PriorityLevelConfiguration",
		Plural: "prioritylevelconfigurations", Singular: "prioritylevelconfiguration",
		New:     func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} },
		NewList: func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
			pl.Status = flowcontrolv1.PriorityLevelConfigurationStatus{}
			defaultPriorityLevel(pl)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultPriorityLevel(obj.(*flowcontrolv1.PriorityLevelConfiguration))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validatePriorityLevel(obj.(*flowcontrolv1.PriorityLevelConfiguration))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validatePriorityLevel(obj.(*flowcontrolv1.PriorityLevelConfiguration))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Type", "string", flowcontrolv1.PriorityLevelConfigurationSpec{}.SwaggerDoc()["type"]),
			col("NominalConcurrencyShares", "string", flowcontrolv1.LimitedPriorityLevelConfiguration{}.SwaggerDoc()["nominalConcurrencyShares"]),
			col("Queues", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queues"]),
			col("HandSize", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["handSize"]),
			col("QueueLengthLimit", "string", flowcontrolv1.QueuingConfiguration{}.SwaggerDoc()["queueLengthLimit"]),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			pl := obj.(*flowcontrolv1.PriorityLevelConfiguration)
			var shares, queues, hand, limit any = "<none>", "<none>", "<none>", "<none>"
			if l := pl.Spec.Limited; l != nil {
				if l.NominalConcurrencyShares != nil {
					shares = int64(*l.NominalConcurrencyShares)
				}
				if q := l.LimitResponse.Queuing; q != nil {
					queues, hand, limit = int64(q.Queues), int64(q.HandSize), int64(q.QueueLengthLimit)
				}
			}
			return []any{string(pl.Spec.Type), shares, queues, hand, limit, b.age(pl)}
		},
	}, "status")
}

// DefaultFlowControl is the configuration kube-apiserver creates at
// start: the mandatory and the suggested priority levels, then the
// flow schemas that name them, each marked for automatic update
// (apf.kubernetes.io/autoupdate-spec). The objects are copies.
func DefaultFlowControl() ([]*flowcontrolv1.PriorityLevelConfiguration, []*flowcontrolv1.FlowSchema) {
	var pls []*flowcontrolv1.PriorityLevelConfiguration
	for _, pl := range slices.Concat(bootstrap.MandatoryPriorityLevelConfigurations, bootstrap.SuggestedPriorityLevelConfigurations) {
		pls = append(pls, pl.DeepCopy())
	}
	var fss []*flowcontrolv1.FlowSchema
	for _, fs := range slices.Concat(bootstrap.MandatoryFlowSchemas, bootstrap.SuggestedFlowSchemas) {
		fss = append(fss, fs.DeepCopy())
	}
	return pls, fss
}

// defaultFlowSchema fills flowcontrol/v1's default of a FlowSchema.
func defaultFlowSchema(fs *flowcontrolv1.FlowSchema) {
	if fs.Spec.MatchingPrecedence == 0 {
		fs.Spec.MatchingPrecedence = 1000
	}
}

// defaultPriorityLevel fills flowcontrol/v1's defaults of a
// PriorityLevelConfiguration: 30 nominal shares for a limited level, no
// lending, and queues of 64 with hands of 8 and a length limit of 50.
func defaultPriorityLevel(pl *flowcontrolv1.PriorityLevelConfiguration) {
	zero := func(p **int32, v int32) {
		if *p == nil {
			*p = &v
		}
	}
	if e := pl.Spec.Exempt; e != nil {
		zero(&e.NominalConcurrencyShares, 0)
		zero(&e.LendablePercent, 0)
	}
	if l := pl.Spec.Limited; l != nil {
		zero(&l.NominalConcurrencyShares, 30)
		zero(&l.LendablePercent, 0)
		if q := l.LimitResponse.Queuing; q != nil {
			if q.HandSize == 0 {
				q.HandSize = 8
			}
			if q.Queues == 0 {
				q.Queues = 64
			}
			if q.QueueLengthLimit == 0 {
				q.QueueLengthLimit = 50
			}
		}
	}
}

var (
	flowControlVerbs        = []string{"create", "delete", "deletecollection", "get", "list", "patch", "proxy", "update", "watch"}
	flowControlSubjectKinds = []string{"Group", "ServiceAccount", "User"}
)

// validateFlowSchema checks what Kubernetes' ValidateFlowSchema checks.
func validateFlowSchema(fs *flowcontrolv1.FlowSchema) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	mp := p.Child("matchingPrecedence")
	switch s := fs.Spec; {
	case s.MatchingPrecedence <= 0:
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, "must be a positive value"))
	case s.MatchingPrecedence > 10000:
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, "must not be greater than 10000"))
	case s.MatchingPrecedence == 1 && fs.Name != flowcontrolv1.FlowSchemaNameExempt:
		errs = append(errs, field.Invalid(mp, s.MatchingPrecedence, "only the schema named 'exempt' may have matchingPrecedence 1"))
	}
	if d := fs.Spec.DistinguisherMethod; d != nil && d.Type != flowcontrolv1.FlowDistinguisherMethodByUserType && d.Type != flowcontrolv1.FlowDistinguisherMethodByNamespaceType {
		errs = append(errs, field.NotSupported(p.Child("distinguisherMethod", "type"), d.Type, []string{"ByNamespace", "ByUser"}))
	}
	pl := p.Child("priorityLevelConfiguration", "name")
	if name := fs.Spec.PriorityLevelConfiguration.Name; name == "" {
		errs = append(errs, field.Required(pl, "must reference a priority level"))
	} else {
		for _, msg := range apivalidation.NameIsDNSSubdomain(name, false) {
			errs = append(errs, field.Invalid(pl, name, msg))
		}
	}
	for i, r := range fs.Spec.Rules {
		errs = append(errs, validatePolicyRules(&r, p.Child("rules").Index(i))...)
	}
	for i, c := range fs.Status.Conditions {
		if c.Type == "" {
			errs = append(errs, field.Required(field.NewPath("status", "conditions").Index(i).Child("type"), "must not be empty"))
		}
	}
	return errs
}

func validatePolicyRules(r *flowcontrolv1.PolicyRulesWithSubjects, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(r.Subjects) == 0 {
		errs = append(errs, field.Required(p.Child("subjects"), "subjects must contain at least one value"))
	}
	for i, s := range r.Subjects {
		errs = append(errs, validateFlowSubject(&s, p.Child("subjects").Index(i))...)
	}
	if len(r.ResourceRules) == 0 && len(r.NonResourceRules) == 0 {
		errs = append(errs, field.Required(p, "at least one of resourceRules and nonResourceRules has to be non-empty"))
	}
	for i, rr := range r.ResourceRules {
		rp := p.Child("resourceRules").Index(i)
		errs = append(errs, validateFlowVerbs(rr.Verbs, rp.Child("verbs"))...)
		errs = append(errs, validateWildcardList(rr.APIGroups, rp.Child("apiGroups"), "resource rules must supply at least one api group", "api groups")...)
		errs = append(errs, validateWildcardList(rr.Resources, rp.Child("resources"), "resource rules must supply at least one resource", "resources")...)
		switch {
		case len(rr.Namespaces) == 0 && !rr.ClusterScope:
			errs = append(errs, field.Required(rp.Child("namespaces"), "resource rules that are not cluster scoped must supply at least one namespace"))
		case slices.Contains(rr.Namespaces, "*"):
			if len(rr.Namespaces) > 1 {
				errs = append(errs, field.Invalid(rp.Child("namespaces"), rr.Namespaces, "if '*' is present, must not specify other namespaces"))
			}
		default:
			for j, ns := range rr.Namespaces {
				for _, msg := range apivalidation.ValidateNamespaceName(ns, false) {
					errs = append(errs, field.Invalid(rp.Child("namespaces").Index(j), ns, "each member of this list must be '*' or a DNS-1123 label; "+msg))
				}
			}
		}
	}
	for i, nr := range r.NonResourceRules {
		np := p.Child("nonResourceRules").Index(i)
		errs = append(errs, validateFlowVerbs(nr.Verbs, np.Child("verbs"))...)
		switch {
		case len(nr.NonResourceURLs) == 0:
			errs = append(errs, field.Required(np.Child("nonResourceURLs"), "nonResourceURLs must contain at least one value"))
		case slices.Contains(nr.NonResourceURLs, "*"):
			if len(nr.NonResourceURLs) > 1 {
				errs = append(errs, field.Invalid(np.Child("nonResourceURLs"), nr.NonResourceURLs, "if '*' is present, must not specify other non-resource URLs"))
			}
		default:
			for j, u := range nr.NonResourceURLs {
				if msg := nonResourceURLProblem(u); msg != "" {
					errs = append(errs, field.Invalid(np.Child("nonResourceURLs").Index(j), u, msg))
				}
			}
		}
	}
	return errs
}

func validateFlowVerbs(verbs []string, p *field.Path) field.ErrorList {
	switch {
	case len(verbs) == 0:
		return field.ErrorList{field.Required(p, "verbs must contain at least one value")}
	case slices.Contains(verbs, "*"):
		if len(verbs) > 1 {
			return field.ErrorList{field.Invalid(p, verbs, "if '*' is present, must not specify other verbs")}
		}
		return nil
	}
	for _, v := range verbs {
		if !slices.Contains(flowControlVerbs, v) {
			return field.ErrorList{field.NotSupported(p, verbs, flowControlVerbs)}
		}
	}
	return nil
}

func validateWildcardList(list []string, p *field.Path, required, what string) field.ErrorList {
	switch {
	case len(list) == 0:
		return field.ErrorList{field.Required(p, required)}
	case len(list) > 1 && slices.Contains(list, "*"):
		return field.ErrorList{field.Invalid(p, list, "if '*' is present, must not specify other "+what)}
	}
	return nil
}

// nonResourceURLProblem is what is wrong with a non-resource URL of a
// flow schema's rule, or "".
func nonResourceURLProblem(u string) string {
	switch {
	case u == "":
		return "must not be empty"
	case u == "/":
		return ""
	case !strings.HasPrefix(u, "/"):
		return "must start with slash"
	case strings.Contains(u, " "):
		return "must not contain white-space"
	case strings.Contains(u, "//"):
		return "must not contain double slash"
	}
	if n := strings.Count(u, "*"); n > 1 || (n == 1 && !strings.HasSuffix(u, "/*")) {
		return "wildcard can only do suffix matching"
	}
	return ""
}

func validateFlowSubject(s *flowcontrolv1.Subject, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	forbid := func(set bool, name, kind string) {
		if set {
			errs = append(errs, field.Forbidden(p.Child(name), fmt.Sprintf("%s is forbidden when subject kind is not '%s'", name, kind)))
		}
	}
	switch s.Kind {
	case flowcontrolv1.SubjectKindServiceAccount:
		sa := s.ServiceAccount
		switch {
		case sa == nil:
			errs = append(errs, field.Required(p.Child("serviceAccount"), "serviceAccount is required when subject kind is 'ServiceAccount'"))
		default:
			if sa.Name == "" {
				errs = append(errs, field.Required(p.Child("serviceAccount", "name"), ""))
			} else if sa.Name != flowcontrolv1.NameAll {
				for _, msg := range apivalidation.ValidateServiceAccountName(sa.Name, false) {
					errs = append(errs, field.Invalid(p.Child("serviceAccount", "name"), sa.Name, msg))
				}
			}
			if sa.Namespace == "" {
				errs = append(errs, field.Required(p.Child("serviceAccount", "namespace"), "must specify namespace for service account"))
			} else {
				for _, msg := range apivalidation.ValidateNamespaceName(sa.Namespace, false) {
					errs = append(errs, field.Invalid(p.Child("serviceAccount", "namespace"), sa.Namespace, msg))
				}
			}
		}
		forbid(s.User != nil, "user", "User")
		forbid(s.Group != nil, "group", "Group")
	case flowcontrolv1.SubjectKindUser:
		switch {
		case s.User == nil:
			errs = append(errs, field.Required(p.Child("user"), "user is required when subject kind is 'User'"))
		case s.User.Name == "":
			errs = append(errs, field.Required(p.Child("user", "name"), ""))
		}
		forbid(s.ServiceAccount != nil, "serviceAccount", "ServiceAccount")
		forbid(s.Group != nil, "group", "Group")
	case flowcontrolv1.SubjectKindGroup:
		switch {
		case s.Group == nil:
			errs = append(errs, field.Required(p.Child("group"), "group is required when subject kind is 'Group'"))
		case s.Group.Name == "":
			errs = append(errs, field.Required(p.Child("group", "name"), ""))
		}
		forbid(s.ServiceAccount != nil, "serviceAccount", "ServiceAccount")
		forbid(s.User != nil, "user", "User")
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, flowControlSubjectKinds))
	}
	return errs
}

// validatePriorityLevel checks what Kubernetes' ValidatePriorityLevelConfiguration
// checks of a flowcontrol/v1 object.
func validatePriorityLevel(pl *flowcontrolv1.PriorityLevelConfiguration) field.ErrorList {
	p := field.NewPath("spec")
	s := pl.Spec
	var errs field.ErrorList
	if (pl.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt) != (s.Type == flowcontrolv1.PriorityLevelEnablementExempt) {
		errs = append(errs, field.Invalid(p.Child("type"), s.Type, "type must be 'Exempt' if and only if name is 'exempt'"))
	}
	percent := func(v *int32, fp *field.Path) {
		if v != nil && (*v < 0 || *v > 100) {
			errs = append(errs, field.Invalid(fp, *v, "must be between 0 and 100, inclusive"))
		}
	}
	shares := func(v *int32, fp *field.Path) {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(fp, *v, "must be a non-negative integer"))
		}
	}
	switch s.Type {
	case flowcontrolv1.PriorityLevelEnablementExempt:
		if s.Limited != nil {
			errs = append(errs, field.Forbidden(p.Child("limited"), "must be nil if the type is not Limited"))
		}
		if e := s.Exempt; e != nil {
			shares(e.NominalConcurrencyShares, p.Child("exempt", "nominalConcurrencyShares"))
			percent(e.LendablePercent, p.Child("exempt", "lendablePercent"))
		}
	case flowcontrolv1.PriorityLevelEnablementLimited:
		if s.Exempt != nil {
			errs = append(errs, field.Forbidden(p.Child("exempt"), "must be nil if the type is Limited"))
		}
		l := s.Limited
		if l == nil {
			errs = append(errs, field.Required(p.Child("limited"), "must not be empty when type is Limited"))
			break
		}
		lp := p.Child("limited")
		shares(l.NominalConcurrencyShares, lp.Child("nominalConcurrencyShares"))
		percent(l.LendablePercent, lp.Child("lendablePercent"))
		if b := l.BorrowingLimitPercent; b != nil && *b < 0 {
			errs = append(errs, field.Invalid(lp.Child("borrowingLimitPercent"), *b, "if specified, must be a non-negative integer"))
		}
		errs = append(errs, validateLimitResponse(l.LimitResponse, lp.Child("limitResponse"))...)
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type, []string{"Exempt", "Limited"}))
	}
	for i, c := range pl.Status.Conditions {
		if c.Type == "" {
			errs = append(errs, field.Required(field.NewPath("status", "conditions").Index(i).Child("type"), "must not be empty"))
		}
	}
	return errs
}

func validateLimitResponse(lr flowcontrolv1.LimitResponse, p *field.Path) field.ErrorList {
	switch lr.Type {
	case flowcontrolv1.LimitResponseTypeReject:
		if lr.Queuing != nil {
			return field.ErrorList{field.Forbidden(p.Child("queuing"), "must be nil if limited.limitResponse.type is not Limited")}
		}
		return nil
	case flowcontrolv1.LimitResponseTypeQueue:
	default:
		return field.ErrorList{field.NotSupported(p.Child("type"), lr.Type, []string{"Queue", "Reject"})}
	}
	q := lr.Queuing
	if q == nil {
		return field.ErrorList{field.Required(p.Child("queuing"), "must not be empty if limited.limitResponse.type is Limited")}
	}
	qp := p.Child("queuing")
	var errs field.ErrorList
	if q.QueueLengthLimit <= 0 {
		errs = append(errs, field.Invalid(qp.Child("queueLengthLimit"), q.QueueLengthLimit, "must be positive"))
	}
	const maxQueues = 10 * 1000 * 1000
	switch {
	case q.Queues <= 0:
		errs = append(errs, field.Invalid(qp.Child("queues"), q.Queues, "must be positive"))
	case q.Queues > maxQueues:
		errs = append(errs, field.Invalid(qp.Child("queues"), q.Queues, fmt.Sprintf("must not be greater than %d", maxQueues)))
	}
	switch {
	case q.HandSize <= 0:
		errs = append(errs, field.Invalid(qp.Child("handSize"), q.HandSize, "must be positive"))
	case q.HandSize > q.Queues:
		errs = append(errs, field.Invalid(qp.Child("handSize"), q.HandSize, fmt.Sprintf("should not be greater than queues (%d)", q.Queues)))
	case shufflesharding.RequiredEntropyBits(int(q.Queues), int(q.HandSize)) > shufflesharding.MaxHashBits:
		errs = append(errs, field.Invalid(qp.Child("handSize"), q.HandSize,
			fmt.Sprintf("required entropy bits of deckSize %d and handSize %d should not be greater than %d", q.Queues, q.HandSize, shufflesharding.MaxHashBits)))
	}
	return errs
}

package kinds

import (
	"context"
	"fmt"
	"strings"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// dynamicResources serves resource.k8s.io/v1, the objects of Dynamic
// Resource Allocation: device classes, resource claims (with status),
// their templates, resource slices and device taint rules. They are stored, defaulted and
// validated in their structure (required fields, names, sizes, which
// fields exclude which); CEL selectors are not compiled, and nothing
// allocates devices or creates claims from templates.
func (b *builder) dynamicResources() {
	const group = "resource.k8s.io"
	b.stored(&registry.Resource{
		Group: group, Version: "v1", Kind: "DeviceClass", Plural: "deviceclasses", Singular: "deviceclass",
		New:     func() runtime.Object { return &resourcev1.DeviceClass{} },
		NewList: func() runtime.Object { return &resourcev1.DeviceClassList{} },
		HasSpec: true,
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateDeviceClass(obj.(*resourcev1.DeviceClass))
		},
		ValidateUpdate: func(_ context.Context, obj, _ runtime.Object) field.ErrorList {
			return validateDeviceClass(obj.(*resourcev1.DeviceClass))
		},
	})
	claims := rules(&registry.Resource{
		Group: group, Version: "v1", Kind: "ResourceClaim", Plural: "resourceclaims", Singular: "resourceclaim", Namespaced: true,
		New:     func() runtime.Object { return &resourcev1.ResourceClaim{} },
		NewList: func() runtime.Object { return &resourcev1.ResourceClaimList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			c := obj.(*resourcev1.ResourceClaim)
			c.Status = resourcev1.ResourceClaimStatus{}
			defaultDeviceClaim(&c.Spec.Devices)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultDeviceClaim(&obj.(*resourcev1.ResourceClaim).Spec.Devices)
		},
		Columns: []metav1.TableColumnDefinition{
			col("State", "string", "A summary of the current state (allocated, pending, reserved, etc.)."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*resourcev1.ResourceClaim)
			return []any{resourceClaimState(c), b.age(c)}
		},
	}, func(c *resourcev1.ResourceClaim) field.ErrorList {
		return validateDeviceClaim(&c.Spec.Devices, field.NewPath("spec", "devices"))
	}, func(c, o *resourcev1.ResourceClaim) []change {
		return []change{{"spec", c.Spec, o.Spec}}
	})
	// Through /status: the allocation is made once and then only
	// removed, and every consumer is named.
	validateClaimUpdate := claims.ValidateUpdate
	claims.ValidateUpdate = func(ctx context.Context, obj, old runtime.Object) field.ErrorList {
		if registry.SubresourceOf(ctx) != "status" {
			return validateClaimUpdate(ctx, obj, old)
		}
		return validateClaimStatusUpdate(&obj.(*resourcev1.ResourceClaim).Status, &old.(*resourcev1.ResourceClaim).Status)
	}
	b.stored(claims, "status")
	b.stored(rules(&registry.Resource{
		Group: group, Version: "v1", Kind: "ResourceClaimTemplate", Plural: "resourceclaimtemplates", Singular: "resourceclaimtemplate", Namespaced: true,
		New:     func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} },
		NewList: func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} },
		HasSpec: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaultDeviceClaim(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec.Devices)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultDeviceClaim(&obj.(*resourcev1.ResourceClaimTemplate).Spec.Spec.Devices)
		},
	}, func(t *resourcev1.ResourceClaimTemplate) field.ErrorList {
		return validateDeviceClaim(&t.Spec.Spec.Devices, field.NewPath("spec", "spec", "devices"))
	}, func(t, o *resourcev1.ResourceClaimTemplate) []change {
		return []change{{"spec", t.Spec, o.Spec}}
	}))
	b.stored(rules(&registry.Resource{
		Group: group, Version: "v1", Kind: "ResourceSlice", Plural: "resourceslices", Singular: "resourceslice",
		New:     func() runtime.Object { return &resourcev1.ResourceSlice{} },
		NewList: func() runtime.Object { return &resourcev1.ResourceSliceList{} },
		HasSpec: true,
		Fields: func(obj runtime.Object) fields.Set {
			s := obj.(*resourcev1.ResourceSlice)
			return fields.Set{"spec.nodeName": strOr(s.Spec.NodeName), "spec.driver": s.Spec.Driver}
		},
		Columns: []metav1.TableColumnDefinition{
			col("Node", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["nodeName"]),
			col("Driver", "string", resourcev1.ResourceSliceSpec{}.SwaggerDoc()["driver"]),
			col("Pool", "string", resourcev1.ResourcePool{}.SwaggerDoc()["name"]),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*resourcev1.ResourceSlice)
			return []any{strOr(s.Spec.NodeName), s.Spec.Driver, s.Spec.Pool.Name, b.age(s)}
		},
	}, validateResourceSlice, func(s, o *resourcev1.ResourceSlice) []change {
		return []change{
			{"spec.driver", s.Spec.Driver, o.Spec.Driver},
			{"spec.nodeName", s.Spec.NodeName, o.Spec.NodeName},
			{"spec.pool.name", s.Spec.Pool.Name, o.Spec.Pool.Name},
		}
	}))
	b.deviceTaintRules()
}

// deviceTaintRules serves resource.k8s.io/v1's DeviceTaintRules (GA in
// 1.37): taints that apply to the devices a selector picks. Nothing
// evicts the pods of NoExecute taints.
func (b *builder) deviceTaintRules() {
	stamp := func(t *resourcev1.DeviceTaint) {
		if t.TimeAdded == nil {
			now := metav1.NewTime(b.cfg.Now().Truncate(time.Second))
			t.TimeAdded = &now
		}
	}
	b.stored(&registry.Resource{
		Group: "resource.k8s.io", Version: "v1", Kind: "DeviceTaintRule", Plural: "devicetaintrules", Singular: "devicetaintrule",
		New:     func() runtime.Object { return &resourcev1.DeviceTaintRule{} },
		NewList: func() runtime.Object { return &resourcev1.DeviceTaintRuleList{} },
		HasSpec: true, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			r := obj.(*resourcev1.DeviceTaintRule)
			r.Status = resourcev1.DeviceTaintRuleStatus{}
			stamp(&r.Spec.Taint)
		},
		// A changed taint is a new taint, added now.
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			t, o := &obj.(*resourcev1.DeviceTaintRule).Spec.Taint, old.(*resourcev1.DeviceTaintRule).Spec.Taint
			if t.TimeAdded == nil && t.Key == o.Key && t.Value == o.Value && t.Effect == o.Effect {
				t.TimeAdded = o.TimeAdded
			}
			stamp(t)
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateDeviceTaintRule(obj.(*resourcev1.DeviceTaintRule))
		},
		ValidateUpdate: func(ctx context.Context, obj, _ runtime.Object) field.ErrorList {
			r := obj.(*resourcev1.DeviceTaintRule)
			if registry.SubresourceOf(ctx) == "status" {
				p := field.NewPath("status", "conditions")
				errs := metavalidation.ValidateConditions(r.Status.Conditions, p)
				if len(r.Status.Conditions) > resourcev1.DeviceTaintRuleStatusMaxConditions {
					errs = append(errs, field.TooMany(p, len(r.Status.Conditions), resourcev1.DeviceTaintRuleStatusMaxConditions))
				}
				return errs
			}
			return validateDeviceTaintRule(r)
		},
	}, "status")
}

// validateDeviceTaintRule checks the taint (a qualified key, a label
// value, a known effect) and the selector's names.
func validateDeviceTaintRule(r *resourcev1.DeviceTaintRule) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if sel := r.Spec.DeviceSelector; sel != nil {
		sp := p.Child("deviceSelector")
		if sel.Driver != nil {
			errs = append(errs, validateDriverName(*sel.Driver, sp.Child("driver"))...)
		}
		if sel.Pool != nil {
			errs = append(errs, validatePoolName(*sel.Pool, sp.Child("pool"))...)
		}
		if sel.Device != nil {
			errs = append(errs, validateDNSLabel(*sel.Device, sp.Child("device"))...)
		}
	}
	t := r.Spec.Taint
	tp := p.Child("taint")
	if t.Key == "" {
		errs = append(errs, field.Required(tp.Child("key"), ""))
	} else {
		errs = append(errs, invalidEach(tp.Child("key"), t.Key, validation.IsQualifiedName(t.Key))...)
	}
	errs = append(errs, invalidEach(tp.Child("value"), t.Value, validation.IsValidLabelValue(t.Value))...)
	switch t.Effect {
	case resourcev1.DeviceTaintEffectNone, resourcev1.DeviceTaintEffectNoSchedule, resourcev1.DeviceTaintEffectNoExecute:
	case "":
		errs = append(errs, field.Required(tp.Child("effect"), ""))
	default:
		errs = append(errs, field.NotSupported(tp.Child("effect"), t.Effect, []string{"NoExecute", "NoSchedule", "None"}))
	}
	return errs
}

// validatePoolName checks a pool's name: slash-separated DNS subdomains,
// at most 253 characters in all.
func validatePoolName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(name) > validation.DNS1123SubdomainMaxLength {
		errs = append(errs, field.TooLong(p, "", validation.DNS1123SubdomainMaxLength))
	}
	for _, part := range strings.Split(name, "/") {
		errs = append(errs, invalidEach(p, part, validation.IsDNS1123Subdomain(part))...)
	}
	return errs
}

// strOr is a *string's value, or "" when unset.
func strOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// resourceClaimState is the State cell: deleted, pending, allocated and
// reserved, as kubectl prints them.
func resourceClaimState(c *resourcev1.ResourceClaim) string {
	var states []string
	if c.DeletionTimestamp != nil {
		states = append(states, "deleted")
	}
	switch {
	case c.Status.Allocation == nil:
		if c.DeletionTimestamp == nil {
			states = append(states, "pending")
		}
	default:
		states = append(states, "allocated")
		if len(c.Status.ReservedFor) > 0 {
			states = append(states, "reserved")
		}
	}
	return strings.Join(states, ",")
}

// defaultDeviceClaim fills resource/v1's defaults of a claim's requests:
// allocation mode ExactCount with a count of 1, and tolerations that
// compare with Equal.
func defaultDeviceClaim(d *resourcev1.DeviceClaim) {
	mode := func(m *resourcev1.DeviceAllocationMode, count *int64, tols []resourcev1.DeviceToleration) {
		if *m == "" {
			*m = resourcev1.DeviceAllocationModeExactCount
		}
		if *m == resourcev1.DeviceAllocationModeExactCount && *count == 0 {
			*count = 1
		}
		for i := range tols {
			if tols[i].Operator == "" {
				tols[i].Operator = resourcev1.DeviceTolerationOpEqual
			}
		}
	}
	for i := range d.Requests {
		r := &d.Requests[i]
		if e := r.Exactly; e != nil {
			mode(&e.AllocationMode, &e.Count, e.Tolerations)
		}
		for j := range r.FirstAvailable {
			s := &r.FirstAvailable[j]
			mode(&s.AllocationMode, &s.Count, s.Tolerations)
		}
	}
}

// Sizes Kubernetes allows in resource.k8s.io/v1.
const (
	draMaxRequests    = 32
	draMaxSelectors   = 32
	draMaxConfigs     = 32
	draMaxSubRequests = 8
	draMaxDevices     = 128
	draMaxReservedFor = 256
)

func validateDeviceClaim(d *resourcev1.DeviceClaim, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rp := p.Child("requests")
	if len(d.Requests) > draMaxRequests {
		errs = append(errs, field.TooMany(rp, len(d.Requests), draMaxRequests))
	}
	seen := map[string]bool{}
	for i, r := range d.Requests {
		ip := rp.Index(i)
		errs = append(errs, uniqueRequestName(seen, r.Name, ip.Child("name"))...)
		switch {
		case r.Exactly == nil && len(r.FirstAvailable) == 0:
			errs = append(errs, field.Required(ip, "exactly one of `exactly` or `firstAvailable` is required"))
		case r.Exactly != nil && len(r.FirstAvailable) > 0:
			errs = append(errs, field.Invalid(ip, nil, "exactly one of `exactly` or `firstAvailable` is required, but multiple fields are set"))
		case r.Exactly != nil:
			e := r.Exactly
			errs = append(errs, validateDeviceSelection(e.DeviceClassName, e.Selectors, e.AllocationMode, e.Count, ip.Child("exactly"))...)
		default:
			fp := ip.Child("firstAvailable")
			if len(r.FirstAvailable) > draMaxSubRequests {
				errs = append(errs, field.TooMany(fp, len(r.FirstAvailable), draMaxSubRequests))
			}
			subSeen := map[string]bool{}
			for j, s := range r.FirstAvailable {
				sp := fp.Index(j)
				errs = append(errs, uniqueRequestName(subSeen, s.Name, sp.Child("name"))...)
				errs = append(errs, validateDeviceSelection(s.DeviceClassName, s.Selectors, s.AllocationMode, s.Count, sp)...)
			}
		}
	}
	if len(d.Config) > draMaxConfigs {
		errs = append(errs, field.TooMany(p.Child("config"), len(d.Config), draMaxConfigs))
	}
	for i, c := range d.Config {
		cp := p.Child("config").Index(i)
		for j, name := range c.Requests {
			if !seen[strings.Split(name, "/")[0]] {
				errs = append(errs, field.Invalid(cp.Child("requests").Index(j), name, "must be the name of a request in the claim or the name of a request and the subrequest separated by '/'"))
			}
		}
		errs = append(errs, validateOpaqueConfig(c.Opaque, cp)...)
	}
	return errs
}

// uniqueRequestName checks a request's or subrequest's name: a DNS
// label, once among its siblings (seen, which it records the name in).
func uniqueRequestName(seen map[string]bool, name string, p *field.Path) field.ErrorList {
	errs := validateDNSLabel(name, p)
	if name != "" && seen[name] {
		errs = append(errs, field.Duplicate(p, name))
	}
	seen[name] = true
	return errs
}

// validateDeviceSelection checks what an exact request and a subrequest
// share: the device class, the selectors and the allocation mode.
func validateDeviceSelection(class string, sels []resourcev1.DeviceSelector, mode resourcev1.DeviceAllocationMode, count int64, p *field.Path) field.ErrorList {
	errs := validateDeviceClassRef(class, p.Child("deviceClassName"))
	errs = append(errs, validateDeviceSelectors(sels, p.Child("selectors"))...)
	return append(errs, validateAllocationMode(mode, count, p)...)
}

func validateAllocationMode(mode resourcev1.DeviceAllocationMode, count int64, p *field.Path) field.ErrorList {
	switch mode {
	case resourcev1.DeviceAllocationModeAll:
		if count != 0 {
			return field.ErrorList{field.Invalid(p.Child("count"), count, fmt.Sprintf("must not be specified when allocationMode is '%s'", mode))}
		}
	case resourcev1.DeviceAllocationModeExactCount:
		if count <= 0 {
			return field.ErrorList{field.Invalid(p.Child("count"), count, "must be greater than zero")}
		}
	default:
		return field.ErrorList{field.NotSupported(p.Child("allocationMode"), mode, []string{"All", "ExactCount"})}
	}
	return nil
}

func validateDeviceClassRef(name string, p *field.Path) field.ErrorList {
	return requiredName(name, p, validation.IsDNS1123Subdomain)
}

func validateDNSLabel(name string, p *field.Path) field.ErrorList {
	return requiredName(name, p, validation.IsDNS1123Label)
}

// requiredName checks a name that must be set with check (one of
// apimachinery's validation.IsDNS1123… functions).
func requiredName(name string, p *field.Path, check func(string) []string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	return invalidEach(p, name, check(name))
}

// validateDeviceSelectors checks that each selector has a CEL
// expression; the expression itself is not compiled.
func validateDeviceSelectors(sels []resourcev1.DeviceSelector, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(sels) > draMaxSelectors {
		errs = append(errs, field.TooMany(p, len(sels), draMaxSelectors))
	}
	for i, s := range sels {
		switch {
		case s.CEL == nil:
			errs = append(errs, field.Required(p.Index(i).Child("cel"), ""))
		case strings.TrimSpace(s.CEL.Expression) == "":
			errs = append(errs, field.Required(p.Index(i).Child("cel", "expression"), ""))
		case len(s.CEL.Expression) > 10*1024:
			errs = append(errs, field.TooLong(p.Index(i).Child("cel", "expression"), "", 10*1024))
		}
	}
	return errs
}

func validateOpaqueConfig(o *resourcev1.OpaqueDeviceConfiguration, p *field.Path) field.ErrorList {
	if o == nil {
		return field.ErrorList{field.Required(p.Child("opaque"), "")}
	}
	op := p.Child("opaque")
	errs := validateDriverName(o.Driver, op.Child("driver"))
	if len(o.Parameters.Raw) == 0 && o.Parameters.Object == nil {
		errs = append(errs, field.Required(op.Child("parameters"), ""))
	}
	return errs
}

// validateDriverName checks a DRA driver's name as Kubernetes checks a CSI
// driver's: at most 63 characters, a DNS subdomain when lower-cased.
func validateDriverName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	var errs field.ErrorList
	if len(name) > 63 {
		errs = append(errs, field.TooLong(p, name, 63))
	}
	errs = append(errs, invalidEach(p, name, validation.IsDNS1123Subdomain(strings.ToLower(name)))...)
	return errs
}

func validateDeviceClass(c *resourcev1.DeviceClass) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateDeviceSelectors(c.Spec.Selectors, p.Child("selectors"))
	if len(c.Spec.Config) > draMaxConfigs {
		errs = append(errs, field.TooMany(p.Child("config"), len(c.Spec.Config), draMaxConfigs))
	}
	for i, cfg := range c.Spec.Config {
		errs = append(errs, validateOpaqueConfig(cfg.Opaque, p.Child("config").Index(i))...)
	}
	if n := c.Spec.ExtendedResourceName; n != nil {
		errs = append(errs, invalidEach(p.Child("extendedResourceName"), *n, validation.IsQualifiedName(*n))...)
	}
	return errs
}

func validateClaimStatusUpdate(now, was *resourcev1.ResourceClaimStatus) field.ErrorList {
	p := field.NewPath("status")
	var errs field.ErrorList
	if now.Allocation != nil && was.Allocation != nil {
		errs = append(errs, apivalidation.ValidateImmutableField(now.Allocation, was.Allocation, p.Child("allocation"))...)
	}
	if len(now.ReservedFor) > draMaxReservedFor {
		errs = append(errs, field.TooMany(p.Child("reservedFor"), len(now.ReservedFor), draMaxReservedFor))
	}
	if len(now.ReservedFor) > 0 && now.Allocation == nil {
		errs = append(errs, field.Forbidden(p.Child("reservedFor"), "may not be specified when `allocated` is not set"))
	}
	uids := map[string]bool{}
	for i, r := range now.ReservedFor {
		rp := p.Child("reservedFor").Index(i)
		if r.Resource == "" {
			errs = append(errs, field.Required(rp.Child("resource"), ""))
		}
		if r.Name == "" {
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
		switch {
		case r.UID == "":
			errs = append(errs, field.Required(rp.Child("uid"), ""))
		case uids[string(r.UID)]:
			errs = append(errs, field.Duplicate(rp.Child("uid"), r.UID))
		}
		uids[string(r.UID)] = true
	}
	return errs
}

// validateResourceSlice checks what Kubernetes checks of a slice's
// structure: the driver and pool, one way of selecting nodes, devices or
// shared counters but not both, and distinct device names.
func validateResourceSlice(s *resourcev1.ResourceSlice) field.ErrorList {
	p := field.NewPath("spec")
	errs := validateDriverName(s.Spec.Driver, p.Child("driver"))
	pool := p.Child("pool")
	errs = append(errs, validatePoolName(s.Spec.Pool.Name, pool.Child("name"))...)
	if s.Spec.Pool.ResourceSliceCount <= 0 {
		errs = append(errs, field.Invalid(pool.Child("resourceSliceCount"), s.Spec.Pool.ResourceSliceCount, "must be greater than zero"))
	}
	if s.Spec.Pool.Generation < 0 {
		errs = append(errs, field.Invalid(pool.Child("generation"), s.Spec.Pool.Generation, "must be greater than or equal to zero"))
	}
	var set []string
	if n := s.Spec.NodeName; n != nil {
		set = append(set, "`nodeName`")
		for _, msg := range apivalidation.NameIsDNSSubdomain(*n, false) {
			errs = append(errs, field.Invalid(p.Child("nodeName"), *n, msg))
		}
	}
	if sel := s.Spec.NodeSelector; sel != nil {
		set = append(set, "`nodeSelector`")
		if len(sel.NodeSelectorTerms) != 1 {
			errs = append(errs, field.Invalid(p.Child("nodeSelector", "nodeSelectorTerms"), sel.NodeSelectorTerms, "must have exactly one node selector term"))
		}
	}
	flag := func(v *bool, name string) {
		switch {
		case v == nil:
		case *v:
			set = append(set, "`"+name+"`")
		default:
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be either unset or set to true"))
		}
	}
	flag(s.Spec.AllNodes, "allNodes")
	flag(s.Spec.PerDeviceNodeSelection, "perDeviceNodeSelection")
	switch len(set) {
	case 0:
		errs = append(errs, field.Required(p, "exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required"))
	case 1:
	default:
		errs = append(errs, field.Invalid(p, fmt.Sprintf("{%s}", strings.Join(set, ", ")),
			"exactly one of `nodeName`, `nodeSelector`, `allNodes`, `perDeviceNodeSelection` is required, but multiple fields are set"))
	}
	if s.Spec.SharedCounters != nil && s.Spec.Devices != nil {
		errs = append(errs, field.Invalid(p, "", "only one of `sharedCounters` or `devices` is allowed"))
	}
	dp := p.Child("devices")
	if len(s.Spec.Devices) > draMaxDevices {
		errs = append(errs, field.TooMany(dp, len(s.Spec.Devices), draMaxDevices))
	}
	seen := map[string]bool{}
	for i, d := range s.Spec.Devices {
		errs = append(errs, validateDNSLabel(d.Name, dp.Index(i).Child("name"))...)
		if d.Name != "" && seen[d.Name] {
			errs = append(errs, field.Duplicate(dp.Index(i).Child("name"), d.Name))
		}
		seen[d.Name] = true
	}
	return errs
}

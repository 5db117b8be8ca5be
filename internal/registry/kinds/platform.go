package kinds

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	storagev1 "k8s.io/api/storage/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// platform serves the kinds that describe the platform to its clients
// rather than run anything on Cella: pod templates, ingress classes,
// runtime classes, endpoint slices and the CSI objects of storage.k8s.io.
// Each has Kubernetes' defaults, its essential validation (required
// fields, immutable fields, enumerations) and kubectl's columns.
func (b *builder) platform() {
	b.podTemplates()
	b.ingressClasses()
	b.runtimeClasses()
	b.endpointSlices()
	b.csiKinds()
}

// change is a field an update may not change: its path, and its new and
// old values.
type change struct {
	path     string
	now, was any
}

// rules sets r's Validate to validate, and its ValidateUpdate to validate
// plus a refusal, in Kubernetes' words ("field is immutable"), of each
// field that immutable reports changed.
func rules[T runtime.Object](r *registry.Resource, validate func(T) field.ErrorList, immutable func(obj, old T) []change) *registry.Resource {
	r.Validate = func(_ context.Context, obj runtime.Object) field.ErrorList { return validate(obj.(T)) }
	r.ValidateUpdate = func(_ context.Context, obj, old runtime.Object) field.ErrorList {
		o, w := obj.(T), old.(T)
		errs := validate(o)
		for _, c := range immutable(o, w) {
			parts := strings.Split(c.path, ".")
			errs = append(errs, apivalidation.ValidateImmutableField(c.now, c.was, field.NewPath(parts[0], parts[1:]...))...)
		}
		return errs
	}
	return r
}

func (b *builder) podTemplates() {
	b.stored(&registry.Resource{
		Version: "v1", Kind: "PodTemplate", Plural: "podtemplates", Singular: "podtemplate", Namespaced: true,
		New: func() runtime.Object { return &corev1.PodTemplate{} }, NewList: func() runtime.Object { return &corev1.PodTemplateList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaultPodSpec(&obj.(*corev1.PodTemplate).Template.Spec)
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultPodSpec(&obj.(*corev1.PodTemplate).Template.Spec)
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			t := obj.(*corev1.PodTemplate)
			return validatePodSpec(&t.Template.Spec, field.NewPath("template", "spec"))
		},
		Columns: []metav1.TableColumnDefinition{
			col("Containers", "string", "Names of each container in the template."),
			col("Images", "string", "Images referenced by each container in the template."),
			col("Pod Labels", "string", "The labels for the pod template."),
		},
		Row: func(obj runtime.Object) []any {
			t := obj.(*corev1.PodTemplate)
			names, images := containerColumns(&t.Template)
			return []any{names, images, labels.FormatLabels(t.Template.Labels)}
		},
	})
}

func (b *builder) ingressClasses() {
	b.stored(rules(&registry.Resource{
		Group: "networking.k8s.io", Version: "v1", Kind: "IngressClass", Plural: "ingressclasses", Singular: "ingressclass",
		New: func() runtime.Object { return &networkingv1.IngressClass{} }, NewList: func() runtime.Object { return &networkingv1.IngressClassList{} },
		HasSpec: true,
		Columns: []metav1.TableColumnDefinition{
			col("Controller", "string", "Controller that is responsible for handling this class"),
			col("Parameters", "string", "A reference to a resource with additional parameters"),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*networkingv1.IngressClass)
			params := "<none>"
			if p := c.Spec.Parameters; p != nil {
				params = p.Kind
				if p.APIGroup != nil {
					params += "." + *p.APIGroup
				}
				params += "/" + p.Name
			}
			return []any{c.Spec.Controller, params, b.age(c)}
		},
	}, validateIngressClass, func(c, o *networkingv1.IngressClass) []change {
		return []change{{"spec.controller", c.Spec.Controller, o.Spec.Controller}}
	}))
}

// validateIngressClass checks what Kubernetes' ValidateIngressClass
// checks of the controller and the parameters' scope.
func validateIngressClass(c *networkingv1.IngressClass) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	switch {
	case c.Spec.Controller == "":
		errs = append(errs, field.Required(p.Child("controller"), ""))
	case len(c.Spec.Controller) > 250:
		errs = append(errs, field.TooLong(p.Child("controller"), "", 250))
	default:
		errs = append(errs, validateDomainPrefixedPath(c.Spec.Controller, p.Child("controller"))...)
	}
	if params := c.Spec.Parameters; params != nil {
		pp := p.Child("parameters")
		if params.Kind == "" {
			errs = append(errs, field.Required(pp.Child("kind"), ""))
		}
		if params.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if params.Scope != nil {
			switch *params.Scope {
			case networkingv1.IngressClassParametersReferenceScopeCluster:
				if params.Namespace != nil {
					errs = append(errs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
				}
			case networkingv1.IngressClassParametersReferenceScopeNamespace:
				if params.Namespace == nil {
					errs = append(errs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
				}
			default:
				errs = append(errs, field.NotSupported(pp.Child("scope"), *params.Scope, []string{"Cluster", "Namespace"}))
			}
		}
	}
	return errs
}

// validateDomainPrefixedPath checks a "example.com/path" value, as
// Kubernetes' IsDomainPrefixedPath does.
func validateDomainPrefixedPath(v string, p *field.Path) field.ErrorList {
	domain, path, ok := strings.Cut(v, "/")
	if !ok || domain == "" || path == "" {
		return field.ErrorList{field.Invalid(p, v, "must be a domain-prefixed path (such as \"acme.io/foo\")")}
	}
	var errs field.ErrorList
	errs = append(errs, invalidEach(p, domain, validation.IsDNS1123Subdomain(domain))...)
	return errs
}

func (b *builder) runtimeClasses() {
	b.stored(rules(&registry.Resource{
		Group: "node.k8s.io", Version: "v1", Kind: "RuntimeClass", Plural: "runtimeclasses", Singular: "runtimeclass",
		New: func() runtime.Object { return &nodev1.RuntimeClass{} }, NewList: func() runtime.Object { return &nodev1.RuntimeClassList{} },
		Columns: []metav1.TableColumnDefinition{col("Handler", "string", "Handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."), ageColumn},
		Row: func(obj runtime.Object) []any {
			c := obj.(*nodev1.RuntimeClass)
			return []any{c.Handler, b.age(c)}
		},
	}, validateRuntimeClass, func(c, o *nodev1.RuntimeClass) []change {
		return []change{{"handler", c.Handler, o.Handler}}
	}))
}

func validateRuntimeClass(c *nodev1.RuntimeClass) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, invalidEach(field.NewPath("handler"), c.Handler, validation.IsDNS1123Label(c.Handler))...)
	if o := c.Overhead; o != nil {
		for name, q := range o.PodFixed {
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(field.NewPath("overhead", "podFixed").Key(string(name)), q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	return errs
}

func (b *builder) endpointSlices() {
	b.stored(rules(&registry.Resource{
		Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", Plural: "endpointslices", Singular: "endpointslice", Namespaced: true,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Columns: []metav1.TableColumnDefinition{
			col("AddressType", "string", "The IP protocol for this slice"),
			col("Ports", "string", "The ports for this slice"),
			col("Endpoints", "string", "The endpoints for this slice"),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*discoveryv1.EndpointSlice)
			return []any{string(s.AddressType), endpointSlicePorts(s), endpointSliceAddresses(s), b.age(s)}
		},
	}, validateEndpointSlice, func(s, o *discoveryv1.EndpointSlice) []change {
		return []change{{"addressType", s.AddressType, o.AddressType}}
	}))
}

func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	case "":
		errs = append(errs, field.Required(field.NewPath("addressType"), ""))
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, []string{"IPv4", "IPv6", "FQDN"}))
	}
	if len(s.Endpoints) > 1000 {
		errs = append(errs, field.TooMany(field.NewPath("endpoints"), len(s.Endpoints), 1000))
	}
	for i, e := range s.Endpoints {
		p := field.NewPath("endpoints").Index(i).Child("addresses")
		switch {
		case len(e.Addresses) == 0:
			errs = append(errs, field.Required(p, "must contain at least 1 address"))
		case len(e.Addresses) > 100:
			errs = append(errs, field.TooMany(p, len(e.Addresses), 100))
		}
	}
	if len(s.Ports) > 100 {
		errs = append(errs, field.TooMany(field.NewPath("ports"), len(s.Ports), 100))
	}
	for i, port := range s.Ports {
		p := field.NewPath("ports").Index(i)
		if port.Name != nil && *port.Name != "" {
			errs = append(errs, invalidEach(p.Child("name"), *port.Name, validation.IsDNS1123Label(*port.Name))...)
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		}
	}
	return errs
}

// endpointSlicePorts and endpointSliceAddresses are the slice's cells as
// kubectl prints them: at most three, then "+ N more...".
func endpointSlicePorts(s *discoveryv1.EndpointSlice) string {
	var out []string
	for _, p := range s.Ports {
		if p.Port == nil {
			out = append(out, "<unset>")
		} else {
			out = append(out, fmt.Sprint(*p.Port))
		}
	}
	return abbreviated(out)
}

func endpointSliceAddresses(s *discoveryv1.EndpointSlice) string {
	var out []string
	for _, e := range s.Endpoints {
		out = append(out, e.Addresses...)
	}
	return abbreviated(out)
}

func abbreviated(list []string) string {
	switch {
	case len(list) == 0:
		return "<unset>"
	case len(list) > 3:
		return strings.Join(list[:3], ",") + fmt.Sprintf(" + %d more...", len(list)-3)
	}
	return strings.Join(list, ",")
}

// csiKinds serves storage.k8s.io's CSI objects. Cella runs no CSI driver:
// they are stored for the clients and charts that register or read them.
func (b *builder) csiKinds() {
	b.stored(rules(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "CSIDriver", Plural: "csidrivers", Singular: "csidriver",
		New: func() runtime.Object { return &storagev1.CSIDriver{} }, NewList: func() runtime.Object { return &storagev1.CSIDriverList{} },
		HasSpec: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaultCSIDriver(obj.(*storagev1.CSIDriver))
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultCSIDriver(obj.(*storagev1.CSIDriver))
		},
		Columns: []metav1.TableColumnDefinition{
			col("AttachRequired", "boolean", "Indicates this CSI volume driver requires an attach operation"),
			col("PodInfoOnMount", "boolean", "Indicates this CSI volume driver requires additional pod information during mount operations"),
			col("StorageCapacity", "boolean", "Indicates this CSI volume driver supports capacity tracking"),
			col("TokenRequests", "string", "Indicates this CSI volume driver requires service account tokens"),
			col("RequiresRepublish", "boolean", "Indicates this CSI volume driver requires periodic NodePublishVolume calls"),
			col("Modes", "string", "Volume lifecycle modes supported by the driver"),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			d := obj.(*storagev1.CSIDriver)
			tokens := "<unset>"
			if len(d.Spec.TokenRequests) > 0 {
				var auds []string
				for _, t := range d.Spec.TokenRequests {
					auds = append(auds, t.Audience)
				}
				tokens = strings.Join(auds, ",")
			}
			var modes []string
			for _, m := range d.Spec.VolumeLifecycleModes {
				modes = append(modes, string(m))
			}
			return []any{boolOr(d.Spec.AttachRequired), boolOr(d.Spec.PodInfoOnMount), boolOr(d.Spec.StorageCapacity),
				tokens, boolOr(d.Spec.RequiresRepublish), strings.Join(modes, ","), b.age(d)}
		},
	}, validateCSIDriver, func(d, o *storagev1.CSIDriver) []change {
		return []change{
			{"spec.attachRequired", d.Spec.AttachRequired, o.Spec.AttachRequired},
			{"spec.volumeLifecycleModes", d.Spec.VolumeLifecycleModes, o.Spec.VolumeLifecycleModes},
		}
	}))
	b.stored(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "CSINode", Plural: "csinodes", Singular: "csinode",
		New: func() runtime.Object { return &storagev1.CSINode{} }, NewList: func() runtime.Object { return &storagev1.CSINodeList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			n := obj.(*storagev1.CSINode)
			var errs field.ErrorList
			seen := map[string]bool{}
			for i, d := range n.Spec.Drivers {
				p := field.NewPath("spec", "drivers").Index(i)
				switch {
				case d.Name == "":
					errs = append(errs, field.Required(p.Child("name"), ""))
				case seen[d.Name]:
					errs = append(errs, field.Duplicate(p.Child("name"), d.Name))
				}
				seen[d.Name] = true
				if d.NodeID == "" {
					errs = append(errs, field.Required(p.Child("nodeID"), ""))
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"), ageColumn},
		Row: func(obj runtime.Object) []any {
			n := obj.(*storagev1.CSINode)
			return []any{int64(len(n.Spec.Drivers)), b.age(n)}
		},
	})
	b.stored(rules(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "VolumeAttachment", Plural: "volumeattachments", Singular: "volumeattachment",
		New: func() runtime.Object { return &storagev1.VolumeAttachment{} }, NewList: func() runtime.Object { return &storagev1.VolumeAttachmentList{} },
		HasSpec: true, HasStatus: true,
		Columns: []metav1.TableColumnDefinition{
			col("Attacher", "string", "Attacher indicates the name of the volume driver that MUST handle this request."),
			col("PV", "string", "Name of the persistent volume to attach."),
			col("Node", "string", "The node that the volume should be attached to."),
			col("Attached", "boolean", "Indicates the volume is successfully attached."),
			ageColumn,
		},
		Row: func(obj runtime.Object) []any {
			a := obj.(*storagev1.VolumeAttachment)
			pv := ""
			if a.Spec.Source.PersistentVolumeName != nil {
				pv = *a.Spec.Source.PersistentVolumeName
			}
			return []any{a.Spec.Attacher, pv, a.Spec.NodeName, a.Status.Attached, b.age(a)}
		},
	}, validateVolumeAttachment, func(a, o *storagev1.VolumeAttachment) []change {
		return []change{{"spec", a.Spec, o.Spec}}
	}), "status")
	b.stored(rules(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "CSIStorageCapacity", Plural: "csistoragecapacities", Singular: "csistoragecapacity", Namespaced: true,
		New: func() runtime.Object { return &storagev1.CSIStorageCapacity{} }, NewList: func() runtime.Object { return &storagev1.CSIStorageCapacityList{} },
		Columns: []metav1.TableColumnDefinition{
			col("StorageClassName", "string", "The name of the StorageClass that this capacity applies to."),
			col("Capacity", "string", "The capacity reported by the CSI driver."),
		},
		Row: func(obj runtime.Object) []any {
			c := obj.(*storagev1.CSIStorageCapacity)
			capacity := "<unset>"
			if c.Capacity != nil {
				capacity = c.Capacity.String()
			}
			return []any{c.StorageClassName, capacity}
		},
	}, validateCSIStorageCapacity, func(c, o *storagev1.CSIStorageCapacity) []change {
		return []change{{"storageClassName", c.StorageClassName, o.StorageClassName}, {"nodeTopology", c.NodeTopology, o.NodeTopology}}
	}))
	b.stored(rules(&registry.Resource{
		Group: "storage.k8s.io", Version: "v1", Kind: "VolumeAttributesClass", Plural: "volumeattributesclasses", Singular: "volumeattributesclass",
		ShortNames: []string{"vac"},
		New:        func() runtime.Object { return &storagev1.VolumeAttributesClass{} }, NewList: func() runtime.Object { return &storagev1.VolumeAttributesClassList{} },
		Columns: []metav1.TableColumnDefinition{col("DriverName", "string", "Name of the CSI driver"), ageColumn},
		Row: func(obj runtime.Object) []any {
			c := obj.(*storagev1.VolumeAttributesClass)
			return []any{c.DriverName, b.age(c)}
		},
	}, func(c *storagev1.VolumeAttributesClass) field.ErrorList {
		if c.DriverName == "" {
			return field.ErrorList{field.Required(field.NewPath("driverName"), "")}
		}
		return nil
	}, func(c, o *storagev1.VolumeAttributesClass) []change {
		return []change{{"driverName", c.DriverName, o.DriverName}, {"parameters", c.Parameters, o.Parameters}}
	}))
}

func validateCSIStorageCapacity(c *storagev1.CSIStorageCapacity) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, invalidEach(field.NewPath("storageClassName"), c.StorageClassName, validation.IsDNS1123Subdomain(c.StorageClassName))...)
	if c.Capacity != nil && c.Capacity.Sign() < 0 {
		errs = append(errs, field.Invalid(field.NewPath("capacity"), c.Capacity.String(), "must be greater than or equal to 0"))
	}
	return errs
}

// defaultCSIDriver fills the defaults of storage.k8s.io/v1's CSIDriver.
func defaultCSIDriver(d *storagev1.CSIDriver) {
	t, f := true, false
	s := &d.Spec
	if s.AttachRequired == nil {
		s.AttachRequired = &t
	}
	if s.PodInfoOnMount == nil {
		s.PodInfoOnMount = &f
	}
	if s.StorageCapacity == nil {
		s.StorageCapacity = &f
	}
	if s.FSGroupPolicy == nil {
		p := storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy
		s.FSGroupPolicy = &p
	}
	if s.RequiresRepublish == nil {
		s.RequiresRepublish = &f
	}
	if s.SELinuxMount == nil {
		s.SELinuxMount = &f
	}
	if len(s.VolumeLifecycleModes) == 0 {
		s.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}
	}
}

func validateCSIDriver(d *storagev1.CSIDriver) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	for i, m := range d.Spec.VolumeLifecycleModes {
		if m != storagev1.VolumeLifecyclePersistent && m != storagev1.VolumeLifecycleEphemeral {
			errs = append(errs, field.NotSupported(p.Child("volumeLifecycleModes").Index(i), m, []string{"Persistent", "Ephemeral"}))
		}
	}
	if fp := d.Spec.FSGroupPolicy; fp != nil {
		switch *fp {
		case storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy, storagev1.FileFSGroupPolicy, storagev1.NoneFSGroupPolicy:
		default:
			errs = append(errs, field.NotSupported(p.Child("fsGroupPolicy"), *fp, []string{"File", "None", "ReadWriteOnceWithFSType"}))
		}
	}
	auds := map[string]bool{}
	for i, t := range d.Spec.TokenRequests {
		if auds[t.Audience] {
			errs = append(errs, field.Duplicate(p.Child("tokenRequests").Index(i).Child("audience"), t.Audience))
		}
		auds[t.Audience] = true
	}
	return errs
}

func validateVolumeAttachment(a *storagev1.VolumeAttachment) field.ErrorList {
	p := field.NewPath("spec")
	var errs field.ErrorList
	if a.Spec.Attacher == "" {
		errs = append(errs, field.Required(p.Child("attacher"), ""))
	}
	if a.Spec.NodeName == "" {
		errs = append(errs, field.Required(p.Child("nodeName"), ""))
	}
	src := a.Spec.Source
	switch n := boolCount(src.PersistentVolumeName != nil, src.InlineVolumeSpec != nil); {
	case n == 0:
		errs = append(errs, field.Required(p.Child("source"), "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	case n > 1:
		errs = append(errs, field.Forbidden(p.Child("source"), "must specify exactly one of inlineVolumeSpec and persistentVolumeName"))
	}
	return errs
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// boolOr is a *bool's cell: its value, or false when unset.
func boolOr(p *bool) bool { return p != nil && *p }

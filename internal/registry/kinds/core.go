package kinds

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
	"cella.dev/cella/internal/registry/cci"
)

// FlavorAnnotation is CCI's namespace flavor annotation.
const FlavorAnnotation = "namespace.kubernetes.io/flavor"

// NoRuntimeMessage says plainly why pods do not run in this build.
const NoRuntimeMessage = "Cella stores this pod but has no runtime to run it (started with --runtime none)"

func (b *builder) core() {
	b.stored(&registry.Resource{
		Version: "v1", Kind: "Namespace", Plural: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
		New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		HasSpec: false, HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			if !containsFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
			ns.Spec.Finalizers = o.Spec.Finalizers
			if ns.Labels == nil {
				ns.Labels = map[string]string{}
			}
			ns.Labels[corev1.LabelMetadataName] = ns.Name
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			ns := obj.(*corev1.Namespace)
			var errs field.ErrorList
			for _, msg := range validation.IsDNS1123Label(ns.Name) {
				errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), ns.Name, msg))
			}
			if b.cfg.cci() {
				errs = append(errs, cci.ValidateNamespace(ns)...)
			}
			return errs
		},
		Finalized: func(obj runtime.Object) bool {
			return len(obj.(*corev1.Namespace).Spec.Finalizers) == 0
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
		},
		Columns: []metav1.TableColumnDefinition{col("Status", "string", "The status of the namespace"), ageColumn},
		Row: func(obj runtime.Object) []any {
			ns := obj.(*corev1.Namespace)
			return []any{string(ns.Status.Phase), b.age(ns)}
		},
	}, "status", "finalize")

	b.stored(&registry.Resource{
		Version: "v1", Kind: "ConfigMap", Plural: "configmaps", Singular: "configmap", Namespaced: true, ShortNames: []string{"cm"},
		New: func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			cm := obj.(*corev1.ConfigMap)
			return append(validateDataKeys(cm.Data, cm.BinaryData), validateDataSize(field.NewPath(""), cm.Data, cm.BinaryData)...)
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			cm, o := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
			errs := append(validateDataKeys(cm.Data, cm.BinaryData), validateDataSize(field.NewPath(""), cm.Data, cm.BinaryData)...)
			if o.Immutable != nil && *o.Immutable {
				if cm.Immutable == nil || !*cm.Immutable {
					errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
				}
				if !equality.Semantic.DeepEqual(cm.Data, o.Data) || !equality.Semantic.DeepEqual(cm.BinaryData, o.BinaryData) {
					errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
				}
			}
			return errs
		},
		Columns: []metav1.TableColumnDefinition{col("Data", "string", "Number of keys"), ageColumn},
		Row: func(obj runtime.Object) []any {
			cm := obj.(*corev1.ConfigMap)
			return []any{int64(len(cm.Data) + len(cm.BinaryData)), b.age(cm)}
		},
	})

	b.stored(&registry.Resource{
		Version: "v1", Kind: "Secret", Plural: "secrets", Singular: "secret", Namespaced: true,
		New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) { normalizeSecret(obj.(*corev1.Secret)) },
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) { normalizeSecret(obj.(*corev1.Secret)) },
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			s := obj.(*corev1.Secret)
			return append(validateDataKeys(nil, s.Data), validateDataSize(field.NewPath("data"), nil, s.Data)...)
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			s, o := obj.(*corev1.Secret), old.(*corev1.Secret)
			errs := append(validateDataKeys(nil, s.Data), validateDataSize(field.NewPath("data"), nil, s.Data)...)
			if s.Type != o.Type {
				errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
			}
			return errs
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"type": string(obj.(*corev1.Secret).Type)}
		},
		Columns: []metav1.TableColumnDefinition{col("Type", "string", "The type of the secret"), col("Data", "string", "Number of keys"), ageColumn},
		Row: func(obj runtime.Object) []any {
			s := obj.(*corev1.Secret)
			return []any{string(s.Type), int64(len(s.Data)), b.age(s)}
		},
	})

	pods := b.stored(&registry.Resource{
		Version: "v1", Kind: "Pod", Plural: "pods", Singular: "pod", Namespaced: true, ShortNames: []string{"po"}, Categories: []string{"all"},
		New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
		HasSpec: true, HasStatus: true,
		AdmitWrite: b.admitPod,
		PrepareForCreate: func(ctx context.Context, obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			account := pod.Spec.ServiceAccountName
			defaultPodSpec(&pod.Spec)
			if b.cfg.ServiceAccounts != nil {
				// Named by ServiceAccount admission instead, in
				// GenerateForCreate, so that the name is nobody's.
				pod.Spec.ServiceAccountName = account
			}
			if b.limits != nil {
				b.limits.Default(ctx, pod)
			}
			if b.cfg.cci() {
				cci.DefaultPodResources(&pod.Spec)
			}
			pod.Status = newPodStatus(pod, b.cfg)
		},
		GenerateForCreate: func(ctx context.Context, obj runtime.Object) {
			if b.accounts != nil {
				b.accounts.Default(ctx, obj.(*corev1.Pod))
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			pod := obj.(*corev1.Pod)
			errs := validatePodSpec(&pod.Spec, field.NewPath("spec"))
			if b.cfg.cci() {
				errs = append(errs, cci.ValidatePod(&pod.Spec, field.NewPath("spec"), b.cfg.Flavors)...)
			}
			return errs
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			pod, o := obj.(*corev1.Pod), old.(*corev1.Pod)
			return validatePodSpecUpdate(&pod.Spec, &o.Spec, field.NewPath("spec"))
		},
		GracefulDelete:      podGracePeriod,
		ReturnDeletedObject: true,
		Fields:              podFields,
		Columns: []metav1.TableColumnDefinition{
			col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
			col("Status", "string", "The aggregate status of the containers in this pod."),
			col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
			ageColumn,
			wide("IP", "string", "IP address allocated to the pod."),
			wide("Node", "string", "Name of the Node this pod is running on."),
			wide("Nominated Node", "string", "Name of the node this pod is nominated to run on."),
			wide("Readiness Gates", "string", "Readiness gates of the pod."),
		},
		Row: func(obj runtime.Object) []any {
			p := obj.(*corev1.Pod)
			ready, restarts := 0, int64(0)
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
				restarts += int64(cs.RestartCount)
			}
			reason := string(p.Status.Phase)
			if p.Status.Reason != "" {
				reason = p.Status.Reason
			}
			if p.DeletionTimestamp != nil {
				reason = "Terminating"
			}
			ip, node := orNone(p.Status.PodIP), orNone(p.Spec.NodeName)
			gates := "<none>"
			if n := len(p.Spec.ReadinessGates); n > 0 {
				gates = fmt.Sprintf("0/%d", n)
			}
			return []any{fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), reason, restarts, b.age(p), ip, node, orNone(p.Status.NominatedNodeName), gates}
		},
	}, "status")
	b.podBindings(pods)
	b.nodes()

	b.stored(&registry.Resource{
		Version: "v1", Kind: "Service", Plural: "services", Singular: "service", Namespaced: true, ShortNames: []string{"svc"}, Categories: []string{"all"},
		New: func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
		HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			svc := obj.(*corev1.Service)
			defaultService(svc, nil)
			svc.Status = corev1.ServiceStatus{}
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			defaultService(obj.(*corev1.Service), old.(*corev1.Service))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			svc := obj.(*corev1.Service)
			errs := validateService(svc)
			if b.cfg.cci() {
				errs = append(errs, cci.ValidateService(svc)...)
			}
			return errs
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			svc, o := obj.(*corev1.Service), old.(*corev1.Service)
			errs := validateService(svc)
			if o.Spec.ClusterIP != "" && svc.Spec.ClusterIP != o.Spec.ClusterIP && o.Spec.ClusterIP != corev1.ClusterIPNone {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, "field is immutable"))
			}
			if b.cfg.cci() {
				errs = append(errs, cci.ValidateService(svc)...)
			}
			return errs
		},
		Fields: func(obj runtime.Object) fields.Set {
			s := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
		},
		Columns: []metav1.TableColumnDefinition{
			col("Type", "string", "The type of the service."),
			col("Cluster-IP", "string", "The cluster IP of the service."),
			col("External-IP", "string", "The external IPs of the service."),
			col("Port(s)", "string", "The ports of the service."),
			ageColumn,
			wide("Selector", "string", "The label selector of the service."),
		},
		Row: func(obj runtime.Object) []any {
			s := obj.(*corev1.Service)
			ext := "<none>"
			if len(s.Spec.ExternalIPs) > 0 {
				ext = strings.Join(s.Spec.ExternalIPs, ",")
			} else if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
				ext = "<pending>"
			}
			var ports []string
			for _, p := range s.Spec.Ports {
				pp := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
				if p.NodePort > 0 {
					pp = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
				}
				ports = append(ports, pp)
			}
			return []any{string(s.Spec.Type), orNone(s.Spec.ClusterIP), ext, orNone(strings.Join(ports, ",")), b.age(s), selectorString(s.Spec.Selector)}
		},
	}, "status")

	b.stored(&registry.Resource{
		Version: "v1", Kind: "Endpoints", Plural: "endpoints", Singular: "endpoints", Namespaced: true, ShortNames: []string{"ep"},
		New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} },
		Columns: []metav1.TableColumnDefinition{col("Endpoints", "string", "Endpoints of the service"), ageColumn},
		Row: func(obj runtime.Object) []any {
			e := obj.(*corev1.Endpoints)
			var eps []string
			for _, s := range e.Subsets {
				for _, a := range s.Addresses {
					for _, p := range s.Ports {
						eps = append(eps, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
					}
				}
			}
			return []any{orNone(strings.Join(eps, ",")), b.age(e)}
		},
	})

	b.stored(&registry.Resource{
		Version: "v1", Kind: "ServiceAccount", Plural: "serviceaccounts", Singular: "serviceaccount", Namespaced: true, ShortNames: []string{"sa"},
		New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		Columns: []metav1.TableColumnDefinition{col("Secrets", "string", "Number of secrets"), ageColumn},
		Row: func(obj runtime.Object) []any {
			sa := obj.(*corev1.ServiceAccount)
			return []any{int64(len(sa.Secrets)), b.age(sa)}
		},
	})

	b.stored(&registry.Resource{
		Version: "v1", Kind: "PersistentVolumeClaim", Plural: "persistentvolumeclaims", Singular: "persistentvolumeclaim", Namespaced: true, ShortNames: []string{"pvc"},
		New: func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, NewList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		HasSpec: false, HasStatus: true,
		AdmitWrite: b.admitLimits,
		PrepareForCreate: func(ctx context.Context, obj runtime.Object) {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			if !slices.Contains(pvc.Finalizers, PVCProtectionFinalizer) {
				// Kubernetes' StorageObjectInUseProtection admission: the
				// volume controller removes it once no pod uses the claim.
				pvc.Finalizers = append(pvc.Finalizers, PVCProtectionFinalizer)
			}
			if pvc.Spec.StorageClassName == nil && pvc.Annotations["volume.beta.kubernetes.io/storage-class"] == "" {
				// Kubernetes' DefaultStorageClass admission (volumes.go).
				if name := b.defaultStorageClass(ctx); name != "" {
					pvc.Spec.StorageClassName = &name
				}
			}
			if pvc.Spec.VolumeMode == nil {
				m := corev1.PersistentVolumeFilesystem
				pvc.Spec.VolumeMode = &m
			}
		},
		Validate:       validatePVC,
		ValidateUpdate: validatePVCUpdate(validatePVC),
		Columns: []metav1.TableColumnDefinition{
			col("Status", "string", ""), col("Volume", "string", ""), col("Capacity", "string", ""),
			col("Access Modes", "string", ""), col("StorageClass", "string", ""), col("VolumeAttributesClass", "string", ""), ageColumn,
			wide("VolumeMode", "string", ""),
		},
		Row: func(obj runtime.Object) []any {
			p := obj.(*corev1.PersistentVolumeClaim)
			capacity := ""
			if q, ok := p.Status.Capacity[corev1.ResourceStorage]; ok {
				capacity = q.String()
			}
			var modes []string
			for _, m := range p.Spec.AccessModes {
				modes = append(modes, accessModeShort(m))
			}
			sc := ""
			if p.Spec.StorageClassName != nil {
				sc = *p.Spec.StorageClassName
			}
			vm := "<unset>"
			if p.Spec.VolumeMode != nil {
				vm = string(*p.Spec.VolumeMode)
			}
			return []any{string(p.Status.Phase), p.Spec.VolumeName, capacity, strings.Join(modes, ","), sc, "<unset>", b.age(p), vm}
		},
	}, "status")

	b.stored(&registry.Resource{
		Version: "v1", Kind: "ResourceQuota", Plural: "resourcequotas", Singular: "resourcequota", Namespaced: true, ShortNames: []string{"quota"},
		New: func() runtime.Object { return &corev1.ResourceQuota{} }, NewList: func() runtime.Object { return &corev1.ResourceQuotaList{} },
		HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			// A new quota starts with an empty status, as in Kubernetes:
			// the quota admission enforces status.hard, so nothing is
			// enforced until the quota controller has counted what the
			// namespace holds and written status.hard and status.used
			// together. (Filling hard alone would refuse every create the
			// quota limits as "status unknown" until the count lands.)
			q := obj.(*corev1.ResourceQuota)
			q.Status = corev1.ResourceQuotaStatus{}
		},
		Columns: []metav1.TableColumnDefinition{ageColumn, col("Request", "string", ""), col("Limit", "string", "")},
		Row: func(obj runtime.Object) []any {
			q := obj.(*corev1.ResourceQuota)
			var req, lim []string
			keys := make([]string, 0, len(q.Spec.Hard))
			for k := range q.Spec.Hard {
				keys = append(keys, string(k))
			}
			sort.Strings(keys)
			for _, k := range keys {
				used := q.Status.Used[corev1.ResourceName(k)]
				hard := q.Spec.Hard[corev1.ResourceName(k)]
				s := fmt.Sprintf("%s: %s/%s", k, used.String(), hard.String())
				if strings.HasPrefix(k, "limits.") {
					lim = append(lim, s)
				} else {
					req = append(req, s)
				}
			}
			return []any{b.age(q), strings.Join(req, ", "), strings.Join(lim, ", ")}
		},
	}, "status")

	b.stored(&registry.Resource{
		Version: "v1", Kind: "LimitRange", Plural: "limitranges", Singular: "limitrange", Namespaced: true, ShortNames: []string{"limits"},
		New: func() runtime.Object { return &corev1.LimitRange{} }, NewList: func() runtime.Object { return &corev1.LimitRangeList{} },
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaultLimitRange(obj.(*corev1.LimitRange))
		},
		PrepareForUpdate: func(_ context.Context, obj, _ runtime.Object) {
			defaultLimitRange(obj.(*corev1.LimitRange))
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validateLimitRange(obj.(*corev1.LimitRange))
		},
		Columns: []metav1.TableColumnDefinition{col("Created At", "date", "")},
		Row: func(obj runtime.Object) []any {
			l := obj.(*corev1.LimitRange)
			return []any{l.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z")}
		},
	})

	events := b.stored(&registry.Resource{
		Version: "v1", Kind: "Event", Plural: "events", Singular: "event", Namespaced: true, ShortNames: []string{"ev"},
		New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
		Fields: func(obj runtime.Object) fields.Set {
			e := obj.(*corev1.Event)
			// As Kubernetes: source is the reporting component, named by
			// source.component or, for events.k8s.io writers, by
			// reportingController.
			source := e.Source.Component
			if source == "" {
				source = e.ReportingController
			}
			return fields.Set{
				"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.namespace": e.InvolvedObject.Namespace,
				"involvedObject.name": e.InvolvedObject.Name, "involvedObject.uid": string(e.InvolvedObject.UID),
				"involvedObject.apiVersion": e.InvolvedObject.APIVersion, "involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
				"involvedObject.fieldPath": e.InvolvedObject.FieldPath, "reason": e.Reason, "reportingComponent": e.ReportingController,
				"source": source, "type": e.Type,
			}
		},
		Columns:  eventColumns,
		NamedRow: true,
		Row:      func(obj runtime.Object) []any { return b.eventRow(obj.(*corev1.Event)) },
	})
	b.eventsAlias(events)
}

func containsFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, v := range list {
		if v == f {
			return true
		}
	}
	return false
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func selectorString(sel map[string]string) string {
	if len(sel) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + sel[k]
	}
	return strings.Join(parts, ",")
}

func accessModeShort(m corev1.PersistentVolumeAccessMode) string {
	switch m {
	case corev1.ReadWriteOnce:
		return "RWO"
	case corev1.ReadOnlyMany:
		return "ROX"
	case corev1.ReadWriteMany:
		return "RWX"
	case corev1.ReadWriteOncePod:
		return "RWOP"
	}
	return string(m)
}

// validateDataKeys checks config map and secret keys.
func validateDataKeys(data map[string]string, binary map[string][]byte) field.ErrorList {
	var errs field.ErrorList
	check := func(p *field.Path, k string) {
		for _, msg := range validation.IsConfigMapKey(k) {
			errs = append(errs, field.Invalid(p.Key(k), k, msg))
		}
	}
	for k := range data {
		check(field.NewPath("data"), k)
	}
	for k := range binary {
		if _, dup := data[k]; dup {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, "duplicate of key present in data"))
		}
		check(field.NewPath("data"), k)
	}
	return errs
}

// MaxDataBytes is the most data a ConfigMap or a Secret may hold, counted
// over the values of data and binaryData, as Kubernetes counts it
// (core.MaxSecretSize): larger values belong in a volume, not in the API.
const MaxDataBytes = 1 << 20

// validateDataSize refuses data over MaxDataBytes with Kubernetes' "Too
// long" error at p: "" (the whole object) for a ConfigMap, "data" for a
// Secret, as kube-apiserver reports them.
func validateDataSize(p *field.Path, data map[string]string, binary map[string][]byte) field.ErrorList {
	total := 0
	for _, v := range data {
		total += len(v)
	}
	for _, v := range binary {
		total += len(v)
	}
	if total > MaxDataBytes {
		return field.ErrorList{field.TooLong(p, "", MaxDataBytes)}
	}
	return nil
}

// normalizeSecret folds stringData into data, as kube-apiserver does on
// the way in, and defaults the type.
func normalizeSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}

// defaultPodSpec fills the defaults Kubernetes fills, so that objects read
// back look the way kubectl users expect.
func defaultPodSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(corev1.DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = "default"
	}
	if s.EnableServiceLinks == nil {
		t := true
		s.EnableServiceLinks = &t
	}
	defaultContainers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = corev1.PullIfNotPresent
				if tag := imageTag(c.Image); tag == "" || tag == "latest" {
					c.ImagePullPolicy = corev1.PullAlways
				}
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
		}
	}
	defaultContainers(s.InitContainers)
	defaultContainers(s.Containers)
	defaultRequestsFromLimits(s)
}

// imageTag returns the tag of an image reference ("" when none or when
// pinned by digest).
func imageTag(image string) string {
	if strings.Contains(image, "@") {
		return "digest"
	}
	slash := strings.LastIndexByte(image, '/')
	if i := strings.LastIndexByte(image, ':'); i > slash {
		return image[i+1:]
	}
	return ""
}

// validatePodSpec checks the Kubernetes rules Cella enforces on pods.
func validatePodSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), "at least one container is required"))
	}
	names := map[string]bool{}
	check := func(cs []corev1.Container, cp *field.Path) {
		for i, c := range cs {
			ip := cp.Index(i)
			if c.Name == "" {
				errs = append(errs, field.Required(ip.Child("name"), ""))
			} else {
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					errs = append(errs, field.Invalid(ip.Child("name"), c.Name, msg))
				}
				if names[c.Name] {
					errs = append(errs, field.Duplicate(ip.Child("name"), c.Name))
				}
				names[c.Name] = true
			}
			if strings.TrimSpace(c.Image) == "" {
				errs = append(errs, field.Required(ip.Child("image"), ""))
			}
			for j, port := range c.Ports {
				if port.ContainerPort < 1 || port.ContainerPort > 65535 {
					errs = append(errs, field.Invalid(ip.Child("ports").Index(j).Child("containerPort"), port.ContainerPort, "must be between 1 and 65535, inclusive"))
				}
			}
			switch c.ImagePullPolicy {
			case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever, "":
			default:
				errs = append(errs, field.NotSupported(ip.Child("imagePullPolicy"), c.ImagePullPolicy, []string{"Always", "IfNotPresent", "Never"}))
			}
		}
	}
	check(s.InitContainers, p.Child("initContainers"))
	check(s.Containers, p.Child("containers"))
	switch s.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever, "":
	default:
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, []string{"Always", "OnFailure", "Never"}))
	}
	vols := map[string]bool{}
	for i, v := range s.Volumes {
		if v.Name == "" {
			errs = append(errs, field.Required(p.Child("volumes").Index(i).Child("name"), ""))
		} else if vols[v.Name] {
			errs = append(errs, field.Duplicate(p.Child("volumes").Index(i).Child("name"), v.Name))
		}
		vols[v.Name] = true
	}
	return errs
}

// validatePodSpecUpdate allows only what Kubernetes allows to change on a
// pod: container images, activeDeadlineSeconds and added tolerations.
func validatePodSpecUpdate(s, old *corev1.PodSpec, p *field.Path) field.ErrorList {
	errs := validatePodSpec(s, p)
	mutable := old.DeepCopy()
	for i := range mutable.Containers {
		if i < len(s.Containers) {
			mutable.Containers[i].Image = s.Containers[i].Image
		}
	}
	for i := range mutable.InitContainers {
		if i < len(s.InitContainers) {
			mutable.InitContainers[i].Image = s.InitContainers[i].Image
		}
	}
	mutable.ActiveDeadlineSeconds = s.ActiveDeadlineSeconds
	mutable.Tolerations = s.Tolerations
	if len(apivalidation.ValidateImmutableField(s, mutable, p)) > 0 {
		errs = append(errs, field.Forbidden(p, "pod updates may not change fields other than `spec.containers[*].image`, `spec.initContainers[*].image`, `spec.activeDeadlineSeconds` or `spec.tolerations` (only additions to existing tolerations)"))
	}
	return errs
}

// serviceCIDR is where Cella allocates cluster IPs (CCI reserves it).
var serviceCIDR = net.IPNet{IP: net.IPv4(10, 247, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}

// KubernetesServiceIP is the cluster IP of the `kubernetes` Service: the
// first address of the service range, as Kubernetes gives it, which the
// allocator never hands out.
func KubernetesServiceIP() net.IP { return net.IPv4(10, 247, 0, 1).To4() }

func defaultService(svc *corev1.Service, old *corev1.Service) {
	s := &svc.Spec
	if s.Type == "" {
		s.Type = corev1.ServiceTypeClusterIP
	}
	if s.SessionAffinity == "" {
		s.SessionAffinity = corev1.ServiceAffinityNone
	}
	if old != nil && s.ClusterIP == "" {
		s.ClusterIP, s.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	}
	if s.ClusterIP == "" && s.Type != corev1.ServiceTypeExternalName {
		ip := make(net.IP, 4)
		copy(ip, serviceCIDR.IP)
		n := 2 + rand.IntN(65532) // .0.1 is the kubernetes Service's
		ip[2], ip[3] = byte(n>>8), byte(n)
		s.ClusterIP = ip.String()
	}
	if s.ClusterIP != "" && len(s.ClusterIPs) == 0 {
		s.ClusterIPs = []string{s.ClusterIP}
	}
	if s.Type != corev1.ServiceTypeExternalName {
		if len(s.IPFamilies) == 0 {
			s.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if s.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			s.IPFamilyPolicy = &p
		}
		if s.InternalTrafficPolicy == nil {
			p := corev1.ServiceInternalTrafficPolicyCluster
			s.InternalTrafficPolicy = &p
		}
	}
	for i := range s.Ports {
		port := &s.Ports[i]
		if port.Protocol == "" {
			port.Protocol = corev1.ProtocolTCP
		}
		if port.TargetPort == (intstr.IntOrString{}) {
			port.TargetPort = intstr.FromInt32(port.Port)
		}
	}
}

func validateService(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec")
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), svc.Spec.Type, []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}))
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone && len(svc.Spec.Ports) == 0 {
		errs = append(errs, field.Required(p.Child("ports"), ""))
	}
	if ip := svc.Spec.ClusterIP; ip != "" && ip != corev1.ClusterIPNone && net.ParseIP(ip) == nil {
		errs = append(errs, field.Invalid(p.Child("clusterIP"), ip, "must be a valid IP address or None"))
	}
	names := map[string]bool{}
	for i, port := range svc.Spec.Ports {
		pp := p.Child("ports").Index(i)
		if len(svc.Spec.Ports) > 1 && port.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), "must be specified when more than one port is defined"))
		}
		if port.Name != "" {
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		if port.Port < 1 || port.Port > 65535 {
			errs = append(errs, field.Invalid(pp.Child("port"), port.Port, "must be between 1 and 65535, inclusive"))
		}
		switch port.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			errs = append(errs, field.NotSupported(pp.Child("protocol"), port.Protocol, []string{"SCTP", "TCP", "UDP"}))
		}
	}
	return errs
}

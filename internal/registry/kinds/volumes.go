package kinds

import (
	"context"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"cella.dev/cella/internal/registry"
)

// IsDefaultClassAnnotation marks the StorageClass that claims without a
// class get (Kubernetes' DefaultStorageClass admission).
const IsDefaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"

// PVCProtectionFinalizer keeps a claim that pods use from being removed
// (Kubernetes' StorageObjectInUseProtection): every new claim gets it.
const PVCProtectionFinalizer = "kubernetes.io/pvc-protection"

// persistentVolumes serves core/v1 persistentvolumes as Kubernetes does:
// cluster-scoped, short name pv, a status subresource that the volume
// controller writes, Kubernetes' essential validation (one volume source,
// capacity in storage, access modes, reclaim policy; the source is
// immutable) and kubectl's columns. Served under both profiles.
func (b *builder) persistentVolumes() {
	b.stored(&registry.Resource{
		Version: "v1", Kind: "PersistentVolume", Plural: "persistentvolumes", Singular: "persistentvolume", ShortNames: []string{"pv"},
		New: func() runtime.Object { return &corev1.PersistentVolume{} }, NewList: func() runtime.Object { return &corev1.PersistentVolumeList{} },
		HasStatus: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			pv := obj.(*corev1.PersistentVolume)
			now := metav1.NewTime(b.cfg.Now())
			pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending, LastPhaseTransitionTime: &now}
			defaultPVSpec(&pv.Spec)
		},
		PrepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
			pv, o := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
			defaultPVSpec(&pv.Spec)
			if pv.Status.Phase != o.Status.Phase {
				// As kube-apiserver's status strategy: a phase change
				// records when it happened.
				now := metav1.NewTime(b.cfg.Now())
				pv.Status.LastPhaseTransitionTime = &now
			}
		},
		Validate: func(_ context.Context, obj runtime.Object) field.ErrorList {
			return validatePVSpec(&obj.(*corev1.PersistentVolume).Spec, field.NewPath("spec"))
		},
		ValidateUpdate: func(_ context.Context, obj, old runtime.Object) field.ErrorList {
			pv, o := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
			errs := validatePVSpec(&pv.Spec, field.NewPath("spec"))
			if !apiequality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, o.Spec.PersistentVolumeSource) {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
			}
			if !apiequality.Semantic.DeepEqual(pv.Spec.VolumeMode, o.Spec.VolumeMode) {
				errs = append(errs, field.Invalid(field.NewPath("spec", "volumeMode"), pv.Spec.VolumeMode, "field is immutable"))
			}
			return errs
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.phase": string(obj.(*corev1.PersistentVolume).Status.Phase)}
		},
		Columns: []metav1.TableColumnDefinition{
			col("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
			col("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
			col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
			col("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
			col("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
			col("StorageClass", "string", "storageClassName is the name of StorageClass to which this persistent volume belongs."),
			col("VolumeAttributesClass", "string", "Name of VolumeAttributesClass to which this persistent volume belongs."),
			col("Reason", "string", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
			ageColumn,
			wide("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
		},
		Row: func(obj runtime.Object) []any {
			pv := obj.(*corev1.PersistentVolume)
			capacity := ""
			if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
				capacity = q.String()
			}
			var modes []string
			for _, m := range pv.Spec.AccessModes {
				modes = append(modes, accessModeShort(m))
			}
			claim := ""
			if r := pv.Spec.ClaimRef; r != nil {
				claim = r.Namespace + "/" + r.Name
			}
			vac := "<unset>"
			if pv.Spec.VolumeAttributesClassName != nil && *pv.Spec.VolumeAttributesClassName != "" {
				vac = *pv.Spec.VolumeAttributesClassName
			}
			vm := "<unset>"
			if pv.Spec.VolumeMode != nil {
				vm = string(*pv.Spec.VolumeMode)
			}
			return []any{capacity, strings.Join(modes, ","), string(pv.Spec.PersistentVolumeReclaimPolicy), string(pv.Status.Phase),
				claim, pv.Spec.StorageClassName, vac, pv.Status.Reason, b.age(pv), vm}
		},
	}, "status")
}

// defaultPVSpec applies Kubernetes' defaults: reclaim policy Retain and
// volume mode Filesystem.
func defaultPVSpec(s *corev1.PersistentVolumeSpec) {
	if s.PersistentVolumeReclaimPolicy == "" {
		s.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if s.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		s.VolumeMode = &m
	}
}

var (
	pvAccessModes     = []string{string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOnce), string(corev1.ReadWriteOncePod)}
	pvReclaimPolicies = []string{string(corev1.PersistentVolumeReclaimDelete), string(corev1.PersistentVolumeReclaimRecycle), string(corev1.PersistentVolumeReclaimRetain)}
)

// validatePVSpec checks what Kubernetes checks of every PersistentVolume,
// in its words: access modes, capacity (storage and nothing else), the
// reclaim policy, the volume mode, the class name, and exactly one volume
// source, checked in depth for hostPath and local, the sources Cella's
// node can use.
func validatePVSpec(s *corev1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.AccessModes) == 0 {
		errs = append(errs, field.Required(p.Child("accessModes"), ""))
	}
	for _, m := range s.AccessModes {
		if !contains(pvAccessModes, string(m)) {
			errs = append(errs, field.NotSupported(p.Child("accessModes"), m, pvAccessModes))
		}
	}
	if len(s.Capacity) == 0 {
		errs = append(errs, field.Required(p.Child("capacity"), ""))
	}
	if q, ok := s.Capacity[corev1.ResourceStorage]; !ok || len(s.Capacity) > 1 {
		errs = append(errs, field.NotSupported(p.Child("capacity"), s.Capacity, []string{string(corev1.ResourceStorage)}))
	} else if q.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("capacity").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than or equal to 0"))
	}
	if s.PersistentVolumeReclaimPolicy != "" && !contains(pvReclaimPolicies, string(s.PersistentVolumeReclaimPolicy)) {
		errs = append(errs, field.NotSupported(p.Child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy, pvReclaimPolicies))
	}
	if m := s.VolumeMode; m != nil && *m != corev1.PersistentVolumeBlock && *m != corev1.PersistentVolumeFilesystem {
		errs = append(errs, field.NotSupported(p.Child("volumeMode"), *m, []string{string(corev1.PersistentVolumeBlock), string(corev1.PersistentVolumeFilesystem)}))
	}
	if s.StorageClassName != "" {
		for _, msg := range validation.IsDNS1123Subdomain(s.StorageClassName) {
			errs = append(errs, field.Invalid(p.Child("storageClassName"), s.StorageClassName, msg))
		}
	}
	sources := pvSources(&s.PersistentVolumeSource)
	switch {
	case len(sources) == 0:
		errs = append(errs, field.Required(p, "must specify a volume type"))
	case len(sources) > 1:
		errs = append(errs, field.Forbidden(p.Child(sources[1]), "may not specify more than 1 volume type"))
	}
	if hp := s.HostPath; hp != nil {
		if hp.Path == "" {
			errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
		}
		if s.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle && hp.Path == "/" {
			errs = append(errs, field.Forbidden(p.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
		}
	}
	if l := s.Local; l != nil {
		if l.Path == "" {
			errs = append(errs, field.Required(p.Child("local", "path"), ""))
		}
		if s.NodeAffinity == nil || s.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	return errs
}

// pvSources names the volume sources s sets, in the API's field order.
func pvSources(s *corev1.PersistentVolumeSource) []string {
	var out []string
	for name, set := range map[string]bool{
		"gcePersistentDisk": s.GCEPersistentDisk != nil, "awsElasticBlockStore": s.AWSElasticBlockStore != nil,
		"hostPath": s.HostPath != nil, "glusterfs": s.Glusterfs != nil, "nfs": s.NFS != nil, "rbd": s.RBD != nil,
		"iscsi": s.ISCSI != nil, "cinder": s.Cinder != nil, "cephfs": s.CephFS != nil, "fc": s.FC != nil,
		"flocker": s.Flocker != nil, "flexVolume": s.FlexVolume != nil, "azureFile": s.AzureFile != nil,
		"vsphereVolume": s.VsphereVolume != nil, "quobyte": s.Quobyte != nil, "azureDisk": s.AzureDisk != nil,
		"photonPersistentDisk": s.PhotonPersistentDisk != nil, "portworxVolume": s.PortworxVolume != nil,
		"scaleIO": s.ScaleIO != nil, "local": s.Local != nil, "storageos": s.StorageOS != nil, "csi": s.CSI != nil,
	} {
		if set {
			out = append(out, name)
		}
	}
	// Map order is random: sort so that the error names a stable field.
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// defaultStorageClass is the name of the class a claim without
// spec.storageClassName gets, as Kubernetes' DefaultStorageClass admission
// picks it: of the classes annotated as the default, the newest (by
// creation time, then name); "" when there is none. A claim that names a
// class, even "", keeps it.
func (b *builder) defaultStorageClass(ctx context.Context) string {
	s := b.cat.Store("storage.k8s.io", "storageclasses")
	if s == nil {
		return ""
	}
	res, err := s.List(ctx, "", registry.ListOptions{})
	if err != nil {
		// The class cannot be read: the claim stays without one, as if
		// there were no default; the volume controller leaves it Pending.
		return ""
	}
	var best *storagev1.StorageClass
	for _, raw := range res.Items {
		obj, err := s.Decode(raw.JSON)
		if err != nil {
			continue
		}
		sc := obj.(*storagev1.StorageClass)
		if sc.Annotations[IsDefaultClassAnnotation] != "true" && sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	if best == nil {
		return ""
	}
	return best.Name
}

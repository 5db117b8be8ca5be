package admission

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"

	"cella.dev/cella/internal/registry"
)

// Names of the ServiceAccount admission, as Kubernetes has them.
const (
	// DefaultServiceAccount is the ServiceAccount a pod that names none
	// runs as.
	DefaultServiceAccount = "default"
	// TokenMountPath is where every container finds its token, the CA and
	// its namespace.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// tokenVolumePrefix starts the name of the generated volume,
	// kube-api-access-<5 random characters>.
	tokenVolumePrefix = "kube-api-access-"
	// tokenExpirationSeconds is the lifetime the volume asks for: an hour
	// and 7 seconds, the value by which Kubernetes recognises its own
	// generated volumes.
	tokenExpirationSeconds = 3607
	// rootCAConfigMap and rootCAKey hold the CA bundle of the API server.
	rootCAConfigMap = "kube-root-ca.crt"
	rootCAKey       = "ca.crt"
	// mirrorPodAnnotation marks a kubelet's mirror of a static pod.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// How long a new pod waits for its namespace's default ServiceAccount:
// kube-apiserver looks again up to 10 times, 100-200 ms apart, for the
// ServiceAccount the serviceaccount controller creates soon after the
// namespace; a ServiceAccount named explicitly is looked up once.
const (
	defaultAccountAttempts = 10
	defaultAccountInterval = 150 * time.Millisecond
)

// ServiceAccounts is kube-apiserver's ServiceAccount admission plugin for
// new pods:
//
//   - Default (mutating, after the write's field manager and before
//     validation, so what it adds is nobody's as in Kubernetes): a pod
//     that names no ServiceAccount runs as "default" (or as the
//     deprecated spec.serviceAccount when only that is set); unless
//     automountServiceAccountToken is false (the pod's, else the
//     ServiceAccount's), the pod gets the projected volume
//     kube-api-access-xxxxx (a token, the CA bundle, the namespace) and
//     every container, init container and ephemeral container that does
//     not already mount something at TokenMountPath mounts it there read
//     only; the pod takes the ServiceAccount's imagePullSecrets when it
//     has none.
//   - Admit (after validation): a pod naming a ServiceAccount that does
//     not exist is refused, 403 `error looking up service account NS/NAME:
//     serviceaccount "NAME" not found`.
//
// A mirror pod (annotation kubernetes.io/config.mirror) is left alone and
// may reference no ServiceAccount, no Secret and no token projection.
//
// ServiceAccounts are read from the watch cache, then, when missing there,
// from storage; the "default" one is waited for as in kube-apiserver
// (about 1.5 s at most), since the serviceaccount controller creates it
// just after the namespace.
type ServiceAccounts struct {
	accounts *registry.Store
	// rootCA says the server publishes kube-root-ca.crt (it serves TLS).
	// Without it the volume's configMap source is optional, so that the
	// node agent, which waits for a missing required ConfigMap as the
	// kubelet does, still starts the pod.
	rootCA bool
}

// NewServiceAccounts returns the ServiceAccount admission reading accounts
// (the serviceaccounts Store). rootCA says whether every namespace has a
// kube-root-ca.crt ConfigMap (the server serves TLS).
func NewServiceAccounts(accounts *registry.Store, rootCA bool) *ServiceAccounts {
	return &ServiceAccounts{accounts: accounts, rootCA: rootCA}
}

// lookup returns the ServiceAccount ns/name: from the watch cache, else
// from storage, retried for the default ServiceAccount. A missing one is a
// NotFound worded as kube-apiserver words it.
func (s *ServiceAccounts) lookup(ctx context.Context, ns, name string, attempts int) (*corev1.ServiceAccount, error) {
	raw, _, err := s.accounts.GetStale(ctx, ns, name)
	if err == nil {
		obj, err := s.accounts.Decode(raw.JSON)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.ServiceAccount), nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			t := time.NewTimer(defaultAccountInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		obj, err := s.accounts.GetObject(ctx, ns, name)
		if err == nil {
			return obj.(*corev1.ServiceAccount), nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccount"}, name)
}

// Default names the pod's ServiceAccount and mounts its token. A
// ServiceAccount that cannot be read leaves the pod without the token
// volume: Admit, which reads it again, then refuses the pod.
func (s *ServiceAccounts) Default(ctx context.Context, pod *corev1.Pod) {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = pod.Spec.DeprecatedServiceAccount
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccount
	}
	attempts := 1
	if pod.Spec.ServiceAccountName == DefaultServiceAccount {
		attempts = defaultAccountAttempts
	}
	sa, err := s.lookup(ctx, pod.Namespace, pod.Spec.ServiceAccountName, attempts)
	if err != nil {
		return
	}
	if automount(sa, pod) {
		s.mountToken(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
}

// automount reports whether pod gets a token: the pod's choice, else the
// ServiceAccount's, else yes.
func automount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountToken adds the token volume (unless the pod has one already, by its
// name's prefix) and mounts it in every container that mounts nothing at
// TokenMountPath; a pod none of whose containers needs it gets no volume.
func (s *ServiceAccounts) mountToken(pod *corev1.Pod) {
	name := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, tokenVolumePrefix) {
			name = v.Name
			break
		}
	}
	hasVolume := name != ""
	if !hasVolume {
		name = tokenVolumePrefix + utilrand.String(5)
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath}
	needed := false
	add := func(mounts *[]corev1.VolumeMount) {
		for _, m := range *mounts {
			if m.MountPath == TokenMountPath {
				return
			}
		}
		*mounts = append(*mounts, mount)
		needed = true
	}
	for i := range pod.Spec.InitContainers {
		add(&pod.Spec.InitContainers[i].VolumeMounts)
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i].VolumeMounts)
	}
	for i := range pod.Spec.EphemeralContainers {
		add(&pod.Spec.EphemeralContainers[i].VolumeMounts)
	}
	if needed && !hasVolume {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: s.tokenVolume()}})
	}
}

// tokenVolume is the projected volume Kubernetes generates: a token
// (`token`, 3607 s), the CA bundle (`ca.crt` from kube-root-ca.crt) and the
// namespace (`namespace`), mode 0644. The CA source is optional only on a
// server without TLS, which publishes no kube-root-ca.crt.
func (s *ServiceAccounts) tokenVolume() *corev1.ProjectedVolumeSource {
	mode := corev1.ProjectedVolumeSourceDefaultMode
	expiry := int64(tokenExpirationSeconds)
	ca := &corev1.ConfigMapProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
		Items:                []corev1.KeyToPath{{Key: rootCAKey, Path: rootCAKey}},
	}
	if !s.rootCA {
		optional := true
		ca.Optional = &optional
	}
	return &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiry}},
			{ConfigMap: ca},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// Admit refuses a new pod whose ServiceAccount does not exist, and a mirror
// pod that references a ServiceAccount, a Secret or a token projection
// (403, in kube-apiserver's words).
func (s *ServiceAccounts) Admit(ctx context.Context, pod *corev1.Pod) error {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return checkMirrorPod(pod)
	}
	if _, err := s.lookup(ctx, pod.Namespace, pod.Spec.ServiceAccountName, 1); err != nil {
		return forbiddenPod(pod, fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, pod.Spec.ServiceAccountName, err))
	}
	return nil
}

// checkMirrorPod refuses what a mirror pod may not reference.
func checkMirrorPod(pod *corev1.Pod) error {
	if pod.Spec.ServiceAccountName != "" {
		return forbiddenPod(pod, fmt.Errorf("a mirror pod may not reference service accounts"))
	}
	if referencesSecrets(&pod.Spec) {
		return forbiddenPod(pod, fmt.Errorf("a mirror pod may not reference secrets"))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return forbiddenPod(pod, fmt.Errorf("a mirror pod may not use ServiceAccountToken volume projections"))
			}
		}
	}
	return nil
}

// referencesSecrets reports whether a pod spec names any Secret: image pull
// secrets, secret volumes and projections, and containers' env and envFrom.
func referencesSecrets(s *corev1.PodSpec) bool {
	if len(s.ImagePullSecrets) > 0 {
		return true
	}
	for _, v := range s.Volumes {
		if v.Secret != nil {
			return true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					return true
				}
			}
		}
	}
	env := func(envs []corev1.EnvVar, from []corev1.EnvFromSource) bool {
		for _, e := range envs {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return true
			}
		}
		for _, f := range from {
			if f.SecretRef != nil {
				return true
			}
		}
		return false
	}
	for _, c := range append(append([]corev1.Container(nil), s.InitContainers...), s.Containers...) {
		if env(c.Env, c.EnvFrom) {
			return true
		}
	}
	for _, c := range s.EphemeralContainers {
		if env(c.Env, c.EnvFrom) {
			return true
		}
	}
	return false
}

// forbiddenPod is a 403 for a new pod, named as kube-apiserver's admission
// names it: by its generateName while the name is still to be generated.
func forbiddenPod(pod *corev1.Pod, err error) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, admissionName(pod), err)
}

// admissionName is the name kube-apiserver's admission plugins see for a
// new pod: its generateName when its name is generated (admission runs
// before the name is generated there).
func admissionName(pod *corev1.Pod) string {
	if generatedName(pod.Name, pod.GenerateName) {
		return pod.GenerateName
	}
	return pod.Name
}

// generatedName reports whether name was generated from generateName:
// the registry generates names before admission, five characters long.
func generatedName(name, generateName string) bool {
	return generateName != "" && len(name) == len(generateName)+5 && strings.HasPrefix(name, generateName)
}

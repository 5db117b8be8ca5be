package node

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"cella.dev/cella/internal/podruntime"
)

// configError is a container the agent cannot start as its spec stands (a
// missing ConfigMap key, an unknown field path): the Waiting reason
// CreateContainerConfigError, with this message.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...)}
}

// resolve turns a container of pod into what the runtime runs: the
// environment (value, valueFrom, envFrom) with $(VAR) references expanded,
// the command and arguments expanded with it, and the volumes the
// container mounts made into directories under the pod's directory.
func (a *Agent) resolve(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *podruntime.Sandbox) (podruntime.Container, error) {
	env, err := a.environment(ctx, pod, c, sb)
	if err != nil {
		return podruntime.Container{}, err
	}
	lookup := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lookup[k] = v
	}
	var cmd []string
	for _, s := range append(append([]string(nil), c.Command...), c.Args...) {
		cmd = append(cmd, expand(s, lookup))
	}
	mounts, err := a.volumes(ctx, pod, c, sb)
	if err != nil {
		return podruntime.Container{}, err
	}
	out := podruntime.Container{
		Name: c.Name, Command: cmd, Env: env, WorkingDir: c.WorkingDir, Mounts: mounts,
		Resources: podruntime.Resources{MilliCPU: c.Resources.Limits.Cpu().MilliValue(), MemoryBytes: c.Resources.Limits.Memory().Value()},
		Stdin:     c.Stdin, StdinOnce: c.StdinOnce, TTY: c.TTY,
		LogOnFailure: c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError,
	}
	out.TerminationMessagePath = c.TerminationMessagePath
	if out.TerminationMessagePath == "" {
		out.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if !a.rt.Info().Isolated && out.TerminationMessagePath == corev1.TerminationMessagePathDefault {
		// Without a mount namespace the default path is the host's
		// /dev/termination-log, shared by every container: read no
		// message from it. A path the spec names is the container's own
		// choice; FallbackToLogsOnError works either way.
		out.TerminationMessagePath = ""
	}
	return out, nil
}

// environment is the container's environment in Kubernetes' order:
// HOSTNAME, then envFrom sources, then env, later names overriding earlier ones; the
// service-discovery variables of Services come with the controllers issue.
func (a *Agent) environment(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *podruntime.Sandbox) ([]string, error) {
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	// As container runtimes do, HOSTNAME is the pod's host name unless
	// the container's own variables say otherwise.
	set("HOSTNAME", hostname(pod))
	for _, src := range c.EnvFrom {
		var data map[string]string
		switch {
		case src.ConfigMapRef != nil:
			cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional(src.ConfigMapRef.Optional) {
					continue
				}
				return nil, refError("configmap", src.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case src.SecretRef != nil:
			s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, src.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				if apierrors.IsNotFound(err) && optional(src.SecretRef.Optional) {
					continue
				}
				return nil, refError("secret", src.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(src.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vals))
			continue
		}
		v, skip, err := a.valueFrom(ctx, pod, c, e.ValueFrom, sb)
		if err != nil {
			return nil, err
		}
		if !skip {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func optional(b *bool) bool { return b != nil && *b }

func refError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return configErrorf("%s %q not found", kind, name)
	}
	return err
}

// valueFrom resolves one env valueFrom; skip is true for an optional key
// that is missing.
func (a *Agent) valueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, sb *podruntime.Sandbox) (v string, skip bool, err error) {
	switch {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, refError("configmap", ref.Name, err)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, false, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), false, nil
		}
		if optional(ref.Optional) {
			return "", true, nil
		}
		return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", true, nil
			}
			return "", false, refError("secret", ref.Name, err)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), false, nil
		}
		if optional(ref.Optional) {
			return "", true, nil
		}
		return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	case src.FieldRef != nil:
		v, err := a.fieldValue(pod, src.FieldRef.FieldPath, sb)
		return v, false, err
	case src.ResourceFieldRef != nil:
		v, err := a.resourceValue(pod, c, src.ResourceFieldRef)
		return v, false, err
	}
	return "", false, configErrorf("an env valueFrom names no source")
}

// fieldValue is a downward API field of the pod.
func (a *Agent) fieldValue(pod *corev1.Pod, path string, sb *podruntime.Sandbox) (string, error) {
	ip := ""
	if sb != nil {
		ip = sb.IP
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return a.hostIP, nil
	case "status.podIP", "status.podIPs":
		return ip, nil
	case "metadata.labels", "metadata.annotations":
		m := pod.Labels
		if path == "metadata.annotations" {
			m = pod.Annotations
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%q\n", k, m[k])
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
	for _, prefix := range []string{"metadata.labels", "metadata.annotations"} {
		if rest, ok := strings.CutPrefix(path, prefix+"['"); ok && strings.HasSuffix(rest, "']") {
			key := strings.TrimSuffix(rest, "']")
			if prefix == "metadata.labels" {
				return pod.Labels[key], nil
			}
			return pod.Annotations[key], nil
		}
	}
	return "", configErrorf("unsupported fieldPath %q", path)
}

// resourceValue is a container's limit or request, in units of the
// divisor, rounded up as Kubernetes does; a limit that is not set is the
// node's allocatable.
func (a *Agent) resourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" {
		if target = containerSpec(pod, ref.ContainerName); target == nil {
			return "", configErrorf("resourceFieldRef names container %q, which the pod does not have", ref.ContainerName)
		}
	}
	var q resource.Quantity
	var ok bool
	switch ref.Resource {
	case "limits.cpu", "limits.memory", "limits.ephemeral-storage":
		name := corev1.ResourceName(strings.TrimPrefix(ref.Resource, "limits."))
		if q, ok = target.Resources.Limits[name]; !ok {
			q = a.allocatable[name]
		}
	case "requests.cpu", "requests.memory", "requests.ephemeral-storage":
		name := corev1.ResourceName(strings.TrimPrefix(ref.Resource, "requests."))
		q = target.Resources.Requests[name]
	default:
		return "", configErrorf("unsupported resourceFieldRef resource %q", ref.Resource)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	var n float64
	if strings.HasSuffix(ref.Resource, "cpu") {
		n = math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	} else {
		n = math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	}
	return strconv.FormatInt(int64(n), 10), nil
}

// expand replaces $(NAME) with the value of NAME when it is defined, and
// $$ with $, as Kubernetes expands env values, commands and arguments;
// references to undefined names stay as they are.
func expand(s string, vals map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// volumes makes the volumes c mounts into directories under the pod's
// directory and returns the mounts. Kinds: emptyDir (medium Memory a
// tmpfs where Cella runs as root), configMap, secret, downwardAPI,
// projected (configMap, secret, downwardAPI sources), hostPath (where the
// profile allows it) and persistentVolumeClaim (the bound volume's
// directory, volumes.go).
func (a *Agent) volumes(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb *podruntime.Sandbox) ([]podruntime.Mount, error) {
	var mounts []podruntime.Mount
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == vm.Name {
				vol = &pod.Spec.Volumes[i]
			}
		}
		if vol == nil {
			return nil, configErrorf("volume %q is mounted but not defined", vm.Name)
		}
		dir, err := a.volumeDir(ctx, pod, vol, sb)
		if err != nil {
			return nil, err
		}
		host := dir
		if vm.SubPath != "" {
			host = filepath.Join(dir, filepath.Clean("/"+vm.SubPath))
		}
		readOnly := vm.ReadOnly || (vol.PersistentVolumeClaim != nil && vol.PersistentVolumeClaim.ReadOnly)
		mounts = append(mounts, podruntime.Mount{HostPath: host, ContainerPath: vm.MountPath, ReadOnly: readOnly})
	}
	return mounts, nil
}

// runsProcesses reports whether the runtime runs anything that reads
// volumes. The sim runtime does not: for its pods the agent still reads
// what a volume references (so a missing ConfigMap or Secret fails the
// pod as in Kubernetes) but writes no files and requests no service
// account tokens, which would cost a pod start more than everything else
// the sim runtime does.
func (a *Agent) runsProcesses() bool { return a.rt.Info().Name != "sim" }

// volumeDir prepares one volume and returns its host directory.
func (a *Agent) volumeDir(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, sb *podruntime.Sandbox) (string, error) {
	dir := filepath.Join(a.podDir(pod.UID), "volumes", vol.Name)
	write := func(files map[string]fileContent) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, f := range files {
			p := filepath.Join(dir, filepath.Clean("/"+name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, f.data, f.mode); err != nil {
				return err
			}
			if err := os.Chmod(p, f.mode); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case vol.HostPath != nil:
		return vol.HostPath.Path, nil
	case vol.EmptyDir != nil:
		if !a.runsProcesses() {
			return dir, nil
		}
		return dir, a.emptyDir(pod, vol, dir)
	case vol.ConfigMap != nil, vol.Secret != nil, vol.DownwardAPI != nil, vol.Projected != nil:
		files, err := a.projectedFiles(ctx, pod, vol, sb)
		if err != nil || !a.runsProcesses() {
			return dir, err
		}
		return dir, write(files)
	case vol.PersistentVolumeClaim != nil:
		return a.claimDir(ctx, pod, vol.PersistentVolumeClaim.ClaimName)
	}
	return "", configErrorf("volume %q is of a kind this node does not support", vol.Name)
}

type fileContent struct {
	data []byte
	mode os.FileMode
}

// projectedFiles is what a configMap, secret, downwardAPI or projected
// volume holds, by file name.
func (a *Agent) projectedFiles(ctx context.Context, pod *corev1.Pod, vol *corev1.Volume, sb *podruntime.Sandbox) (map[string]fileContent, error) {
	files := map[string]fileContent{}
	mode := func(m *int32, def int32) os.FileMode {
		if m != nil {
			return os.FileMode(*m)
		}
		return os.FileMode(def)
	}
	addData := func(data map[string][]byte, items []corev1.KeyToPath, defMode os.FileMode, what string, opt bool) error {
		if len(items) == 0 {
			for k, v := range data {
				files[k] = fileContent{v, defMode}
			}
			return nil
		}
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				if opt {
					continue
				}
				return configErrorf("configmap references non-existent config key: %s (%s)", it.Key, what)
			}
			files[it.Path] = fileContent{v, mode(it.Mode, int32(defMode))}
		}
		return nil
	}
	configMap := func(name string, items []corev1.KeyToPath, opt *bool, defMode os.FileMode) error {
		cm, err := a.client.CoreV1().ConfigMaps(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(opt) {
				return nil
			}
			return refError("configmap", name, err)
		}
		data := map[string][]byte{}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
		return addData(data, items, defMode, "configmap "+name, optional(opt))
	}
	secret := func(name string, items []corev1.KeyToPath, opt *bool, defMode os.FileMode) error {
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) && optional(opt) {
				return nil
			}
			return refError("secret", name, err)
		}
		return addData(s.Data, items, defMode, "secret "+name, optional(opt))
	}
	downward := func(items []corev1.DownwardAPIVolumeFile, defMode os.FileMode) error {
		for _, it := range items {
			var v string
			var err error
			switch {
			case it.FieldRef != nil:
				v, err = a.fieldValue(pod, it.FieldRef.FieldPath, sb)
			case it.ResourceFieldRef != nil:
				c := containerSpec(pod, it.ResourceFieldRef.ContainerName)
				if c == nil {
					return configErrorf("resourceFieldRef names container %q, which the pod does not have", it.ResourceFieldRef.ContainerName)
				}
				v, err = a.resourceValue(pod, c, it.ResourceFieldRef)
			}
			if err != nil {
				return err
			}
			files[it.Path] = fileContent{[]byte(v), mode(it.Mode, int32(defMode))}
		}
		return nil
	}
	switch {
	case vol.ConfigMap != nil:
		return files, configMap(vol.ConfigMap.Name, vol.ConfigMap.Items, vol.ConfigMap.Optional, mode(vol.ConfigMap.DefaultMode, 0o644))
	case vol.Secret != nil:
		return files, secret(vol.Secret.SecretName, vol.Secret.Items, vol.Secret.Optional, mode(vol.Secret.DefaultMode, 0o644))
	case vol.DownwardAPI != nil:
		return files, downward(vol.DownwardAPI.Items, mode(vol.DownwardAPI.DefaultMode, 0o644))
	}
	def := mode(vol.Projected.DefaultMode, 0o644)
	for _, src := range vol.Projected.Sources {
		var err error
		switch {
		case src.ConfigMap != nil:
			err = configMap(src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def)
		case src.Secret != nil:
			err = secret(src.Secret.Name, src.Secret.Items, src.Secret.Optional, def)
		case src.DownwardAPI != nil:
			err = downward(src.DownwardAPI.Items, def)
		case src.ServiceAccountToken != nil && !a.runsProcesses():
			// Nothing would read the token.
		case src.ServiceAccountToken != nil:
			// A token bound to the pod, refreshed at 80% of its lifetime
			// (satoken.go).
			tok, refresh, terr := a.requestPodToken(ctx, pod, src.ServiceAccountToken)
			if terr != nil {
				a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "projected service account token %q: %v", src.ServiceAccountToken.Path, terr)
				err = terr
				break
			}
			files[src.ServiceAccountToken.Path] = fileContent{tok, def}
			a.refreshPodToken(pod, src.ServiceAccountToken, a.tokenPath(pod, vol, src.ServiceAccountToken), def, tok, refresh)
		}
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

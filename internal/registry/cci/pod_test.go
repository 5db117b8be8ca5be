package cci

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidatePod(t *testing.T) {
	one := func(cpu, mem string) []corev1.Container { return []corev1.Container{sizedContainer("app", cpu, mem)} }
	withSC := func(c corev1.Container) corev1.Container {
		c.SecurityContext = &corev1.SecurityContext{Privileged: new(true)}
		return c
	}
	sidecar := func(c corev1.Container) corev1.Container {
		c.RestartPolicy = new(corev1.ContainerRestartPolicyAlways)
		return c
	}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		want []string
	}{
		{name: "smallest", spec: corev1.PodSpec{Containers: one("250m", "1Gi")}},
		{name: "one core", spec: corev1.PodSpec{Containers: one("1", "2Gi")}},
		{name: "48 cores", spec: corev1.PodSpec{Containers: one("48", "96Gi")}},
		{name: "64 cores", spec: corev1.PodSpec{Containers: one("64", "512Gi")}},
		{name: "several containers summed", spec: corev1.PodSpec{Containers: []corev1.Container{
			sizedContainer("a", "250m", "0.2Gi"), sizedContainer("b", "750m", "1.8Gi"),
		}}},
		{name: "five containers and init containers", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sizedContainer("init", "1", "2Gi")},
			Containers: []corev1.Container{
				sizedContainer("a", "1", "2Gi"), sizedContainer("b", "1", "2Gi"), sizedContainer("c", "1", "2Gi"),
				sizedContainer("d", "1", "2Gi"), sizedContainer("e", "1", "2Gi"),
			},
		}},

		{name: "nodeName", spec: corev1.PodSpec{NodeName: "n1", Containers: one("1", "2Gi")},
			want: []string{"Forbidden spec.nodeName"}},
		{name: "hostNetwork", spec: corev1.PodSpec{HostNetwork: true, Containers: one("1", "2Gi")},
			want: []string{"Forbidden spec.hostNetwork"}},
		{name: "hostPath", spec: corev1.PodSpec{Containers: one("1", "2Gi"), Volumes: []corev1.Volume{
			{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}},
		}}, want: []string{"Forbidden spec.volumes[1].hostPath"}},
		{name: "privileged", spec: corev1.PodSpec{
			InitContainers:      []corev1.Container{withSC(sizedContainer("init", "1", "2Gi"))},
			Containers:          []corev1.Container{withSC(sizedContainer("app", "1", "2Gi"))},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{SecurityContext: &corev1.SecurityContext{Privileged: new(true)}}}},
		}, want: []string{
			"Forbidden spec.initContainers[0].securityContext.privileged",
			"Forbidden spec.containers[0].securityContext.privileged",
			"Forbidden spec.ephemeralContainers[0].securityContext.privileged",
		}},
		{name: "unprivileged security context", spec: corev1.PodSpec{Containers: []corev1.Container{func() corev1.Container {
			c := sizedContainer("app", "1", "2Gi")
			c.SecurityContext = &corev1.SecurityContext{Privileged: new(false)}
			return c
		}()}}},
		{name: "pod-level resources", spec: corev1.PodSpec{Containers: one("1", "2Gi"), Resources: &corev1.ResourceRequirements{}},
			want: []string{"Forbidden spec.resources"}},
		{name: "six containers", spec: corev1.PodSpec{Containers: []corev1.Container{
			sizedContainer("a", "500m", "1Gi"), sizedContainer("b", "500m", "1Gi"), sizedContainer("c", "500m", "1Gi"),
			sizedContainer("d", "500m", "1Gi"), sizedContainer("e", "500m", "1Gi"), sizedContainer("f", "500m", "1Gi"),
		}}, want: []string{"Too many spec.containers"}},

		{name: "no cpu limit", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}, Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
		}}}}, want: []string{"Required value spec.containers[0].resources.limits[cpu]"}},
		{name: "no resources", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers:     []corev1.Container{{Name: "app"}},
		}, want: []string{
			"Required value spec.initContainers[0].resources.limits[cpu]",
			"Required value spec.initContainers[0].resources.limits[memory]",
			"Required value spec.containers[0].resources.limits[cpu]",
			"Required value spec.containers[0].resources.limits[memory]",
		}},
		{name: "requests differ", spec: corev1.PodSpec{Containers: []corev1.Container{func() corev1.Container {
			c := sizedContainer("app", "1", "2Gi")
			c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
			return c
		}()}}, want: []string{"Invalid value spec.containers[0].resources.requests[cpu]"}},
		{name: "requests missing", spec: corev1.PodSpec{Containers: []corev1.Container{func() corev1.Container {
			c := sizedContainer("app", "1", "2Gi")
			c.Resources.Requests = nil
			return c
		}()}}, want: []string{
			"Required value spec.containers[0].resources.requests[cpu]",
			"Required value spec.containers[0].resources.requests[memory]",
		}},
		{name: "cpu not a multiple of 0.25", spec: corev1.PodSpec{Containers: one("300m", "1Gi")},
			want: []string{"Invalid value spec.containers[0].resources.limits[cpu]"}},
		{name: "cpu below 0.25", spec: corev1.PodSpec{Containers: one("100m", "1Gi")}, want: []string{
			"Invalid value spec.containers[0].resources.limits[cpu]",
			"Invalid value spec.containers[*].resources.limits[cpu]",
		}},
		{name: "container memory below 0.2Gi", spec: corev1.PodSpec{Containers: []corev1.Container{
			sizedContainer("a", "250m", "100Mi"), sizedContainer("b", "250m", "924Mi"),
		}}, want: []string{"Invalid value spec.containers[0].resources.limits[memory]"}},
		{name: "33 cores", spec: corev1.PodSpec{Containers: []corev1.Container{
			sizedContainer("a", "16.5", "33Gi"), sizedContainer("b", "16.5", "33Gi"),
		}}, want: []string{"Invalid value spec.containers[*].resources.limits[cpu]"}},
		{name: "40 cores", spec: corev1.PodSpec{Containers: one("40", "80Gi")},
			want: []string{"Invalid value spec.containers[*].resources.limits[cpu]"}},
		{name: "memory not whole Gi", spec: corev1.PodSpec{Containers: one("500m", "1.5Gi")},
			want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "memory above 512Gi", spec: corev1.PodSpec{Containers: one("64", "513Gi")},
			want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "ratio below 1:2", spec: corev1.PodSpec{Containers: one("4", "4Gi")},
			want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "ratio above 1:8", spec: corev1.PodSpec{Containers: one("1", "9Gi")},
			want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "init container sets the total", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sizedContainer("init", "2", "4Gi")},
			Containers:     one("1", "2Gi"),
		}},
		{name: "init container total out of ratio", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sizedContainer("init", "4", "2Gi")},
			Containers:     one("1", "2Gi"),
		}, want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "sidecar counts with the app containers", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar(sizedContainer("proxy", "1", "1Gi"))},
			Containers:     one("1", "2Gi"),
		}, want: []string{"Invalid value spec.containers[*].resources.limits[memory]"}},
		{name: "sidecar within flavor", spec: corev1.PodSpec{
			InitContainers: []corev1.Container{sidecar(sizedContainer("proxy", "1", "2Gi")), sizedContainer("init", "250m", "1Gi")},
			Containers:     one("1", "2Gi"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.spec.DeepCopy()
			errs := ValidatePod(&tc.spec, field.NewPath("spec"), DefaultFlavors())
			checkErrors(t, errs, tc.want...)
			if !equalSpecs(before, &tc.spec) {
				t.Error("ValidatePod changed the spec")
			}
		})
	}
}

// equalSpecs compares specs by their JSON: Quantity's String caches.
func equalSpecs(a, b *corev1.PodSpec) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func TestValidatePodMessages(t *testing.T) {
	f := DefaultFlavors()
	path := field.NewPath("spec")
	errs := ValidatePod(&corev1.PodSpec{Containers: []corev1.Container{sizedContainer("a", "100m", "100Mi")}}, path, f)
	checkDetail(t, errs, "spec.containers[0].resources.limits[cpu]", "multiple of 0.25 cores", "at least 0.25 cores")
	checkDetail(t, errs, "spec.containers[0].resources.limits[memory]", "at least 0.2Gi")
	checkDetail(t, errs, "spec.containers[*].resources.limits[cpu]", "0.25 to 32 cores, or exactly 48 or 64")
	checkDetail(t, errs, "spec.containers[*].resources.limits[memory]", "multiple of 1Gi from 1Gi to 512Gi")

	errs = ValidatePod(&corev1.PodSpec{Containers: []corev1.Container{sizedContainer("a", "4", "4Gi")}}, path, f)
	checkDetail(t, errs, "spec.containers[*].resources.limits[memory]", "2Gi to 8Gi per core", "8Gi to 32Gi")

	errs = ValidatePod(&corev1.PodSpec{Containers: []corev1.Container{func() corev1.Container {
		c := sizedContainer("a", "1", "2Gi")
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("500m")
		return c
	}()}}, path, f)
	checkDetail(t, errs, "spec.containers[0].resources.requests[cpu]", "must equal resources.limits[cpu] (1)")
}

func TestValidatePodCustomFlavors(t *testing.T) {
	f := DefaultFlavors()
	f.MaxContainers = 1
	f.ExtraPodCPU = nil
	spec := &corev1.PodSpec{Containers: []corev1.Container{sizedContainer("a", "24", "48Gi"), sizedContainer("b", "24", "48Gi")}}
	errs := ValidatePod(spec, field.NewPath("spec"), f)
	checkErrors(t, errs, "Too many spec.containers", "Invalid value spec.containers[*].resources.limits[cpu]")
	checkDetail(t, errs, "spec.containers[*].resources.limits[cpu]", "must be 0.25 to 32 cores")
}

func TestValidatePodTemplate(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "a"}}}}
	for _, tc := range []struct {
		name string
		path *field.Path
		want []string
	}{
		{"deployment", field.NewPath("spec", "template"), []string{
			"Forbidden spec.template.spec.nodeName",
			"Required value spec.template.spec.containers[0].resources.limits[cpu]",
			"Required value spec.template.spec.containers[0].resources.limits[memory]",
		}},
		{"cronjob", field.NewPath("spec", "jobTemplate", "spec", "template"), []string{
			"Forbidden spec.jobTemplate.spec.template.spec.nodeName",
			"Required value spec.jobTemplate.spec.template.spec.containers[0].resources.limits[cpu]",
			"Required value spec.jobTemplate.spec.template.spec.containers[0].resources.limits[memory]",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, ValidatePodTemplate(tmpl, tc.path, DefaultFlavors()), tc.want...)
		})
	}
}

func TestDefaultPodResources(t *testing.T) {
	limitsOnly := func(cpu, mem string) corev1.Container {
		c := sizedContainer("c", cpu, mem)
		c.Resources.Requests = nil
		return c
	}
	spec := &corev1.PodSpec{
		InitContainers: []corev1.Container{limitsOnly("1", "2Gi")},
		Containers: []corev1.Container{
			limitsOnly("500m", "1Gi"),
			func() corev1.Container { // a set request is kept, to fail validation
				c := sizedContainer("c", "1", "2Gi")
				c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("250m")
				delete(c.Resources.Requests, corev1.ResourceMemory)
				return c
			}(),
			{Name: "none"},
		},
	}
	DefaultPodResources(spec)

	wantRequests := []corev1.ResourceList{
		{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
		{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
		nil,
	}
	got := []corev1.ResourceList{
		spec.InitContainers[0].Resources.Requests,
		spec.Containers[0].Resources.Requests,
		spec.Containers[1].Resources.Requests,
		spec.Containers[2].Resources.Requests,
	}
	for i := range wantRequests {
		if len(got[i]) != len(wantRequests[i]) {
			t.Errorf("container %d requests = %v, want %v", i, got[i], wantRequests[i])
			continue
		}
		for name, q := range wantRequests[i] {
			if g := got[i][name]; g.Cmp(q) != 0 {
				t.Errorf("container %d requests[%s] = %s, want %s", i, name, g.String(), q.String())
			}
		}
	}

	// Requests are copies: changing one leaves the limit alone.
	req := spec.Containers[0].Resources.Requests[corev1.ResourceCPU]
	req.Add(resource.MustParse("1"))
	spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = req
	if lim := spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; lim.Cmp(resource.MustParse("500m")) != 0 {
		t.Errorf("limit changed with the request: %s", lim.String())
	}
}

func TestFlavorsValidate(t *testing.T) {
	if err := DefaultFlavors().Validate(); err != nil {
		t.Errorf("DefaultFlavors().Validate() = %v", err)
	}
	err := Flavors{}.Validate()
	if err == nil {
		t.Fatal("Flavors{}.Validate() = nil, want errors")
	}
	for _, want := range []string{"CPUStep", "MinContainerMemory", "PodMemoryStep", "MaxContainers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Flavors{}.Validate() = %v, want it to name %s", err, want)
		}
	}
	f := DefaultFlavors()
	f.MinPodCPU, f.MaxPodCPU = f.MaxPodCPU, f.MinPodCPU
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "MinPodCPU (32) exceeds MaxPodCPU (250m)") {
		t.Errorf("swapped bounds: Validate() = %v", err)
	}
}

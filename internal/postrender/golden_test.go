package postrender

import (
	"bytes"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

type goldenCase struct{ testutil.GoldenCase }

func goldenCases(t *testing.T) []goldenCase {
	t.Helper()
	var cases []goldenCase
	for _, c := range testutil.GoldenCases(t, 10) {
		cases = append(cases, goldenCase{c})
	}
	return cases
}

// render renders the case's chart with the real helm binary.
func (c goldenCase) render(t *testing.T) []byte {
	t.Helper()
	return testutil.HelmTemplate(t, testutil.Chart(t, c.Chart), []string{filepath.Join(c.Dir, "values.yaml")})
}

func (c goldenCase) options(t *testing.T) Knobs {
	t.Helper()
	o, rest, err := parseKnobs(c.Args)
	if err != nil || len(rest) > 0 {
		t.Fatalf("args %q: %v %q", c.Args, err, rest)
	}
	return o
}

func postRender(t *testing.T, o Knobs, in []byte) (out []byte, warnings string) {
	t.Helper()
	var warn bytes.Buffer
	r, err := New(o, &warn)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run(bytes.NewBuffer(in))
	if err != nil {
		t.Fatalf("post-render: %v", err)
	}
	return res.Bytes(), warn.String()
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			in := c.render(t)
			o := c.options(t)
			out, warnings := postRender(t, o, in)
			testutil.Golden(t, filepath.Join(c.Dir, "expected.yaml"), out)
			testutil.Golden(t, filepath.Join(c.Dir, "warnings.txt"), []byte(warnings))

			again, _ := postRender(t, o, in)
			if !bytes.Equal(out, again) {
				t.Errorf("not deterministic: two runs on the same input differ:\n%s", testutil.LineDiff(string(out), string(again)))
			}
			twice, _ := postRender(t, o, out)
			if !bytes.Equal(out, twice) {
				t.Errorf("not idempotent: post-rendering our own output changed it:\n%s", testutil.LineDiff(string(out), string(twice)))
			}
			checkMeaning(t, in, out, o)
		})
	}
}

// checkMeaning asserts what the output must mean, whatever its bytes: the
// properties the options ask for, checked on the parsed objects.
func checkMeaning(t *testing.T, in, out []byte, o Knobs) {
	t.Helper()
	inDocs, err := manifest.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	outDocs, err := manifest.Parse(out)
	if err != nil {
		t.Fatalf("output does not parse: %v", err)
	}
	before, err := harbor.Read(inDocs)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(outDocs)
	if err != nil {
		t.Fatal(err)
	}

	// Hooks and objects of kinds we never touch are byte for byte the same
	// (ConfigMaps and Secrets lose Redis credentials with
	// --redis-password-secret: equivalence_test.go checks them).
	outRaw := map[manifest.ID]string{}
	for _, d := range outDocs {
		outRaw[d.ID()] = d.Raw
	}
	for _, d := range inDocs {
		kind := d.Obj.GetKind()
		config := (kind == "ConfigMap" || kind == "Secret") && o.RedisPasswordSecret != ""
		ours := kind == "Deployment" || kind == "StatefulSet" || kind == "PersistentVolumeClaim" || kind == "PodDisruptionBudget" || kind == "HorizontalPodAutoscaler"
		untouched := d.Hook || !(ours || config || o.Kustomize != "")
		if untouched && outRaw[d.ID()] != d.Raw {
			t.Errorf("%s (hook=%v) changed; hooks and kinds we do not touch must pass through unchanged", d.Describe(), d.Hook)
		}
	}

	for _, w := range rel.Workloads {
		if !harbor.IsComponent(w.Component) {
			continue
		}
		prev := before.Workload(w.Component)
		if r, ok := o.Autoscale.For(prev.Component, prev.Kind, o.Replicas); ok {
			checkAutoscaled(t, rel, w, r)
		} else if want, got := o.Replicas.For(w.Component, prev.Replicas()), w.Replicas(); !w.PinsReplicas() || got != want {
			t.Errorf("%s: %d replicas (pinned: %v), want %d pinned", w.Name(), got, w.PinsReplicas(), want)
		} else if rel.Autoscaler(w) != nil {
			t.Errorf("%s: an autoscaler scales it, but --autoscale does not name it", w.Name())
		}
		if o.Most(prev.Component, prev.Kind, prev.Replicas()) < 2 {
			continue
		}
		spec := w.Template().Spec
		if o.AntiAffinity != AntiAffinityNone {
			if !hasAntiAffinity(spec.Affinity, o, w.PodLabels()) {
				t.Errorf("%s: no %s anti-affinity term on %s selecting its own pods", w.Name(), o.AntiAffinity, o.TopologyKey)
			}
			if prevAff := prev.Template().Spec.Affinity; prevAff != nil && !keepsAffinity(prevAff, spec.Affinity) {
				t.Errorf("%s: the chart's affinity terms were not kept", w.Name())
			}
		}
		if o.ZoneSpread {
			zones := 0
			for _, c := range spec.TopologySpreadConstraints {
				if c.TopologyKey == ZoneTopologyKey {
					zones++
					if !harbor.SelectorMatches(c.LabelSelector, w.PodLabels()) {
						t.Errorf("%s: zone spread selector does not match the pod labels", w.Name())
					}
				}
			}
			if zones != 1 {
				t.Errorf("%s: %d zone spread constraints, want exactly 1", w.Name(), zones)
			}
		}
		selecting := 0
		for _, b := range rel.PDBs {
			if b.Selects(w) {
				selecting++
				// The component's own budget (the chart's, or ours) lets
				// one pod go at any count: maxUnavailable 1, nothing else.
				spec := b.Budget.Spec
				if equalJSON(spec.Selector.MatchLabels, w.Selector()) && (spec.MinAvailable != nil || spec.MaxUnavailable == nil || spec.MaxUnavailable.String() != "1") {
					t.Errorf("%s: budget %s has minAvailable %v, maxUnavailable %v; want maxUnavailable 1 alone", w.Name(), b.Budget.Name, spec.MinAvailable, spec.MaxUnavailable)
				}
			}
		}
		if selecting != 1 {
			t.Errorf("%s: %d PodDisruptionBudgets select its pods, want exactly 1", w.Name(), selecting)
		}
		if d := w.Deployment; d != nil {
			checkStrategy(t, w.Name(), d.Spec.Strategy, o)
		}
	}

	// Each PDB selects exactly one workload's pods, in its namespace.
	for _, b := range rel.PDBs {
		n := 0
		for _, w := range rel.Workloads {
			if b.Selects(w) {
				n++
				if b.Budget.Namespace != "" && b.Budget.Namespace != w.Namespace() {
					t.Errorf("PDB %s is in namespace %s, its workload in %s", b.Budget.Name, b.Budget.Namespace, w.Namespace())
				}
			}
		}
		if n != 1 {
			t.Errorf("PDB %s selects the pods of %d workloads, want 1", b.Budget.Name, n)
		}
	}

	if o.SharedPVC != "" {
		checkSharedClaim(t, before, rel, o)
	}

	// No claim is left that nothing mounts.
	for key, c := range rel.Claims {
		if !mounted(rel, c.Namespace, c.Name) {
			t.Errorf("claim %s is mounted by no workload", key)
		}
	}

	checkLevers(t, rel, o)
	checkProxy(t, before, rel, o)

	// Helm 4's filename annotation survives on every document that had it.
	for _, d := range inDocs {
		if f, ok := d.Obj.GetAnnotations()[manifest.FilenameAnnotation]; ok {
			for _, od := range outDocs {
				if od.ID() == d.ID() && od.Obj.GetAnnotations()[manifest.FilenameAnnotation] != f {
					t.Errorf("%s lost its %s annotation", d.Describe(), manifest.FilenameAnnotation)
				}
			}
		}
	}
}

// checkAutoscaled: the workload pins no replicas, and exactly one
// autoscaler of ours scales it, in its namespace, within r, on CPU.
func checkAutoscaled(t *testing.T, rel *harbor.Release, w *harbor.Workload, r Range) {
	t.Helper()
	if w.PinsReplicas() {
		t.Errorf("%s: pins %d replicas, which every helm upgrade and GitOps sync would reset under its autoscaler", w.Name(), w.Replicas())
	}
	var found []*harbor.HPA
	for _, h := range rel.HPAs {
		if h.Targets(w) {
			found = append(found, h)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d autoscalers scale it, want 1", w.Name(), len(found))
	}
	h := found[0].Autoscaler
	if lo, hi := found[0].Range(); lo != r.Min || hi != r.Max || h.Namespace != w.Namespace() {
		t.Errorf("%s: autoscaler %s/%s keeps %d..%d, want %s in %s", w.Name(), h.Namespace, h.Name, lo, hi, r, w.Namespace())
	}
	if m := h.Spec.Metrics; len(m) != 1 || !harbor.ScalesOnCPU(h) || *m[0].Resource.Target.AverageUtilization != 70 {
		t.Errorf("%s: autoscaler metrics %+v, want CPU utilisation 70%%", w.Name(), m)
	}
}

func hasAntiAffinity(a *corev1.Affinity, o Knobs, podLabels map[string]string) bool {
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if term.TopologyKey == o.TopologyKey && harbor.SelectorMatches(term.LabelSelector, podLabels) {
			return true
		}
	}
	if o.AntiAffinity == AntiAffinityHard {
		return false
	}
	for _, wt := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		term := wt.PodAffinityTerm
		if wt.Weight == 100 && term.TopologyKey == o.TopologyKey && harbor.SelectorMatches(term.LabelSelector, podLabels) {
			return true
		}
	}
	return false
}

// keepsAffinity reports whether every term of before is still in after.
func keepsAffinity(before, after *corev1.Affinity) bool {
	if after == nil {
		return false
	}
	if before.NodeAffinity != nil && !equalJSON(before.NodeAffinity, after.NodeAffinity) {
		return false
	}
	if before.PodAntiAffinity == nil {
		return true
	}
	if after.PodAntiAffinity == nil {
		return false
	}
	for _, t := range before.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		if !containsJSON(after.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, t) {
			return false
		}
	}
	for _, t := range before.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if !containsJSON(after.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, t) {
			return false
		}
	}
	return true
}

func checkStrategy(t *testing.T, name string, s appsv1.DeploymentStrategy, o Knobs) {
	t.Helper()
	if s.Type == appsv1.RecreateDeploymentStrategyType && s.RollingUpdate != nil {
		t.Errorf("%s: rollingUpdate under Recreate; the API server rejects that", name)
	}
	if o.AntiAffinity == AntiAffinityHard {
		ru := s.RollingUpdate
		if s.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxSurge == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 1 {
			t.Errorf("%s: hard anti-affinity needs RollingUpdate with maxSurge 0, maxUnavailable 1; got %+v", name, s)
		}
	}
}

// checkSharedClaim: registry, registryctl and jobservice mount the shared
// claim on their subPaths wherever the chart used a claim for that data.
func checkSharedClaim(t *testing.T, before, rel *harbor.Release, o Knobs) {
	t.Helper()
	wantContainers := map[string][]string{"registry": {"registry", "registryctl"}, "jobservice": {"jobservice"}}
	for comp, vol := range sharedVolumes {
		prev := before.Workload(comp)
		if v := prev.Volume(vol); v == nil || v.PersistentVolumeClaim == nil {
			continue // object storage or database job logs: nothing to move
		}
		w := rel.Workload(comp)
		v := w.Volume(vol)
		if v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != o.SharedPVC {
			t.Errorf("%s: volume %s is not claim %s", comp, vol, o.SharedPVC)
		}
		for _, cname := range wantContainers[comp] {
			found := false
			for _, c := range w.Template().Spec.Containers {
				if c.Name != cname {
					continue
				}
				for _, m := range c.VolumeMounts {
					if m.Name == vol {
						found = true
						if m.SubPath != o.SubPaths[comp] {
							t.Errorf("%s/%s: mount of %s has subPath %q, want %q", comp, cname, vol, m.SubPath, o.SubPaths[comp])
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: container %s does not mount %s", comp, cname, vol)
			}
		}
	}
	if o.CreateSharedPVC {
		c := rel.Claim(rel.Workload("registry").Namespace(), o.SharedPVC)
		if c == nil {
			t.Fatalf("--create-shared-pvc: claim %s not in the output", o.SharedPVC)
		}
		if !harbor.HasAccessMode(c, corev1.ReadWriteMany) || c.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("claim %s: want ReadWriteMany and helm.sh/resource-policy keep, got %v %v", c.Name, c.Spec.AccessModes, c.Annotations)
		}
		if got := c.Spec.Resources.Requests.Storage().String(); got != o.Size {
			t.Errorf("claim %s: size %s, want %s", c.Name, got, o.Size)
		}
	}
}

func mounted(rel *harbor.Release, ns, name string) bool {
	for _, w := range rel.Workloads {
		for _, v := range w.Template().Spec.Volumes {
			if w.Namespace() == ns && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name {
				return true
			}
		}
	}
	return false
}

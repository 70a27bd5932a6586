package postrender

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/overlays"
)

// plan is what the post-renderer does to one part of a stream (see
// partition): JSON patch operations per object, objects to add (each
// after the document it belongs with), chart objects to drop, and
// warnings for the user.
//
// The operations are computed from the very document they apply to, so they
// can address list items by index: exact, and with no need for the OpenAPI
// schema that strategic-merge patches load.
type plan struct {
	docs     []*manifest.Doc // the part's
	patches  []patch
	added    []addition
	drop     map[manifest.ID]bool
	warnings []string
}

// patch is one object's JSON6902 operations: a workload's, or those of a
// ConfigMap or Secret that held a Redis credential.
type patch struct {
	doc *manifest.Doc
	// selector is a workload's spec.selector.matchLabels (export targets
	// the workload by them); nil for a ConfigMap or Secret.
	selector map[string]string
	ops      []jsonOp
}

type jsonOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// set is an "add" operation: on an object member it creates or replaces.
func set(path string, value any) jsonOp { return jsonOp{Op: "add", Path: path, Value: value} }

type addition struct {
	after manifest.ID // the document the object is written after
	obj   *unstructured.Unstructured
}

func (p *plan) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, args...))
}

// storage is how a workload keeps its data, which decides whether several
// replicas and rolling updates are safe.
type storage int

const (
	stateless storage = iota // no claim: emptyDir, object storage, or VCTs per replica
	shared                   // a ReadWriteMany claim, or one the chart does not render (assumed shared)
	exclusive                // a ReadWriteOnce claim rendered by the chart
)

// makePlan decides every change from the release model and the options.
func makePlan(rel *harbor.Release, o Knobs) (*plan, error) {
	p := &plan{docs: rel.Docs, drop: map[manifest.ID]bool{}}
	for _, comp := range harbor.SortedKeys(o.Replicas.Exact) {
		if rel.Workload(comp) == nil {
			p.warnf("--replicas %s=%d: the chart rendered no %s workload, so there is nothing to scale", comp, o.Replicas.Exact[comp], comp)
		}
	}
	for _, comp := range harbor.SortedKeys(o.Autoscale.Exact) {
		if rel.Workload(comp) == nil {
			p.warnf("--autoscale %s=%s: the chart rendered no %s workload, so there is nothing to scale", comp, o.Autoscale.Exact[comp], comp)
		}
	}
	for _, w := range rel.Internals() {
		p.warnf("%s: the chart's internal %s is a single pod and cannot be made highly available; use an external one (helm harborha values)", w.Doc.ID(), w.Component)
	}
	m := planSharedClaim(p, rel, o)
	creds, err := planCredentials(p, rel, o)
	if err != nil {
		return nil, err
	}
	for _, g := range rel.RegistryUserGaps(o.RedisUsername) {
		p.warnf("release %s: its registry cannot log in to Redis as user %q, whom the other components log in as: %s has no redis.username (charts before 1.19; the registry of Harbor 2.15 reads it), so it logs in as \"default\" with %s's password, is refused (WRONGPASS) and serves without its Redis cache (goharbor/harbor#18892); use chart 1.19 or later, or let Harbor use the cluster's account (drop --redis-user)",
			g.Release, g.User, g.Registry.Where(), g.User)
	}
	pools := planPools(p, rel, o)
	for _, w := range rel.Components() {
		ops, err := planWorkload(p, rel, w, o, m.moved[w])
		if err != nil {
			return nil, err
		}
		ops = append(ops, drainOps(w, o)...)
		ops = registryDrainOps(w, poolOps(w, pools, append(ops, creds.workloads[w]...)))
		ops = proxyOps(p, rel, w, o, ops) // last: it may shift the init containers
		p.patches = append(p.patches, patch{doc: w.Doc, selector: w.Selector(), ops: ops})
	}
	p.patches = append(p.patches, creds.sources...)
	m.dropUnmounted(p, rel)
	if o.CreateSharedPVC {
		for _, anchor := range m.anchors {
			if rel.Claim(anchor.Namespace(), o.SharedPVC) != nil {
				continue
			}
			pvc, err := sharedClaim(anchor, o)
			if err != nil {
				return nil, err
			}
			p.added = append(p.added, addition{after: anchor.Doc.ID(), obj: pvc})
		}
	}
	return p, nil
}

// move is what --shared-pvc changes: per workload, its volumes that now
// point at the shared claim; the chart's claims they pointed at (maybe to
// drop); the first moved workload per namespace (the shared claim is
// written after it).
type move struct {
	moved   map[*harbor.Workload]map[string]string // workload -> volume -> shared claim
	old     map[string]bool                        // "namespace/claim" the moved volumes used
	anchors []*harbor.Workload
}

// planSharedClaim decides which volumes move onto the shared claim.
func planSharedClaim(p *plan, rel *harbor.Release, o Knobs) *move {
	m := &move{moved: map[*harbor.Workload]map[string]string{}, old: map[string]bool{}}
	if o.SharedPVC == "" {
		return m
	}
	found := map[string]bool{}
	for _, w := range rel.Workloads {
		vol, ok := sharedVolumes[w.Component]
		if !ok {
			continue
		}
		found[w.Component] = true
		v := w.Volume(vol)
		if v == nil || v.PersistentVolumeClaim == nil {
			p.warnf("--shared-pvc: %s keeps its data elsewhere (volume %s is not a claim: object storage, or logs not to files); %s is not mounted there", w.Doc.ID(), vol, o.SharedPVC)
			continue
		}
		if old := v.PersistentVolumeClaim.ClaimName; old != o.SharedPVC {
			m.old[w.Namespace()+"/"+old] = true
		}
		m.moved[w] = map[string]string{v.Name: o.SharedPVC}
		if !slices.ContainsFunc(m.anchors, func(a *harbor.Workload) bool { return a.Namespace() == w.Namespace() }) {
			m.anchors = append(m.anchors, w)
		}
	}
	for _, comp := range sharedComponents() {
		if !found[comp] {
			p.warnf("--shared-pvc: the chart rendered no %s workload; only the others use %s", comp, o.SharedPVC)
		}
	}
	return m
}

// dropUnmounted drops the chart's claims that only the moved volumes
// mounted.
func (m *move) dropUnmounted(p *plan, rel *harbor.Release) {
	for key := range m.old {
		ns, name, _ := strings.Cut(key, "/")
		if rel.Claim(ns, name) == nil || mountedElsewhere(rel, m.moved, ns, name) {
			continue
		}
		p.drop[manifest.ID{Kind: "PersistentVolumeClaim", Namespace: ns, Name: name}] = true
	}
}

// mountedElsewhere reports whether any workload still mounts claim ns/name
// once the moved volumes point at the shared claim.
func mountedElsewhere(rel *harbor.Release, moved map[*harbor.Workload]map[string]string, ns, name string) bool {
	for _, w := range rel.Workloads {
		if w.Namespace() != ns {
			continue
		}
		for _, v := range w.Template().Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name && moved[w][v.Name] == "" {
				return true
			}
		}
	}
	return false
}

// planWorkload returns one workload's operations and records its budget,
// autoscaler and warnings. Only what differs from the document becomes an
// operation, so post-rendering our own output plans nothing.
//
// An autoscaled workload pins no replicas (its autoscaler owns the count,
// and a pinned one would be reset by every helm upgrade and GitOps sync);
// its placement, budget and rollout are decided for its autoscaler's
// maximum, the most pods it may run.
func planWorkload(p *plan, rel *harbor.Release, w *harbor.Workload, o Knobs, moved map[string]string) ([]jsonOp, error) {
	var ops []jsonOp
	scale, autoscaled := o.Autoscale.For(w.Component, w.Kind, o.Replicas)
	most := o.Most(w.Component, w.Kind, w.Replicas())
	switch {
	case autoscaled && w.PinsReplicas():
		ops = append(ops, jsonOp{Op: "remove", Path: "/spec/replicas"})
	case !autoscaled && (most != w.Replicas() || !w.PinsReplicas()):
		ops = append(ops, set("/spec/replicas", most))
	}

	const pod = harbor.PodPath
	tmpl := w.Template()
	if most >= 2 && o.AntiAffinity != AntiAffinityNone {
		if aff, changed := withAntiAffinity(tmpl.Spec.Affinity, w.Selector(), o); changed {
			ops = append(ops, set(pod+"/affinity", toMap(aff)))
		}
	}
	if most >= 2 && o.ZoneSpread {
		if tsc, changed := withZoneSpread(tmpl.Spec.TopologySpreadConstraints, w.Selector()); changed {
			ops = append(ops, set(pod+"/topologySpreadConstraints", toMap(tsc)))
		}
	}
	if len(moved) > 0 {
		ops = append(ops, sharedMountOps(tmpl, moved, o.SubPaths[w.Component])...)
	}

	st := storageOf(rel, w, moved)
	if most >= 2 && st == exclusive {
		count := fmt.Sprintf("%d replicas", most)
		if autoscaled {
			count = fmt.Sprintf("up to %d replicas (--autoscale)", most)
		}
		p.warnf("%s: %s on ReadWriteOnce claim %s; the second pod will hang on Multi-Attach: use --shared-pvc with a ReadWriteMany claim, or object storage", w.Doc.ID(), count, exclusiveClaim(rel, w))
	}
	if w.Deployment != nil {
		if strategy := deploymentStrategy(w, most, st, o); strategy != nil {
			ops = append(ops, set("/spec/strategy", strategy))
		}
	}

	if err := planBudget(p, rel, w, most); err != nil {
		return nil, err
	}
	if autoscaled {
		if err := planAutoscaler(p, rel, w, scale); err != nil {
			return nil, err
		}
	}
	return ops, nil
}

// withAntiAffinity adds our anti-affinity term to the chart's affinity,
// keeping every term already there. It adds nothing when an equivalent
// term exists (a required one also satisfies a soft request), which is
// what makes post-rendering our own output a no-op.
func withAntiAffinity(in *corev1.Affinity, selector map[string]string, o Knobs) (*corev1.Affinity, bool) {
	term := corev1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: selector},
		TopologyKey:   o.TopologyKey,
	}
	aff := &corev1.Affinity{}
	if in != nil {
		aff = in.DeepCopy()
	}
	if aff.PodAntiAffinity == nil {
		aff.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	paa := aff.PodAntiAffinity
	for _, t := range paa.RequiredDuringSchedulingIgnoredDuringExecution {
		if sameTerm(t, term) {
			return in, false
		}
	}
	if o.AntiAffinity == AntiAffinityHard {
		paa.RequiredDuringSchedulingIgnoredDuringExecution = append(paa.RequiredDuringSchedulingIgnoredDuringExecution, term)
		return aff, true
	}
	for _, t := range paa.PreferredDuringSchedulingIgnoredDuringExecution {
		if sameTerm(t.PodAffinityTerm, term) {
			return in, false
		}
	}
	paa.PreferredDuringSchedulingIgnoredDuringExecution = append(paa.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.WeightedPodAffinityTerm{Weight: 100, PodAffinityTerm: term})
	return aff, true
}

func sameTerm(a, b corev1.PodAffinityTerm) bool {
	return a.TopologyKey == b.TopologyKey && len(a.Namespaces) == 0 && a.NamespaceSelector == nil &&
		a.LabelSelector != nil && len(a.LabelSelector.MatchExpressions) == 0 &&
		reflect.DeepEqual(a.LabelSelector.MatchLabels, b.LabelSelector.MatchLabels)
}

// withZoneSpread adds a zone spread constraint unless one on the zone key
// is already there (the chart's own, or ours from an earlier run).
func withZoneSpread(in []corev1.TopologySpreadConstraint, selector map[string]string) ([]corev1.TopologySpreadConstraint, bool) {
	for _, c := range in {
		if c.TopologyKey == ZoneTopologyKey {
			return in, false
		}
	}
	out := append(append([]corev1.TopologySpreadConstraint{}, in...), corev1.TopologySpreadConstraint{
		MaxSkew:           1,
		TopologyKey:       ZoneTopologyKey,
		WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector:     &metav1.LabelSelector{MatchLabels: selector},
	})
	return out, true
}

// sharedMountOps points the moved volumes at the shared claim and gives
// every mount of them (registry and registryctl both mount the image store)
// the component's subPath.
func sharedMountOps(tmpl *corev1.PodTemplateSpec, moved map[string]string, subPath string) []jsonOp {
	const pod = harbor.PodPath
	var ops []jsonOp
	for i, v := range tmpl.Spec.Volumes {
		if claim := moved[v.Name]; claim != "" && v.PersistentVolumeClaim.ClaimName != claim {
			ops = append(ops, set(fmt.Sprintf("%s/volumes/%d/persistentVolumeClaim/claimName", pod, i), claim))
		}
	}
	for _, field := range []string{"initContainers", "containers"} {
		list := tmpl.Spec.Containers
		if field == "initContainers" {
			list = tmpl.Spec.InitContainers
		}
		for ci, c := range list {
			for mi, m := range c.VolumeMounts {
				if moved[m.Name] != "" && m.SubPath != subPath {
					ops = append(ops, set(fmt.Sprintf("%s/%s/%d/volumeMounts/%d/subPath", pod, field, ci, mi), subPath))
				}
			}
		}
	}
	return ops
}

// storageOf classifies a workload's claims after the shared-claim move.
func storageOf(rel *harbor.Release, w *harbor.Workload, moved map[string]string) storage {
	st := stateless
	for _, v := range w.Template().Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		if moved[v.Name] != "" {
			st = max(st, shared)
			continue
		}
		if !rel.ClaimShared(w.Namespace(), v.PersistentVolumeClaim.ClaimName) {
			return exclusive
		}
		st = max(st, shared)
	}
	return st
}

func exclusiveClaim(rel *harbor.Release, w *harbor.Workload) string {
	for _, v := range w.Template().Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			if name := v.PersistentVolumeClaim.ClaimName; !rel.ClaimShared(w.Namespace(), name) {
				return name
			}
		}
	}
	return ""
}

// deploymentStrategy returns the strategy a Deployment needs so that a
// rollout cannot deadlock, or nil to keep the chart's:
//   - one replica on a ReadWriteOnce claim: Recreate (a surge pod on
//     another node would wait forever for the claim);
//   - shared or no storage: RollingUpdate (Recreate means downtime);
//   - hard anti-affinity (ours, or required by the chart's values): no
//     surge (the extra pod may have no node left);
//   - never a rollingUpdate block under Recreate (the API server rejects it).
func deploymentStrategy(w *harbor.Workload, replicas int32, st storage, o Knobs) map[string]any {
	cur := w.Deployment.Spec.Strategy
	want := cur.Type
	if want == "" {
		want = appsv1.RollingUpdateDeploymentStrategyType
	}
	switch {
	case st == exclusive && replicas == 1:
		want = appsv1.RecreateDeploymentStrategyType
	case st != exclusive:
		want = appsv1.RollingUpdateDeploymentStrategyType
	}
	// The operation replaces the whole strategy: switching type this way also
	// drops a stale rollingUpdate block (or the chart's "rollingUpdate: null").
	out := map[string]any{"type": string(want)}
	hard := o.AntiAffinity == AntiAffinityHard || requiresApart(w)
	if want == appsv1.RollingUpdateDeploymentStrategyType && hard && replicas >= 2 {
		out["rollingUpdate"] = map[string]any{"maxSurge": 0, "maxUnavailable": 1}
	}
	if equalJSON(toMap(cur), out) {
		return nil
	}
	return out
}

// requiresApart reports whether the chart's pod template already requires
// the replicas apart (a required anti-affinity term from the values that
// selects the workload's own pods): a surge pod may then find no node, as
// with --anti-affinity hard, whatever our flag says.
func requiresApart(w *harbor.Workload) bool {
	a := w.Template().Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		if harbor.SelectorMatches(t.LabelSelector, w.PodLabels()) {
			return true
		}
	}
	return false
}

// planBudget gives w exactly one budget of ours, maxUnavailable 1: one
// pod of the component down at a time, whatever its count (an
// autoscaler's included), the strictest budget that still lets a node
// drain. The component's own budget (chart 1.19 renders one when
// <component>.podDisruptionBudget.enabled; its selector is the workload's)
// gets these numbers in place: the chart's minAvailable 1 lets all but
// one pod go at once (2 of 3 under hard anti-affinity), a minAvailable at
// the replica count blocks every drain, and both fields together are
// refused by the API server. A budget with another selector is the
// user's, kept as it is. Without any, ours is added when w may run 2 or
// more pods.
func planBudget(p *plan, rel *harbor.Release, w *harbor.Workload, most int32) error {
	selected := false
	for _, b := range rel.PDBs {
		if !b.Selects(w) {
			continue
		}
		selected = true
		if sel := b.Budget.Spec.Selector; len(sel.MatchExpressions) == 0 && reflect.DeepEqual(sel.MatchLabels, w.Selector()) {
			if ops := budgetOps(b.Budget); len(ops) > 0 {
				p.patches = append(p.patches, patch{doc: b.Doc, ops: ops})
			}
		}
	}
	if selected || most < 2 {
		return nil
	}
	pdb, err := fromOverlay("pdb.yaml")
	if err != nil {
		return err
	}
	name := w.Name()
	for _, b := range rel.PDBs {
		if b.Budget.Name == name {
			name += "-harborha" // the chart's name is taken by a budget for other pods
		}
	}
	pdb.SetName(name)
	pdb.SetNamespace(w.Namespace())
	pdb.SetLabels(w.Doc.Obj.GetLabels())
	inheritFilename(pdb, w)
	sel := map[string]any{}
	for k, v := range w.Selector() {
		sel[k] = v
	}
	if err := unstructured.SetNestedMap(pdb.Object, sel, "spec", "selector", "matchLabels"); err != nil {
		return err
	}
	p.added = append(p.added, addition{after: w.Doc.ID(), obj: pdb})
	return nil
}

// budgetOps turn a budget's numbers into ours: maxUnavailable 1, no
// minAvailable.
func budgetOps(b *policyv1.PodDisruptionBudget) []jsonOp {
	var ops []jsonOp
	if b.Spec.MinAvailable != nil {
		ops = append(ops, jsonOp{Op: "remove", Path: "/spec/minAvailable"})
	}
	if mu := b.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) {
		ops = append(ops, set("/spec/maxUnavailable", 1))
	}
	return ops
}

// sharedClaim builds the --create-shared-pvc claim beside registry.
func sharedClaim(anchor *harbor.Workload, o Knobs) (*unstructured.Unstructured, error) {
	pvc, err := fromOverlay("shared-pvc.yaml")
	if err != nil {
		return nil, err
	}
	pvc.SetName(o.SharedPVC)
	pvc.SetNamespace(anchor.Namespace())
	lbls := map[string]string{}
	for k, v := range anchor.Doc.Obj.GetLabels() {
		if k != harbor.LabelComponent && k != "app.kubernetes.io/component" {
			lbls[k] = v
		}
	}
	pvc.SetLabels(lbls)
	inheritFilename(pvc, anchor)
	if o.StorageClass != "" {
		if err := unstructured.SetNestedField(pvc.Object, o.StorageClass, "spec", "storageClassName"); err != nil {
			return nil, err
		}
	}
	if err := unstructured.SetNestedField(pvc.Object, o.Size, "spec", "resources", "requests", "storage"); err != nil {
		return nil, err
	}
	return pvc, nil
}

// inheritFilename gives an added object the Helm 4 template filename of the
// workload it belongs with, so Helm 4 files it beside that workload.
func inheritFilename(obj *unstructured.Unstructured, w *harbor.Workload) {
	if f, ok := w.Doc.Obj.GetAnnotations()[manifest.FilenameAnnotation]; ok {
		ann := obj.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[manifest.FilenameAnnotation] = f
		obj.SetAnnotations(ann)
	}
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// fromOverlay returns a copy of an object shape of overlays/, each file
// decoded once per process (a stream of many releases adds hundreds).
func fromOverlay(name string) (*unstructured.Unstructured, error) {
	shapes, err := overlayShapes()
	if err != nil {
		return nil, err
	}
	shape, ok := shapes[name]
	if !ok {
		return nil, fmt.Errorf("overlays/%s: no such shape", name)
	}
	return shape.DeepCopy(), nil
}

var overlayShapes = sync.OnceValues(func() (map[string]*unstructured.Unstructured, error) {
	shapes := map[string]*unstructured.Unstructured{}
	for _, name := range []string{"pdb.yaml", "hpa.yaml", "shared-pvc.yaml"} {
		b, err := overlays.FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(b, &u.Object); err != nil {
			return nil, fmt.Errorf("overlays/%s: %w", name, err)
		}
		shapes[name] = u
	}
	return shapes, nil
})

// toMap turns a typed API value into the plain form a patch is made of.
// The round trip through JSON cannot fail for API types; should it ever,
// the result is nil (the operation sets null) rather than a crashed render.
func toMap(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil
	}
	return out
}

// Package harbor recognises the goharbor chart's objects in a rendered
// stream: its workloads by component, the claims they mount and the
// PodDisruptionBudgets that select them. The post-renderer and the linter
// both read a release through this model.
package harbor

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Components are the chart's Harbor services that can run several replicas,
// in the order the chart renders them.
var Components = []string{"core", "portal", "registry", "jobservice", "nginx", "trivy", "exporter"}

// internal are the chart's single-pod PostgreSQL and Redis, by component,
// with the store each one is.
var internal = map[string]string{"database": "PostgreSQL", "redis": "Redis"}

// IsComponent reports whether name is one of Components.
func IsComponent(name string) bool { return slices.Contains(Components, name) }

// Optional reports whether a component is one Harbor serves images
// without (trivy scans them, exporter serves metrics): a problem there
// weighs less.
func Optional(component string) bool { return component == "trivy" || component == "exporter" }

// InternalStore names the store an internal component is ("PostgreSQL"
// for database, "Redis" for redis); ok is false for any other component.
func InternalStore(component string) (store string, ok bool) {
	store, ok = internal[component]
	return store, ok
}

// Selector labels: every chart version selects its pods by these three
// (pod labels differ between 1.14 and 1.19, selectors do not).
const (
	LabelRelease   = "release"
	LabelApp       = "app"
	LabelComponent = "component"
)

// Workload is a Deployment or StatefulSet of the chart.
type Workload struct {
	Doc       *manifest.Doc
	Component string
	Kind      string // "Deployment" or "StatefulSet"

	Deployment  *appsv1.Deployment  // set when Kind is Deployment
	StatefulSet *appsv1.StatefulSet // set when Kind is StatefulSet
}

// Name is the workload's metadata.name.
func (w *Workload) Name() string { return w.Doc.Obj.GetName() }

// Namespace is the workload's metadata.namespace.
func (w *Workload) Namespace() string { return w.Doc.Obj.GetNamespace() }

// Replicas is spec.replicas, 1 when unset (the API server's default).
func (w *Workload) Replicas() int32 {
	var r *int32
	if w.Deployment != nil {
		r = w.Deployment.Spec.Replicas
	} else {
		r = w.StatefulSet.Spec.Replicas
	}
	if r == nil {
		return 1
	}
	return *r
}

// PinsReplicas reports whether the document sets spec.replicas at all
// (unset, the API server defaults it to 1 on create and leaves the live
// count alone on update).
func (w *Workload) PinsReplicas() bool {
	if w.Deployment != nil {
		return w.Deployment.Spec.Replicas != nil
	}
	return w.StatefulSet.Spec.Replicas != nil
}

// Template is the pod template.
func (w *Workload) Template() *corev1.PodTemplateSpec {
	if w.Deployment != nil {
		return &w.Deployment.Spec.Template
	}
	return &w.StatefulSet.Spec.Template
}

// Selector is spec.selector.matchLabels.
func (w *Workload) Selector() map[string]string {
	if w.Deployment != nil && w.Deployment.Spec.Selector != nil {
		return w.Deployment.Spec.Selector.MatchLabels
	}
	if w.StatefulSet != nil && w.StatefulSet.Spec.Selector != nil {
		return w.StatefulSet.Spec.Selector.MatchLabels
	}
	return nil
}

// PodLabels are the pod template's labels.
func (w *Workload) PodLabels() map[string]string { return w.Template().Labels }

// Volume returns the pod volume with the given name.
func (w *Workload) Volume(name string) *corev1.Volume {
	for i := range w.Template().Spec.Volumes {
		if v := &w.Template().Spec.Volumes[i]; v.Name == name {
			return v
		}
	}
	return nil
}

// PDB is a PodDisruptionBudget of the stream.
type PDB struct {
	Doc    *manifest.Doc
	Budget *policyv1.PodDisruptionBudget
}

// Selects reports whether the budget selects w's pods: same namespace (a
// budget without one lands in the release namespace, like the chart's) and
// a selector that matches the pod template labels.
func (p *PDB) Selects(w *Workload) bool {
	return besides(p.Budget.Namespace, w) && SelectorMatches(p.Budget.Spec.Selector, w.PodLabels())
}

// besides reports whether an object of namespace ns lands beside w: in
// its namespace, or in none (Helm places it in the release's).
func besides(ns string, w *Workload) bool { return ns == "" || ns == w.Namespace() }

// SelectorMatches reports whether a label selector selects pods with the
// given labels. A nil, empty or invalid selector selects nothing here:
// none of them is what a budget or an affinity term for one workload means.
func SelectorMatches(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

// HPA is an autoscaling/v2 HorizontalPodAutoscaler of the stream.
type HPA struct {
	Doc        *manifest.Doc
	Autoscaler *autoscalingv2.HorizontalPodAutoscaler
}

// Targets reports whether the autoscaler scales w: same namespace (one
// without lands in the release's, as Helm places it) and a scaleTargetRef
// naming w's kind and name in the apps group.
func (h *HPA) Targets(w *Workload) bool {
	ref := h.Autoscaler.Spec.ScaleTargetRef
	group, _, _ := strings.Cut(ref.APIVersion, "/")
	return besides(h.Autoscaler.Namespace, w) && ref.Kind == w.Kind && ref.Name == w.Name() && group == "apps"
}

// Range is the fewest and most replicas the autoscaler keeps (minReplicas
// defaults to 1).
func (h *HPA) Range() (lo, hi int32) {
	lo = 1
	if m := h.Autoscaler.Spec.MinReplicas; m != nil {
		lo = *m
	}
	return lo, h.Autoscaler.Spec.MaxReplicas
}

// ScalesOnCPU reports whether an autoscaler scales on the pods' CPU use
// relative to their requests (a Resource metric for cpu with a
// Utilization target), which needs every container to request CPU.
func ScalesOnCPU(h *autoscalingv2.HorizontalPodAutoscaler) bool {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
			m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			return true
		}
	}
	return false
}

// ContainersWithoutCPURequest are the pod's containers that request no
// CPU (a CPU limit alone counts: the API server makes it the request).
func (w *Workload) ContainersWithoutCPURequest() []string {
	var out []string
	for _, c := range w.Template().Spec.Containers {
		_, req := c.Resources.Requests[corev1.ResourceCPU]
		_, lim := c.Resources.Limits[corev1.ResourceCPU]
		if !req && !lim {
			out = append(out, c.Name)
		}
	}
	return out
}

// Release is the chart's objects, read from a stream.
type Release struct {
	// Docs is the whole stream Read was given, hooks included, for what
	// reads configuration (ConfigMaps, Secrets) on demand.
	Docs      []*manifest.Doc
	Workloads []*Workload // chart workloads, HA components and internal ones
	Claims    map[string]*corev1.PersistentVolumeClaim
	PDBs      []*PDB
	HPAs      []*HPA

	sourcesOnce sync.Once
	sources     *Sources
	usesOnce    sync.Once
	uses        []RedisUse
}

// WithConfig is the release reading its configuration (ConfigMaps,
// Secrets) from docs as well: doctor lists them apart from the workloads.
func (r *Release) WithConfig(docs []*manifest.Doc) *Release {
	return &Release{Docs: slices.Concat(r.Docs, docs), Workloads: r.Workloads, Claims: r.Claims, PDBs: r.PDBs, HPAs: r.HPAs}
}

// Claim returns the PersistentVolumeClaim ns/name rendered in the stream.
func (r *Release) Claim(namespace, name string) *corev1.PersistentVolumeClaim {
	return r.Claims[namespace+"/"+name]
}

// Components are the release's Harbor services, the workloads that can
// run several replicas (not the internal database and Redis), in stream
// order.
func (r *Release) Components() []*Workload {
	var out []*Workload
	for _, w := range r.Workloads {
		if IsComponent(w.Component) {
			out = append(out, w)
		}
	}
	return out
}

// Internals are the release's internal database and Redis workloads.
func (r *Release) Internals() []*Workload {
	var out []*Workload
	for _, w := range r.Workloads {
		if _, ok := InternalStore(w.Component); ok {
			out = append(out, w)
		}
	}
	return out
}

// ClaimShared reports whether pods on several nodes may mount claim
// ns/name: it is ReadWriteMany, or the stream does not render it (an
// existingClaim, or --shared-pvc without --create-shared-pvc). An
// unrendered claim cannot be judged offline and is trusted to be shared;
// the post-renderer and lint both decide it here.
func (r *Release) ClaimShared(namespace, name string) bool {
	c := r.Claim(namespace, name)
	return c == nil || HasAccessMode(c, corev1.ReadWriteMany)
}

// HasAccessMode reports whether the claim asks for the access mode.
func HasAccessMode(c *corev1.PersistentVolumeClaim, mode corev1.PersistentVolumeAccessMode) bool {
	for _, m := range c.Spec.AccessModes {
		if m == mode {
			return true
		}
	}
	return false
}

// Autoscaler returns the first autoscaler of the stream that scales w, or
// nil.
func (r *Release) Autoscaler(w *Workload) *HPA {
	for _, h := range r.HPAs {
		if h.Targets(w) {
			return h
		}
	}
	return nil
}

// Scale is the fewest and the most replicas w runs: its autoscaler's
// range, else spec.replicas both times.
func (r *Release) Scale(w *Workload) (lo, hi int32) {
	if h := r.Autoscaler(w); h != nil {
		return h.Range()
	}
	return w.Replicas(), w.Replicas()
}

// Workload returns the workload of a component, or nil.
func (r *Release) Workload(component string) *Workload {
	for _, w := range r.Workloads {
		if w.Component == component {
			return w
		}
	}
	return nil
}

// Read builds the release model from a stream's documents. Hooks are not
// part of the running release and are left out. Objects whose fields do not
// have the types Kubernetes requires are reported with their document.
func Read(docs []*manifest.Doc) (*Release, error) {
	r := &Release{Docs: docs, Claims: map[string]*corev1.PersistentVolumeClaim{}}
	byComponent := map[string]*Workload{}
	for _, d := range docs {
		if d.Hook {
			continue
		}
		gvk := d.Obj.GroupVersionKind()
		switch {
		case gvk.Group == "apps" && (gvk.Kind == "Deployment" || gvk.Kind == "StatefulSet"):
			w, err := readWorkload(d)
			if err != nil {
				return nil, err
			}
			if w == nil {
				continue
			}
			key := w.Namespace() + "/" + w.Selector()[LabelRelease] + "/" + w.Component
			if prev := byComponent[key]; prev != nil {
				return nil, fmt.Errorf("%s: a second workload of component %q in release %q (the first is document %d); a chart release renders one per component", d.Describe(), w.Component, w.Selector()[LabelRelease], prev.Doc.Pos)
			}
			byComponent[key] = w
			r.Workloads = append(r.Workloads, w)
		case gvk.Group == "" && gvk.Kind == "PersistentVolumeClaim":
			var c corev1.PersistentVolumeClaim
			if err := decode(d, &c); err != nil {
				return nil, err
			}
			r.Claims[c.Namespace+"/"+c.Name] = &c
		case gvk.Group == "policy" && gvk.Kind == "PodDisruptionBudget":
			var p policyv1.PodDisruptionBudget
			if err := decode(d, &p); err != nil {
				return nil, err
			}
			r.PDBs = append(r.PDBs, &PDB{Doc: d, Budget: &p})
		case gvk.Group == "autoscaling" && gvk.Kind == "HorizontalPodAutoscaler" && gvk.Version == "v2":
			var h autoscalingv2.HorizontalPodAutoscaler
			if err := decode(d, &h); err != nil {
				return nil, err
			}
			r.HPAs = append(r.HPAs, &HPA{Doc: d, Autoscaler: &h})
		}
	}
	return r, nil
}

// readWorkload decodes a Deployment or StatefulSet; it returns nil for
// workloads that are not the chart's (no {release, app, component} selector
// naming a known component).
func readWorkload(d *manifest.Doc) (*Workload, error) {
	w := &Workload{Doc: d, Kind: d.Obj.GetKind()}
	if w.Kind == "Deployment" {
		w.Deployment = &appsv1.Deployment{}
		if err := decode(d, w.Deployment); err != nil {
			return nil, err
		}
	} else {
		w.StatefulSet = &appsv1.StatefulSet{}
		if err := decode(d, w.StatefulSet); err != nil {
			return nil, err
		}
	}
	sel := w.Selector()
	comp := sel[LabelComponent]
	if _, isInternal := InternalStore(comp); sel[LabelRelease] == "" || sel[LabelApp] == "" || !(IsComponent(comp) || isInternal) {
		return nil, nil
	}
	w.Component = comp
	// The API server rejects such a workload; catching it here also keeps
	// every selector we derive from it (anti-affinity, PDB) meaningful.
	if !SelectorMatches(&metav1.LabelSelector{MatchLabels: sel}, w.PodLabels()) {
		return nil, fmt.Errorf("%s: spec.selector does not match the pod template's labels; Kubernetes rejects such a %s", d.Describe(), w.Kind)
	}
	return w, nil
}

// decode converts a document into a typed object, naming the document and
// the field when a value has the wrong type. It goes through JSON as the
// API server decodes (case-sensitive, sigs.k8s.io/json), not through
// apimachinery's unstructured converter, whose field cache is a map copied
// on every miss, which makes a cold process slow.
func decode(d *manifest.Doc, into any) error {
	b, err := json.Marshal(d.Obj.Object)
	if err == nil {
		err = kjson.UnmarshalCaseSensitivePreserveInts(b, into)
	}
	if err != nil {
		return fmt.Errorf("%s: %s", d.Describe(), strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// SortedKeys returns a map's keys in order, for deterministic output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

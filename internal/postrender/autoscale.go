package postrender

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
)

// Autoscale is --autoscale: the replica range a HorizontalPodAutoscaler
// keeps a component in. All ("MIN:MAX") is for every Deployment the chart
// renders; trivy's StatefulSet only when named ("trivy=MIN:MAX"): each of
// its replicas keeps a vulnerability database on a claim of its own, which
// outlives a scale-down, and more scanners do not scan faster than
// jobservice hands them work (goharbor/harbor-helm#503).
type Autoscale struct {
	All   *Range
	Exact map[string]Range
}

// Range is the fewest and most replicas of an autoscaled component.
type Range struct{ Min, Max int32 }

func (r Range) String() string { return fmt.Sprintf("%d:%d", r.Min, r.Max) }

// For returns the range a component is autoscaled in, if it is: a range
// it was given by name, else All for a Deployment (kind is the workload's
// kind). An exact --replicas count for the component wins over All
// (Validate refuses both by name).
func (a Autoscale) For(component, kind string, replicas Replicas) (Range, bool) {
	if r, ok := a.Exact[component]; ok {
		return r, true
	}
	if _, pinned := replicas.Exact[component]; pinned || a.All == nil || kind != "Deployment" {
		return Range{}, false
	}
	return *a.All, true
}

// Most is the most replicas a component of the given kind may run, the
// chart rendering it with current: its autoscaler's maximum, else its
// replica count. Placement (anti-affinity, the preflight's node count),
// budgets and rollouts are decided for it.
func (o Knobs) Most(component, kind string, current int32) int32 {
	if r, ok := o.Autoscale.For(component, kind, o.Replicas); ok {
		return r.Max
	}
	return o.Replicas.For(component, current)
}

// parseRange reads MIN:MAX.
func parseRange(s string) (Range, bool) {
	lo, hi, ok := strings.Cut(s, ":")
	if !ok {
		return Range{}, false
	}
	a, errA := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
	b, errB := strconv.ParseInt(strings.TrimSpace(hi), 10, 32)
	return Range{Min: int32(a), Max: int32(b)}, errA == nil && errB == nil
}

// autoscaleValue is the pflag.Value of --autoscale; like --replicas it
// adds to what it points at, so flags override a config file per key.
type autoscaleValue struct{ a *Autoscale }

func (v autoscaleValue) Type() string { return "MIN:MAX|component=MIN:MAX,..." }

func (v autoscaleValue) String() string {
	if v.a == nil {
		return ""
	}
	var parts []string
	if v.a.All != nil {
		parts = append(parts, v.a.All.String())
	}
	for _, c := range harbor.SortedKeys(v.a.Exact) {
		parts = append(parts, c+"="+v.a.Exact[c].String())
	}
	return strings.Join(parts, ",")
}

func (v autoscaleValue) Set(s string) error {
	return eachItem(s, func(item, comp, rng string) error {
		r, ok := parseRange(rng)
		if !ok {
			return fmt.Errorf("%q is not MIN:MAX or component=MIN:MAX (components: %s)", item, strings.Join(harbor.Components, ", "))
		}
		if comp == "" {
			v.a.All = &r
			return nil
		}
		if v.a.Exact == nil {
			v.a.Exact = map[string]Range{}
		}
		v.a.Exact[comp] = r
		return nil
	})
}

// UnmarshalJSON reads autoscale from a config file: the flag's text
// ("2:5,core=3:10"), or a mapping of component to "MIN:MAX" where the key
// "all" is the flag's bare MIN:MAX.
func (a *Autoscale) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		return autoscaleValue{a}.Set(s)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf(`autoscale must be "MIN:MAX,component=MIN:MAX" or a mapping of component: "MIN:MAX"`)
	}
	for _, k := range harbor.SortedKeys(m) {
		item := k + "=" + m[k]
		if k == "all" {
			item = m[k]
		}
		if err := (autoscaleValue{a}).Set(item); err != nil {
			return err
		}
	}
	return nil
}

// MarshalJSON writes autoscale as the flag's text.
func (a Autoscale) MarshalJSON() ([]byte, error) { return json.Marshal(autoscaleValue{&a}.String()) }

// validateAutoscale checks --autoscale: known components, a range an
// autoscaler can keep, and no component given a fixed count too.
func (o Knobs) validateAutoscale() error {
	check := func(item string, r Range) error {
		switch {
		case r.Min < minReplicas:
			return fmt.Errorf("--autoscale: %s: MIN must be %d or more", item, minReplicas)
		case r.Max > maxReplicas:
			return fmt.Errorf("--autoscale: %s: MAX must be %d or less", item, maxReplicas)
		case r.Min > r.Max:
			return fmt.Errorf("--autoscale: %s: MIN is above MAX", item)
		case r.Min == r.Max:
			return fmt.Errorf("--autoscale: %s never scales; use --replicas for a fixed count", item)
		}
		return nil
	}
	if a := o.Autoscale.All; a != nil {
		if err := check(a.String(), *a); err != nil {
			return err
		}
	}
	for _, c := range harbor.SortedKeys(o.Autoscale.Exact) {
		r := o.Autoscale.Exact[c]
		if !harbor.IsComponent(c) {
			return fmt.Errorf("--autoscale: unknown component %q; components are %s", c, strings.Join(harbor.Components, ", "))
		}
		if err := check(c+"="+r.String(), r); err != nil {
			return err
		}
		if n, ok := o.Replicas.Exact[c]; ok {
			return fmt.Errorf("--autoscale %s=%s and --replicas %s=%d both set %s's replicas; keep one", c, r, c, n, c)
		}
	}
	return nil
}

// planAutoscaler gives w its autoscaler with range r: ours after the
// workload, or, when the stream already holds one that scales w, that
// one with our range (its metrics kept). It warns when the pods request
// no CPU: the autoscaler then cannot compute a utilisation and never
// scales.
func planAutoscaler(p *plan, rel *harbor.Release, w *harbor.Workload, r Range) error {
	h := rel.Autoscaler(w)
	if h != nil {
		if lo, hi := h.Range(); lo != r.Min || hi != r.Max {
			p.patches = append(p.patches, patch{doc: h.Doc, ops: []jsonOp{set("/spec/minReplicas", r.Min), set("/spec/maxReplicas", r.Max)}})
		}
	} else {
		hpa, err := fromOverlay("hpa.yaml")
		if err != nil {
			return err
		}
		hpa.SetName(w.Name())
		hpa.SetNamespace(w.Namespace())
		hpa.SetLabels(w.Doc.Obj.GetLabels())
		inheritFilename(hpa, w)
		spec := hpa.Object["spec"].(map[string]any)
		spec["scaleTargetRef"] = map[string]any{"apiVersion": w.Doc.Obj.GetAPIVersion(), "kind": w.Kind, "name": w.Name()}
		spec["minReplicas"], spec["maxReplicas"] = int64(r.Min), int64(r.Max)
		p.added = append(p.added, addition{after: w.Doc.ID(), obj: hpa})
	}
	if h == nil || harbor.ScalesOnCPU(h.Autoscaler) {
		if missing := w.ContainersWithoutCPURequest(); len(missing) > 0 {
			which := "container " + missing[0] + " requests"
			if len(missing) > 1 {
				which = "containers " + strings.Join(missing, " and ") + " request"
			}
			p.warnf("%s: --autoscale %s scales on CPU use relative to the pods' CPU requests, and %s no CPU, so the autoscaler cannot compute it and never scales: set %s (or give the namespace a LimitRange with a default CPU request)",
				w.Doc.ID(), w.Component, which, cpuRequestValues(w, missing))
		}
	}
	return nil
}

// cpuRequestValues names the chart values that set the CPU request of
// the containers (registry's two containers have their own keys).
func cpuRequestValues(w *harbor.Workload, containers []string) string {
	keys := map[string]string{"registry": "registry.registry.resources.requests.cpu", "registryctl": "registry.controller.resources.requests.cpu"}
	var out []string
	for _, c := range containers {
		k, ok := keys[c]
		if !ok || w.Component != "registry" {
			k = w.Component + ".resources.requests.cpu"
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return strings.Join(out, " and ")
}

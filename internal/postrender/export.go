package postrender

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Changes are a Plan as data: what `helm harborha export` writes for
// Argo CD, Flux and kustomize instead of applying it.
type Changes struct {
	// Patches are the objects' operations in the plan's order: per part of
	// the stream (a namespace), its workloads' in stream order, then the
	// ConfigMaps and Secrets that held a Redis credential.
	Patches  []Patch
	Added    []*unstructured.Unstructured // budgets, the shared claim, in stream order
	Dropped  []manifest.ID                // the chart's claims --shared-pvc replaces
	Warnings []string
}

// Patch is one object's JSON6902 operations, computed from the rendered
// document: exact for it, addressing list items by index.
type Patch struct {
	Target     manifest.ID
	APIVersion string
	// Selector is set for the chart's workloads (their
	// spec.selector.matchLabels), empty for any other object.
	Selector map[string]string
	Ops      []Op
}

// Op is one JSON6902 operation.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Changes returns the plan as data, part by part; objects without
// operations are left out, the added objects are copies.
func (p *Plan) Changes() *Changes {
	c := &Changes{Added: []*unstructured.Unstructured{}, Warnings: p.warnings}
	for _, pp := range p.parts {
		for _, pt := range pp.patches {
			if len(pt.ops) == 0 {
				continue
			}
			out := Patch{Target: pt.doc.ID(), APIVersion: pt.doc.Obj.GetAPIVersion(), Selector: pt.selector}
			for _, op := range pt.ops {
				out.Ops = append(out.Ops, Op(op))
			}
			c.Patches = append(c.Patches, out)
		}
		for _, a := range pp.added {
			c.Added = append(c.Added, a.obj.DeepCopy())
		}
		for _, d := range pp.docs { // the drop set is a map: give it the stream's order
			if pp.drop[d.ID()] {
				c.Dropped = append(c.Dropped, d.ID())
			}
		}
	}
	return c
}

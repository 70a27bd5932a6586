package postrender

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Changes are the post-renderer's plan for one rendered stream, as data:
// what `helm harborha export` writes for Argo CD, Flux and kustomize
// instead of applying it.
type Changes struct {
	Patches  []Patch                      // one per workload, in stream order
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

// Plan plans the post-render of stream with o, as Renderer.Run would, and
// returns the plan instead of applying it.
func Plan(stream []byte, o Knobs) (*Changes, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	docs, err := manifest.Parse(stream)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errEmpty
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		return nil, err
	}
	p, err := makePlan(rel, o)
	if err != nil {
		return nil, err
	}
	c := &Changes{Added: make([]*unstructured.Unstructured, 0, len(p.added)), Warnings: p.warnings}
	for _, pt := range p.patches {
		if len(pt.ops) == 0 {
			continue
		}
		w := pt.target
		out := Patch{Target: w.Doc.ID(), APIVersion: w.Doc.Obj.GetAPIVersion(), Selector: w.Selector()}
		for _, op := range pt.ops {
			out.Ops = append(out.Ops, Op(op))
		}
		c.Patches = append(c.Patches, out)
	}
	for _, a := range p.added {
		c.Added = append(c.Added, a.obj.DeepCopy())
	}
	for _, d := range docs { // the drop set is a map: give it the stream's order
		if p.drop[d.ID()] {
			c.Dropped = append(c.Dropped, d.ID())
		}
	}
	return c, nil
}

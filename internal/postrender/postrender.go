// Package postrender turns the rendered goharbor chart into a highly
// available topology: replicas, pod anti-affinity, zone spread, one shared
// ReadWriteMany claim with subPaths, PodDisruptionBudgets and rollouts that
// cannot deadlock. The changes are planned from the rendered workloads and
// applied by kustomize, in-process.
//
// Renderer implements Helm's postrender.PostRenderer, so Helm SDK users can
// set it on action.Install / action.Upgrade directly.
package postrender

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"helm.sh/helm/v3/pkg/postrender"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Renderer post-renders with fixed options.
type Renderer struct {
	opts Options
	warn io.Writer
}

var _ postrender.PostRenderer = (*Renderer)(nil)

// New checks the options and returns a Renderer. Warnings (a workload that
// stays on a ReadWriteOnce claim, an internal database) go to warn, one
// line each; nil discards them.
func New(opts Options, warn io.Writer) (*Renderer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if warn == nil {
		warn = io.Discard
	}
	return &Renderer{opts: opts, warn: warn}, nil
}

// errEmpty is returned for a stream with no objects: Helm would install an
// empty release, which is never what a Harbor install means.
var errEmpty = errors.New("no Kubernetes objects on stdin; pipe in the output of `helm template`, or use --post-renderer")

// Run post-renders a manifest stream. It never returns partial output: on
// error the returned buffer is nil.
func (r *Renderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	out, warnings, err := r.render(in.Bytes())
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintf(r.warn, "harborha post-render: warning: %s\n", w)
	}
	return bytes.NewBuffer(out), nil
}

// item is one document of the output stream.
type item struct {
	id   manifest.ID
	head string // leading comments of the input document ("# Source: ...")
	text string
	hook bool
}

func (r *Renderer) render(stream []byte) ([]byte, []string, error) {
	docs, err := manifest.Parse(stream)
	if err != nil {
		return nil, nil, err
	}
	if len(docs) == 0 {
		return nil, nil, errEmpty
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		return nil, nil, err
	}
	p, err := makePlan(rel, r.opts)
	if err != nil {
		return nil, nil, err
	}
	items, err := applyPlan(docs, p)
	if err != nil {
		return nil, nil, err
	}
	if r.opts.Kustomize != "" {
		if items, err = applyUser(items, r.opts.Kustomize); err != nil {
			return nil, nil, err
		}
	}
	texts := make([]string, 0, len(items))
	for _, it := range items {
		texts = append(texts, it.text)
	}
	out := manifest.Write(texts)
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("every object was removed (by --kustomize %s?); refusing to write an empty release", r.opts.Kustomize)
	}
	return out, p.warnings, nil
}

// applyPlan runs our kustomization over the workloads it patches and the
// objects it adds; every other document is copied through byte for byte.
func applyPlan(docs []*manifest.Doc, p *plan) ([]item, error) {
	batches, err := batchByRelease(p)
	if err != nil {
		return nil, err
	}
	byID, err := runBatches(batches)
	if err != nil {
		return nil, err
	}
	addedAfter := map[manifest.ID][]manifest.ID{}
	for _, a := range p.added {
		addedAfter[a.after] = append(addedAfter[a.after], manifest.IDOf(a.obj))
	}
	patched := map[manifest.ID]bool{}
	for _, pt := range p.patches {
		patched[pt.target.Doc.ID()] = true
	}
	var items []item
	for _, d := range docs {
		id := d.ID()
		if p.drop[id] {
			continue
		}
		it := item{id: id, head: d.Head(), text: d.Raw, hook: d.Hook}
		if patched[id] {
			it.text = it.head + byID[id]
		}
		items = append(items, it)
		for _, aid := range addedAfter[id] {
			items = append(items, item{id: aid, text: byID[aid]})
		}
	}
	return items, nil
}

// batch is one kustomize run: a release's patched workloads, their
// patches and the objects added beside them.
type batch struct {
	resources []string
	patches   []patch
}

// batchByRelease groups the plan by release (namespace and release label),
// in stream order. kustomize's resource map costs grow with the square of
// its size, so it runs once per release: one run for a chart's output, and
// linear time for a stream of many.
func batchByRelease(p *plan) ([]*batch, error) {
	var order []*batch
	byKey := map[string]*batch{}
	byWorkload := map[manifest.ID]*batch{}
	for _, pt := range p.patches {
		w := pt.target
		key := w.Namespace() + "/" + w.Release()
		b := byKey[key]
		if b == nil {
			b = &batch{}
			byKey[key] = b
			order = append(order, b)
		}
		b.resources = append(b.resources, w.Doc.Raw)
		b.patches = append(b.patches, pt)
		byWorkload[w.Doc.ID()] = b
	}
	for _, a := range p.added {
		y, err := yaml.Marshal(a.obj.Object)
		if err != nil {
			return nil, err
		}
		b := byWorkload[a.after] // every addition belongs with a patched workload
		b.resources = append(b.resources, string(y))
	}
	return order, nil
}

// runBatches runs the batches on every core (releases are independent)
// and returns each resulting object's YAML by its identity. The output
// order comes from the input documents, so it does not depend on
// scheduling.
func runBatches(batches []*batch) (map[manifest.ID]string, error) {
	results := make([][]rendered, len(batches))
	errs := make([]error, len(batches))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			mem := filesys.MakeFsInMemory()
			if errs[i] = ourKustomization(mem, "/harborha", b.resources, b.patches); errs[i] == nil {
				results[i], errs[i] = kustomizeRun(mem, "/harborha")
			}
		}()
	}
	wg.Wait()
	byID := map[manifest.ID]string{}
	for i := range batches {
		if errs[i] != nil {
			return nil, fmt.Errorf("applying the HA patches: %s", errs[i])
		}
		for _, o := range results[i] {
			byID[o.orig] = o.yaml
		}
	}
	return byID, nil
}

// applyUser runs the user's kustomization over our output. Hooks stay out
// of it and keep their place (Helm 4 hands hooks to post-renderers too, and
// a hook that repeats a template's object would clash in kustomize).
func applyUser(items []item, dir string) ([]item, error) {
	var texts []string
	for _, it := range items {
		if !it.hook {
			texts = append(texts, it.text)
		}
	}
	mem := filesys.MakeFsInMemory()
	if err := userKustomization(mem, "/user", dir, manifest.Write(texts)); err != nil {
		return nil, err
	}
	out, err := kustomizeRun(mem, "/user")
	if err != nil {
		return nil, fmt.Errorf("--kustomize %s: %s", dir, err)
	}
	byID := map[manifest.ID]rendered{}
	for _, o := range out {
		byID[o.orig] = o
	}
	var result []item
	used := map[manifest.ID]bool{}
	for _, it := range items {
		if it.hook {
			result = append(result, it)
			continue
		}
		if o, ok := byID[it.id]; ok {
			used[it.id] = true
			result = append(result, item{id: it.id, head: it.head, text: it.head + o.yaml})
		}
	}
	for _, o := range out { // objects the user's kustomization adds
		if !used[o.orig] {
			result = append(result, item{id: o.orig, text: o.yaml})
		}
	}
	return result, nil
}

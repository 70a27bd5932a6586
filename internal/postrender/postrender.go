// Package postrender turns the rendered goharbor chart into a highly
// available topology: replicas or autoscalers, pod anti-affinity, zone spread, one shared
// ReadWriteMany claim with subPaths, PodDisruptionBudgets and rollouts that
// cannot deadlock. The changes are planned from the rendered workloads as
// JSON patches (Plan) and applied in-process with json-patch, the library
// kustomize's own patches run on (Apply).
//
// Renderer implements Helm's postrender.PostRenderer, so Helm SDK users can
// set it on action.Install / action.Upgrade directly.
package postrender

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"helm.sh/helm/v3/pkg/postrender"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/output"
)

// Renderer post-renders with fixed options.
type Renderer struct {
	opts Knobs
	warn io.Writer
}

var _ postrender.PostRenderer = (*Renderer)(nil)

// New checks the options and returns a Renderer. Warnings (a workload that
// stays on a ReadWriteOnce claim, an internal database) go to warn, one
// line each; nil discards them.
func New(opts Knobs, warn io.Writer) (*Renderer, error) {
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

// Run post-renders a manifest stream and writes the plan's warnings. It
// never returns partial output: on error the returned buffer is nil.
//
// It is Apply(docs, Plan(docs)) done part by part (see partition): each
// part is applied as soon as it is planned, while its documents are hot,
// and its plan is garbage before the last part is planned, which keeps a
// large stream's heap under the limit the command sets for it.
func (r *Renderer) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	docs, err := manifest.Parse(in.Bytes())
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errEmpty
	}
	parts := partition(docs)
	warnings := make([][]string, len(parts))
	items := make([]map[*manifest.Doc][]item, len(parts))
	errs := make([]error, len(parts))
	parallel(len(parts), func(i int) {
		var p *plan
		if p, errs[i] = planPart(parts[i], r.opts); errs[i] == nil {
			warnings[i] = p.warnings
			items[i], errs[i] = applyPlan(p)
		}
	})
	if err := firstError(errs); err != nil {
		return nil, err
	}
	out, err := r.write(docs, items)
	if err != nil {
		return nil, err
	}
	output.Warn(r.warn, "post-render", mergeWarnings(warnings))
	return bytes.NewBuffer(out), nil
}

// Plan is what the post-renderer does to a stream, decided from its
// parsed documents before anything is written: the plan of each part.
type Plan struct {
	parts    []*plan
	warnings []string
}

// Warnings are the plan's warnings for the user, each once.
func (p *Plan) Warnings() []string { return p.warnings }

// Plan decides the post-render of a parsed stream, each part (see
// partition) apart, on every core.
func (r *Renderer) Plan(docs []*manifest.Doc) (*Plan, error) {
	if len(docs) == 0 {
		return nil, errEmpty
	}
	parts := partition(docs)
	p := &Plan{parts: make([]*plan, len(parts))}
	errs := make([]error, len(parts))
	parallel(len(parts), func(i int) { p.parts[i], errs[i] = planPart(parts[i], r.opts) })
	if err := firstError(errs); err != nil {
		return nil, err
	}
	warnings := make([][]string, len(parts))
	for i, pp := range p.parts {
		warnings[i] = pp.warnings
	}
	p.warnings = mergeWarnings(warnings)
	return p, nil
}

// Apply writes the stream docs with the plan p made from them: each
// document patched or copied through byte for byte, the objects p adds
// after the document each belongs with, the dropped ones left out; then
// the user's --kustomize over the result.
func (r *Renderer) Apply(docs []*manifest.Doc, p *Plan) ([]byte, error) {
	items := make([]map[*manifest.Doc][]item, len(p.parts))
	errs := make([]error, len(p.parts))
	parallel(len(p.parts), func(i int) { items[i], errs[i] = applyPlan(p.parts[i]) })
	if err := firstError(errs); err != nil {
		return nil, err
	}
	return r.write(docs, items)
}

func planPart(docs []*manifest.Doc, o Knobs) (*plan, error) {
	rel, err := harbor.Read(docs)
	if err != nil {
		return nil, err
	}
	return makePlan(rel, o)
}

// firstError is the first part's error in stream order.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// mergeWarnings are the parts' warnings in order, each once: every
// release gives the same warning about a knob.
func mergeWarnings(parts [][]string) []string {
	var out []string
	for _, ws := range parts {
		for _, w := range ws {
			if !slices.Contains(out, w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// write puts the parts' items in the order of the input documents, runs
// the user's --kustomize over them and writes the stream.
func (r *Renderer) write(docs []*manifest.Doc, parts []map[*manifest.Doc][]item) ([]byte, error) {
	expanded := map[*manifest.Doc][]item{}
	for _, p := range parts {
		maps.Copy(expanded, p)
	}
	var items []item
	for _, d := range docs {
		items = append(items, expanded[d]...)
	}
	if r.opts.Kustomize != "" {
		var err error
		if items, err = applyUser(items, r.opts.Kustomize); err != nil {
			return nil, err
		}
	}
	texts := make([]string, 0, len(items))
	for _, it := range items {
		texts = append(texts, it.text)
	}
	out := manifest.Write(texts)
	if len(out) == 0 {
		return nil, fmt.Errorf("every object was removed (by --kustomize %s?); refusing to write an empty release", r.opts.Kustomize)
	}
	return out, nil
}

// item is one document of the output stream.
type item struct {
	id   manifest.ID
	head string // leading comments of the input document ("# Source: ...")
	text string
	hook bool
}

// partition splits a stream into parts that are post-rendered apart: one
// per namespace, since nothing the release model relates (a workload and
// its claims, budgets, ConfigMaps and Secrets) crosses namespaces. A
// stream of many releases then renders on every core. When some object
// has no namespace (chart 1.14 renders none: Helm places them), where it
// lands is Helm's to decide, so the stream stays whole.
func partition(docs []*manifest.Doc) [][]*manifest.Doc {
	var order []string
	byNS := map[string][]*manifest.Doc{}
	for _, d := range docs {
		ns := d.Obj.GetNamespace()
		if ns == "" {
			return [][]*manifest.Doc{docs}
		}
		if _, seen := byNS[ns]; !seen {
			order = append(order, ns)
		}
		byNS[ns] = append(byNS[ns], d)
	}
	parts := make([][]*manifest.Doc, len(order))
	for i, ns := range order {
		parts[i] = byNS[ns]
	}
	return parts
}

// applyPlan applies a part's plan: each of its documents becomes its own
// item (patched, or copied through byte for byte), then the objects
// added after it; a dropped one becomes nothing.
func applyPlan(p *plan) (map[*manifest.Doc][]item, error) {
	byID, err := encodeChanged(p)
	if err != nil {
		return nil, err
	}
	addedAfter := map[manifest.ID][]manifest.ID{}
	for _, a := range p.added {
		addedAfter[a.after] = append(addedAfter[a.after], manifest.IDOf(a.obj))
	}
	out := make(map[*manifest.Doc][]item, len(p.docs))
	for _, d := range p.docs {
		id := d.ID()
		if p.drop[id] {
			out[d] = nil
			continue
		}
		it := item{id: id, head: d.Head(), text: d.Raw, hook: d.Hook}
		if patched, ok := byID[id]; ok {
			it.text = it.head + patched
		}
		items := []item{it}
		for _, aid := range addedAfter[id] {
			items = append(items, item{id: aid, text: byID[aid]})
		}
		out[d] = items
	}
	return out, nil
}

// parallel runs fn(0..n-1) on every core and waits for all.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// encodeChanged writes every workload we patch and every object we add,
// by identity. Each is independent, so they are written on every core;
// the caller orders them by the input, so the output does not depend on
// scheduling.
func encodeChanged(p *plan) (map[manifest.ID]string, error) {
	n := len(p.patches) + len(p.added)
	out := make([]string, n)
	ids := make([]manifest.ID, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		if i < len(p.patches) {
			ids[i] = p.patches[i].doc.ID()
			out[i], errs[i] = applyPatch(p.patches[i])
			return
		}
		a := p.added[i-len(p.patches)].obj
		ids[i] = manifest.IDOf(a)
		out[i], errs[i] = encodeAdded(a)
	})
	byID := make(map[manifest.ID]string, n)
	for i := range n {
		if errs[i] != nil {
			return nil, fmt.Errorf("applying the HA changes to %s: %s", ids[i], errs[i])
		}
		byID[ids[i]] = out[i]
	}
	return byID, nil
}

// applyPatch returns the object's patched YAML. A workload with no
// operation is written the same way, so that every workload we own reads
// the same whether or not this run changed it.
//
// The operations are applied as kustomize's JSON6902 filter
// (api/filters/patchjson6902, what a kustomization's patches run) applies
// them — the document to JSON, evanphx/json-patch, back through JSON —
// and written as kustomize then writes the resource (kyaml's encoder; the
// annotations last in metadata), without the filter's and the resource
// map's trips through YAML text, which were most of a post-render's time.
// One difference, on purpose: the document is read as Kubernetes and Helm
// read YAML (sigs.k8s.io/yaml, YAML 1.1: the stream's own decoding), where
// kustomize reads YAML 1.2, which turned an unquoted `yes` (true to
// Kubernetes) into the string "yes". TestPatchesAreKustomizes and
// FuzzPostRender hold the output to kustomize's filter byte for byte where
// the two readings agree, and to the input's meaning always.
func applyPatch(pt patch) (string, error) {
	if len(pt.ops) == 0 {
		node, err := kyaml.Parse(pt.doc.Raw)
		if err != nil {
			return "", err
		}
		return encodeNode(node)
	}
	in, err := json.Marshal(pt.doc.Obj.Object)
	if err != nil {
		return "", err
	}
	ops, err := json.Marshal(pt.ops)
	if err != nil {
		return "", err
	}
	decoded, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		return "", err
	}
	out, err := decoded.Apply(in)
	if err != nil {
		return "", err
	}
	var patched map[string]any
	if err := json.Unmarshal(out, &patched); err != nil {
		return "", err
	}
	return encodeMap(patched, len(pt.doc.Raw)*3/2) // room for what the patch adds
}

// encodeAdded writes an object we add the way a patched one is written.
func encodeAdded(obj *unstructured.Unstructured) (string, error) {
	return encodeMap(obj.Object, 0)
}

// encodeMap writes an object from its map as kyaml writes a node made
// from it (keys in yaml.v3's order), with the annotations moved last in
// metadata as kustomize's SetAnnotations leaves them. It is kyaml.Marshal
// with the buffer sized for the document (sizeHint bytes) up front.
func encodeMap(obj map[string]any, sizeHint int) (string, error) {
	var buf bytes.Buffer
	buf.Grow(sizeHint)
	if err := kyaml.NewEncoder(&buf).Encode(obj); err != nil {
		return "", err
	}
	return annotationsLast(buf.String()), nil
}

// annotationsLast moves the "  annotations:" block of the top-level
// metadata mapping to the end of that mapping, and drops it when empty.
// It works on kyaml's own output, whose layout is fixed: top-level keys at
// column 0, metadata's keys at column 2, their contents deeper.
func annotationsLast(doc string) string {
	lines := strings.SplitAfter(doc, "\n")
	meta := slices.Index(lines, "metadata:\n")
	if meta < 0 {
		return doc
	}
	end := meta + 1
	for end < len(lines) && strings.HasPrefix(lines[end], "  ") {
		end++
	}
	start := slices.IndexFunc(lines[meta+1:end], func(l string) bool { return strings.HasPrefix(l, "  annotations:") })
	if start < 0 {
		return doc
	}
	start += meta + 1
	stop := start + 1
	for stop < end && strings.HasPrefix(lines[stop], "    ") {
		stop++
	}
	block := slices.Clone(lines[start:stop])
	if block[0] == "  annotations: {}\n" {
		block = nil
	}
	out := slices.Concat(lines[:start], lines[stop:end], block, lines[end:])
	return strings.Join(out, "")
}

// encodeNode is the node's own encoding (it keeps the document's key
// order), without the comments before the object: the caller puts the
// input document's head back itself. The annotations are set again, as
// kustomize does to every resource it builds (it clears its own build
// annotations): sorted, at the end of metadata. Our output has always
// been kustomize's, byte for byte.
func encodeNode(node *kyaml.RNode) (string, error) {
	if err := node.SetAnnotations(node.GetAnnotations()); err != nil {
		return "", err
	}
	s, err := node.String()
	if err != nil {
		return "", err
	}
	return trimHead(s), nil
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

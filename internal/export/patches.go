package export

import (
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/postrender"
)

// Target selects the object a patch applies to, in kustomize's (and
// Flux's) patch target fields. Workloads are selected by kind and their
// selector labels, which every goharbor chart version keeps; anything else
// by kind, namespace and exact name.
type Target struct {
	Group         string `json:"group,omitempty" yaml:"group,omitempty"`
	Version       string `json:"version" yaml:"version"`
	Kind          string `json:"kind" yaml:"kind"`
	Namespace     string `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	Name          string `json:"name,omitempty" yaml:"name,omitempty"`
	LabelSelector string `json:"labelSelector,omitempty" yaml:"labelSelector,omitempty"`
}

// filePatch is one patch as the export writes it.
type filePatch struct {
	File   string // patches/<kind>-<name>.yaml
	Target Target
	Body   any  // a strategic-merge patch (map) or JSON6902 operations
	JSON   bool // Body is JSON6902
}

// YAML is the patch's text.
func (p filePatch) YAML() ([]byte, error) { return yaml.Marshal(p.Body) }

// addedObject is an object the export adds as a resource.
type addedObject struct {
	File string // resources/<kind>-<name>.yaml
	Obj  map[string]any
}

// bundle is the HA changes as files: what both formats write.
type bundle struct {
	Patches  []filePatch
	Added    []addedObject
	Warnings []string
}

// makeBundle turns the plan of the rendered stream (docs, parsed) into
// patches and resources and checks them: kustomize, in-process, applies
// them to the rendered stream, and the result must be the post-rendered
// stream, object for object. A strategic-merge patch that does not
// reproduce its object exactly is replaced by the plan's own JSON6902
// operations.
func makeBundle(rendered []byte, docs []*manifest.Doc, c *postrender.Changes, postRendered []byte) (*bundle, error) {
	truth, err := objects(postRendered)
	if err != nil {
		return nil, err
	}
	byID := map[manifest.ID]*manifest.Doc{}
	for _, d := range docs {
		byID[d.ID()] = d
	}
	b := &bundle{Warnings: c.Warnings}
	names := fileNames{}
	for _, p := range c.Patches {
		fp, err := workloadPatch(byID[p.Target], p, truth, docs)
		if err != nil {
			return nil, err
		}
		fp.File = names.next("patches", p.Target)
		b.Patches = append(b.Patches, fp)
	}
	for _, id := range c.Dropped {
		b.Patches = append(b.Patches, dropPatch(byID[id], names.next("patches", id)))
	}
	for _, a := range c.Added {
		id := manifest.IDOf(a)
		obj, ok := truth[id]
		if !ok {
			return nil, fmt.Errorf("the post-render output has no %s, which the plan adds", id)
		}
		b.Added = append(b.Added, addedObject{File: names.next("resources", id), Obj: obj})
	}
	return b, b.check(rendered, truth, c)
}

// workloadPatch is a strategic-merge patch for the workload, targeted by
// its selector labels when they pick it alone.
func workloadPatch(d *manifest.Doc, p postrender.Patch, truth map[manifest.ID]map[string]any, docs []*manifest.Doc) (filePatch, error) {
	want, ok := truth[p.Target]
	if d == nil || !ok {
		return filePatch{}, fmt.Errorf("%s: the plan patches an object the stream does not hold", p.Target)
	}
	smp := strategicMerge(p.APIVersion, p.Target.Kind, d.Obj.Object, want)
	meta, _ := smp["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["name"] = p.Target.Name // for the reader: kustomize keeps the target's own name
	smp["apiVersion"], smp["kind"], smp["metadata"] = p.APIVersion, p.Target.Kind, meta
	return filePatch{Target: targetOf(d, p.Selector, docs), Body: smp}, nil
}

// jsonPatch is the plan's own operations: exact for the rendered document.
func jsonPatch(p postrender.Patch) any { return p.Ops }

// dropPatch deletes one of the chart's claims. Deleting is selected by
// exact name: it must never reach another object.
func dropPatch(d *manifest.Doc, file string) filePatch {
	id := d.ID()
	body := map[string]any{
		"apiVersion": d.Obj.GetAPIVersion(),
		"kind":       id.Kind,
		"metadata":   map[string]any{"name": id.Name},
		"$patch":     "delete",
	}
	return filePatch{File: file, Target: nameTarget(d), Body: body}
}

func nameTarget(d *manifest.Doc) Target {
	gvk := d.Obj.GroupVersionKind()
	t := Target{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Name: regexp.QuoteMeta(d.Obj.GetName())}
	if ns := d.Obj.GetNamespace(); ns != "" {
		t.Namespace = regexp.QuoteMeta(ns)
	}
	return t
}

// targetOf selects a workload by its selector labels when its own labels
// carry them and no other object of its kind in the stream has them all;
// otherwise by name.
func targetOf(d *manifest.Doc, selector map[string]string, docs []*manifest.Doc) Target {
	if len(selector) == 0 || !hasLabels(d.Obj.GetLabels(), selector) {
		return nameTarget(d)
	}
	gvk := d.Obj.GroupVersionKind()
	for _, o := range docs {
		if o != d && o.Obj.GroupVersionKind().GroupKind() == gvk.GroupKind() && hasLabels(o.Obj.GetLabels(), selector) {
			return nameTarget(d)
		}
	}
	return Target{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, LabelSelector: selectorString(selector)}
}

func hasLabels(labels, want map[string]string) bool {
	for k, v := range want {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func selectorString(sel map[string]string) string {
	parts := make([]string, 0, len(sel))
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// fileNames gives each object one file name, <kind>-<name>.yaml, numbered
// on a clash (two namespaces, or two groups with one kind).
type fileNames map[string]bool

func (n fileNames) next(dir string, id manifest.ID) string {
	base := strings.ToLower(id.Kind) + "-" + id.Name
	name := path.Join(dir, base+".yaml")
	for i := 2; n[name]; i++ {
		name = path.Join(dir, fmt.Sprintf("%s-%d.yaml", base, i))
	}
	n[name] = true
	return name
}

// check applies the bundle to the rendered stream with kustomize and
// compares with the post-render output. Each strategic-merge patch whose
// object comes out different becomes the plan's JSON6902 patch; if the
// result still differs, the export would be wrong, and it fails.
func (b *bundle) check(rendered []byte, truth map[manifest.ID]map[string]any, c *postrender.Changes) error {
	for round := 0; ; round++ {
		got, err := b.apply(rendered)
		if err != nil {
			return fmt.Errorf("checking the patches with kustomize: %v", err)
		}
		wrong := differing(got, truth)
		if len(wrong) == 0 {
			return nil
		}
		if round > 0 || !b.fallBack(wrong, c) {
			return fmt.Errorf("the exported patches do not reproduce the post-render output for %s; this is a bug in helm-harborha, please report it", wrong[0])
		}
	}
}

// fallBack turns the strategic-merge patches of the wrong objects into
// JSON6902 ones; false when none was strategic-merge.
func (b *bundle) fallBack(wrong []manifest.ID, c *postrender.Changes) bool {
	changed := false
	for _, id := range wrong {
		for i, p := range c.Patches {
			fp := &b.Patches[i]
			if p.Target == id && !fp.JSON {
				fp.Body, fp.JSON, changed = jsonPatch(p), true, true
				fp.Target = Target{Group: id.Group, Version: versionOf(p.APIVersion), Kind: id.Kind, Name: regexp.QuoteMeta(id.Name), Namespace: regexp.QuoteMeta(id.Namespace)}
			}
		}
	}
	return changed
}

func versionOf(apiVersion string) string {
	if i := strings.LastIndex(apiVersion, "/"); i >= 0 {
		return apiVersion[i+1:]
	}
	return apiVersion
}

// apply runs kustomize in-process over the rendered stream with the
// bundle's patches and resources, as the real kustomize does over the
// chart it inflates.
func (b *bundle) apply(rendered []byte) (map[manifest.ID]map[string]any, error) {
	mem := filesys.MakeFsInMemory()
	files, k, err := b.files("rendered.yaml")
	if err != nil {
		return nil, err
	}
	files["rendered.yaml"] = rendered
	if files["kustomization.yaml"], err = yaml.Marshal(k); err != nil {
		return nil, err
	}
	for name, data := range files {
		if err := mem.WriteFile(path.Join("/export", name), data); err != nil {
			return nil, err
		}
	}
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(mem, "/export")
	if err != nil {
		return nil, err
	}
	out, err := rm.AsYaml()
	if err != nil {
		return nil, err
	}
	return objects(out)
}

// files are the bundle's patch and resource files, and the kustomization
// that lists them after the given first resources.
func (b *bundle) files(first ...string) (map[string][]byte, kustomization, error) {
	files := map[string][]byte{}
	k := kustomization{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Resources: append([]string{}, first...)}
	for _, a := range b.Added {
		y, err := yaml.Marshal(a.Obj)
		if err != nil {
			return nil, kustomization{}, err
		}
		files[a.File] = y
		k.Resources = append(k.Resources, a.File)
	}
	for _, p := range b.Patches {
		y, err := p.YAML()
		if err != nil {
			return nil, kustomization{}, err
		}
		files[p.File] = y
		k.Patches = append(k.Patches, kustomizePatch{Path: p.File, Target: p.Target})
	}
	return files, k, nil
}

// objects decodes a stream into its objects by identity.
func objects(stream []byte) (map[manifest.ID]map[string]any, error) {
	docs, err := manifest.Parse(stream)
	if err != nil {
		return nil, err
	}
	out := make(map[manifest.ID]map[string]any, len(docs))
	for _, d := range docs {
		out[d.ID()] = d.Obj.Object
	}
	return out, nil
}

// differing lists the objects that are not the same in got and want
// (missing on either side, or different as Canonical sees them), sorted.
func differing(got, want map[manifest.ID]map[string]any) []manifest.ID {
	var out []manifest.ID
	for id, w := range want {
		if g, ok := got[id]; !ok || !reflect.DeepEqual(Canonical(g), Canonical(w)) {
			out = append(out, id)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Canonical is an object as the API server stores it, and as both Helm
// and kustomize read it from a chart's output:
//   - without the fields set to null: the API server stores neither a null
//     nor a missing field, and kustomize's strategic merge drops the nulls
//     where it merges;
//   - with every string's trailing newlines trimmed: a "|+" block that
//     ends a document (the chart's jobservice config.yml) keeps the blank
//     lines after it when kustomize reads the stream, and loses them to
//     Helm's manifest splitter and the post-renderer's writer.
func Canonical(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if e != nil {
				out[k] = Canonical(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = Canonical(e)
		}
		return out
	case string:
		return strings.TrimRight(t, "\n")
	}
	return v
}

package postrender

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/kustomize/api/filters/patchjson6902"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// FuzzPostRender: no input makes the post-renderer panic; a success is
// never empty, every workload it patches reads exactly as kustomize's own
// JSON6902 filter writes it, and post-rendering a success again changes
// nothing. Every knob that adds objects or containers is on (the
// database proxy too).
// Seeded from the golden outputs (real chart renders), one document at a
// time: whole 100 KB streams as seeds stall the fuzzer's mutator.
func FuzzPostRender(f *testing.F) {
	goldens, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "testdata", "*", "expected.yaml"))
	seen := map[string]bool{}
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			continue
		}
		docs, err := manifest.Parse(b)
		if err != nil {
			f.Fatalf("%s: %v", g, err)
		}
		for _, d := range docs {
			switch d.Obj.GetKind() {
			case "Deployment", "StatefulSet", "PersistentVolumeClaim", "PodDisruptionBudget":
				if !seen[d.Raw] {
					seen[d.Raw] = true
					f.Add([]byte(d.Raw))
				}
			}
		}
	}
	if len(seen) < 10 {
		f.Fatalf("only %d seeds from the goldens", len(seen))
	}
	f.Add([]byte(deployment))
	// Top-level annotations, which kustomize moves last in metadata, with
	// values whose quoting differs between encoders.
	f.Add([]byte(strings.Replace(deployment, "  labels:", "  annotations:\n    postrenderer.helm.sh/postrender-filename: harbor/templates/core/core-dpl.yaml\n    a: \"yes\"\n    b: \"123\"\n    c: \"x\\ny\"\n    d: \"\"\n  labels:", 1)))
	f.Add([]byte(strings.Replace(deployment, "  labels:", "  annotations: {}\n  labels:", 1)))
	f.Add([]byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"))
	f.Add([]byte("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: p}\nspec: {selector: {matchLabels: {component: core}}}\n---\n" + deployment))

	opts := DefaultKnobs()
	opts.SharedPVC = "harbor-shared"
	opts.CreateSharedPVC = true
	opts.ZoneSpread = true
	opts.DatabaseProxyImage = testProxyImage
	r, err := New(opts, io.Discard)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := r.Run(bytes.NewBuffer(in))
		if err != nil {
			if out != nil {
				t.Fatalf("output with error %v", err)
			}
			return
		}
		if out.Len() == 0 {
			t.Fatal("success with empty output")
		}
		checkKustomizeEquivalence(t, in, opts)
		first := out.String()
		again, err := r.Run(bytes.NewBufferString(first))
		if err != nil {
			t.Fatalf("our own output is rejected: %v\n%s", err, first)
		}
		if again.String() != first {
			t.Fatalf("not idempotent:\n%s", testutil.LineDiff(first, again.String()))
		}
	})
}

// checkKustomizeEquivalence: each workload's patched document means what
// the input means with the operations applied, as Kubernetes reads YAML;
// and where kustomize reads the document the same way (YAML 1.2 and 1.1
// agree on it), it is byte for byte what kustomize's patchjson6902 filter
// writes (applyPatch skips the filter's trips through YAML text).
func checkKustomizeEquivalence(t *testing.T, stream []byte, o Knobs) {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(docs)
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range p.parts {
		for _, pt := range pp.patches {
			checkPatch(t, pt)
		}
	}
}

func checkPatch(t *testing.T, pt patch) {
	t.Helper()
	id := pt.doc.ID()
	ours, err := applyPatch(pt)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if got, want := kubernetesReads(t, ours), withOps(t, pt); got != want {
		t.Fatalf("%s: the patched document means\n%s\nnot the input with the operations applied:\n%s", id, got, want)
	}
	if !readsAlike(t, pt.doc) {
		return
	}
	if theirs := kustomizePatch(t, pt); ours != theirs {
		t.Fatalf("%s: differs from kustomize's JSON6902 filter:\n%s", id, testutil.LineDiff(theirs, ours))
	}
}

// kubernetesReads is a document as Kubernetes and Helm read it, as JSON.
func kubernetesReads(t *testing.T, doc string) string {
	t.Helper()
	j, err := sigsyaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("our output is not YAML: %v\n%s", err, doc)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// withOps is the input as Kubernetes reads it, with the operations applied.
func withOps(t *testing.T, pt patch) string {
	t.Helper()
	in := kubernetesReads(t, pt.doc.Raw)
	ops, _ := json.Marshal(pt.ops)
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	// As kustomize writes a resource: no empty annotations.
	if md, ok := v["metadata"].(map[string]any); ok {
		if a, ok := md["annotations"].(map[string]any); ok && len(a) == 0 {
			delete(md, "annotations")
		}
	}
	canon, _ := json.Marshal(v)
	return string(canon)
}

// readsAlike reports whether kyaml (YAML 1.2, kustomize's reading) and
// sigs.k8s.io/yaml (YAML 1.1, Kubernetes') read the document the same.
func readsAlike(t *testing.T, d *manifest.Doc) bool {
	t.Helper()
	var k map[string]any
	if err := kyaml.Unmarshal([]byte(d.Raw), &k); err != nil {
		return false
	}
	a, errA := json.Marshal(k)
	b, errB := json.Marshal(d.Obj.Object)
	return errA == nil && errB == nil && string(a) == string(b)
}

// kustomizePatch applies a workload's operations with kustomize's filter.
func kustomizePatch(t *testing.T, pt patch) string {
	t.Helper()
	node, err := kyaml.Parse(pt.doc.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(pt.ops) > 0 {
		ops, err := json.Marshal(pt.ops)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (patchjson6902.Filter{Patch: string(ops)}).Filter([]*kyaml.RNode{node}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := encodeNode(node)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPatchesAreKustomizes: on every golden case (the real charts),
// applyPatch writes every workload as kustomize's JSON6902 filter does.
func TestPatchesAreKustomizes(t *testing.T) {
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			checkKustomizeEquivalence(t, c.render(t), c.options(t))
		})
	}
}

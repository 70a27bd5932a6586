package postrender

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/filters/patchjson6902"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// FuzzPostRender: no input makes the post-renderer panic; a success is
// never empty, every workload it patches reads exactly as kustomize's own
// JSON6902 filter writes it, and post-rendering a success again changes
// nothing.
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

	opts := DefaultOptions()
	opts.SharedPVC = "harbor-shared"
	opts.CreateSharedPVC = true
	opts.ZoneSpread = true
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

// checkKustomizeEquivalence: each workload's patched document is, byte for
// byte, what kustomize's patchjson6902 filter makes of it (applyPatch skips
// the filter's trips through YAML text, not its semantics).
func checkKustomizeEquivalence(t *testing.T, stream []byte, o Options) {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := makePlan(rel, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, pt := range p.patches {
		ours, err := applyPatch(pt)
		if err != nil {
			t.Fatalf("%s: %v", pt.target.Doc.ID(), err)
		}
		if theirs := kustomizePatch(t, pt); ours != theirs {
			t.Fatalf("%s: differs from kustomize's JSON6902 filter:\n%s", pt.target.Doc.ID(), testutil.LineDiff(theirs, ours))
		}
	}
}

// kustomizePatch applies a workload's operations with kustomize's filter.
func kustomizePatch(t *testing.T, pt patch) string {
	t.Helper()
	node, err := kyaml.Parse(pt.target.Doc.Raw)
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

package postrender

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// FuzzPostRender: no input makes the post-renderer panic; a success is
// never empty, and post-rendering a success again changes nothing.
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

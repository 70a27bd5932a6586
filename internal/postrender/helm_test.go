package postrender

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestHelm3PostRenderer runs the real helm v3 binary with the real built
// harborha binary as its --post-renderer (the Helm 3 contract: only non-hook
// manifests on stdin, no Helm environment) and checks that helm's output
// holds the same objects as the golden, and the hooks untouched.
func TestHelm3PostRenderer(t *testing.T) {
	for _, name := range []string{"shared-pvc-create", "chart-pdb-affinity"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(testutil.RepoRoot(), "testdata", name)
			c := goldenCases(t)[indexOfCase(t, name)]
			args := []string{"template", "myharbor", testutil.Chart(t, c.Chart), "--namespace", "harbor",
				"--kube-version", testutil.KubeVersion, "-f", testutil.PinSecrets(t), "-f", filepath.Join(dir, "values.yaml"),
				"--post-renderer", testutil.Harborha(t), "--post-renderer-args", "post-render"}
			for _, a := range c.Args {
				args = append(args, "--post-renderer-args", a)
			}
			got := testutil.Objects(t, testutil.Run(t, nil, testutil.Helm3(t), args...))
			golden, err := os.ReadFile(filepath.Join(dir, "expected.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			want := testutil.Objects(t, golden)
			if len(got) != len(want) {
				t.Errorf("helm printed %d objects, the golden has %d", len(got), len(want))
			}
			for id, obj := range want {
				if !reflect.DeepEqual(got[id], obj) {
					t.Errorf("%s differs between helm --post-renderer and the golden", id)
				}
			}
		})
	}
}

func indexOfCase(t *testing.T, name string) int {
	for i, c := range goldenCases(t) {
		if c.Name == name {
			return i
		}
	}
	t.Fatalf("no golden case %s", name)
	return -1
}

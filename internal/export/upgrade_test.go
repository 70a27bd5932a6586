package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestPatchesSurviveChartUpgrade: an export made against an older chart,
// built after the chart under charts/ is replaced by 1.19.1 (a chart
// upgrade in Git, the export not written again), still gives what
// post-rendering 1.19.1 gives: the patches select workloads by label and
// merge lists by key, so the chart's new and reordered env, volumes and
// mounts do not throw them off.
func TestPatchesSurviveChartUpgrade(t *testing.T) {
	knobs := []string{"--shared-pvc=harbor-shared", "--create-shared-pvc", "--zone-spread", "--anti-affinity=hard", "--replicas=core=3"}
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	newChart := testutil.Chart(t, "harbor-1.19.1.tgz")
	helm := testutil.Helm3(t)
	want := testutil.Run(t, testutil.HelmTemplate(t, newChart, []string{values}, "--kube-version", testutil.KubeVersion),
		testutil.Harborha(t), append([]string{"post-render"}, knobs...)...)
	for _, old := range []string{"harbor-1.18.4.tgz", "harbor-1.14.3.tgz"} {
		t.Run(strings.TrimSuffix(old, ".tgz"), func(t *testing.T) {
			c := testutil.GoldenCase{Name: old, Dir: filepath.Dir(values), Chart: old, Args: knobs}
			dir, _ := exportCase(t, helm, c, FormatKustomize)
			replaceChart(t, dir, newChart)
			got := kustomizeBuild(t, helm, dir)
			sameObjects(t, "the "+old+" export built with chart 1.19.1", addedBySpec(t, got), addedBySpec(t, want))
		})
	}
}

// addedBySpec keeps of the objects an export adds (budgets, the shared
// claim) their identity and spec: they are written at export time with the
// metadata of the workload they belong with, so they keep the old chart's
// labels (app.kubernetes.io/version; 1.14 has other labels, and no
// namespace, which puts them in the release's) until the export is written
// again. Everything else must be exact.
func addedBySpec(t testing.TB, stream []byte) []byte {
	t.Helper()
	var docs []string
	for id, obj := range testutil.Objects(t, stream) {
		if id.Kind == "PodDisruptionBudget" || (id.Kind == "PersistentVolumeClaim" && id.Name == "harbor-shared") {
			obj = map[string]any{"apiVersion": obj["apiVersion"], "kind": id.Kind, "spec": obj["spec"],
				"metadata": map[string]any{"name": id.Name, "namespace": "harbor"}}
		}
		docs = append(docs, yamlOf(t, obj))
	}
	return []byte("---\n" + strings.Join(docs, "---\n"))
}

// replaceChart puts another chart where the export carries its own.
func replaceChart(t testing.TB, dir, chart string) {
	t.Helper()
	home := filepath.Join(dir, "charts")
	if err := os.RemoveAll(home); err != nil {
		t.Fatal(err)
	}
	ch, err := loader.Load(chart)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := chartutil.SaveDir(ch, home); err != nil {
		t.Fatal(err)
	}
}

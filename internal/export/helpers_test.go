package export

import (
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// helms are the real Helm majors the exports are built with.
func helms(t testing.TB) map[string]string {
	return map[string]string{"helm3": testutil.Helm3(t), "helm4": testutil.Helm4(t)}
}

// exportCase runs the real harborha binary's export of a golden case
// (rendered with helm, --no-discover, the pinned secrets and the case's
// values and knobs) and returns the directory written, with the case's
// --kustomize directory, which an export refuses (it goes on top). It runs
// in a directory standing for the Git repository (Flux names a local
// chart by its path there) and writes deploy/harbor in it.
func exportCase(t testing.TB, helm string, c testutil.GoldenCase, format string) (dir, userKustomize string) {
	t.Helper()
	repo := t.TempDir()
	args := []string{"export", "myharbor", testutil.Chart(t, c.Chart), "-n", "harbor", "--no-discover",
		"-f", testutil.PinSecrets(t), "-f", filepath.Join(c.Dir, "values.yaml"), "--kube-version", testutil.KubeVersion}
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--kustomize="); ok {
			userKustomize = v
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--format", format, "--output-dir", "deploy/harbor")
	if err := os.Mkdir(filepath.Join(repo, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	runIn(t, repo, helmEnv(t, helm), 0, testutil.Harborha(t), args...)
	return filepath.Join(repo, "deploy", "harbor"), userKustomize
}

// runIn runs a command in dir (through env -C: testutil.Exec runs in the
// test's directory), failing the test unless it exits with want.
func runIn(t testing.TB, dir string, env []string, want int, name string, args ...string) (string, string) {
	t.Helper()
	return testutil.Exec(t, env, want, "env", append([]string{"-C", dir, name}, args...)...)
}

// helmEnv is the environment the binaries run with: the test's, helm as
// HELM_BIN, and an isolated Helm home.
func helmEnv(t testing.TB, helm string) []string {
	return append(append(os.Environ(), "HELM_BIN="+helm), testutil.IsolatedHelmEnv(t)...)
}

// golden is the case's post-render output (testdata/<case>/expected.yaml).
func golden(t testing.TB, c testutil.GoldenCase) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "expected.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kustomizeBuild runs the real kustomize as Argo CD does
// (kustomize.buildOptions: --enable-helm), with the given helm.
func kustomizeBuild(t testing.TB, helm, dir string) []byte {
	t.Helper()
	out, _ := testutil.Exec(t, helmEnv(t, helm), 0, testutil.Kustomize(t), "build", "--enable-helm", "--helm-command", helm, dir)
	return []byte(out)
}

func write(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameObjects fails unless two streams hold the same objects, by identity,
// as Canonical sees them (null fields and trailing newlines aside).
func sameObjects(t testing.TB, what string, got, want []byte) {
	t.Helper()
	g, w := testutil.Objects(t, got), testutil.Objects(t, want)
	var ids []manifest.ID
	for id := range w {
		ids = append(ids, id)
	}
	for id := range g {
		if _, ok := w[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	for _, id := range ids {
		gy, wy := yamlOf(t, g[id]), yamlOf(t, w[id])
		if !reflect.DeepEqual(Canonical(g[id]), Canonical(w[id])) {
			t.Errorf("%s: %s differs from the post-render output:\n%s", what, id, testutil.LineDiff(wy, gy))
		}
	}
	if len(g) != len(w) {
		t.Errorf("%s: %d objects, the post-render output has %d", what, len(g), len(w))
	}
}

func yamlOf(t testing.TB, obj map[string]any) string {
	if obj == nil {
		return "(missing)\n"
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

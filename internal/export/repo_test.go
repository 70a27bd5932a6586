package export

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// chartRepo serves the 1.19.1 chart as a Helm chart repository on
// loopback (index.yaml written by the real `helm repo index`).
func chartRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(testutil.Chart(t, "harbor-1.19.1.tgz"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "harbor-1.19.1.tgz"), b)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	testutil.Run(t, nil, testutil.Helm3(t), "repo", "index", dir, "--url", srv.URL)
	return srv.URL
}

// TestRepositoryChart: a chart from a repository is exported by name,
// repository URL and the version helm resolves (pinned even when
// --version is not given, as REPO/NAME from `helm repo add`), carries no
// copy of the chart, and kustomize build --enable-helm pulls it and gives
// the post-render output; the flux export names a HelmRepository.
func TestRepositoryChart(t *testing.T) {
	url := chartRepo(t)
	c := goldenCase(t, "external-defaults")
	helm := testutil.Helm3(t)
	env := helmEnv(t, helm) // one Helm home: repo add, then export
	testutil.Exec(t, env, 0, helm, "repo", "add", "goharbor", url)
	for name, chart := range map[string][]string{
		"--repo":    {"harbor", "--repo", url, "--version", "1.19.1"},
		"REPO/NAME": {"goharbor/harbor"},
	} {
		t.Run(name, func(t *testing.T) {
			repo := t.TempDir()
			args := append(append([]string{"export", "myharbor"}, chart...), "-n", "harbor", "--no-discover",
				"-f", testutil.PinSecrets(t), "-f", filepath.Join(c.Dir, "values.yaml"), "--kube-version", testutil.KubeVersion)
			args = append(args, c.Args...) // the case's knobs (the Redis password's Secret)
			runIn(t, repo, env, 0, testutil.Harborha(t), append(args, "--format", FormatKustomize, "--output-dir", "k")...)
			var k kustomization
			files := tree(t, filepath.Join(repo, "k"))
			if err := yaml.Unmarshal([]byte(files["kustomization.yaml"]), &k); err != nil {
				t.Fatal(err)
			}
			if hc := k.HelmCharts[0]; hc.Name != "harbor" || hc.Repo != url || hc.Version != "1.19.1" {
				t.Errorf("helmCharts: want harbor 1.19.1 from %s, got %+v", url, hc)
			}
			for f := range files {
				if strings.HasPrefix(f, "charts/") {
					t.Fatalf("a repository chart must not be copied into the export: %s", f)
				}
			}
			sameObjects(t, "kustomize build of a repository chart", kustomizeBuild(t, helm, filepath.Join(repo, "k")), golden(t, c))

			runIn(t, repo, env, 0, testutil.Harborha(t), append(args, "--format", FormatFlux, "--output-dir", "f")...)
			hr := tree(t, filepath.Join(repo, "f"))[fluxReleaseFile]
			for _, want := range []string{"kind: HelmRepository", "url: " + url, "chart: harbor", "version: 1.19.1", "kind: HelmRelease"} {
				if !strings.Contains(hr, want) {
					t.Errorf("%s lacks %q", fluxReleaseFile, want)
				}
			}
		})
	}
}

// goldenCase is the post-render golden case of that name, with its knobs.
func goldenCase(t *testing.T, name string) testutil.GoldenCase {
	t.Helper()
	for _, c := range testutil.GoldenCases(t, 1) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no golden case %s", name)
	return testutil.GoldenCase{}
}

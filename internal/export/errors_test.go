package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestErrors: bad input is one line on stderr naming the flag or object
// and what to do, exit status 1, nothing on stdout, and the output
// directory as it was: absent, or holding just what it held, with no
// staging directory left beside it.
func TestErrors(t *testing.T) {
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	cases := []struct {
		name     string
		chart    string // "" for the real chart
		args     []string
		occupied bool // the output directory exists and holds a file
		want     []string
	}{
		{"unknown format", "", []string{"--format", "helm"}, false, []string{`--format "helm"`, "kustomize or flux"}},
		{"no format", "", nil, false, []string{"--format is required"}},
		{"output directory not empty", "", []string{"--format", "kustomize"}, true, []string{"is not empty", "never overwrites"}},
		{"chart by URL", "https://charts.example.com/harbor-1.19.1.tgz", []string{"--format", "kustomize"}, false, []string{"not the URL of an archive", "--repo URL NAME"}},
		{"repository credentials", "", []string{"--format", "flux", "--username=bob"}, false, []string{"--username", "holds no credential"}},
		{"helm flag neither can express", "", []string{"--format", "kustomize", "--show-only", "templates/core/core-dpl.yaml"}, false, []string{"--show-only", "neither kustomize's helmCharts nor Flux's HelmRelease"}},
		{"own kustomization", "", []string{"--format", "kustomize", "--kustomize", t.TempDir()}, false, []string{"--kustomize", "put yours on top of it"}},
		{"chart fails to render", "", []string{"--format", "kustomize", "--set", "internalTLS.enabled=true", "--set", "internalTLS.certSource=manual"}, false, []string{"helm template myharbor", "internalTLS.trustCa"}},
		{"--set into a list from a values file", "", []string{"--format", "kustomize", "-f", listValues(t), "--set", "core.extraEnvVars[0].value=2"}, false, []string{"--set", "move them into a values file"}},
		{"bad knob", "", []string{"--format", "flux", "--replicas", "0"}, false, []string{"--replicas", "out of range"}},
	}
	env := helmEnv(t, testutil.Helm3(t))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "export")
			if c.occupied {
				write(t, filepath.Join(dir, "keep.txt"), []byte("mine\n"))
			}
			ch := c.chart
			if ch == "" {
				ch = chart
			}
			args := append([]string{"export", "myharbor", ch, "-n", "harbor", "--no-discover", "-f", values, "--output-dir", dir}, c.args...)
			stdout, stderr := testutil.Exec(t, env, 1, testutil.Harborha(t), args...)
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			testutil.OneLineWith(t, strings.TrimSpace(stderr), c.want...)
			checkUntouched(t, parent, c.occupied)
		})
	}
}

// checkUntouched: parent holds the output directory only if it was there,
// with only its file, and nothing else (no staging directory).
func checkUntouched(t *testing.T, parent string, occupied bool) {
	t.Helper()
	entries, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := ""
	if occupied {
		want = "export"
		if files := tree(t, filepath.Join(parent, "export")); len(files) != 1 || files["keep.txt"] != "mine\n" {
			t.Errorf("the output directory changed: %v", harbor.SortedKeys(files))
		}
	}
	if strings.Join(names, ",") != want {
		t.Errorf("beside the output directory: %v, want %q", names, want)
	}
}

// listValues is a values file with a list, for --set to index into.
func listValues(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "list.yaml")
	write(t, p, []byte("core:\n  extraEnvVars:\n  - name: A\n    value: \"1\"\n"))
	return p
}

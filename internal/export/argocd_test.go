package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// cmpPlugin is the ConfigManagementPlugin of examples/argocd, the fields
// Argo CD's cmp-server reads to run generate.
type cmpPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version  string `json:"version"`
		Generate struct {
			Command []string `json:"command"`
			Args    []string `json:"args"`
		} `json:"generate"`
	} `json:"spec"`
}

func readPlugin(t testing.TB) cmpPlugin {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "examples", "argocd", "cmp-plugin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	var p cmpPlugin
	if err := yaml.UnmarshalStrict([]byte(cm.Data["plugin.yaml"]), &p); err != nil {
		t.Fatalf("plugin.yaml: %v", err)
	}
	if p.APIVersion != "argoproj.io/v1alpha1" || p.Kind != "ConfigManagementPlugin" || len(p.Spec.Generate.Command) == 0 {
		t.Fatalf("plugin.yaml is not a ConfigManagementPlugin with a generate command: %+v", p)
	}
	return p
}

// TestArgoCDPluginGenerate runs the example plugin's generate command as
// Argo CD's cmp-server does: in the application's source directory (here a
// clean one holding the chart archive and the values files), with only the
// build environment Argo CD gives a plugin (ARGOCD_APP_NAME,
// ARGOCD_APP_NAMESPACE, KUBE_VERSION, ARGOCD_ENV_* from the Application)
// and helm and harborha on PATH. Its stdout must be YAML objects only, the
// post-render output, on every golden case and with helm 3 and helm 4.
func TestArgoCDPluginGenerate(t *testing.T) {
	p := readPlugin(t)
	for name, helm := range helms(t) {
		for _, c := range testutil.GoldenCases(t, 10) {
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				src := appSource(t, c)
				env := pluginEnv(t, helm, map[string]string{
					"CHART": "harbor.tgz", "VALUES": "pin-secrets.yaml values.yaml", "HARBORHA_ARGS": strings.Join(c.Args, " "),
				})
				out, _ := runIn(t, src, env, 0, p.Spec.Generate.Command[0], append(p.Spec.Generate.Command[1:], p.Spec.Generate.Args...)...)
				if _, err := manifest.Parse([]byte(out)); err != nil {
					t.Fatalf("stdout is not only Kubernetes objects: %v", err)
				}
				sameObjects(t, "the plugin's generate", []byte(out), golden(t, c))
			})
		}
	}
}

// TestArgoCDPluginFailsCleanly: when helm fails (no such chart), generate
// fails and prints nothing on stdout, so Argo CD applies nothing.
func TestArgoCDPluginFailsCleanly(t *testing.T) {
	p := readPlugin(t)
	c := testutil.GoldenCases(t, 10)[0]
	src := appSource(t, c)
	env := pluginEnv(t, testutil.Helm3(t), map[string]string{"CHART": "missing.tgz"})
	out, stderr := runIn(t, src, env, 1, p.Spec.Generate.Command[0], append(p.Spec.Generate.Command[1:], p.Spec.Generate.Args...)...)
	if out != "" {
		t.Errorf("stdout holds %q after a failure", out)
	}
	if !strings.Contains(stderr, "missing.tgz") {
		t.Errorf("stderr does not name the chart: %s", stderr)
	}
}

// appSource is a clean application source directory: the case's chart as
// harbor.tgz, its values and the pinned secrets.
func appSource(t testing.TB, c testutil.GoldenCase) string {
	t.Helper()
	dir := t.TempDir()
	for dst, src := range map[string]string{
		"harbor.tgz":       testutil.Chart(t, c.Chart),
		"values.yaml":      filepath.Join(c.Dir, "values.yaml"),
		"pin-secrets.yaml": testutil.PinSecrets(t),
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, dst), b)
	}
	return dir
}

// pluginEnv is the environment Argo CD gives a plugin, and nothing else of
// the test's: PATH with helm and harborha, HOME, the build environment and
// the Application's plugin env as ARGOCD_ENV_<NAME>.
func pluginEnv(t testing.TB, helm string, appEnv map[string]string) []string {
	t.Helper()
	bin := t.TempDir()
	for name, target := range map[string]string{"helm": helm, "harborha": testutil.Harborha(t)} {
		if err := os.Symlink(target, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + t.TempDir(),
		"ARGOCD_APP_NAME=myharbor", "ARGOCD_APP_NAMESPACE=harbor", "KUBE_VERSION=" + testutil.KubeVersion}
	for k, v := range appEnv {
		env = append(env, "ARGOCD_ENV_"+k+"="+v)
	}
	return append(env, testutil.IsolatedHelmEnv(t)...)
}

package export

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestConfigReadOnce: an export resolves the post-render knobs once,
// reading --config once, with discovery on the real kube-apiserver and
// without; the knobs carry the Redis Secret discovery learnt as data.
func TestConfigReadOnce(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "config")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	t.Setenv("HELM_BIN", testutil.Helm3(t))
	for _, v := range testutil.IsolatedHelmEnv(t) {
		name, value, _ := strings.Cut(v, "=")
		t.Setenv(name, value)
	}
	config := filepath.Join(t.TempDir(), "knobs.yaml")
	write(t, config, []byte("replicas: 3\n"))
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	for name, more := range map[string][]string{"discovery": {"--external-url", "http://harbor.example.com"}, "no discovery": {"--no-discover"}} {
		t.Run(name, func(t *testing.T) {
			o := NewOptions("helm-harborha test")
			reads := 0
			o.Flags.Knobs.ReadFile = func(name string) ([]byte, error) { reads++; return os.ReadFile(name) }
			dir := filepath.Join(t.TempDir(), "export")
			args := append([]string{"myharbor", chart, "-n", ns, "--kubeconfig", env.Kubeconfig, "--kube-version", testutil.KubeVersion,
				"--config", config, "--format", FormatKustomize, "--output-dir", dir}, more...)
			var stderr bytes.Buffer
			if err := command.Execute(t.Context(), o, "", args, command.Streams{Out: &bytes.Buffer{}, Err: &stderr}); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if reads != 1 {
				t.Errorf("--config read %d times, want once", reads)
			}
		})
	}
}

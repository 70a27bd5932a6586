package export

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// dryRunOnServer sends what a format deploys to the real kube-apiserver as
// a server-side dry run (dryRun=All, fieldValidation=Strict): every object
// must be accepted. Without the API server's binaries (and not
// HARBORHA_STRICT) the comparison that called it still counts.
func dryRunOnServer(t *testing.T, what string, stream []byte) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(kubetest.AssetsDir(), "kube-apiserver")); err != nil && !testutil.Strict() {
		t.Logf("no kube-apiserver in %s: no server-side dry run", kubetest.AssetsDir())
		return
	}
	env := kubetest.Start(t)
	env.EnsureNamespace(t, "harbor")
	dryRun(t, env, what, stream)
}

func dryRun(t *testing.T, env *kubetest.Env, what string, stream []byte) {
	t.Helper()
	objs, err := kubetest.Decode(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 20 {
		t.Fatalf("%s: %d objects; a Harbor release has more", what, len(objs))
	}
	for _, err := range env.DryRunCreate(t.Context(), "harbor", objs) {
		if err != nil {
			t.Errorf("%s: the API server refuses %v", what, err)
		}
	}
}

// TestDiscoveredPasswordsNeverWritten: with discovery (the KubeBlocks 1.0
// fixture clusters on the real API server), the overlay holds the Redis
// password inline. The kustomize export refuses it (kustomize cannot read
// a Secret); the flux export leaves it out of every file and has Flux read
// it from the KubeBlocks Secret (valuesFrom with targetPath).
func TestDiscoveredPasswordsNeverWritten(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "export")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	run := func(want int, format string, more ...string) (dir, stderr string) {
		repo := t.TempDir() // the Git repository Flux syncs: a local chart is named by its path there
		args := append([]string{"export", "myharbor", testutil.Chart(t, "harbor-1.19.1.tgz"), "-n", ns, "--external-url", "http://harbor.example.com",
			"--format", format, "--output-dir", "harbor"}, more...)
		_, stderr = runIn(t, repo, append(helmEnv(t, testutil.Helm3(t)), "KUBECONFIG="+env.Kubeconfig), want, testutil.Harborha(t), args...)
		return filepath.Join(repo, "harbor"), stderr
	}

	_, stderr := run(1, FormatKustomize)
	testutil.OneLineWith(t, strings.TrimSpace(lastLine(stderr)), "--format kustomize", "redis.external.password", "never carries a credential", "--format flux")

	dir, _ := run(0, FormatFlux)
	hr, err := os.ReadFile(filepath.Join(dir, fluxReleaseFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			ValuesFrom []struct{ Kind, Name, ValuesKey, TargetPath string } `json:"valuesFrom"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(hr[strings.Index(string(hr), "kind: HelmRelease"):]), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Spec.ValuesFrom) != 1 || doc.Spec.ValuesFrom[0].TargetPath != "redis.external.password" || doc.Spec.ValuesFrom[0].Kind != "Secret" {
		t.Fatalf("want the Redis password from its Secret, got valuesFrom %+v", doc.Spec.ValuesFrom)
	}
	ref := doc.Spec.ValuesFrom[0]
	secret, err := env.Typed.CoreV1().Secrets(ns).Get(t.Context(), ref.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("valuesFrom names Secret %s, which is not there: %v", ref.Name, err)
	}
	password := string(secret.Data[ref.ValuesKey])
	if len(password) < 8 {
		t.Fatalf("Secret %s has no password under %q", ref.Name, ref.ValuesKey)
	}
	for name, data := range tree(t, dir) {
		if strings.Contains(data, password) {
			t.Errorf("%s holds the Redis password", name)
		}
	}

	// Clusters in another namespace: Flux's valuesFrom cannot read their
	// Secrets, so the flux export refuses too.
	elsewhere := env.Namespace(t, "clusters")
	env.Create(t, elsewhere, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	_, stderr = run(1, FormatFlux, "--pg-namespace", elsewhere, "--redis-namespace", elsewhere)
	testutil.OneLineWith(t, strings.TrimSpace(lastLine(stderr)), "--format flux", "database.external.password", "outside the release's namespace")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package helmrun_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// These tests run the plugin the way users do: the real helm binaries
// (v3.22.0, v4.3.1), `helm plugin install` of this checkout into an isolated
// Helm home, and `helm harborha ...`; the install tests against a real
// kube-apiserver with the KubeBlocks fixture clusters.

func TestMain(m *testing.M) { kubetest.Main(m) }

// helmHome is an isolated Helm home with the plugin installed, for one
// major: Helm 3 and Helm 4 share a default plugins directory, and Helm 3
// must never see the Helm 4 post-renderer plugin.
type helmHome struct {
	helm string
	env  []string
	tmp  string // TMPDIR of every run: must be empty afterwards
}

func installPlugin(t testing.TB, major int) *helmHome {
	t.Helper()
	testutil.Harborha(t) // the plugin's binary, built by make build
	h := &helmHome{helm: testutil.Helm3(t)}
	if major == 4 {
		h.helm = testutil.Helm4(t)
	}
	h.tmp = t.TempDir()
	h.env = append(os.Environ(), testutil.IsolatedHelmEnv(t)...)
	h.env = append(h.env, "TMPDIR="+h.tmp, "HELM_BIN=") // HELM_BIN from an outer helm must not leak in
	root := testutil.RepoRoot()
	h.run(t, 0, "plugin", "install", root)
	if major == 4 {
		h.run(t, 0, "plugin", "install", filepath.Join(root, "plugins", "harborha-post-renderer"))
	}
	return h
}

// run runs helm and checks its exit status; it returns stdout and stderr.
func (h *helmHome) run(t testing.TB, wantCode int, args ...string) (string, string) {
	t.Helper()
	return testutil.Exec(t, h.env, wantCode, h.helm, args...)
}

func (h *helmHome) assertNoTempFiles(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir(h.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temporary file left behind: %s", filepath.Join(h.tmp, e.Name()))
	}
}

// TestTemplateMatchesGoldens: `helm harborha template --no-discover` on
// each Helm major gives the objects of the post-render goldens (Helm 4
// through its post-renderer plugin, hooks included).
func TestTemplateMatchesGoldens(t *testing.T) {
	cases := map[string]testutil.GoldenCase{}
	for _, c := range testutil.GoldenCases(t, 10) {
		cases[c.Name] = c
	}
	for _, major := range []int{3, 4} {
		h := installPlugin(t, major)
		for _, name := range []string{"shared-pvc-create", "chart-pdb-affinity", "config-file"} {
			t.Run(name+"/helm"+string(rune('0'+major)), func(t *testing.T) {
				c := cases[name]
				args := []string{"harborha", "template", "myharbor", testutil.Chart(t, c.Chart), "-n", "harbor",
					"--kube-version", testutil.KubeVersion, "-f", testutil.PinSecrets(t), "-f", filepath.Join(c.Dir, "values.yaml"), "--no-discover"}
				out, _ := h.run(t, 0, append(args, c.Args...)...)
				golden, err := os.ReadFile(filepath.Join(c.Dir, "expected.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				got, want := testutil.Objects(t, []byte(out)), testutil.Objects(t, golden)
				if len(got) != len(want) {
					t.Errorf("%d objects, the golden has %d", len(got), len(want))
				}
				for id, obj := range want {
					if !reflect.DeepEqual(got[id], obj) {
						t.Errorf("%s differs from the golden", id)
					}
				}
			})
		}
		h.assertNoTempFiles(t)
	}
}

// TestInstallUpgrade: discovery of the KubeBlocks 1.0 fixture clusters,
// a real `helm install` into the real API server, then an upgrade with
// another replica count; the stored objects carry the HA changes and the
// discovered database and Redis.
func TestInstallUpgrade(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	env.EnsureNode(t, "node-a", "192.0.2.10")
	for _, major := range []int{3, 4} {
		t.Run("helm"+string(rune('0'+major)), func(t *testing.T) { installUpgrade(t, env, major) })
	}
	t.Run("dry-run skips bootstrap", func(t *testing.T) { dryRunSkipsBootstrap(t, env) })
}

// dryRunSkipsBootstrap: under Helm's --dry-run=server the wrapper still
// discovers and renders, but creates nothing: no bootstrap Secret, no Job
// (one would never finish here), no release.
func dryRunSkipsBootstrap(t *testing.T, env *kubetest.Env) {
	ns := env.Namespace(t, "dryrun")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	h := installPlugin(t, 3)
	h.env = append(h.env, "KUBECONFIG="+env.Kubeconfig)
	out, stderr := h.run(t, 0, "harborha", "install", "myharbor", testutil.Chart(t, "harbor-1.19.1.tgz"), "-n", ns, "--dry-run=server", "--node-port=30109")
	if strings.Contains(stderr, "bootstrapping") || !strings.Contains(stderr, "harborha: values overlay: PostgreSQL") {
		t.Errorf("want discovery and no bootstrap under --dry-run=server, stderr:\n%s", stderr)
	}
	if !strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Errorf("the dry run printed no post-rendered manifest:\n%.400s", out)
	}
	ctx := context.Background()
	if _, err := env.Typed.CoreV1().Secrets(ns).Get(ctx, "myharbor-harborha-db", metav1.GetOptions{}); err == nil {
		t.Errorf("the dry run created the bootstrap Secret")
	}
	if jobs, err := env.Typed.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{}); err != nil || len(jobs.Items) != 0 {
		t.Errorf("the dry run created Jobs: %v %v", jobs, err)
	}
	if list, _ := h.run(t, 0, "list", "-n", ns, "-q"); strings.TrimSpace(list) != "" {
		t.Errorf("the dry run left a release: %s", list)
	}
	h.assertNoTempFiles(t)
}

func installUpgrade(t *testing.T, env *kubetest.Env, major int) {
	ns := env.Namespace(t, "install")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	h := installPlugin(t, major)
	h.env = append(h.env, "KUBECONFIG="+env.Kubeconfig)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	// No bootstrap: nothing runs pods on this API server, so its Jobs would
	// never finish (bootstrap has its own tests with a test kubelet).
	// NodePorts are cluster-wide: each major's release gets its own.
	// No preflight either: this API server has one node and no scheduler,
	// so hard anti-affinity with 2 replicas is refused, rightly (the
	// preflight's own tests run on the simulated cluster).
	nodePort := fmt.Sprintf("--node-port=%d", 30100+major)
	_, stderr := h.run(t, 0, "harborha", "install", "myharbor", chart, "-n", ns, "--no-bootstrap", "--no-preflight", nodePort,
		"--shared-pvc=harbor-shared", "--create-shared-pvc", "--anti-affinity", "hard")
	for _, step := range []string{"harborha: discovering", "harborha: values overlay: PostgreSQL", fmt.Sprintf("harborha: running helm install (Helm %d", major)} {
		if !strings.Contains(stderr, step) {
			t.Errorf("no progress line %q in stderr:\n%s", step, stderr)
		}
	}
	status, _ := h.run(t, 0, "status", "myharbor", "-n", ns)
	if !strings.Contains(status, "STATUS: deployed") {
		t.Fatalf("release not deployed:\n%s", status)
	}

	ctx := context.Background()
	core, err := env.Typed.AppsV1().Deployments(ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkHA(t, core, 2)
	if _, err := env.Typed.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "myharbor-core", metav1.GetOptions{}); err != nil {
		t.Errorf("PDB of core: %v", err)
	}
	claim, err := env.Typed.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "harbor-shared", metav1.GetOptions{})
	if err != nil || claim.Spec.AccessModes[0] != "ReadWriteMany" {
		t.Errorf("shared claim: %v %v", err, claim)
	}
	registry, err := env.Typed.AppsV1().Deployments(ns).Get(ctx, "myharbor-registry", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := registry.Spec.Template.Spec.Volumes; !hasClaim(v, "registry-data", "harbor-shared") {
		t.Errorf("registry does not mount the shared claim: %+v", v)
	}

	// The discovered primary: the ClusterIP the server gave the fixture's
	// PostgreSQL service, and the Redis one.
	cm, err := env.Typed.CoreV1().ConfigMaps(ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pgSvc, err := env.Typed.CoreV1().Services(ns).Get(ctx, "mypg-postgresql-postgresql", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["POSTGRESQL_HOST"]; got != pgSvc.Spec.ClusterIP {
		t.Errorf("POSTGRESQL_HOST = %q, want the PostgreSQL primary service's ClusterIP %s", got, pgSvc.Spec.ClusterIP)
	}
	redisSvc, err := env.Typed.CoreV1().Services(ns).Get(ctx, "myredis-redis-redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cm.Data["_REDIS_URL_CORE"], redisSvc.Spec.ClusterIP+":6379") {
		t.Errorf("core's Redis URL does not use the Redis primary service %s", redisSvc.Spec.ClusterIP)
	}

	h.run(t, 0, "harborha", "upgrade", "myharbor", chart, "-n", ns, "--no-bootstrap", "--no-preflight", nodePort,
		"--shared-pvc=harbor-shared", "--create-shared-pvc", "--anti-affinity", "hard", "--replicas", "core=3")
	core, err = env.Typed.AppsV1().Deployments(ns).Get(ctx, "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkHA(t, core, 3)
	history, _ := h.run(t, 0, "history", "myharbor", "-n", ns)
	if strings.Count(history, "\n") != 3 { // header + 2 revisions
		t.Errorf("want 2 revisions:\n%s", history)
	}
	h.assertNoTempFiles(t)
}

// TestFailuresLeaveNothing: a flag error and a failed discovery exit
// non-zero with one line, and leave no release and no temporary file.
func TestFailuresLeaveNothing(t *testing.T) {
	env := kubetest.Start(t)
	ns := env.Namespace(t, "nothing") // no KubeBlocks clusters in it
	h := installPlugin(t, 3)
	h.env = append(h.env, "KUBECONFIG="+env.Kubeconfig)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad post-render knob", []string{"--replicas=0"}, "--replicas: 0 is out of range"},
		{"bad values flag", []string{"--sslmode=sometimes"}, "--sslmode"},
		{"unknown sub-flag value", []string{"--anti-affinity"}, "flag --anti-affinity needs a value"},
		{"failed discovery", nil, "harborha install:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr := h.run(t, 1, append([]string{"harborha", "install", "myharbor", chart, "-n", ns}, tt.args...)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			var ours []string
			for _, l := range lines {
				if strings.HasPrefix(l, "harborha install:") {
					ours = append(ours, l)
				}
			}
			if len(ours) != 1 || !strings.Contains(ours[0], tt.want) {
				t.Errorf("want one error line with %q, stderr:\n%s", tt.want, stderr)
			}
			list, _ := h.run(t, 0, "list", "-n", ns, "-q")
			if strings.TrimSpace(list) != "" {
				t.Errorf("a release was left: %s", list)
			}
			h.assertNoTempFiles(t)
		})
	}
}

// TestHelmfileExample: `helmfile template` of examples/helmfile on Helm 3
// yields the HA manifests: the values overlay layered in, and harborha as
// the release's post-renderer with knobs from its config file and
// per-release templated args.
func TestHelmfileExample(t *testing.T) {
	h := installPlugin(t, 3)
	// helmfile calls "helm" by name: put the Helm 3 binary first on PATH.
	h.env = append(h.env, "PATH="+filepath.Dir(h.helm)+":"+os.Getenv("PATH"), "HARBOR_CHART="+testutil.Chart(t, "harbor-1.19.1.tgz"))
	cmd := exec.Command(testutil.Helmfile(t), "-f", filepath.Join(testutil.RepoRoot(), "examples", "helmfile", "helmfile.yaml.gotmpl"), "template", "--skip-deps")
	cmd.Env = h.env
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helmfile template: %v\n%s", err, stderr)
	}
	docs, err := manifest.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	if w := rel.Workload("core"); w == nil || w.Replicas() != 3 {
		t.Errorf("core: want 3 replicas from examples/helmfile/harborha.yaml")
	}
	for _, w := range rel.Workloads {
		if w.Replicas() < 2 {
			t.Errorf("%s has %d replicas", w.Name(), w.Replicas())
		}
		covered := false
		for _, b := range rel.PDBs {
			covered = covered || b.Selects(w)
		}
		if !covered {
			t.Errorf("%s: no PodDisruptionBudget", w.Name())
		}
	}
	if v := rel.Workload("registry").Volume("registry-data"); v == nil || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "myharbor-shared" {
		t.Errorf("registry is not on the per-release shared claim myharbor-shared (templated from {{ .Release.Name }})")
	}
	if rel.Claim("harbor", "myharbor-shared") == nil {
		t.Errorf("the shared claim was not created")
	}
	// redisPasswordSecret from harborha.yaml: core reads the password by
	// reference and its URLs expand it.
	env := rel.Workload("core").Template().Spec.Containers[0].Env
	if len(env) == 0 || env[0].Name != "HARBORHA_REDIS_PASSWORD" || env[0].ValueFrom == nil || env[0].ValueFrom.SecretKeyRef.Name != "myredis-redis-account-default" {
		t.Errorf("core does not read the Redis password from harborha.yaml's redisPasswordSecret first: %+v", env)
	}
}

func checkHA(t *testing.T, d *appsv1.Deployment, replicas int32) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != replicas {
		t.Errorf("%s: replicas %v, want %d", d.Name, d.Spec.Replicas, replicas)
	}
	a := d.Spec.Template.Spec.Affinity
	if a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 ||
		!harbor.SelectorMatches(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector, d.Spec.Template.Labels) {
		t.Errorf("%s: no hard anti-affinity selecting its own pods", d.Name)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 0 {
		t.Errorf("%s: hard anti-affinity needs maxSurge 0, got %+v", d.Name, d.Spec.Strategy)
	}
}

func hasClaim(vols []corev1.Volume, name, claim string) bool {
	for _, v := range vols {
		if v.Name == name && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
			return true
		}
	}
	return false
}

// TestValuesBootstrapped: `values --bootstrapped RELEASE` (the helmfile
// path, where no wrapper runs) points the overlay at the role and Secret an
// earlier `bootstrap RELEASE` left, read from the real API server; without
// them it says to run bootstrap first.
func TestValuesBootstrapped(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "values-bootstrapped")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	bin := testutil.Harborha(t)
	values := func(wantCode int) (string, string) {
		t.Helper()
		return testutil.Exec(t, nil, wantCode, bin, "values", "--bootstrapped", "myharbor", "-n", ns, "--kubeconfig", env.Kubeconfig, "--external-url", "http://harbor.example.com")
	}

	out, stderr := values(1)
	if out != "" || !strings.Contains(stderr, "run `helm harborha bootstrap myharbor` first") {
		t.Errorf("without bootstrap: stdout %q, stderr %q", out, stderr)
	}

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "myharbor-harborha-db", Namespace: ns},
		StringData: map[string]string{"username": "harbor", "password": "generated-for-the-test"}}
	if _, err := env.Typed.CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _ = values(0)
	for _, want := range []string{"username: harbor", "existingSecret: myharbor-harborha-db", "coreDatabase: registry"} {
		if !strings.Contains(out, want) {
			t.Errorf("overlay lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "generated-for-the-test") || strings.Contains(out, "username: postgres") {
		t.Errorf("overlay holds the role's password or still the superuser:\n%s", out)
	}
}

// TestFrontDoor: `helm harborha` runs the small binary first (plugin.yaml's
// command). It renders `template --no-discover` with real Helm 3 and 4
// while bin/harborha is a stub that fails; any other command or flag
// reaches that stub with the arguments intact.
func TestFrontDoor(t *testing.T) {
	root := testutil.RepoRoot()
	version := regexp.MustCompile(`(?m)^version: "?([^"\n]+)"?$`).FindSubmatch(testutil.ReadFile(t, filepath.Join(root, "plugin.yaml")))[1]
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"plugin.yaml":                                testutil.ReadFile(t, filepath.Join(root, "plugin.yaml")),
		"scripts/install-binary.sh":                  testutil.ReadFile(t, filepath.Join(root, "scripts", "install-binary.sh")),
		"plugins/harborha-post-renderer/plugin.yaml": testutil.ReadFile(t, filepath.Join(root, "plugins", "harborha-post-renderer", "plugin.yaml")),
		"bin/harborha-post-render":                   testutil.ReadFile(t, testutil.PostRenderer(t)),
		"bin/harborha": []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo \"harborha " + string(version) + "\"; exit 0; fi\n" +
			"echo \"full binary ran: $*\" >&2\nexit 3\n"),
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range []string{"bin", "scripts"} {
		if err := os.Symlink(filepath.Join("..", "..", link), filepath.Join(dir, "plugins", "harborha-post-renderer", link)); err != nil {
			t.Fatal(err)
		}
	}
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	render := []string{"harborha", "template", "myharbor", chart, "-n", "harbor", "--kube-version", testutil.KubeVersion,
		"-f", filepath.Join(root, "testdata", "external-defaults", "values.yaml"), "--no-discover", "--replicas=3"}
	for _, major := range []int{3, 4} {
		t.Run(fmt.Sprintf("helm%d", major), func(t *testing.T) {
			h := &helmHome{helm: testutil.Helm3(t), tmp: t.TempDir()}
			if major == 4 {
				h.helm = testutil.Helm4(t)
			}
			h.env = append(os.Environ(), testutil.IsolatedHelmEnv(t)...)
			h.env = append(h.env, "TMPDIR="+h.tmp, "HELM_BIN=")
			h.run(t, 0, "plugin", "install", dir)
			if major == 4 {
				h.run(t, 0, "plugin", "install", filepath.Join(dir, "plugins", "harborha-post-renderer"))
			}
			out, stderr := h.run(t, 0, render...)
			objs := testutil.Objects(t, []byte(out))
			var budgets int
			for id, obj := range objs {
				if id.Kind == "Deployment" {
					if replicas := obj["spec"].(map[string]any)["replicas"]; fmt.Sprint(replicas) != "3" {
						t.Errorf("%s: replicas %v, want 3", id, replicas)
					}
				}
				if id.Kind == "PodDisruptionBudget" {
					budgets++
				}
			}
			if budgets == 0 || strings.Contains(stderr, "full binary ran") {
				t.Errorf("the front door did not post-render (%d budgets); stderr:\n%s", budgets, stderr)
			}
			h.assertNoTempFiles(t)
			for _, args := range [][]string{append(render, "--tls"), {"harborha", "lint", "--help"}, {"harborha", "template", "myharbor", chart}} {
				_, stderr := h.run(t, 3, args...)
				// Helm takes its global -n for itself and passes it in HELM_NAMESPACE
				want := "full binary ran: " + strings.Replace(strings.Join(args[1:], " "), " -n harbor", "", 1)
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q, want %q", stderr, want)
				}
			}
		})
	}
}

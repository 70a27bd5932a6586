package export

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
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

// discovered runs the real harborha against the real API server with
// discovery, as a user would: export (in a directory standing for the Git
// repository Flux syncs) and template, with the same arguments.
type discovered struct {
	env   *kubetest.Env
	ns    string
	chart string
	vars  []string // the binaries' environment
}

func newDiscovered(t *testing.T, env *kubetest.Env, ns string) *discovered {
	return &discovered{env: env, ns: ns, chart: testutil.Chart(t, "harbor-1.19.1.tgz"),
		vars: append(helmEnv(t, testutil.Helm3(t)), "KUBECONFIG="+env.Kubeconfig)}
}

func (d *discovered) args(cmd string, more []string) []string {
	return append([]string{cmd, "myharbor", d.chart, "-n", d.ns, "--external-url", "http://harbor.example.com",
		"--kube-version", testutil.KubeVersion}, more...)
}

// export writes DIR/harbor and returns it, with the progress on stderr.
func (d *discovered) export(t *testing.T, want int, format string, more ...string) (dir, stderr string) {
	t.Helper()
	repo := t.TempDir()
	args := append(d.args("export", more), "--format", format, "--output-dir", "harbor")
	_, stderr = runIn(t, repo, d.vars, want, testutil.Harborha(t), args...)
	return filepath.Join(repo, "harbor"), stderr
}

// template is `helm harborha template` of the same release.
func (d *discovered) template(t *testing.T, more ...string) (stdout, stderr string) {
	t.Helper()
	return testutil.Exec(t, d.vars, 0, testutil.Harborha(t), d.args("template", more)...)
}

// passwords are the values of the namespaces' Secrets that no export may
// hold: every KubeBlocks account password, every generated value; as they
// are and in base64.
func (d *discovered) passwords(t *testing.T, namespaces ...string) []string {
	t.Helper()
	var out []string
	for _, ns := range namespaces {
		list, err := d.env.Typed.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list.Items {
			generated := strings.HasPrefix(s.Name, "myharbor-harborha-")
			for k, v := range s.Data {
				if (k == "password" || generated) && len(v) >= 8 {
					out = append(out, string(v), base64.StdEncoding.EncodeToString(v))
				}
			}
		}
	}
	if len(out) < 8 {
		t.Fatalf("only %d secret values in %v: the fixtures are not there", len(out), namespaces)
	}
	return out
}

// checkNoPassword: no file of the export holds one of the passwords.
func checkNoPassword(t *testing.T, dir string, passwords []string) {
	t.Helper()
	files := tree(t, dir)
	if len(files) < 3 {
		t.Fatalf("%s: %d files", dir, len(files))
	}
	for name, data := range files {
		for _, pw := range passwords {
			if strings.Contains(data, pw) {
				t.Errorf("%s holds a password of the cluster", name)
			}
		}
	}
}

// redisRefs are the Secret keys the export's patches read the Redis
// password from (an env entry *REDIS* from a secretKeyRef: the URLs'
// HARBORHA_REDIS_PASSWORD, the registry's REGISTRY_REDIS_PASSWORD), as
// name:key with the number of patches that do, in either format's
// patches, strategic-merge or JSON6902.
func redisRefs(t *testing.T, dir, format string) map[string]int {
	t.Helper()
	var bodies []string
	if format == FormatFlux {
		hr, _ := readFlux(t, dir)
		for _, p := range hr.Spec.PostRenderers[0].Kustomize.Patches {
			bodies = append(bodies, p.Patch)
		}
	} else {
		for name, data := range tree(t, dir) {
			if strings.HasPrefix(name, "patches/") {
				bodies = append(bodies, data)
			}
		}
	}
	refs := map[string]int{}
	for _, b := range bodies {
		var v any
		if err := yaml.Unmarshal([]byte(b), &v); err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		walkRedisRefs(v, found)
		for ref := range found {
			refs[ref]++
		}
	}
	return refs
}

func walkRedisRefs(v any, found map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		if name, _ := x["name"].(string); strings.Contains(name, "REDIS") {
			from, _ := x["valueFrom"].(map[string]any)
			if ref, ok := from["secretKeyRef"].(map[string]any); ok {
				found[fmt.Sprintf("%v:%v", ref["name"], ref["key"])] = true
			}
		}
		for _, e := range x {
			walkRedisRefs(e, found)
		}
	case []any:
		for _, e := range x {
			walkRedisRefs(e, found)
		}
	}
}

// checkRedisRefs: the patches of the four workloads that talk to Redis
// (core, jobservice, registry, trivy) read the password from want, and
// none from anything else.
func checkRedisRefs(t *testing.T, dir, format, want string) {
	t.Helper()
	refs := redisRefs(t, dir, format)
	if len(refs) != 1 || refs[want] != 4 {
		t.Errorf("%s: the patches read the Redis password from %v (Secret:key: patches), want only %s, in 4 patches", format, refs, want)
	}
}

// TestDiscoveredExport: with discovery (the KubeBlocks 1.0 fixture
// clusters on the real API server) both formats are written, and no file
// of either holds a password: the values name the database's Secret, and
// the patches reference the Secret the wrappers use for the Redis password
// (the KubeBlocks account Secret in Harbor's namespace, or bootstrap's
// myharbor-harborha-redis for a cluster elsewhere). kustomize build
// --enable-helm of the kustomize export, and Flux's post-render of the
// flux export, give what `helm harborha template` with the same arguments
// gives against the same cluster, object for object. template is
// read-only, and so is the export: both point the chart at the generated
// Secrets once they exist, and before say that the chart generates those
// values on every render (then the renders differ, and only the
// references are compared).
func TestDiscoveredExport(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "export")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	d := newDiscovered(t, env, ns)
	const account = "myredis-redis-account-default:password"

	t.Run("before the generated Secrets", func(t *testing.T) {
		_, note := d.template(t)
		for _, format := range []string{FormatKustomize, FormatFlux} {
			dir, stderr := d.export(t, 0, format)
			for _, out := range []string{note, stderr} {
				if !strings.Contains(out, "do not exist yet, so the chart generates those values on every render") {
					t.Errorf("%s: no word of the generated Secrets missing:\n%s", format, out)
				}
			}
			checkNoPassword(t, dir, d.passwords(t, ns))
			checkRedisRefs(t, dir, format, account)
			if values := tree(t, dir)["values/00-harborha.yaml"]; strings.Contains(values, "myharbor-harborha-") || !strings.Contains(values, "existingSecret: mypg-postgresql-account-postgres") {
				t.Errorf("%s: the values should name the database's Secret and no generated Secret yet:\n%s", format, values)
			}
		}
	})

	ctx := context.Background()
	client := &kube.Client{Typed: env.Typed, Namespace: ns}
	if _, err := generated.Ensure(ctx, client, generated.Spec{Release: "myharbor", Namespace: ns}); err != nil {
		t.Fatal(err)
	}
	t.Run("the cluster in Harbor's namespace", func(t *testing.T) {
		d.sameAsTemplate(t, account, d.passwords(t, ns))
	})

	// A Redis cluster elsewhere: its Secret cannot be referenced from
	// Harbor's pods. Export says so in one line, as values does, and
	// writes nothing; with bootstrap's copy in Harbor's namespace (what
	// install makes) both formats reference the copy.
	elsewhere := env.Namespace(t, "clusters")
	env.Create(t, elsewhere, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	for _, format := range []string{FormatKustomize, FormatFlux} {
		dir, stderr := d.export(t, 1, format, "--redis-namespace", elsewhere)
		testutil.OneLineWith(t, lastLine(stderr), "the Redis secret "+elsewhere+"/myredis-redis-account-default is not in Harbor's namespace", "helm harborha bootstrap")
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s: a failed export left %s behind", format, dir)
		}
	}
	svc, err := env.Typed.CoreV1().Services(elsewhere).Get(ctx, "myredis-redis-redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bootstrap.Run(ctx, client, bootstrap.Spec{Release: "myharbor", Namespace: ns,
		RedisCopy: &bootstrap.Endpoint{Namespace: elsewhere, Host: svc.Spec.ClusterIP, Port: 6379, Secret: bootstrap.SecretRef{Name: "myredis-redis-account-default"}}}); err != nil {
		t.Fatal(err)
	}
	t.Run("the Redis cluster elsewhere: bootstrap's copy", func(t *testing.T) {
		d.sameAsTemplate(t, bootstrap.RedisSecretName("myharbor")+":"+bootstrap.RedisPasswordKey, d.passwords(t, ns, elsewhere), "--redis-namespace", elsewhere)
	})
}

// sameAsTemplate exports both formats with the generated Secrets in
// place: no password in them, the Redis password read from ref, and the
// objects kustomize and Flux build from them are template's.
func (d *discovered) sameAsTemplate(t *testing.T, ref string, passwords []string, more ...string) {
	t.Helper()
	want, stderr := d.template(t, more...)
	if strings.Contains(stderr, "do not exist yet") {
		t.Fatalf("template does not read the generated Secrets:\n%s", stderr)
	}
	helm := testutil.Helm3(t)
	dir, _ := d.export(t, 0, FormatKustomize, more...)
	checkNoPassword(t, dir, passwords)
	checkRedisRefs(t, dir, FormatKustomize, ref)
	sameObjects(t, "kustomize build --enable-helm", kustomizeBuild(t, helm, dir), []byte(want))

	dir, _ = d.export(t, 0, FormatFlux, more...)
	checkNoPassword(t, dir, passwords)
	checkRedisRefs(t, dir, FormatFlux, ref)
	hr, objects := readFlux(t, dir)
	got := fluxApply(t, helm, testutil.GoldenCase{Chart: "harbor-1.19.1.tgz"}, hr)
	sameObjects(t, "Flux", append(got, objects...), []byte(want))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

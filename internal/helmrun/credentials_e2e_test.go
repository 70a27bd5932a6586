package helmrun_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// The KubeBlocks 1.0 fixture's passwords (kb-1.0-pg-redis.yaml, dummies).
const (
	fixtureRedisPassword = "k9P3m2X5t1"
	fixturePGPassword    = "Q5w1E3r9T7"
)

// TestCredentialsByReference, on the real API server with the user's Helm:
// install (even with --no-bootstrap) creates the generated Secrets once
// and upgrade keeps them, so core's secret and the token key never change;
// no password is in the rendered manifests, in `helm get values --all`, in
// a ConfigMap or in a plain env value; two `helm harborha template` runs
// against the cluster are byte-identical (no pin file), and lint finds no
// password in them.
func TestCredentialsByReference(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	env.EnsureNode(t, "node-a", "192.0.2.10")
	for _, major := range []int{3, 4} {
		t.Run("helm"+string(rune('0'+major)), func(t *testing.T) { credentialsByReference(t, env, major) })
	}
	t.Run("adopting a plain helm install", func(t *testing.T) { adoptPlainRelease(t, env) })
}

func credentialsByReference(t *testing.T, env *kubetest.Env, major int) {
	ns := env.Namespace(t, "creds")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	h := installPlugin(t, major)
	h.env = append(h.env, "KUBECONFIG="+env.Kubeconfig)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	nodePort := fmt.Sprintf("--node-port=%d", 30130+major)
	template := func() string {
		out, _ := h.run(t, 0, "harborha", "template", "myharbor", chart, "-n", ns, "--kube-version", testutil.KubeVersion, nodePort)
		return out
	}
	if major == 3 && template() == template() {
		t.Fatal("before the generated Secrets exist two renders are identical: the byte-identity below would prove nothing")
	}

	_, stderr := h.run(t, 0, "harborha", "install", "myharbor", chart, "-n", ns, "--no-bootstrap", nodePort)
	if !strings.Contains(stderr, "bootstrap: created Secret "+ns+"/myharbor-harborha-token (the token service key pair, generated)") {
		t.Errorf("install did not create the generated Secrets:\n%s", stderr)
	}
	created := generatedSecrets(t, env, ns)
	checkReferences(t, env, ns)
	checkNoPassword(t, h, env, ns)

	first, second := template(), template()
	if first != second {
		t.Errorf("two helm harborha template runs differ:\n%s", testutil.LineDiff(first, second))
	}
	checkLintClean(t, first)
	if strings.Contains(first, fixtureRedisPassword) || strings.Contains(first, base64.StdEncoding.EncodeToString([]byte(fixtureRedisPassword))) {
		t.Error("helm harborha template holds the Redis password")
	}

	h.run(t, 0, "harborha", "upgrade", "myharbor", chart, "-n", ns, "--no-bootstrap", nodePort, "--replicas", "core=3")
	if after := generatedSecrets(t, env, ns); !sameSecrets(after, created) {
		t.Error("upgrade changed a generated Secret: core's secret or the token key would log users out")
	}
	checkReferences(t, env, ns)
	checkNoPassword(t, h, env, ns)

	h.run(t, 0, "harborha", "upgrade", "myharbor", chart, "-n", ns, "--no-bootstrap", nodePort, "--rotate=csrf")
	rotated := generatedSecrets(t, env, ns)
	for name := range created {
		if changed := !bytes.Equal(flat(rotated[name].Data), flat(created[name].Data)); changed != (name == "myharbor-harborha-csrf") {
			t.Errorf("--rotate=csrf: %s changed %v", name, changed)
		}
	}
	h.assertNoTempFiles(t)
}

// generatedSecrets are the release's generated Secrets, by name.
func generatedSecrets(t *testing.T, env *kubetest.Env, ns string) map[string]*corev1.Secret {
	t.Helper()
	out := map[string]*corev1.Secret{}
	for _, name := range generated.Names() {
		s, err := env.Typed.CoreV1().Secrets(ns).Get(context.Background(), generated.SecretName("myharbor", name), metav1.GetOptions{})
		if err != nil {
			t.Fatalf("generated Secret %s: %v", name, err)
		}
		out[s.Name] = s
	}
	return out
}

// sameSecrets: same data, and never written again (same resourceVersion).
func sameSecrets(a, b map[string]*corev1.Secret) bool {
	for name, s := range a {
		if b[name] == nil || s.ResourceVersion != b[name].ResourceVersion || !bytes.Equal(flat(s.Data), flat(b[name].Data)) {
			return false
		}
	}
	return len(a) == len(b)
}

func flat(d map[string][]byte) []byte {
	b, _ := json.Marshal(d) // map keys are sorted
	return b
}

// checkReferences: the stored Deployments read core's secret, the token
// key and the Redis password from the Secrets, not from the chart's own.
func checkReferences(t *testing.T, env *kubetest.Env, ns string) {
	t.Helper()
	core, err := env.Typed.AppsV1().Deployments(ns).Get(context.Background(), "myharbor-core", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := core.Spec.Template.Spec.Containers[0]
	refs := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Name + ":" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	for name, want := range map[string]string{
		"CORE_SECRET": "myharbor-harborha-core:secret", "CSRF_KEY": "myharbor-harborha-csrf:CSRF_KEY",
		"HARBORHA_REDIS_PASSWORD": "myredis-redis-account-default:password",
	} {
		if refs[name] != want {
			t.Errorf("core reads %s from %q, want %q", name, refs[name], want)
		}
	}
	if c.Env[0].Name != "HARBORHA_REDIS_PASSWORD" {
		t.Errorf("the password variable is not core's first env entry: $(VAR) would not expand")
	}
	for _, v := range core.Spec.Template.Spec.Volumes {
		if v.Name == "token-service-private-key" && (v.Secret == nil || v.Secret.SecretName != "myharbor-harborha-token") {
			t.Errorf("core mounts its token key from %+v", v.Secret)
		}
	}
}

// checkNoPassword: neither fixture password is in a ConfigMap, a plain
// env value, `helm get values --all` or `helm get manifest`.
func checkNoPassword(t *testing.T, h *helmHome, env *kubetest.Env, ns string) {
	t.Helper()
	ctx := context.Background()
	var texts []string
	cms, err := env.Typed.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		b, _ := json.Marshal(cm.Data)
		texts = append(texts, "ConfigMap "+cm.Name+": "+string(b))
	}
	deps, err := env.Typed.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps.Items {
		for _, c := range append(d.Spec.Template.Spec.InitContainers, d.Spec.Template.Spec.Containers...) {
			for _, e := range c.Env {
				texts = append(texts, "Deployment "+d.Name+" env "+e.Name+": "+e.Value)
			}
		}
	}
	vals, _ := h.run(t, 0, "get", "values", "myharbor", "-n", ns, "--all")
	manifest, _ := h.run(t, 0, "get", "manifest", "myharbor", "-n", ns)
	texts = append(texts, "helm get values --all: "+vals, "helm get manifest: "+manifest)
	for _, pw := range []string{fixtureRedisPassword, fixturePGPassword} {
		for _, text := range texts {
			if strings.Contains(text, pw) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(pw))) {
				t.Errorf("a password is in %s", strings.SplitN(text, ":", 2)[0])
			}
		}
	}
}

// checkLintClean: lint of the rendered release reports neither rule about
// passwords (HA012, HA014).
func checkLintClean(t *testing.T, manifest string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "release.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := testutil.Exec(t, nil, 1, testutil.Harborha(t), "lint", "-o", "json", file) // HA008: no shared claim here
	var report struct {
		Findings []struct{ Rule string } `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range report.Findings {
		rules = append(rules, f.Rule)
	}
	if slices.Contains(rules, "HA012") || slices.Contains(rules, "HA014") || !slices.Contains(rules, "HA008") {
		t.Errorf("lint of helm harborha template: rules %v; want HA008 (the check ran) and no HA012 or HA014", rules)
	}
}

// adoptPlainRelease: a release installed with plain `helm install` of the
// chart (Redis password inline, every secret generated by the chart); the
// first `helm harborha upgrade` adopts what it runs with, so core's secret,
// the CSRF key, the token key and the registry's credentials do not change.
func adoptPlainRelease(t *testing.T, env *kubetest.Env) {
	ns := env.Namespace(t, "adopt")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	h := installPlugin(t, 3)
	h.env = append(h.env, "KUBECONFIG="+env.Kubeconfig)
	chart := testutil.Chart(t, "harbor-1.19.1.tgz")
	ctx := context.Background()
	pg, err := env.Typed.CoreV1().Services(ns).Get(ctx, "mypg-postgresql-postgresql", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := env.Typed.CoreV1().Services(ns).Get(ctx, "myredis-redis-redis", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(t.TempDir(), "plain.yaml")
	values := fmt.Sprintf("externalURL: http://192.0.2.10:30140\nexpose: {type: nodePort, tls: {enabled: false}, nodePort: {ports: {http: {nodePort: 30140}}}}\n"+
		"database: {type: external, external: {host: %s, port: \"5432\", username: postgres, coreDatabase: registry, existingSecret: mypg-postgresql-account-postgres}}\n"+
		"redis: {type: external, external: {addr: \"%s:6379\", username: default, password: %s}}\n", pg.Spec.ClusterIP, rd.Spec.ClusterIP, fixtureRedisPassword)
	if err := os.WriteFile(plain, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	h.run(t, 0, "install", "myharbor", chart, "-n", ns, "-f", plain)
	chartSecret := func(name, key string) string {
		s, err := env.Typed.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(s.Data[key])
	}
	want := map[string]string{
		"myharbor-harborha-core/secret": chartSecret("myharbor-core", "secret"), "myharbor-harborha-csrf/CSRF_KEY": chartSecret("myharbor-core", "CSRF_KEY"),
		"myharbor-harborha-token/tls.key": chartSecret("myharbor-core", "tls.key"), "myharbor-harborha-token/tls.crt": chartSecret("myharbor-core", "tls.crt"),
		"myharbor-harborha-jobservice/JOBSERVICE_SECRET":           chartSecret("myharbor-jobservice", "JOBSERVICE_SECRET"),
		"myharbor-harborha-registry/REGISTRY_HTTP_SECRET":          chartSecret("myharbor-registry", "REGISTRY_HTTP_SECRET"),
		"myharbor-harborha-registry-credentials/REGISTRY_PASSWD":   chartSecret("myharbor-core", "REGISTRY_CREDENTIAL_PASSWORD"),
		"myharbor-harborha-registry-credentials/REGISTRY_HTPASSWD": chartSecret("myharbor-registry-htpasswd", "REGISTRY_HTPASSWD"),
	}

	_, stderr := h.run(t, 0, "harborha", "upgrade", "myharbor", chart, "-n", ns, "--no-bootstrap", "--node-port=30140")
	if strings.Count(stderr, "the value the running release uses") != len(generated.Names()) {
		t.Errorf("upgrade did not adopt every value:\n%s", stderr)
	}
	for ref, v := range want {
		name, key, _ := strings.Cut(ref, "/")
		if v == "" || chartSecret(name, key) != v {
			t.Errorf("%s is not the value the release ran with", ref)
		}
	}
	checkReferences(t, env, ns)
	if vals, _ := h.run(t, 0, "get", "values", "myharbor", "-n", ns, "--all"); strings.Contains(vals, fixtureRedisPassword) {
		t.Error("helm get values --all still holds the Redis password after the upgrade")
	}
	h.assertNoTempFiles(t)
}

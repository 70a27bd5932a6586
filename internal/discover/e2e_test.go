package discover_test

// End-to-end: the real kube-apiserver and etcd (internal/kubetest), the
// real KubeBlocks CRDs and the fixtures, and the built binary run as a
// user (or Helm, through the environment) would run it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/output"
	"github.com/harborha/helm-harborha/internal/testutil"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/cli"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const nodeIP = "192.0.2.10"

// result of one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

// harborha runs the built binary with a clean environment: no Helm or
// kubeconfig variables but those given.
func harborha(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(testutil.Harborha(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HELM_") && !strings.HasPrefix(kv, "KUBECONFIG=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, testutil.IsolatedHelmEnv(t)...), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// secretsOf reads the passwords of the fixture's secrets back from the
// server, to check that no output shows them.
func secretsOf(t *testing.T, env *kubetest.Env, ns string) []string {
	l, err := env.Typed.CoreV1().Secrets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pw []string
	for _, s := range l.Items {
		if p := string(s.Data["password"]); p != "" {
			pw = append(pw, p)
		}
	}
	if len(pw) == 0 {
		t.Fatal("no passwords in the fixture: the leak check would prove nothing")
	}
	return pw
}

func noPasswords(t *testing.T, passwords []string, what string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		for _, p := range passwords {
			if strings.Contains(o, p) {
				t.Errorf("%s shows a password", what)
			}
		}
	}
}

type e2eCase struct {
	name                string
	crd                 string
	fixtures            func(t *testing.T) []*unstructured.Unstructured
	shape               [2]string // PostgreSQL, Redis
	pgService, pgSecret string
	rdService, rdSecret string
	rdCluster           string // default myredis
}

var e2eCases = []e2eCase{
	{"KubeBlocks 0.8 legacy", "0.8.4", fixtures("kb-0.8-pg-redis.yaml"), [2]string{"0.8 legacy", "0.8 legacy"},
		"mypg-postgresql", "mypg-conn-credential", "myredis-redis", "myredis-conn-credential", ""},
	{"KubeBlocks 0.9 topology", "0.9.5", fixtures("kb-0.9-pg-redis.yaml"), [2]string{"0.9 topology", "0.9 topology"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myredis-redis-redis", "myredis-redis-account-default", ""},
	{"KubeBlocks 0.9 legacy PostgreSQL (the Harbor guide)", "0.9.5", guide, [2]string{"0.9 legacy", "0.9 topology"},
		"mypg-postgresql", "mypg-conn-credential", "myredis-redis-redis", "myredis-redis-account-default", ""},
	{"KubeBlocks 1.0", "1.0.1", fixtures("kb-1.0-pg-redis.yaml"), [2]string{"1.0", "1.0"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myredis-redis-redis", "myredis-redis-account-default", ""},
	// 1.0.2's CRD differs from 1.0.1's only in fields the fixtures do not hold.
	{"KubeBlocks 1.0.2", "1.0.1", own("kb-1.0.2-pg-redis.yaml"), [2]string{"1.0", "1.0"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myredis-redis-redis", "myredis-redis-account-default", ""},
	{"KubeBlocks 1.1 objects on 1.2's API (v1 only)", kubetest.KubeBlocks12API, own("kb-1.1-pg-redis.yaml"), [2]string{"1.0", "1.0"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myredis-redis-redis", "myredis-redis-account-default", ""},
	{"KubeBlocks 1.2 Valkey with Sentinel", kubetest.KubeBlocks12API, own("kb-1.2-pg-valkey.yaml"), [2]string{"1.0", "1.0"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myvalkey-valkey-valkey", "myvalkey-valkey-account-default", "myvalkey"},
	{"KubeBlocks 1.2 Valkey without Sentinel", kubetest.KubeBlocks12API, own("kb-1.2-pg-valkey-no-sentinel.yaml"), [2]string{"1.0", "1.0"},
		"mypg-postgresql-postgresql", "mypg-postgresql-account-postgres", "myvalkey-valkey-valkey", "myvalkey-valkey-account-default", "myvalkey"},
}

// own loads a fixture of this repository (internal/kubetest/testdata/kubeblocks).
func own(file string) func(t *testing.T) []*unstructured.Unstructured {
	return func(t *testing.T) []*unstructured.Unstructured { return kubetest.OwnFixture(t, file) }
}

func fixtures(file string) func(t *testing.T) []*unstructured.Unstructured {
	return func(t *testing.T) []*unstructured.Unstructured { return kubetest.Fixture(t, file) }
}

// guide: the 0.9 legacy PostgreSQL with the 0.9 topology Redis.
func guide(t *testing.T) []*unstructured.Unstructured {
	objs := kubetest.Fixture(t, "kb-0.9-pg-legacy.yaml")
	for _, o := range kubetest.Fixture(t, "kb-0.9-pg-redis.yaml") {
		if strings.HasPrefix(o.GetName(), "myredis") {
			objs = append(objs, o)
		}
	}
	return objs
}

func TestE2EDiscoverAndValuesAsAUser(t *testing.T) {
	env := kubetest.Start(t)
	env.EnsureNode(t, "node-a", nodeIP)
	for _, tc := range e2eCases {
		t.Run(tc.name, func(t *testing.T) {
			env.UseKubeBlocks(t, tc.crd)
			ns := env.Namespace(t, tc.name)
			env.Create(t, ns, tc.fixtures(t)...)
			passwords := secretsOf(t, env, ns)
			ip := func(svc string) string {
				s, err := env.Typed.CoreV1().Services(ns).Get(context.Background(), svc, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return s.Spec.ClusterIP // allocated by the server
			}
			pgIP, rdIP := ip(tc.pgService), ip(tc.rdService)

			// Standalone: flags.
			d := harborha(t, nil, "discover", "--kubeconfig", env.Kubeconfig, "-n", ns)
			if d.code != 0 {
				t.Fatalf("discover: exit %d: %s", d.code, d.stderr)
			}
			rd, rdPod := "myredis", "myredis-redis-0"
			if tc.rdCluster == "myvalkey" {
				rd, rdPod = "myvalkey", "myvalkey-valkey-0"
			}
			for _, w := range []string{
				fmt.Sprintf("%s/mypg", ns), tc.shape[0], pgIP + ":5432 (" + tc.pgService + ")", tc.pgSecret, "mypg-postgresql-0",
				fmt.Sprintf("%s/%s", ns, rd), tc.shape[1], rdIP + ":6379 (" + tc.rdService + ")", tc.rdSecret, rdPod,
			} {
				if !strings.Contains(d.stdout, w) {
					t.Errorf("discover output lacks %q:\n%s", w, d.stdout)
				}
			}
			t.Logf("harborha discover -n %s:\n%s", ns, d.stdout)
			if strings.Count(d.stdout, " ok\n") != 2 {
				t.Errorf("discover: both clusters should be healthy:\n%s", d.stdout)
			}

			// As a Helm plugin: Helm passes -n and --kubeconfig through the environment.
			helmEnv := []string{"KUBECONFIG=" + env.Kubeconfig, "HELM_NAMESPACE=" + ns, "HELM_KUBECONTEXT=" + kubetest.Context}
			j := harborha(t, helmEnv, "discover", "-o", "json")
			if j.code != 0 || !strings.Contains(j.stdout, `"secret": "`+tc.pgSecret+`"`) {
				t.Errorf("discover -o json: exit %d, stderr %q", j.code, j.stderr)
			}
			v := harborha(t, helmEnv, "values", "--chart", testutil.Chart(t, "harbor-1.19.1.tgz"))
			if v.code != 0 {
				t.Fatalf("values: exit %d: %s", v.code, v.stderr)
			}
			overlay := parse(t, v.stdout)
			for path, want := range map[string]any{
				"database.type":                    "external",
				"database.external.host":           pgIP,
				"database.external.port":           "5432",
				"database.external.username":       "postgres",
				"database.external.existingSecret": tc.pgSecret,
				"database.external.coreDatabase":   "registry",
				"redis.type":                       "external",
				"redis.external.addr":              rdIP + ":6379",
				"redis.external.username":          "default",
				"expose.type":                      "nodePort",
				"externalURL":                      "http://" + nodeIP + ":30002",
			} {
				if got := lookup(overlay, path); got != want {
					t.Errorf("values: %s = %v, want %v", path, got, want)
				}
			}
			// The Redis password is no value either: values names its Secret
			// for the post-renderer (credentials by reference, issue 11).
			if lookup(overlay, "redis.external.password") != nil {
				t.Error("values: redis.external.password is written")
			}
			if !strings.Contains(v.stderr, "--redis-password-secret="+tc.rdSecret+":password --redis-username=default") {
				t.Errorf("values does not name the Redis Secret for the post-renderer:\n%s", v.stderr)
			}
			if lookup(overlay, "database.external.password") != nil {
				t.Error("values: the database password left the cluster although its secret is in Harbor's namespace")
			}
			if rd == "myvalkey" && (!strings.Contains(d.stdout, " valkey ") || !strings.Contains(v.stdout, "# Valkey:     "+ns+"/myvalkey, ")) {
				t.Errorf("discover and values do not say the Redis is Valkey:\n%s\n%s", d.stdout, head(v.stdout))
			}
			if !strings.Contains(v.stdout, "# Chart:      harbor 1.19.1 (--chart ") {
				t.Errorf("values header does not name the chart:\n%s", head(v.stdout))
			}
			// Nothing carries a password.
			noPasswords(t, passwords, "discover", d.stdout, d.stderr, j.stdout, j.stderr, v.stderr)
			noPasswords(t, passwords, "values", v.stdout)

			// -o FILE: mode 0600, nothing on stdout.
			file := filepath.Join(t.TempDir(), "harbor-values.yaml")
			o := harborha(t, helmEnv, "values", "-o", file)
			st, err := os.Stat(file)
			if o.code != 0 || err != nil || st.Mode().Perm() != 0o600 || o.stdout != "" {
				t.Errorf("values -o: exit %d, stat %v (%v), stdout %q, stderr %q", o.code, st, err, o.stdout, o.stderr)
			}
		})
	}
}

func parse(t *testing.T, doc string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := yaml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("values output is not YAML: %v", err)
	}
	return v
}

func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func secretValue(t *testing.T, env *kubetest.Env, ns, name string) string {
	s, err := env.Typed.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Data["password"])
}

func head(s string) string {
	lines := strings.SplitN(s, "\n", 8)
	return strings.Join(lines[:min(7, len(lines))], "\n")
}

// Errors as a user meets them: one line on stderr, exit 1, nothing on stdout.
func TestE2EErrors(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "errors")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)

	// A user who may read everything discovery needs except secrets.
	noSecrets := env.User(t, "no-secrets", kubetest.Grant{Namespace: ns, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"apps.kubeblocks.io"}, Resources: []string{"clusters"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: []string{"list"}},
	}})
	// The kubeconfig of a server that is gone.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Addr().String()
	l.Close()
	kc, err := os.ReadFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	deadKC := filepath.Join(t.TempDir(), "dead.kubeconfig")
	os.WriteFile(deadKC, bytes.ReplaceAll(kc, []byte(strings.TrimPrefix(env.Server, "https://")), []byte(gone)), 0o600)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"forbidden to read secrets", []string{"discover", "--kubeconfig", noSecrets, "-n", ns},
			[]string{`harborha discover: forbidden: user "no-secrets" may not list secrets in namespace "` + ns + `"`, `RBAC must allow verb "list" on resource "secrets" (API group "")`, "Role and RoleBinding"}},
		{"server unreachable", []string{"values", "--kubeconfig", deadKC, "-n", ns},
			[]string{"harborha values: cannot reach the Kubernetes API server https://" + gone + ` (context "` + kubetest.Context + `")`, "connection refused"}},
		{"cluster not found", []string{"discover", "--kubeconfig", env.Kubeconfig, "-n", ns, "--pg", "harbor-db"},
			[]string{`PostgreSQL cluster "harbor-db" not found in namespace "` + ns + `" (clusters there: mypg (postgresql), myredis (redis))`}},
		{"unknown context", []string{"discover", "--kubeconfig", env.Kubeconfig, "--kube-context", "prod"},
			[]string{`kubeconfig context "prod" does not exist`, "contexts available: " + kubetest.Context}},
		{"bad flag value", []string{"values", "--kubeconfig", env.Kubeconfig, "-n", ns, "--sslmode", "prefer"},
			[]string{`harborha values: --sslmode "prefer": use one of`}},
		{"unknown flag", []string{"discover", "--postgres", "x"}, []string{"unknown flag: --postgres"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := harborha(t, nil, tt.args...)
			if r.code != 1 || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", r.code, r.stdout)
			}
			if !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("stderr does not end a line: %q", r.stderr)
			}
			testutil.OneLineWith(t, r.stderr, tt.want...)
		})
	}

	t.Run("KubeBlocks not installed", func(t *testing.T) {
		env.UseKubeBlocks(t, "")
		t.Cleanup(func() { env.UseKubeBlocks(t, "1.0.1") })
		r := harborha(t, nil, "discover", "--kubeconfig", env.Kubeconfig, "-n", ns)
		if r.code != 1 || !strings.Contains(r.stderr, "KubeBlocks is not installed on "+env.Server) {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
}

// values refuses a cluster that is not Running unless --force.
func TestE2EValuesRefusesUnhealthyClusters(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	env.EnsureNode(t, "node-a", nodeIP)
	ns := env.Namespace(t, "unhealthy")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	clusters := env.Dynamic.Resource(schema.GroupVersionResource{Group: "apps.kubeblocks.io", Version: "v1", Resource: "clusters"}).Namespace(ns)
	pg, err := clusters.Get(context.Background(), "mypg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unstructured.SetNestedField(pg.Object, "Updating", "status", "phase")
	if _, err := clusters.UpdateStatus(context.Background(), pg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	args := []string{"values", "--kubeconfig", env.Kubeconfig, "-n", ns}
	r := harborha(t, nil, args...)
	want := "PostgreSQL cluster " + ns + "/mypg is not ready (phase is Updating, not Running)"
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "--force") {
		t.Errorf("exit %d, stdout %d bytes, stderr %q", r.code, len(r.stdout), r.stderr)
	}
	d := harborha(t, nil, "discover", "--kubeconfig", env.Kubeconfig, "-n", ns)
	if d.code != 0 || !strings.Contains(d.stdout, "phase is Updating, not Running") {
		t.Errorf("discover shows the problem and succeeds: exit %d\n%s", d.code, d.stdout)
	}
	f := harborha(t, nil, append(args, "--force")...)
	if f.code != 0 || !strings.Contains(f.stdout, "type: external") || !strings.Contains(f.stderr, "warning: --force") {
		t.Errorf("--force: exit %d, stderr %q", f.code, f.stderr)
	}
}

// connect is kube.Connect on the admin kubeconfig, with a request counter.
func connect(t testing.TB, env *kubetest.Env, counter *kubetest.RequestCounter) *kube.Client {
	s := cli.New()
	s.KubeConfig = env.Kubeconfig
	c, err := kube.Connect(s, kube.Options{WrapTransport: counter.Wrap, QPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// unrelated makes n Services and n Secrets that discovery must not read:
// half carry KubeBlocks' managed-by label for another cluster, so only
// the server-side instance selector keeps them out.
func unrelated(n int) []*unstructured.Unstructured {
	var objs []*unstructured.Unstructured
	for i := range n {
		labels := map[string]any{"app": "unrelated"}
		if i%2 == 0 {
			labels = map[string]any{"app.kubernetes.io/managed-by": "kubeblocks", "app.kubernetes.io/instance": fmt.Sprintf("other-%d", i)}
		}
		objs = append(objs,
			&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Service",
				"metadata": map[string]any{"name": fmt.Sprintf("svc-%04d", i), "labels": labels},
				"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}},
			&unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
				"metadata":   map[string]any{"name": fmt.Sprintf("secret-%04d", i), "labels": labels},
				"stringData": map[string]any{"password": fmt.Sprintf("unrelated-%d", i)}}})
	}
	return objs
}

// 2,000 unrelated Services and 2,000 Secrets do not change the number of
// requests discovery makes (label selectors run on the server).
func TestE2ERequestsDoNotGrowWithTheNamespace(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, "1.0.1")
	ns := env.Namespace(t, "crowded")
	env.Create(t, ns, kubetest.Fixture(t, "kb-1.0-pg-redis.yaml")...)
	var counter kubetest.RequestCounter
	c := connect(t, env, &counter)
	measure := func() (int64, *discover.Result, time.Duration) {
		counter.Reset()
		start := time.Now()
		r, err := discover.Discover(context.Background(), c, discover.Query{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		return counter.Count(), r, time.Since(start)
	}
	before, r1, d1 := measure()
	if err := env.CreateObjects(context.Background(), ns, unrelated(2000)...); err != nil {
		t.Fatal(err)
	}
	after, r2, d2 := measure()
	t.Logf("requests: %d before, %d with 4,000 unrelated objects; %v, %v", before, after, d1, d2)
	if before != after {
		t.Errorf("requests went from %d to %d with 2,000 unrelated Services and Secrets", before, after)
	}
	if before > 6 {
		t.Errorf("%d requests, the budget is 6", before)
	}
	var a, b bytes.Buffer
	_ = output.JSON.Write(&a, r1)
	_ = output.JSON.Write(&b, r2)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("the unrelated objects changed the result:\n%s\n%s", a.String(), b.String())
	}
}

// pathRecorder keeps the path of every request a client sends.
type pathRecorder struct {
	mu    sync.Mutex
	paths []string
	rt    http.RoundTripper
}

func (p *pathRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	p.paths = append(p.paths, req.URL.Path)
	p.mu.Unlock()
	return p.rt.RoundTrip(req)
}

// KubeBlocks 1.2 serves apps.kubeblocks.io/v1 only (#10469: a request for
// v1alpha1 gets 404). Discovery and the Cluster list doctor uses ask v1
// once and never v1alpha1: no error, the same four requests as on 1.0.
func TestE2EKubeBlocks12API(t *testing.T) {
	env := kubetest.Start(t)
	env.UseKubeBlocks(t, kubetest.KubeBlocks12API)
	ns := env.Namespace(t, "kb12")
	env.Create(t, ns, kubetest.OwnFixture(t, "kb-1.1-pg-redis.yaml")...)
	_, err := env.Dynamic.Resource(discover.ClusterResource("v1alpha1")).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("the API server plays 1.2, v1alpha1 must get 404: %v", err)
	}
	rec := &pathRecorder{}
	s := cli.New()
	s.KubeConfig = env.Kubeconfig
	c, err := kube.Connect(s, kube.Options{WrapTransport: func(rt http.RoundTripper) http.RoundTripper { rec.rt = rt; return rec }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := discover.Discover(context.Background(), c, discover.Query{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	if r.Redis.APIVersion != "apps.kubeblocks.io/v1" || r.Redis.Secret != "myredis-redis-account-default" || !r.Redis.Healthy() {
		t.Errorf("Redis %+v", r.Redis)
	}
	clusters, err := discover.ListClusters(context.Background(), c, ns)
	if err != nil || len(clusters) != 2 {
		t.Fatalf("ListClusters: %d clusters, %v", len(clusters), err)
	}
	want := []string{
		"/apis/apps.kubeblocks.io/v1/namespaces/" + ns + "/clusters", // discovery
		"/api/v1/namespaces/" + ns + "/pods", "/api/v1/namespaces/" + ns + "/secrets", "/api/v1/namespaces/" + ns + "/services",
		"/apis/apps.kubeblocks.io/v1/namespaces/" + ns + "/clusters", // ListClusters
	}
	got := slices.Clone(rec.paths)
	slices.Sort(got[1:4]) // the three object lists are concurrent
	if !slices.Equal(got, want) {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

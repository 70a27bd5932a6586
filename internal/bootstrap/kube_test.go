package bootstrap

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/kubetest"
)

// Against the real kube-apiserver of the end-to-end tests (internal/kubetest).

func TestMain(m *testing.M) { kubetest.Main(m) }

func toUnstructured(t *testing.T, objs ...runtime.Object) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// Every object Run can create, and the --dry-run output, pass the API
// server's validation as server-side dry runs with strict field
// validation (unknown or duplicate fields are errors).
func TestObjectsPassServerSideValidation(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t)
	ns, dbNS := env.Namespace(t, "bootstrap"), env.Namespace(t, "bootstrap-db")
	o := Spec{Release: "myharbor", Namespace: ns,
		Postgres: &PostgresTarget{Endpoint: Endpoint{Namespace: dbNS, Host: "10.96.0.10", Port: 5432, Secret: SecretRef{Name: "mypg-conn-credential"}}, SSLMode: "disable"},
		Redis:    &RedisTarget{Endpoint: Endpoint{Namespace: ns, Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}, User: "harbor", Nodes: []string{"10.0.0.11:6379", "10.0.0.12:6379"}},
		Rotate:   true,
	}.withDefaults()
	pg, rd := postgresRun(o), redisRun(o)
	pg.password, rd.password = ensured{password: "x", key: rotatingKey}, ensured{password: "y", key: RedisPasswordKey}
	pgRef, input := jobPassword(o, pg, "generated-password")
	rdRef, noInput := jobPassword(o, rd, "generated-password")
	if input == nil || noInput != nil {
		t.Fatalf("single-use copies: PostgreSQL in another namespace %v, Redis in Harbor's %v", input, noInput)
	}
	objs := toUnstructured(t,
		generated.NewSecret(ns, DatabaseSecretName(o.Release), o.Release, "database", map[string][]byte{"username": []byte("harbor"), "password": []byte("p"), rotatingKey: []byte("q")}),
		generated.NewSecret(ns, RedisSecretName(o.Release), o.Release, "redis", map[string][]byte{RedisUsernameKey: []byte("harbor"), RedisPasswordKey: []byte("p")}),
		input,
		postgresJob(o, pgRef),
		redisJob(o, o.Redis.Nodes, rdRef),
		RedisNodesConfigMap(ns, o.Release, RedisNodes{User: "harbor", Namespace: ns, Service: "myredis-redis-redis", Pods: []string{"myredis-redis-0", "myredis-redis-1"}}),
	)
	dry, err := DryRun(o)
	if err != nil {
		t.Fatal(err)
	}
	fromDryRun, err := kubetest.Decode(dry)
	if err != nil {
		t.Fatal(err)
	}
	if want := 5 + len(generated.Names()); len(fromDryRun) != want {
		t.Fatalf("--dry-run printed %d objects, want %d (2 Secrets, 1 single-use copy, 2 Jobs, the generated values' Secrets)", len(fromDryRun), want)
	}
	objs = append(objs, fromDryRun...)
	for i, err := range env.DryRunCreate(context.Background(), ns, objs) {
		if err != nil {
			t.Errorf("%s %s/%s: %v", objs[i].GetKind(), objs[i].GetNamespace(), objs[i].GetName(), err)
		}
	}

	// The Jobs' pods meet the "restricted" Pod Security Standard: the API
	// server's PodSecurity admission enforces it on pods in a namespace
	// labelled so.
	restricted := env.Namespace(t, "bootstrap-restricted")
	nsObj, err := env.Typed.CoreV1().Namespaces().Get(context.Background(), restricted, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}
	if _, err := env.Typed.CoreV1().Namespaces().Update(context.Background(), nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []runtime.Object
	for _, j := range []*batchv1.Job{postgresJob(o, pgRef), redisJob(o, o.Redis.Nodes, rdRef)} {
		pods = append(pods, &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: restricted}, Spec: j.Spec.Template.Spec})
	}
	hostNet := pods[0].DeepCopyObject().(*corev1.Pod)
	hostNet.Name += "-hostnetwork"
	hostNet.Spec.HostNetwork = true
	errs := env.DryRunCreate(context.Background(), restricted, toUnstructured(t, append(pods, hostNet)...))
	for i, err := range errs[:len(pods)] {
		if err != nil {
			t.Errorf("pod of Job %d under the restricted Pod Security Standard: %v", i, err)
		}
	}
	if err := errs[len(pods)]; err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Errorf("a pod on the host network was not refused, so the check proves nothing: %v", err)
	}

	// The check above can fail: a Job with an unknown field is refused.
	bad := objs[3].DeepCopy()
	unstructured.SetNestedField(bad.Object, int64(1), "spec", "template", "spec", "retries")
	if errs := env.DryRunCreate(context.Background(), ns, []*unstructured.Unstructured{bad}); errs[0] == nil || !strings.Contains(errs[0].Error(), "unknown field") {
		t.Errorf("a Job with an unknown field passed: %v", errs[0])
	}
}

// Run against the real API server: the Secrets and Job it creates are
// stored as sent, the Job (run here by the test's kubelet on real
// PostgreSQL, as the API server stored it) is deleted with its UID as
// precondition, and a second run reuses the Secret.
func TestRunAgainstTheRealAPIServer(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t)
	pg := startPostgres(t)
	ns := env.Namespace(t, "bootstrap-run")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := env.Typed.CoreV1().Secrets(ns).Create(ctx, superSecret(ns, "mypg-conn-credential", "postgres", superPassword), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	k := &kubelet{t: t, cs: env.Typed, mode: runJobs, logs: map[string][]byte{}}
	stop := k.follow(ctx, ns)
	defer stop()
	o := Spec{Release: "myharbor", Namespace: ns, Postgres: &PostgresTarget{Endpoint: pg.endpoint(ns)}, Timeout: time.Minute}
	for run := 1; run <= 2; run++ {
		_, progress, err := runWithClient(ctx, &kube.Client{Typed: env.Typed, Server: env.Server, Context: kubetest.Context}, k, o)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, progress)
		}
		if want := map[int]string{1: "created Secret", 2: "reusing Secret"}[run]; !strings.Contains(progress, want) {
			t.Errorf("run %d: progress lacks %q:\n%s", run, want, progress)
		}
		if _, err := env.Typed.BatchV1().Jobs(ns).Get(ctx, "myharbor-harborha-bootstrap-pg", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("run %d: the Job was not deleted (%v)", run, err)
		}
	}
	s, err := env.Typed.CoreV1().Secrets(ns).Get(ctx, "myharbor-harborha-db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.psql("harbor", string(s.Data["password"]), "registry", "SELECT 1"); err != nil {
		t.Errorf("the role does not log in with the stored Secret's password: %v", err)
	}
	if s.Labels["app.kubernetes.io/managed-by"] != "harborha" || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("stored Secret: labels %v, type %s", s.Labels, s.Type)
	}
}

// follow runs every new Job of ns like a kubelet would, until stopped.
func (k *kubelet) follow(ctx context.Context, ns string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	seen := map[types.UID]bool{}
	k.runs.Add(1)
	go func() {
		defer k.runs.Done()
		for ctx.Err() == nil {
			list, err := k.cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err == nil {
				for i := range list.Items {
					if j := &list.Items[i]; !seen[j.UID] {
						seen[j.UID] = true
						k.mu.Lock()
						k.created = append(k.created, j.DeepCopy())
						k.mu.Unlock()
						k.start(j.DeepCopy())
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() { cancel(); k.runs.Wait() }
}

// From discovery to the Jobs, on the KubeBlocks 1.0 fixtures and on 1.2's
// API with Valkey (Harbor's Redis either way): the superuser Secrets
// discovery names pass bootstrap's checks, every data pod (not Sentinel's)
// becomes a node, and the objects pass validation.
// Not parallel: it installs a KubeBlocks CRD.
func TestDiscoveredClustersBootstrap(t *testing.T) {
	env := kubetest.Start(t)
	for _, tc := range []struct {
		name, crd string
		objs      func(testing.TB) []*unstructured.Unstructured
		superuser string
		nodes     string
	}{
		{"KubeBlocks 1.0 Redis", "1.0.1", func(t testing.TB) []*unstructured.Unstructured { return kubetest.Fixture(t, "kb-1.0-pg-redis.yaml") },
			"myredis-redis-account-default", "[{myredis-redis-0 10.244.1.101:6379} {myredis-redis-1 10.244.2.102:6379}]"},
		{"KubeBlocks 1.2 Valkey", kubetest.KubeBlocks12API, func(t testing.TB) []*unstructured.Unstructured {
			return kubetest.OwnFixture(t, "kb-1.2-pg-valkey.yaml")
		},
			"myvalkey-valkey-account-default", "[{myvalkey-valkey-0 10.246.1.41:6379} {myvalkey-valkey-1 10.246.2.41:6379}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.UseKubeBlocks(t, tc.crd)
			ns := env.Namespace(t, "bootstrap-discover")
			env.Create(t, ns, tc.objs(t)...)
			ctx := context.Background()
			c := &kube.Client{Typed: env.Typed, Dynamic: env.Dynamic, Server: env.Server, Context: kubetest.Context, Namespace: ns}
			found, err := discover.Discover(ctx, c, discover.Query{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			var progress bytes.Buffer
			o := Spec{Release: "myharbor", Namespace: ns, Progress: &progress,
				Postgres: &PostgresTarget{Endpoint: EndpointFrom(found.PostgreSQL)},
				Redis:    &RedisTarget{Endpoint: EndpointFrom(found.Redis), User: "harbor", Service: found.Redis.Service},
			}.withDefaults()
			if o.Redis.Secret.Name != tc.superuser {
				t.Errorf("Redis superuser Secret %s, want %s", o.Redis.Secret.Name, tc.superuser)
			}
			r := newRunner(c, o)
			for engine, e := range map[string]Endpoint{"PostgreSQL": o.Postgres.Endpoint, "Redis": o.Redis.Endpoint} {
				if err := r.checkSuperuser(ctx, engine, e); err != nil {
					t.Errorf("%s: %v", engine, err)
				}
			}
			nodes, err := r.redisNodes(ctx, o.Redis)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(nodes); got != tc.nodes {
				t.Errorf("Redis nodes %s, want both data pods of the fixture %s\n%s", got, tc.nodes, progress.String())
			}
			pgJob := postgresJob(o, passwordRef{secret: DatabaseSecretName(o.Release), key: DatabasePasswordKey})
			env0 := pgJob.Spec.Template.Spec.Containers[0].Env
			if env0[0].Value != found.PostgreSQL.ClusterIP || env0[1].Value != "5432" || env0[3].ValueFrom.SecretKeyRef.Name != found.PostgreSQL.Secret {
				t.Errorf("the PostgreSQL Job does not reach the discovered cluster: %v %v %v", env0[0], env0[1], env0[3].ValueFrom.SecretKeyRef)
			}
			var addrs []string
			for _, n := range nodes {
				addrs = append(addrs, n.addr)
			}
			objs := toUnstructured(t, pgJob, redisJob(o, addrs, passwordRef{secret: RedisSecretName(o.Release), key: RedisPasswordKey}))
			for i, err := range env.DryRunCreate(ctx, ns, objs) {
				if err != nil {
					t.Errorf("%s: %v", objs[i].GetName(), err)
				}
			}
		})
	}
}

// On the real API server: with PostgreSQL to bootstrap too, an unsafe
// password of a Redis account in another namespace is refused before
// anything exists in Harbor's namespace (no Secret, no Job).
// A password Harbor could not use is refused before anything is created
// (a generated Secret, a Job), and the error never shows it: a Redis
// account's password that cannot go into a URL unescaped, and a reused
// database Secret's that Harbor's unquoted connection string would read
// otherwise.
func TestUnsafePasswordsCreateNothing(t *testing.T) {
	t.Parallel()
	env := kubetest.Start(t)
	tests := []struct {
		name     string
		password string // the unsafe one
		says     string
		redis    bool // the Redis account's password, else a reused database Secret's
	}{
		{name: "redis", password: "has/slash@and:colon", says: "holds characters", redis: true},
		{name: "db", password: "correct horse battery staple", says: `Secret %s/myharbor-harborha-db (key "password") holds whitespace`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, dbNS := env.Namespace(t, "bootstrap-unsafe-"+tc.name), env.Namespace(t, "bootstrap-unsafe-db-"+tc.name)
			ctx := context.Background()
			made := []*corev1.Secret{superSecret(ns, "mypg-conn-credential", "postgres", superPassword)}
			o := Spec{Release: "myharbor", Namespace: ns, Progress: &bytes.Buffer{}, Timeout: time.Minute,
				Postgres: &PostgresTarget{Endpoint: Endpoint{Namespace: ns, Host: "10.96.0.10", Port: 5432, Secret: SecretRef{Name: "mypg-conn-credential"}}}}
			if tc.redis {
				made = append(made, superSecret(dbNS, "myredis-redis-account-default", "default", tc.password))
				o.RedisCopy = &Endpoint{Namespace: dbNS, Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}
			} else {
				made = append(made, generated.NewSecret(ns, "myharbor-harborha-db", "myharbor", "database",
					map[string][]byte{"username": []byte("harbor"), "password": []byte(tc.password)}))
			}
			for _, s := range made {
				if _, err := env.Typed.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Run(ctx, &kube.Client{Typed: env.Typed, Server: env.Server, Context: kubetest.Context, Namespace: ns}, o)
			says := tc.says
			if strings.Contains(says, "%s") {
				says = fmt.Sprintf(says, ns)
			}
			if err == nil || !strings.Contains(err.Error(), says) || strings.Contains(err.Error(), tc.password) {
				t.Fatalf("error %v, want the unsafe password refused (%q) without being shown", err, says)
			}
			secrets, err := env.Typed.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			jobs, err := env.Typed.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantSecrets := 1 // the superuser's
			if !tc.redis {
				wantSecrets = 2 // and the reused one, untouched
			}
			if len(secrets.Items) != wantSecrets || len(jobs.Items) != 0 {
				t.Errorf("after the refusal %s holds %d Secrets (want %d: none created) and %d Jobs", ns, len(secrets.Items), wantSecrets, len(jobs.Items))
			}
		})
	}
}

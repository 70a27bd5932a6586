package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/kubetest"
	"github.com/harborha/helm-harborha/internal/output"
)

// want is what the KubeBlocks reference says discovery must find for a
// cluster (../shared/kubeblocks/REFERENCE.md §1, §3, §4), checked against
// the fixtures of each release.
type want struct {
	shape, apiVersion, service, ip, secret, user, primary string
	port, replicas                                        int
}

// guideSetup is the KubeBlocks Harbor guide's exact setup: a 0.9
// PostgreSQL created through the legacy API next to a 0.9 topology Redis.
func guideSetup(t *testing.T) []*unstructured.Unstructured {
	var redis []*unstructured.Unstructured
	for _, o := range fixture(t, "kb-0.9-pg-redis.yaml") {
		if strings.HasPrefix(o.GetName(), "myredis") {
			redis = append(redis, o)
		}
	}
	return append(fixture(t, "kb-0.9-pg-legacy.yaml"), redis...)
}

// own loads a fixture of this repository (internal/kubetest/testdata/kubeblocks).
func own(file string) func(t *testing.T) []*unstructured.Unstructured {
	return func(t *testing.T) []*unstructured.Unstructured { return kubetest.OwnFixture(t, file) }
}

func TestDiscoverEveryKubeBlocksShape(t *testing.T) {
	tests := []struct {
		name      string
		objs      func(t *testing.T) []*unstructured.Unstructured
		served    []string
		pg, redis want
		server    string // of Redis: "" for Redis itself
		calls     int
	}{
		{
			name: "0.8 legacy API", objs: func(t *testing.T) []*unstructured.Unstructured { return fixture(t, "kb-0.8-pg-redis.yaml") }, served: servedBy["0.8"],
			pg:    want{"0.8 legacy", "apps.kubeblocks.io/v1alpha1", "mypg-postgresql", "10.96.120.11", "mypg-conn-credential", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"0.8 legacy", "apps.kubeblocks.io/v1alpha1", "myredis-redis", "10.96.130.21", "myredis-conn-credential", "default", "myredis-redis-0", 6379, 2},
			calls: 5, // v1 (404), v1alpha1, services, secrets, pods
		},
		{
			name: "0.9 topology", objs: func(t *testing.T) []*unstructured.Unstructured { return fixture(t, "kb-0.9-pg-redis.yaml") }, served: servedBy["0.9"],
			pg:    want{"0.9 topology", "apps.kubeblocks.io/v1alpha1", "mypg-postgresql-postgresql", "10.96.140.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"0.9 topology", "apps.kubeblocks.io/v1alpha1", "myredis-redis-redis", "10.96.150.21", "myredis-redis-account-default", "default", "myredis-redis-0", 6379, 2},
			calls: 5,
		},
		{
			name: "0.9 legacy PostgreSQL with 0.9 topology Redis (the KubeBlocks Harbor guide)", objs: guideSetup, served: servedBy["0.9"],
			pg:    want{"0.9 legacy", "apps.kubeblocks.io/v1alpha1", "mypg-postgresql", "10.96.160.11", "mypg-conn-credential", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"0.9 topology", "apps.kubeblocks.io/v1alpha1", "myredis-redis-redis", "10.96.150.21", "myredis-redis-account-default", "default", "myredis-redis-0", 6379, 2},
			calls: 5,
		},
		{
			name: "1.0", objs: func(t *testing.T) []*unstructured.Unstructured { return fixture(t, "kb-1.0-pg-redis.yaml") }, served: servedBy["1.0"],
			pg:    want{"1.0", "apps.kubeblocks.io/v1", "mypg-postgresql-postgresql", "10.96.170.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"1.0", "apps.kubeblocks.io/v1", "myredis-redis-redis", "10.96.180.21", "myredis-redis-account-default", "default", "myredis-redis-0", 6379, 2},
			calls: 4, // v1, services, secrets, pods
		},
		{
			name: "1.0.2", objs: own("kb-1.0.2-pg-redis.yaml"), served: servedBy["1.0"],
			pg:    want{"1.0", "apps.kubeblocks.io/v1", "mypg-postgresql-postgresql", "10.96.190.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"1.0", "apps.kubeblocks.io/v1", "myredis-redis-redis", "10.96.190.21", "myredis-redis-account-default", "default", "myredis-redis-0", 6379, 2},
			calls: 4,
		},
		{
			name: "1.1 objects on 1.2's API (v1 only: v1alpha1 is never asked for)", objs: own("kb-1.1-pg-redis.yaml"), served: servedBy["1.2"],
			pg:    want{"1.0", "apps.kubeblocks.io/v1", "mypg-postgresql-postgresql", "10.96.200.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis: want{"1.0", "apps.kubeblocks.io/v1", "myredis-redis-redis", "10.96.200.21", "myredis-redis-account-default", "default", "myredis-redis-0", 6379, 2},
			calls: 4,
		},
		{
			name: "1.2 Valkey, replication with Sentinel", objs: own("kb-1.2-pg-valkey.yaml"), served: servedBy["1.2"],
			pg:     want{"1.0", "apps.kubeblocks.io/v1", "mypg-postgresql-postgresql", "10.96.210.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis:  want{"1.0", "apps.kubeblocks.io/v1", "myvalkey-valkey-valkey", "10.96.210.41", "myvalkey-valkey-account-default", "default", "myvalkey-valkey-0", 6379, 2},
			server: "valkey", calls: 4,
		},
		{
			name: "1.2 Valkey, replication without Sentinel", objs: own("kb-1.2-pg-valkey-no-sentinel.yaml"), served: servedBy["1.2"],
			pg:     want{"1.0", "apps.kubeblocks.io/v1", "mypg-postgresql-postgresql", "10.96.220.11", "mypg-postgresql-account-postgres", "postgres", "mypg-postgresql-0", 5432, 2},
			redis:  want{"1.0", "apps.kubeblocks.io/v1", "myvalkey-valkey-valkey", "10.96.220.41", "myvalkey-valkey-account-default", "default", "myvalkey-valkey-0", 6379, 2},
			server: "valkey", calls: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := tt.objs(t)
			w := &world{objs: objs, served: tt.served}
			c, actions := w.client(t)
			r, err := Discover(context.Background(), c, Query{})
			if err != nil {
				t.Fatal(err)
			}
			check(t, r.PostgreSQL, tt.pg, objs)
			check(t, r.Redis, tt.redis, objs)
			if r.Redis.Server != tt.server || r.PostgreSQL.Server != "" {
				t.Errorf("servers %q and %q, want \"\" and %q", r.PostgreSQL.Server, r.Redis.Server, tt.server)
			}
			if n := len(actions()); n != tt.calls {
				t.Errorf("%d API calls, want %d: %v", n, tt.calls, actions())
			}
			if len(r.Warnings) != 0 {
				t.Errorf("warnings for a healthy HA setup: %v", r.Warnings)
			}
		})
	}
}

// check compares an endpoint with the expectation; the password is
// compared with the fixture's but never printed.
func check(t *testing.T, got *Endpoint, w want, objs []*unstructured.Unstructured) {
	t.Helper()
	gotW := want{got.KubeBlocks, got.APIVersion, got.Service, got.Host, got.Secret, got.Username, got.PrimaryPod, got.Port, got.Replicas}
	if gotW != w {
		t.Errorf("%s:\n got  %+v\n want %+v", got.Engine, gotW, w)
	}
	// Pods: the headless Service the primary pod's subdomain names, which
	// the fixture must hold, headless.
	var wantPods string
	for _, o := range objs {
		if o.GetKind() != "Pod" || o.GetName() != got.PrimaryPod {
			continue
		}
		sub, _, _ := unstructured.NestedString(o.Object, "spec", "subdomain")
		if sub == "" {
			break
		}
		wantPods = fmt.Sprintf("%s.%s.svc:%d", sub, got.Namespace, got.Port)
		headless := false
		for _, s := range objs {
			ip, _, _ := unstructured.NestedString(s.Object, "spec", "clusterIP")
			headless = headless || s.GetKind() == "Service" && s.GetName() == sub && ip == "None"
		}
		if !headless {
			t.Errorf("%s: pod %s names subdomain %s, which is no headless Service of the fixture", got.Engine, got.PrimaryPod, sub)
		}
	}
	if got.Pods != wantPods {
		t.Errorf("%s: pods %q, want %q", got.Engine, got.Pods, wantPods)
	}
	if got.Password.Reveal() != secretValue(t, objs, w.secret, "password") {
		t.Errorf("%s: the password is not the one in secret %s", got.Engine, w.secret)
	}
	if !got.Healthy() {
		t.Errorf("%s: problems %v", got.Engine, got.Problems)
	}
}

func TestDiscoverOptions(t *testing.T) {
	t.Run("--address dns names the service", func(t *testing.T) {
		c, _ := (&world{objs: fixture(t, "kb-1.0-pg-redis.yaml"), served: servedBy["1.0"]}).client(t)
		r, err := Discover(context.Background(), c, Query{Address: AddressDNS})
		if err != nil {
			t.Fatal(err)
		}
		if r.PostgreSQL.Addr() != "mypg-postgresql-postgresql.harbor.svc:5432" || r.Redis.Addr() != "myredis-redis-redis.harbor.svc:6379" {
			t.Errorf("addresses %s, %s", r.PostgreSQL.Addr(), r.Redis.Addr())
		}
	})
	t.Run("clusters in their own namespaces", func(t *testing.T) {
		objs := fixture(t, "kb-1.0-pg-redis.yaml")
		for _, o := range objs {
			if strings.HasPrefix(o.GetName(), "mypg") {
				o.SetNamespace("databases")
			}
		}
		w := &world{objs: objs, served: servedBy["1.0"]}
		c, actions := w.client(t)
		r, err := Discover(context.Background(), c, Query{PGNamespace: "databases"})
		if err != nil {
			t.Fatal(err)
		}
		if r.PostgreSQL.Namespace != "databases" || r.Redis.Namespace != "harbor" {
			t.Errorf("namespaces %s, %s", r.PostgreSQL.Namespace, r.Redis.Namespace)
		}
		if n := len(actions()); n != 8 { // 4 per namespace
			t.Errorf("%d calls, want 8", n)
		}
	})
	t.Run("names choose among several clusters", func(t *testing.T) {
		objs := fixture(t, "kb-1.0-pg-redis.yaml")
		objs = append(objs, renamedCluster(t, objs, "mypg", "otherpg"))
		c, _ := (&world{objs: objs, served: servedBy["1.0"]}).client(t)
		r, err := Discover(context.Background(), c, Query{PG: "mypg"})
		if err != nil {
			t.Fatal(err)
		}
		if r.PostgreSQL.Cluster != "mypg" {
			t.Errorf("chose %s", r.PostgreSQL.Cluster)
		}
	})
	t.Run("a sharded Redis Cluster does not make the choice ambiguous", func(t *testing.T) {
		objs := fixture(t, "kb-1.0-pg-redis.yaml")
		sharded := renamedCluster(t, objs, "myredis", "shards")
		set(t, sharded, "cluster", "spec", "topology")
		c, _ := (&world{objs: append(objs, sharded), served: servedBy["1.0"]}).client(t)
		r, err := Discover(context.Background(), c, Query{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Redis.Cluster != "myredis" {
			t.Errorf("chose %s", r.Redis.Cluster)
		}
	})
	t.Run("node address", func(t *testing.T) {
		objs := append(fixture(t, "kb-1.0-pg-redis.yaml"), node("b-node", "10.0.0.2", true), node("a-node", "10.0.0.1", false), node("c-node", "10.0.0.3", true))
		c, _ := (&world{objs: objs, served: servedBy["1.0"]}).client(t)
		r, err := Discover(context.Background(), c, Query{NodeAddress: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.NodeIP != "10.0.0.2" { // the first Ready node by name
			t.Errorf("node IP %q, want 10.0.0.2", r.NodeIP)
		}
	})
}

func renamedCluster(t *testing.T, objs []*unstructured.Unstructured, from, to string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == "Cluster" && o.GetName() == from {
			cp := o.DeepCopy()
			cp.SetName(to)
			return cp
		}
	}
	t.Fatalf("no cluster %s", from)
	return nil
}

func node(name, ip string, ready bool) *unstructured.Unstructured {
	status := "False"
	if ready {
		status = "True"
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Node", "metadata": map[string]any{"name": name},
		"status": map[string]any{
			"addresses":  []any{map[string]any{"type": "InternalIP", "address": ip}},
			"conditions": []any{map[string]any{"type": "Ready", "status": status}},
		},
	}}
}

func TestSentinel(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		edit      func(t *testing.T, objs []*unstructured.Unstructured)
		wantAddr  string
		wantSet   string
		wantError string
	}{
		{name: "0.8 legacy shares the password", file: "kb-0.8-pg-redis.yaml", wantAddr: "10.96.130.22:26379", wantSet: "myredis-redis"},
		{name: "1.0 gives Sentinel its own password: refused", file: "kb-1.0-pg-redis.yaml", wantError: "gives Sentinel its own account (secret myredis-redis-sentinel-account-default)"},
		{name: "0.9 likewise refused", file: "kb-0.9-pg-redis.yaml", wantError: "Harbor sends one password to both"},
		{
			name: "1.0 with a shared password and a custom master name", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				sharePassword(t, objs, "myredis-redis-account-default", "myredis-redis-sentinel-account-default")
				edit(t, objs, "Cluster", "myredis", func(o *unstructured.Unstructured) {
					specs, _, _ := unstructured.NestedSlice(o.Object, "spec", "componentSpecs")
					specs[0].(map[string]any)["env"] = []any{map[string]any{"name": "CUSTOM_SENTINEL_MASTER_NAME", "value": "harbor-master"}}
					set(t, o, specs, "spec", "componentSpecs")
				})
			},
			wantAddr: "10.96.180.22:26379", wantSet: "harbor-master",
		},
		{
			name: "no sentinel component", file: "kb-1.0-pg-redis.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				edit(t, objs, "Cluster", "myredis", func(o *unstructured.Unstructured) {
					specs, _, _ := unstructured.NestedSlice(o.Object, "spec", "componentSpecs")
					set(t, o, specs[:1], "spec", "componentSpecs")
				})
			},
			wantError: "has no redis-sentinel component",
		},
		{name: "1.2 Valkey gives Sentinel its own password: refused", file: "kb-1.2-pg-valkey.yaml", wantError: "gives Sentinel its own account (secret myvalkey-valkey-sentinel-account-default)"},
		{
			name: "1.2 Valkey with a shared password: master set <c>-valkey", file: "kb-1.2-pg-valkey.yaml",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				sharePassword(t, objs, "myvalkey-valkey-account-default", "myvalkey-valkey-sentinel-account-default")
			},
			wantAddr: "10.96.210.42:26379", wantSet: "myvalkey-valkey",
		},
		{name: "1.2 Valkey without Sentinel", file: "kb-1.2-pg-valkey-no-sentinel.yaml", wantError: "has no valkey-sentinel component"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			served := servedBy["1.2"]
			if strings.HasPrefix(tt.file, "kb-1.2-") {
				objs = kubetest.OwnFixture(t, tt.file)
			} else {
				objs, served = fixture(t, tt.file), servedBy[tt.file[3:6]]
			}
			if tt.edit != nil {
				tt.edit(t, objs)
			}
			objs = stringDataToData(t, objs)
			c, _ := (&world{objs: objs, served: served}).client(t)
			r, err := Discover(context.Background(), c, Query{Sentinel: true})
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("error %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := r.Redis.Sentinel; s == nil || s.Addr() != tt.wantAddr || s.MasterSet != tt.wantSet {
				t.Errorf("sentinel %+v, want %s / %s", r.Redis.Sentinel, tt.wantAddr, tt.wantSet)
			}
		})
	}
}

// sharePassword gives the Sentinel account Secret the data account's
// password (systemAccounts secretRef).
func sharePassword(t *testing.T, objs []*unstructured.Unstructured, data, sentinel string) {
	pw := secretValue(t, objs, data, "password")
	edit(t, objs, "Secret", sentinel, func(o *unstructured.Unstructured) {
		set(t, o, map[string]any{"username": "default", "password": pw}, "stringData")
		unstructured.RemoveNestedField(o.Object, "data")
	})
}

// stringDataToData: the fake clientset does not merge stringData as the
// API server does.
func stringDataToData(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	for _, o := range objs {
		sd, ok, _ := unstructured.NestedStringMap(o.Object, "stringData")
		if !ok {
			continue
		}
		data := map[string]any{}
		for k, v := range sd {
			data[k] = b64(v)
		}
		set(t, o, data, "data")
		unstructured.RemoveNestedField(o.Object, "stringData")
	}
	return objs
}

// Health problems are reported, not fatal: values decides.
func TestHealth(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(t *testing.T, objs []*unstructured.Unstructured)
		problems []string
		warnings []string
	}{
		{
			name: "cluster not Running",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				edit(t, objs, "Cluster", "mypg", statusPhase(t, "Creating"))
			},
			problems: []string{"phase is Creating, not Running"},
		},
		{
			name:     "cluster without status",
			edit:     func(t *testing.T, objs []*unstructured.Unstructured) { edit(t, objs, "Cluster", "mypg", noStatus) },
			problems: []string{"phase is unknown (no status), not Running"},
		},
		{
			name: "no primary pod",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				edit(t, objs, "Pod", "mypg-postgresql-0", role("secondary"))
			},
			problems: []string{"no pod of component postgresql has the label kubeblocks.io/role=primary"},
		},
		{
			name: "single replica is a warning",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				edit(t, objs, "Cluster", "mypg", func(o *unstructured.Unstructured) {
					specs, _, _ := unstructured.NestedSlice(o.Object, "spec", "componentSpecs")
					specs[0].(map[string]any)["replicas"] = int64(1)
					set(t, o, specs, "spec", "componentSpecs")
				})
			},
			warnings: []string{"PostgreSQL cluster harbor/mypg has 1 replica in component postgresql: not highly available"},
		},
		{
			name: "two primaries is a warning",
			edit: func(t *testing.T, objs []*unstructured.Unstructured) {
				edit(t, objs, "Pod", "mypg-postgresql-1", role("primary"))
			},
			warnings: []string{"2 pods carry kubeblocks.io/role=primary (mypg-postgresql-0, mypg-postgresql-1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := fixture(t, "kb-1.0-pg-redis.yaml")
			tt.edit(t, objs)
			c, _ := (&world{objs: objs, served: servedBy["1.0"]}).client(t)
			r, err := Discover(context.Background(), c, Query{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(r.PostgreSQL.Problems, "|"); got != strings.Join(tt.problems, "|") {
				t.Errorf("problems %q, want %q", r.PostgreSQL.Problems, tt.problems)
			}
			if !r.Redis.Healthy() {
				t.Errorf("redis problems %v", r.Redis.Problems)
			}
			if len(r.Warnings) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %q", r.Warnings, tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(r.Warnings[i], w) {
					t.Errorf("warning %q does not contain %q", r.Warnings[i], w)
				}
			}
		})
	}
}

func statusPhase(t *testing.T, phase string) func(o *unstructured.Unstructured) {
	return func(o *unstructured.Unstructured) { set(t, o, phase, "status", "phase") }
}

// role sets a pod's KubeBlocks role label, as the role probe does.
func role(r string) func(o *unstructured.Unstructured) {
	return func(o *unstructured.Unstructured) {
		l := o.GetLabels()
		l["kubeblocks.io/role"] = r
		o.SetLabels(l)
	}
}

func noStatus(o *unstructured.Unstructured) { unstructured.RemoveNestedField(o.Object, "status") }

// No output format, and no fmt verb, shows a password.
func TestPasswordsNeverPrint(t *testing.T) {
	objs := fixture(t, "kb-0.8-pg-redis.yaml")
	c, _ := (&world{objs: objs, served: servedBy["0.8"]}).client(t)
	r, err := Discover(context.Background(), c, Query{Sentinel: true})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{secretValue(t, objs, "mypg-conn-credential", "password"), secretValue(t, objs, "myredis-conn-credential", "password")}
	var outputs []string
	for _, f := range []output.Format{output.Text, output.JSON, output.YAML} {
		var b bytes.Buffer
		if err := f.Write(&b, r); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, b.String())
	}
	j, _ := json.Marshal(r.PostgreSQL.Password)
	outputs = append(outputs, fmt.Sprintf("%v %+v %#v %s %q %x", r.PostgreSQL, *r.Redis, r, r.PostgreSQL.Password, r.Redis.Password, r.Redis.Password), string(j))
	for i, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %d shows a password", i)
			}
		}
	}
	if !strings.Contains(outputs[0], "mypg-conn-credential") || !strings.Contains(outputs[0], "myredis-redis-sentinel") {
		t.Errorf("table lacks the secret or sentinel rows:\n%s", outputs[0])
	}
}

func TestUnhealthy(t *testing.T) {
	r := &Result{
		PostgreSQL: &Endpoint{Engine: PostgreSQL, Namespace: "harbor", Cluster: "mypg"},
		Redis:      &Endpoint{Engine: Redis, Namespace: "harbor", Cluster: "myredis"},
	}
	if err := r.Unhealthy(); err != nil {
		t.Fatalf("healthy result: %v", err)
	}
	r.PostgreSQL.Problems = []string{"phase is Creating, not Running"}
	r.Redis.Problems = []string{"no pod of component redis has the label kubeblocks.io/role=primary"}
	err := r.Unhealthy()
	want := "PostgreSQL cluster harbor/mypg is not ready (phase is Creating, not Running); Redis cluster harbor/myredis is not ready (no pod of component redis"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
}

package doctor

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// coreWith is a release whose core reads one ConfigMap through envFrom;
// init is its init container's env.
func coreWith(t *testing.T, init string) *harbor.Release {
	t.Helper()
	docs, err := manifest.Parse([]byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      initContainers: [{name: wait, env: ` + init + `}]
      containers: [{name: core, envFrom: [{configMapRef: {name: myharbor-core}}]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func redisAddressesOf(rel *harbor.Release, configMaps map[string]*corev1.ConfigMap) []string {
	var got []string
	for _, a := range addresses(rel, configMaps) {
		if a.engine != discover.Redis {
			continue
		}
		s := a.String()
		if a.sentinel {
			s += "+s"
		}
		got = append(got, s)
	}
	return got
}

func TestRedisAddresses(t *testing.T) {
	tests := []struct {
		value string
		want  []string // host:port, "+s" for Sentinel
	}{
		{"redis://:p%40ss@10.96.0.11:6379/0?idle_timeout_seconds=30", []string{"10.96.0.11:6379"}},
		{"redis://harbor:s3cr3t@myredis-redis-redis.harbor.svc:6379/2", []string{"myredis-redis-redis.harbor.svc:6379"}},
		{"rediss://$(REDIS_USERNAME):$(REDIS_PASSWORD)@10.96.0.11:6380/0", []string{"10.96.0.11:6380"}},
		{"redis+sentinel://:pw@s1:26379,s2:26379,s3/myredis-redis/0", []string{"s1:26379+s", "s2:26379+s", "s3:26379+s"}},
		{"redis://10.96.0.11/0", []string{"10.96.0.11:6379"}},
		{"redis://$(REDIS_HOST):6379/0", nil}, // an unexpanded reference is no address
		{"worker_pool:\n  redis_pool:\n    redis_url: \"redis://:pw@10.96.0.11:6379/1\"\n", []string{"10.96.0.11:6379"}},
		{"version: 0.1\nredis:\n  addr: 10.96.0.11:6379\n  password: pw\n  db: 2\n", []string{"10.96.0.11:6379"}},
		{"redis:\n  addr: s1:26379,s2:26379\n  sentinelMasterSet: mymaster\n", []string{"s1:26379+s", "s2:26379+s"}},
		// A redis: mapping below the top, as lint reads it too.
		{"storage:\n  cache:\n    redis:\n      addr: 10.96.0.12:6379\n", []string{"10.96.0.12:6379"}},
		{"POSTGRESQL_HOST: 10.96.0.10", nil},
	}
	rel := coreWith(t, "[]")
	for _, tt := range tests {
		cms := map[string]*corev1.ConfigMap{"myharbor-core": {
			ObjectMeta: metav1.ObjectMeta{Name: "myharbor-core", Namespace: "harbor"},
			Data:       map[string]string{"v": tt.value},
		}}
		got := redisAddressesOf(rel, cms)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: %v, want %v", tt.value, got, tt.want)
		}
		for _, a := range got {
			if strings.Contains(a, "pw") || strings.Contains(a, "s3cr3t") {
				t.Errorf("%q: a password reached the address %s", tt.value, a)
			}
		}
	}
}

// Doctor reads Redis where lint does: an init container's env too.
func TestRedisAddressInInitContainer(t *testing.T) {
	rel := coreWith(t, `[{name: REDIS, value: "redis://10.96.0.13:6379/0"}]`)
	if got := redisAddressesOf(rel, nil); fmt.Sprint(got) != "[10.96.0.13:6379]" {
		t.Errorf("addresses %v, want the init container's", got)
	}
}

func TestServiceName(t *testing.T) {
	for _, tt := range []struct {
		host, name, ns string
		ok             bool
	}{
		{"10.96.0.10", "", "", false},
		{"fd00::10", "", "", false},
		{"mypg-postgresql-postgresql", "mypg-postgresql-postgresql", "", true},
		{"mypg-postgresql-postgresql.db", "mypg-postgresql-postgresql", "db", true},
		{"mypg-postgresql-postgresql.db.svc", "mypg-postgresql-postgresql", "db", true},
		{"mypg-postgresql-postgresql.db.svc.cluster.local.", "mypg-postgresql-postgresql", "db", true},
		{"db.example.com", "", "", false},
	} {
		name, ns, ok := serviceName(tt.host)
		if name != tt.name || ns != tt.ns || ok != tt.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", tt.host, name, ns, ok, tt.name, tt.ns, tt.ok)
		}
	}
}

// Behind post-render's database proxy, core's own variables say 127.0.0.1:
// doctor reads the database's address from the proxy's upstream.
func TestDatabaseAddressThroughProxy(t *testing.T) {
	docs, err := manifest.Parse([]byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      initContainers:
        - name: harborha-dbproxy
          restartPolicy: Always
          env: [{name: DBPROXY_UPSTREAM, value: "MyPG-postgresql-postgresql.db.svc:5433"}]
      containers:
        - name: core
          envFrom: [{configMapRef: {name: myharbor-core}}]
          env: [{name: POSTGRESQL_HOST, value: 127.0.0.1}, {name: POSTGRESQL_PORT, value: "6432"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	cms := map[string]*corev1.ConfigMap{"myharbor-core": {
		ObjectMeta: metav1.ObjectMeta{Name: "myharbor-core", Namespace: "harbor"},
		Data:       map[string]string{"POSTGRESQL_HOST": "127.0.0.1", "POSTGRESQL_PORT": "6432"},
	}}
	var got []string
	for _, a := range addresses(rel, cms) {
		if a.engine == discover.PostgreSQL {
			got = append(got, a.String()+" from "+a.where())
		}
	}
	want := "mypg-postgresql-postgresql.db.svc:5433 from Deployment myharbor-core init container harborha-dbproxy env DBPROXY_UPSTREAM"
	if len(got) != 1 || got[0] != want {
		t.Errorf("database addresses %q, want [%q]", got, want)
	}
}

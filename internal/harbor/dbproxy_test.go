package harbor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/manifest"
)

func readStream(t *testing.T, stream string) *Release {
	t.Helper()
	docs, err := manifest.Parse([]byte(stream))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// envStream is one container reading variables every way the kubelet
// resolves them.
const envStream = `apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      containers:
        - name: other
          env: [{name: LIT, value: other}]
        - name: core
          envFrom:
            - {configMapRef: {name: cm}}
            - {secretRef: {name: sec, optional: true}}
            - {prefix: P_, secretRef: {name: sec}}
            - {configMapRef: {name: not-rendered}}
          env:
            - {name: LIT, value: first}
            - {name: LIT, value: last}
            - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: existing, key: password}}}
            - {name: FROM_CM, valueFrom: {configMapKeyRef: {name: cm, key: B}}}
            - {name: FROM_MISSING_CM, valueFrom: {configMapKeyRef: {name: not-rendered, key: B}}}
            - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: SHADOWED, value: env-wins}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: harbor}
data: {A: from-cm, B: b-of-cm, SHADOWED: cm, BOTH: cm}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: harbor}
data: {PW: cHc=, BOTH: c2Vj}
`

func TestEnvOrigin(t *testing.T) {
	rel := readStream(t, envStream)
	core := rel.Workload("core")
	tests := []struct {
		name string
		want string // value|known|secret name/key/optional|where; "" unset
	}{
		{"LIT", "last|true||Deployment myharbor-core container core env LIT"},
		{"FROM_SECRET", "|false|existing/password/<nil>|Secret existing key password"},
		{"FROM_CM", "b-of-cm|true||ConfigMap cm key B"},
		{"FROM_MISSING_CM", "|false||ConfigMap not-rendered key B"},
		{"POD", "|false||Deployment myharbor-core container core env POD"},
		{"SHADOWED", "env-wins|true||Deployment myharbor-core container core env SHADOWED"},
		{"A", "from-cm|true||ConfigMap cm key A"},
		{"PW", "pw|true|sec/PW/true|Secret sec key PW"},
		{"P_PW", "pw|true|sec/PW/<nil>|Secret sec key PW"},
		{"BOTH", "sec|true|sec/BOTH/true|Secret sec key BOTH"}, // the later envFrom wins
		{"NOWHERE", ""},
	}
	for _, tt := range tests {
		o, ok := core.EnvOrigin(rel.Sources(), "core", tt.name)
		got := ""
		if ok {
			secret := ""
			if s := o.Secret; s != nil {
				opt := "<nil>"
				if s.Optional != nil {
					opt = fmt.Sprint(*s.Optional)
				}
				secret = s.Name + "/" + s.Key + "/" + opt
			}
			got = fmt.Sprintf("%s|%v|%s|%s", o.Value, o.Known, secret, o.Where)
		}
		if got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// upstreamStream is core, jobservice and exporter as the chart renders
// them; edits turn it into each case.
const upstreamStream = `apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-core, namespace: harbor}
data: {POSTGRESQL_HOST: mypg.db.svc, POSTGRESQL_PORT: "5433", POSTGRESQL_SSLMODE: require}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-exporter-env, namespace: harbor}
data: {HARBOR_DATABASE_HOST: 10.96.0.10}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      containers: [{name: core, envFrom: [{configMapRef: {name: myharbor-core}}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-jobservice, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: jobservice}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: jobservice}}
    spec:
      containers: [{name: jobservice}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-exporter, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: exporter}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: exporter}}
    spec:
      containers: [{name: exporter, envFrom: [{configMapRef: {name: myharbor-exporter-env}}]}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-registry, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: registry}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: registry}}
    spec:
      containers: [{name: registry}]
`

// proxied is core as post-render leaves it with a proxy: its variables at
// the proxy, the database in the proxy's environment.
const proxied = `    spec:
      initContainers:
        - name: harborha-dbproxy
          restartPolicy: Always
          env:
            - {name: DBPROXY_LISTEN, value: "127.0.0.1:6432"}
            - {name: DBPROXY_UPSTREAM, value: "mypg-a.db.svc:5432, mypg-b.db.svc:5432"}
            - {name: DBPROXY_SSLMODE, value: verify-full}
      containers:
        - name: core
          envFrom: [{configMapRef: {name: myharbor-core}}]
          env: [{name: POSTGRESQL_HOST, value: 127.0.0.1}, {name: POSTGRESQL_PORT, value: "6432"}, {name: POSTGRESQL_SSLMODE, value: disable}]
`

// TestDatabaseUpstream: what each process works on, through a proxy or
// not; jobservice follows core.
func TestDatabaseUpstream(t *testing.T) {
	coreSpec := "    spec:\n      containers: [{name: core, envFrom: [{configMapRef: {name: myharbor-core}}]}]\n"
	tests := []struct {
		name       string
		from, to   string
		core, jobs string // upstream|sslmode|fromProxy|where, or "-" for none
		exporter   string
	}{
		{"the chart's", "", "",
			"mypg.db.svc:5433|require|false|ConfigMap myharbor-core key POSTGRESQL_HOST",
			"mypg.db.svc:5433|require|false|ConfigMap myharbor-core key POSTGRESQL_HOST",
			"10.96.0.10:5432|disable|false|ConfigMap myharbor-exporter-env key HARBOR_DATABASE_HOST"},
		{"core behind its proxy", coreSpec, proxied,
			"mypg-a.db.svc:5432, mypg-b.db.svc:5432|verify-full|true|Deployment myharbor-core init container harborha-dbproxy env DBPROXY_UPSTREAM",
			"mypg-a.db.svc:5432, mypg-b.db.svc:5432|verify-full|true|Deployment myharbor-core init container harborha-dbproxy env DBPROXY_UPSTREAM",
			"10.96.0.10:5432|disable|false|ConfigMap myharbor-exporter-env key HARBOR_DATABASE_HOST"},
		{"an env value wins over the ConfigMap", coreSpec, "    spec:\n      containers: [{name: core, envFrom: [{configMapRef: {name: myharbor-core}}], env: [{name: POSTGRESQL_HOST, value: \"fd00::10\"}]}]\n",
			"[fd00::10]:5433|require|false|Deployment myharbor-core container core env POSTGRESQL_HOST",
			"[fd00::10]:5433|require|false|Deployment myharbor-core container core env POSTGRESQL_HOST",
			"10.96.0.10:5432|disable|false|ConfigMap myharbor-exporter-env key HARBOR_DATABASE_HOST"},
		{"a port that is no port", `POSTGRESQL_PORT: "5433"`, `POSTGRESQL_PORT: "five"`, "-", "-",
			"10.96.0.10:5432|disable|false|ConfigMap myharbor-exporter-env key HARBOR_DATABASE_HOST"},
		{"no host", "data: {HARBOR_DATABASE_HOST: 10.96.0.10}", "data: {}",
			"mypg.db.svc:5433|require|false|ConfigMap myharbor-core key POSTGRESQL_HOST",
			"mypg.db.svc:5433|require|false|ConfigMap myharbor-core key POSTGRESQL_HOST", "-"},
		{"an sslmode the stream does not show", coreSpec, "    spec:\n      containers: [{name: core, envFrom: [{configMapRef: {name: myharbor-core}}], env: [{name: POSTGRESQL_SSLMODE, valueFrom: {configMapKeyRef: {name: elsewhere, key: m}}}]}]\n",
			"-", "-", "10.96.0.10:5432|disable|false|ConfigMap myharbor-exporter-env key HARBOR_DATABASE_HOST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := upstreamStream
			if tt.from != "" {
				if !strings.Contains(stream, tt.from) {
					t.Fatalf("no %q in the stream", tt.from)
				}
				stream = strings.Replace(stream, tt.from, tt.to, 1)
			}
			rel := readStream(t, stream)
			for comp, want := range map[string]string{"core": tt.core, "jobservice": tt.jobs, "exporter": tt.exporter, "registry": "-"} {
				a, ok := rel.DatabaseUpstream(rel.Workload(comp))
				got := "-"
				if ok {
					got = fmt.Sprintf("%s|%s|%v|%s", a.Upstream, a.SSLMode, a.FromProxy, a.Where)
				}
				if got != want {
					t.Errorf("%s: %q, want %q", comp, got, want)
				}
			}
		})
	}
	rel := readStream(t, strings.Replace(upstreamStream, coreSpec, proxied, 1))
	if a, ok := rel.Workload("core").ProxyUpstream(); !ok || a.Host != "mypg-a.db.svc" || a.Port != 5432 {
		t.Errorf("ProxyUpstream %+v %v, want the first upstream's host and port", a, ok)
	}
	if c, at := rel.Workload("jobservice").DatabaseProxy(); c != nil || at != -1 {
		t.Errorf("jobservice has no proxy, DatabaseProxy says %v at %d", c, at)
	}
}

// TestDatabasePassword: the password jobservice's pool logs in with is
// core's; the exporter's its own.
func TestDatabasePassword(t *testing.T) {
	stream := strings.Replace(upstreamStream, "[{name: core, envFrom: [{configMapRef: {name: myharbor-core}}]}]",
		"[{name: core, envFrom: [{configMapRef: {name: myharbor-core}}], env: [{name: POSTGRESQL_PASSWORD, valueFrom: {secretKeyRef: {name: pg, key: password}}}]}]", 1)
	rel := readStream(t, stream)
	for comp, want := range map[string]string{"core": "pg/password", "jobservice": "pg/password", "exporter": "-", "registry": "-"} {
		o, ok := rel.DatabasePassword(rel.Workload(comp))
		got := "-"
		if ok && o.Secret != nil {
			got = o.Secret.Name + "/" + o.Secret.Key
		}
		if got != want {
			t.Errorf("%s: %s, want %s", comp, got, want)
		}
	}
}

func TestPoolOf(t *testing.T) {
	for _, comp := range Components {
		p, ok := PoolOf(comp)
		opens := comp == "core" || comp == "jobservice" || comp == "exporter"
		if ok != opens || (ok && (p.Component != comp || p.Host == "" || p.Port == "" || p.SSLMode == "" || p.Password == "")) {
			t.Errorf("%s: %+v %v", comp, p, ok)
		}
	}
	if p, _ := PoolOf("jobservice"); p.Reads != "core" || p.Host != "POSTGRESQL_HOST" || p.Password != "POSTGRESQL_PASSWORD" {
		t.Errorf("jobservice reads %+v, want core's variables", p)
	}
}

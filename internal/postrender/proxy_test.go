package postrender

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

const testProxyImage = "harborha-dbproxy:test"

// checkProxy asserts what --database-proxy-image means on a post-rendered
// release (after), rendered from before: each workload that opens a
// database pool has exactly one harborha-dbproxy, a native sidecar first
// among its init containers, forwarding to the database the chart
// configured, with its sslmode, logging in with the very Secret key the
// process read its password from; core and exporter connect to it; no
// other workload has one, and without the knob none has.
func checkProxy(t *testing.T, before, after *harbor.Release, o Knobs) {
	t.Helper()
	for _, w := range after.Workloads {
		n := 0
		for _, c := range w.Template().Spec.InitContainers {
			if c.Name == contract.Container {
				n++
			}
		}
		pool, opens := harbor.PoolOf(w.Component)
		if o.DatabaseProxyImage == "" || !opens {
			if n != 0 {
				t.Errorf("%s: %d %s init containers; want none (knob %q, opens a pool: %v)", w.Name(), n, contract.Container, o.DatabaseProxyImage, opens)
			}
			continue
		}
		prev := workloadByID(t, before, w.Doc.ID())
		c, at := w.DatabaseProxy()
		if n != 1 || at != 0 {
			t.Errorf("%s: %d %s init containers, the first at index %d; want exactly one, first", w.Name(), n, contract.Container, at)
			continue
		}
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways || c.Image != o.DatabaseProxyImage || c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s: proxy restartPolicy %v, image %q, pull %q; want a native sidecar (Always) of %q, IfNotPresent", w.Name(), c.RestartPolicy, c.Image, c.ImagePullPolicy, o.DatabaseProxyImage)
		}
		// An exec probe: the kubelet's tcpSocket dial goes to the pod's IP,
		// and the proxy listens on the loopback only.
		if p := c.StartupProbe; p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != contract.Binary+" --probe" || p.TCPSocket != nil {
			t.Errorf("%s: proxy startupProbe %+v, want exec %s --probe", w.Name(), p, contract.Binary)
		}
		if s := c.SecurityContext; s == nil || s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
			s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation || s.Capabilities == nil || len(s.Capabilities.Drop) != 1 || s.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: proxy securityContext %+v, want non-root, read-only, no escalation, no capabilities", w.Name(), s)
		}
		if len(c.Ports) != 0 {
			t.Errorf("%s: proxy declares ports %v; it listens on the pod's loopback only", w.Name(), c.Ports)
		}

		// The chart's settings, read from the input as the process reads
		// them (env, else its ConfigMaps): core's for jobservice.
		reads := before.Sibling(prev, pool.Reads)
		setting := func(name, def string) string {
			if v, _, ok := reads.EnvSetting(before.Sources(), pool.Reads, name); ok && v != "" {
				return v
			}
			return def
		}
		env := envValues(c.Env)
		wantUp := net.JoinHostPort(setting(pool.Host, ""), setting(pool.Port, "5432"))
		if env[contract.EnvUpstream] != wantUp || env[contract.EnvListen] != "127.0.0.1:6432" || env[contract.EnvSSLMode] != setting(pool.SSLMode, "disable") {
			t.Errorf("%s: proxy env %v; want DBPROXY_LISTEN 127.0.0.1:6432, DBPROXY_UPSTREAM %s, DBPROXY_SSLMODE %s (the chart's)", w.Name(), env, wantUp, setting(pool.SSLMode, "disable"))
		}
		// The pods, where the proxy finds a new primary before the
		// Service does, are the knob's, and absent without it.
		if pods, set := env[contract.EnvPods]; pods != o.DatabasePods || set != (o.DatabasePods != "") {
			t.Errorf("%s: proxy %s %q (set: %v), want the knob's %q", w.Name(), contract.EnvPods, pods, set, o.DatabasePods)
		}
		got := secretRefOf(c.Env, contract.EnvPassword)
		if want := passwordRef(before, reads, pool); got == nil || want == nil || !equalJSON(got, want) {
			t.Errorf("%s: DBPROXY_PASSWORD reads %+v; want the Secret key %s reads %s from, %+v", w.Name(), got, pool.Reads, pool.Password, want)
		}
		want := 4 // listen, upstream, sslmode, password
		if o.DatabasePods != "" {
			want++
		}
		if len(c.Env) != want {
			t.Errorf("%s: proxy env has %d entries, want the %d of the contract", w.Name(), len(c.Env), want)
		}

		// The process connects to the proxy (jobservice through core's
		// settings), and whatever reads the database's address through
		// the model still finds the database.
		if pool.Reads == w.Component {
			for name, want := range map[string]string{pool.Host: "127.0.0.1", pool.Port: "6432", pool.SSLMode: "disable"} {
				if v, _, _ := w.EnvSetting(after.Sources(), w.Component, name); v != want {
					t.Errorf("%s: %s = %q, want %q (the proxy)", w.Name(), name, v, want)
				}
			}
		}
		if up, ok := after.DatabaseUpstream(w); !ok || up.Upstream != wantUp || !up.FromProxy {
			t.Errorf("%s: DatabaseUpstream %+v (%v), want %s from the proxy", w.Name(), up, ok, wantUp)
		}
		if up, ok := before.DatabaseUpstream(prev); !ok || up.Upstream != wantUp {
			t.Errorf("%s: before the post-render, DatabaseUpstream %+v (%v), want %s", w.Name(), up, ok, wantUp)
		}
	}
}

func workloadByID(t *testing.T, rel *harbor.Release, id manifest.ID) *harbor.Workload {
	t.Helper()
	for _, w := range rel.Workloads {
		if w.Doc.ID() == id {
			return w
		}
	}
	t.Fatalf("%s is not in the input", id)
	return nil
}

func envValues(env []corev1.EnvVar) map[string]string {
	out := map[string]string{}
	for _, e := range env {
		out[e.Name] = e.Value
	}
	return out
}

func secretRefOf(env []corev1.EnvVar, name string) *corev1.SecretKeySelector {
	if i := envIndex(env, name); i >= 0 && env[i].ValueFrom != nil {
		return env[i].ValueFrom.SecretKeyRef
	}
	return nil
}

// passwordRef is the Secret key the process reads its database password
// from, as the kubelet resolves it: an env secretKeyRef, else the last
// envFrom Secret of the stream holding the key; nil for anything else.
func passwordRef(rel *harbor.Release, reads *harbor.Workload, pool harbor.DatabasePool) *corev1.SecretKeySelector {
	for _, c := range reads.Template().Spec.Containers {
		if c.Name != pool.Reads {
			continue
		}
		if i := envIndex(c.Env, pool.Password); i >= 0 {
			return secretRefOf(c.Env, pool.Password)
		}
		for i := len(c.EnvFrom) - 1; i >= 0; i-- {
			from := c.EnvFrom[i]
			if from.SecretRef == nil || from.Prefix != "" {
				continue
			}
			if s := rel.Sources().Get("Secret", reads.Namespace(), from.SecretRef.Name); s != nil {
				if _, ok := s.Data[pool.Password]; ok {
					return &corev1.SecretKeySelector{LocalObjectReference: from.SecretRef.LocalObjectReference, Key: pool.Password}
				}
			}
		}
	}
	return nil
}

// TestDatabaseProxy: every chart version the goldens use, with the
// database's password by reference (existingSecret) or from the values,
// the exporter rendered or not, the internal database too: the proxy
// means what checkProxy says; it changes nothing but the workloads that
// open a pool; no database password lands in a workload; the pools'
// budget is the same; post-rendering the output again changes nothing;
// without the knob there is no proxy.
func TestDatabaseProxy(t *testing.T) {
	const dbPassword = "db-marker-password-4711"
	variants := map[string]string{
		"existing-secret": `database: {type: external, external: {host: mypg-postgresql-postgresql.db.svc, port: "5433", username: harbor, coreDatabase: registry, sslmode: require, existingSecret: mypg-harbor}}
metrics: {enabled: true}
`,
		"password-in-values": `database: {type: external, external: {host: 10.96.0.10, port: "5432", username: harbor, coreDatabase: registry, password: ` + dbPassword + `}}
metrics: {enabled: true}
core: {initContainers: [{name: wait, image: busybox:1.37, command: ["true"]}]}
`,
		"internal-database": `database: {type: internal, internal: {password: ` + dbPassword + `}}
`,
	}
	for _, chart := range []string{"harbor-1.14.3.tgz", "harbor-1.18.4.tgz", "harbor-1.19.1.tgz"} {
		for _, name := range harbor.SortedKeys(variants) {
			values := variants[name]
			t.Run(chart+"/"+name, func(t *testing.T) {
				file := filepath.Join(t.TempDir(), "values.yaml")
				if err := os.WriteFile(file, []byte("redis: {type: external, external: {addr: 10.96.0.11:6379, password: not-a-real-password}}\n"+values), 0o644); err != nil {
					t.Fatal(err)
				}
				in := testutil.HelmTemplate(t, testutil.Chart(t, chart), []string{file})
				plain := DefaultKnobs()
				plain.RedisPasswordSecret = "myharbor-harborha-redis"
				o := plain
				o.DatabaseProxyImage = testProxyImage

				without, _ := postRender(t, plain, in)
				out, warnings := postRender(t, o, in)
				before, after := readRelease(t, in), readRelease(t, out)
				checkProxy(t, before, after, o)
				checkProxy(t, before, readRelease(t, without), plain)
				if strings.Contains(warnings, "--database-proxy-image") || strings.Contains(warnings, dbPassword) {
					t.Errorf("warnings about the proxy, or showing the password:\n%s", warnings)
				}
				if strings.Contains(name, "internal") == (after.Workload("exporter") != nil) {
					t.Fatalf("exporter rendered: %v, not what the variant asks", after.Workload("exporter") != nil)
				}

				// Only the workloads that open a pool differ from the
				// output without the knob.
				outRaw := map[manifest.ID]string{}
				for _, d := range parse(t, out) {
					outRaw[d.ID()] = d.Raw
				}
				for _, d := range parse(t, without) {
					w := workloadByIDOrNil(after, d.ID())
					_, opens := harbor.PoolOf(componentOf(w))
					if changed := outRaw[d.ID()] != d.Raw; changed != opens {
						t.Errorf("%s: changed by the knob: %v, opens a database pool: %v", d.Describe(), changed, opens)
					}
				}
				for _, w := range after.Workloads {
					if strings.Contains(w.Doc.Raw, dbPassword) {
						t.Errorf("%s holds the database password", w.Doc.Describe())
					}
				}
				for _, p := range harbor.DatabasePools {
					n1, _ := after.PoolMaxOpen(p)
					n0, _ := readRelease(t, without).PoolMaxOpen(p)
					if n1 != n0 {
						t.Errorf("%s pool %d with the proxy, %d without: the budget must not change", p.Component, n1, n0)
					}
				}
				if again, _ := postRender(t, o, out); !bytes.Equal(out, again) {
					t.Errorf("not idempotent:\n%s", testutil.LineDiff(string(out), string(again)))
				}
			})
		}
	}
}

func parse(t *testing.T, stream []byte) []*manifest.Doc {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func workloadByIDOrNil(rel *harbor.Release, id manifest.ID) *harbor.Workload {
	for _, w := range rel.Workloads {
		if w.Doc.ID() == id {
			return w
		}
	}
	return nil
}

func componentOf(w *harbor.Workload) string {
	if w == nil {
		return ""
	}
	return w.Component
}

// proxyRelease is core, jobservice and exporter reading the database the
// chart's way (ConfigMaps, the password from Secrets by envFrom); each
// case edits it.
const proxyRelease = `apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-core, namespace: harbor}
data: {POSTGRESQL_HOST: db.example, POSTGRESQL_PORT: "5432", POSTGRESQL_SSLMODE: verify-full}
---
apiVersion: v1
kind: Secret
metadata: {name: myharbor-core, namespace: harbor}
data: {POSTGRESQL_PASSWORD: c2VjcmV0LWRiLXB3}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-exporter-env, namespace: harbor}
data: {HARBOR_DATABASE_HOST: db.example}
---
apiVersion: v1
kind: Secret
metadata: {name: myharbor-exporter, namespace: harbor}
data: {HARBOR_DATABASE_PASSWORD: c2VjcmV0LWRiLXB3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      containers:
        - name: core
          envFrom: [{configMapRef: {name: myharbor-core}}, {secretRef: {name: myharbor-core}}]
          env: [{name: CORE_SECRET, value: x}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-jobservice, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: jobservice}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: jobservice}}
    spec: {containers: [{name: jobservice}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-exporter, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: exporter}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: exporter}}
    spec:
      containers:
        - name: exporter
          envFrom: [{configMapRef: {name: myharbor-exporter-env}}, {secretRef: {name: myharbor-exporter}}]
`

// TestDatabaseProxySkips: a process whose database or password the stream
// does not show, or shows only in plain text, keeps connecting directly,
// with one warning naming where, never the password; the others get
// their proxy.
func TestDatabaseProxySkips(t *testing.T) {
	const password = "secret-db-pw" // c2VjcmV0LWRiLXB3
	coreEnv := "env: [{name: CORE_SECRET, value: x}]"
	corePassword := "data: {POSTGRESQL_PASSWORD: c2VjcmV0LWRiLXB3}"
	exporterPassword := "data: {HARBOR_DATABASE_PASSWORD: c2VjcmV0LWRiLXB3}"
	tests := []struct {
		name    string
		edits   [][2]string // from, to
		proxied []string    // workloads with a proxy
		warn    string
	}{
		{"by reference everywhere", nil, []string{"core", "jobservice", "exporter"}, ""},
		{"core's password an env value", [][2]string{{coreEnv, "env: [{name: CORE_SECRET, value: x}, {name: POSTGRESQL_PASSWORD, value: " + password + "}]"}},
			[]string{"exporter"}, "the database password reaches it in plain text (Deployment myharbor-core container core env POSTGRESQL_PASSWORD)"},
		{"core's password in a ConfigMap", [][2]string{{"POSTGRESQL_SSLMODE: verify-full}", "POSTGRESQL_SSLMODE: verify-full, POSTGRESQL_PASSWORD: " + password + "}"}, {corePassword, "data: {}"}},
			[]string{"exporter"}, "plain text (ConfigMap myharbor-core key POSTGRESQL_PASSWORD)"},
		{"no password", [][2]string{{exporterPassword, "data: {}"}},
			[]string{"core", "jobservice"}, "nothing sets HARBOR_DATABASE_PASSWORD of container exporter"},
		{"an empty password", [][2]string{{exporterPassword, `data: {HARBOR_DATABASE_PASSWORD: ""}`}},
			[]string{"core", "jobservice"}, "the database password (Secret myharbor-exporter key HARBOR_DATABASE_PASSWORD) is empty"},
		{"no host", [][2]string{{"data: {HARBOR_DATABASE_HOST: db.example}", "data: {}"}},
			[]string{"core", "jobservice"}, "does not show which database it connects to (HARBOR_DATABASE_HOST of container exporter unset"},
		{"the host from a ConfigMap not in the stream", [][2]string{{coreEnv, "env: [{name: CORE_SECRET, value: x}, {name: POSTGRESQL_HOST, valueFrom: {configMapKeyRef: {name: elsewhere, key: host}}}]"}},
			[]string{"exporter"}, "(POSTGRESQL_HOST of container core unset, or read from an object the chart did not render)"},
		{"core already at the proxy's address, with no proxy", [][2]string{{"POSTGRESQL_HOST: db.example, POSTGRESQL_PORT: \"5432\"", "POSTGRESQL_HOST: 127.0.0.1, POSTGRESQL_PORT: \"6432\""}},
			[]string{"exporter"}, "ConfigMap myharbor-core key POSTGRESQL_HOST points at the proxy's own address 127.0.0.1:6432"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := proxyRelease
			for _, e := range tt.edits {
				if !strings.Contains(in, e[0]) {
					t.Fatalf("the release has no %q", e[0])
				}
				in = strings.Replace(in, e[0], e[1], 1)
			}
			o := DefaultKnobs()
			o.DatabaseProxyImage = testProxyImage
			out, warnings := postRender(t, o, []byte(in))
			rel := readRelease(t, out)
			var got []string
			for _, w := range rel.Workloads {
				if c, _ := w.DatabaseProxy(); c != nil {
					got = append(got, w.Component)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.proxied, ",") {
				t.Errorf("proxied %v, want %v; warnings:\n%s", got, tt.proxied, warnings)
			}
			if tt.warn != "" && !strings.Contains(warnings, tt.warn) {
				t.Errorf("warnings do not say %q:\n%s", tt.warn, warnings)
			}
			if tt.warn == "" && strings.Contains(warnings, "--database-proxy-image") {
				t.Errorf("unexpected warning:\n%s", warnings)
			}
			if strings.Contains(warnings, password) {
				t.Errorf("a warning shows the password:\n%s", warnings)
			}
			for _, w := range rel.Workloads {
				if c, _ := w.DatabaseProxy(); c != nil && strings.Contains(w.Doc.Raw, password) {
					t.Errorf("%s: the proxied workload holds the password", w.Name())
				}
			}
			if again, _ := postRender(t, o, out); !bytes.Equal(out, again) {
				t.Errorf("not idempotent:\n%s", testutil.LineDiff(string(out), string(again)))
			}
		})
	}
}

// TestDatabaseProxyUpdatedInPlace: a proxy already there (our output, or
// our output edited) is updated in place and moved first; its upstream,
// which the process's own variables no longer say, is kept, as is every
// other init container; jobservice's follows core's proxy.
func TestDatabaseProxyUpdatedInPlace(t *testing.T) {
	in := strings.Replace(proxyRelease, "POSTGRESQL_HOST: db.example, POSTGRESQL_PORT: \"5432\", POSTGRESQL_SSLMODE: verify-full",
		"POSTGRESQL_HOST: 127.0.0.1, POSTGRESQL_PORT: \"6432\", POSTGRESQL_SSLMODE: disable", 1)
	in = strings.Replace(in, "    spec:\n      containers:\n        - name: core\n", `    spec:
      initContainers:
        - {name: wait, image: busybox}
        - name: harborha-dbproxy
          image: harborha-dbproxy:old
          restartPolicy: Always
          env: [{name: DBPROXY_UPSTREAM, value: "db-a:5433,db-b:5433"}, {name: DBPROXY_SSLMODE, value: require}]
      containers:
        - name: core
`, 1)
	o := DefaultKnobs()
	o.DatabaseProxyImage = "registry.example.com/harborha-dbproxy:v2"
	out, warnings := postRender(t, o, []byte(in))
	rel := readRelease(t, out)
	for _, comp := range []string{"core", "jobservice"} {
		w := rel.Workload(comp)
		c, at := w.DatabaseProxy()
		if c == nil || at != 0 {
			t.Fatalf("%s: proxy at %d, want first; warnings:\n%s", comp, at, warnings)
		}
		env := envValues(c.Env)
		if c.Image != o.DatabaseProxyImage || env[contract.EnvUpstream] != "db-a:5433,db-b:5433" || env[contract.EnvSSLMode] != "require" {
			t.Errorf("%s: proxy %s with env %v; want the new image, the old upstream and sslmode", comp, c.Image, env)
		}
		if ref := secretRefOf(c.Env, contract.EnvPassword); ref == nil || ref.Name != "myharbor-core" || ref.Key != "POSTGRESQL_PASSWORD" {
			t.Errorf("%s: password %+v, want core's Secret key", comp, ref)
		}
	}
	if init := rel.Workload("core").Template().Spec.InitContainers; len(init) != 2 || init[1].Name != "wait" {
		t.Errorf("core's init containers %v, want the proxy, then wait", init)
	}
	if up, ok := rel.DatabaseUpstream(rel.Workload("core")); !ok || up.Host != "db-a" || up.Port != 5433 {
		t.Errorf("DatabaseUpstream %+v, want db-a:5433, the proxy's first", up)
	}
	if again, _ := postRender(t, o, out); !bytes.Equal(out, again) {
		t.Errorf("not idempotent:\n%s", testutil.LineDiff(string(out), string(again)))
	}
}

// TestDatabaseProxyJoinsOtherOps: the proxy is added after the operations
// that address init containers by index (an init container's Redis URL
// rewritten with --redis-password-secret) and the pool's variables in
// core's env: all of them land.
func TestDatabaseProxyJoinsOtherOps(t *testing.T) {
	in := strings.Replace(proxyRelease, "    spec:\n      containers:\n        - name: core\n", `    spec:
      initContainers:
        - name: warm-cache
          image: busybox
          env: [{name: _REDIS_URL_CORE, value: "redis://:pw@10.96.0.11:6379/0"}]
      containers:
        - name: core
`, 1)
	o := withRedisSecret("myharbor-harborha-redis", "")
	o.DatabaseProxyImage = testProxyImage
	out, _ := postRender(t, o, []byte(in))
	rel := readRelease(t, out)
	core := rel.Workload("core")
	init := core.Template().Spec.InitContainers
	if len(init) != 2 || init[0].Name != contract.Container || init[1].Name != "warm-cache" {
		t.Fatalf("init containers %v, want the proxy, then warm-cache", init)
	}
	if url := envValues(init[1].Env)["_REDIS_URL_CORE"]; url != "redis://:$("+passwordVar+")@10.96.0.11:6379/0" {
		t.Errorf("warm-cache's Redis URL %q: the credential rewrite was lost", url)
	}
	for name, want := range map[string]string{"POSTGRESQL_HOST": "127.0.0.1", "POSTGRESQL_MAX_OPEN_CONNS": "10", "POSTGRESQL_CONN_MAX_LIFETIME": connMaxLifetime} {
		if v, _, _ := core.EnvSetting(rel.Sources(), "core", name); v != want {
			t.Errorf("core %s = %q, want %q", name, v, want)
		}
	}
	if c, _ := core.DatabaseProxy(); envValues(c.Env)[contract.EnvSSLMode] != "verify-full" {
		t.Errorf("proxy env %v, want the chart's sslmode verify-full", envValues(c.Env))
	}
}

func TestDatabaseProxyImageReference(t *testing.T) {
	good := []string{
		"harborha-dbproxy:test",
		"harborha-dbproxy",
		"registry.example.com/harborha/harborha-dbproxy:v1.2.3",
		"localhost:5000/harborha-dbproxy:dev_1",
		"ghcr.io/harborha/harborha-dbproxy@sha256:" + strings.Repeat("ab", 32),
		"ghcr.io/harborha/harborha-dbproxy:v1@sha256:" + strings.Repeat("0f", 32),
	}
	bad := []string{" ", "Harborha-DBProxy:test", "harborha dbproxy", "harborha-dbproxy:", ":test", "harborha-dbproxy:te/st",
		"harborha-dbproxy@sha256:abc", "-harborha-dbproxy", "harborha-dbproxy:test\nx", "a/" + strings.Repeat("b", 260)}
	for _, img := range good {
		o := DefaultKnobs()
		o.DatabaseProxyImage = img
		if err := o.Validate(); err != nil {
			t.Errorf("%q: %v", img, err)
		}
	}
	for _, img := range bad {
		o := DefaultKnobs()
		o.DatabaseProxyImage = img
		err := o.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), "--database-proxy-image: ") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one line naming --database-proxy-image", img, err)
		}
	}
}

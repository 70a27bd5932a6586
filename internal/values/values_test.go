package values

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/testutil"
	"go.yaml.in/yaml/v3"
)

const (
	pgPassword    = "pg-Secret-1"
	redisPassword = "redis-Secret-2"
)

var now = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// result is a discovery result as the 1.0 fixture gives it.
func result() *discover.Result {
	return &discover.Result{
		PostgreSQL: &discover.Endpoint{
			Cluster: "mypg", Namespace: "harbor", Engine: discover.PostgreSQL, Component: "postgresql",
			KubeBlocks: "1.0", APIVersion: "apps.kubeblocks.io/v1", Phase: "Running", Replicas: 2, PrimaryPod: "mypg-postgresql-0",
			Service: "mypg-postgresql-postgresql", ClusterIP: "10.96.170.11", Host: "10.96.170.11", Port: 5432,
			Secret: "mypg-postgresql-account-postgres", Username: "postgres", Password: discover.NewPassword(pgPassword),
		},
		Redis: &discover.Endpoint{
			Cluster: "myredis", Namespace: "harbor", Engine: discover.Redis, Component: "redis",
			KubeBlocks: "1.0", APIVersion: "apps.kubeblocks.io/v1", Phase: "Running", Replicas: 2, PrimaryPod: "myredis-redis-0",
			Service: "myredis-redis-redis", ClusterIP: "10.96.180.21", Host: "10.96.180.21", Port: 6379,
			Secret: "myredis-redis-account-default", Username: "default", Password: discover.NewPassword(redisPassword),
		},
		NodeIP: "192.168.1.10",
	}
}

func opts() Spec {
	o := Defaults()
	o.HarborNamespace, o.Now, o.Generator = "harbor", now, "helm-harborha test"
	return o
}

// noPassword checks that neither password is anywhere in the overlay:
// values never writes one (the database's stays in its Secret, the Redis
// one is referenced by the post-renderer).
// buildYAML is Build's overlay as the values command writes it.
func buildYAML(t *testing.T, r *discover.Result, o Spec) []byte {
	t.Helper()
	ov, err := Build(r, o)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := ov.YAML()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func noPassword(t *testing.T, doc string) string {
	t.Helper()
	for _, pw := range []string{redisPassword, pgPassword} {
		if strings.Contains(doc, pw) {
			t.Errorf("a password is in the overlay")
		}
	}
	return doc
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *discover.Result, o *Spec)
	}{
		{name: "default"},
		{name: "tls-external-url", edit: func(r *discover.Result, o *Spec) {
			o.TLS, o.ExternalURL = true, "https://harbor.example.com:30003/"
		}},
		{name: "tls-node-address", edit: func(r *discover.Result, o *Spec) { o.TLS = true }},
		{name: "dns-sentinel-old-chart", edit: func(r *discover.Result, o *Spec) {
			// A KubeBlocks 0.8 legacy setup, addressed by DNS, through Sentinel.
			for _, e := range []*discover.Endpoint{r.PostgreSQL, r.Redis} {
				e.KubeBlocks, e.APIVersion = "0.8 legacy", "apps.kubeblocks.io/v1alpha1"
				e.Service, e.Secret = e.Cluster+"-"+e.Component, e.Cluster+"-conn-credential"
				e.Host = e.Service + ".harbor.svc"
			}
			r.Redis.Sentinel = &discover.Sentinel{Service: "myredis-redis-sentinel", Host: "myredis-redis-sentinel.harbor.svc", Port: 26379, MasterSet: "myredis-redis", Secret: "myredis-conn-credential"}
			o.Chart, _ = ChartFromVersion("1.11.0")
			o.Database, o.SSLMode, o.NodePort = "harbor_core", "require", 31080
		}},
		// bootstrap provides the database Secret in Harbor's namespace.
		{name: "database-elsewhere-bootstrapped", edit: func(r *discover.Result, o *Spec) {
			r.PostgreSQL.Namespace, o.Bootstrapped = "databases", true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, o := result(), opts()
			if tt.edit != nil {
				tt.edit(r, &o)
			}
			doc := buildYAML(t, r, o)
			testutil.Golden(t, filepath.Join("testdata", tt.name+".yaml"), []byte(noPassword(t, string(doc))))
		})
	}
}

// A Secret outside Harbor's namespace cannot be read by Harbor's pods:
// an error that says so and what to run, never an inline password.
func TestBuildRefusesADatabaseSecretElsewhere(t *testing.T) {
	r := result()
	r.PostgreSQL.Namespace = "databases"
	_, err := Build(r, opts())
	if err == nil {
		t.Fatal("no error")
	}
	testutil.OneLineWith(t, err.Error(), `the PostgreSQL secret databases/mypg-postgresql-account-postgres is not in Harbor's namespace "harbor"`, "helm harborha bootstrap RELEASE", "values --bootstrapped RELEASE")
	if strings.Contains(err.Error(), pgPassword) {
		t.Error("the error shows the password")
	}
}

func TestDiscoveredRedis(t *testing.T) {
	ref, err := DiscoveredRedis(result(), "harbor", LatestChart())
	if err != nil || ref != (RedisRef{Secret: "myredis-redis-account-default", Key: "password", Username: "default"}) {
		t.Errorf("in Harbor's namespace: %+v %v", ref, err)
	}
	if got := strings.Join(ref.Args(), " "); got != "--redis-password-secret=myredis-redis-account-default:password --redis-username=default" {
		t.Errorf("knobs %q", got)
	}
	old, _ := ChartFromVersion("1.11.0")
	if ref, _ := DiscoveredRedis(result(), "harbor", old); ref.Username != "" {
		t.Errorf("a chart without usernames got one: %+v", ref)
	}
	elsewhere := result()
	elsewhere.Redis.Namespace = "kb"
	if _, err := DiscoveredRedis(elsewhere, "harbor", LatestChart()); err == nil {
		t.Error("a Secret elsewhere was accepted")
	} else {
		testutil.OneLineWith(t, err.Error(), `the Redis secret kb/myredis-redis-account-default is not in Harbor's namespace "harbor"`, "--redis-user")
	}
	unsafe := result()
	unsafe.Redis.Password = discover.NewPassword("p@ss/word")
	if _, err := DiscoveredRedis(unsafe, "harbor", LatestChart()); err == nil || strings.Contains(err.Error(), "p@ss") {
		t.Errorf("an unsafe password: %v", err)
	} else {
		testutil.OneLineWith(t, err.Error(), `the password in Secret harbor/myredis-redis-account-default key "password" holds characters`)
	}
}

// The overlay means what the chart reads (REFERENCE.md §2): checked on the
// parsed document, not on text.
func TestBuildMeaning(t *testing.T) {
	doc := buildYAML(t, result(), opts())
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	checks := map[string]any{
		"database.type":                          "external",
		"database.external.host":                 "10.96.170.11",
		"database.external.port":                 "5432",
		"database.external.username":             "postgres",
		"database.external.coreDatabase":         "registry",
		"database.external.sslmode":              "disable",
		"database.external.existingSecret":       "mypg-postgresql-account-postgres",
		"database.external.password":             nil, // stays in the cluster
		"redis.type":                             "external",
		"redis.external.addr":                    "10.96.180.21:6379",
		"redis.external.username":                "default",
		"redis.external.coreDatabaseIndex":       "0",
		"redis.external.jobserviceDatabaseIndex": "1",
		"redis.external.registryDatabaseIndex":   "2",
		"redis.external.trivyAdapterIndex":       "5",
		"redis.external.sentinelMasterSet":       nil,
		"expose.type":                            "nodePort",
		"expose.tls.enabled":                     false,
		"expose.nodePort.ports.http.nodePort":    30002,
		"expose.nodePort.ports.https":            nil,
		"externalURL":                            "http://192.168.1.10:30002",
		"redis.external.existingSecret":          nil, // lookup-based in the chart: not usable
	}
	for path, want := range checks {
		got := lookup(v, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if lookup(v, "redis", "external", "password") != nil {
		t.Error("redis.external.password is written; the post-renderer references the Secret instead")
	}
	if !strings.HasPrefix(string(doc), "# Values overlay for the goharbor/harbor chart, generated by helm-harborha test at 2026-11-22T06:00:00Z.\n") {
		t.Errorf("header: %q", strings.SplitN(string(doc), "\n", 2)[0])
	}
}

func lookup(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(o *Spec)
		want string
	}{
		{"empty database", func(o *Spec) { o.Database = " " }, "--database: must not be empty"},
		{"unknown sslmode", func(o *Spec) { o.SSLMode = "prefer" }, `--sslmode "prefer": use one of disable, require, verify-ca, verify-full`},
		{"node port out of range", func(o *Spec) { o.NodePort = 70000 }, "--node-port 70000: a port must be within 1-65535"},
		{"https node port zero", func(o *Spec) { o.HTTPSNodePort = 0 }, "--https-node-port 0"},
		{"same ports with TLS", func(o *Spec) { o.TLS, o.HTTPSNodePort = true, o.NodePort }, "give them different ports"},
		{"relative external URL", func(o *Spec) { o.ExternalURL = "harbor.example.com" }, `--external-url "harbor.example.com": give an absolute http:// or https:// URL`},
		{"external URL with a path", func(o *Spec) { o.ExternalURL = "http://h.example.com/harbor" }, "no path, query or fragment"},
		{"external URL with another scheme", func(o *Spec) { o.ExternalURL = "ftp://h.example.com" }, "http:// or https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts()
			tt.edit(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if _, err := Build(result(), o); err == nil {
				t.Error("Build accepted invalid options")
			}
		})
	}
	if err := opts().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func TestBuildNeedsAnExternalURLSource(t *testing.T) {
	r := result()
	r.NodeIP = ""
	_, err := Build(r, opts())
	if err == nil || !strings.Contains(err.Error(), "pass --external-url") {
		t.Fatalf("error %v", err)
	}
}

func TestChartFromVersion(t *testing.T) {
	tests := []struct {
		in       string
		username bool
		err      string
	}{
		{in: "1.11.2", username: false},
		{in: "1.12.0", username: true},
		{in: "v1.19.1", username: true},
		{in: "2.0.0-rc.1", username: true},
		{in: "latest", err: `--chart-version "latest": not a chart version`},
	}
	for _, tt := range tests {
		c, err := ChartFromVersion(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tt.in, err)
		case c.RedisUsername != tt.username:
			t.Errorf("%s: username %v, want %v", tt.in, c.RedisUsername, tt.username)
		}
	}
}

func TestChartFromPath(t *testing.T) {
	for _, tt := range []struct {
		file, version string
	}{{"harbor-1.19.1.tgz", "1.19.1"}, {"harbor-1.14.3.tgz", "1.14.3"}} {
		c, err := ChartFromPath(testutil.Chart(t, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		// Both real charts have redis.external.username (added in 1.12.0).
		if c.Version != tt.version || !c.RedisUsername {
			t.Errorf("%s: %+v", tt.file, c)
		}
	}
	dir := t.TempDir()
	chart := func(name, values string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o755)
		os.WriteFile(filepath.Join(p, "Chart.yaml"), []byte("apiVersion: v2\nname: "+name+"\nversion: 1.10.0\n"), 0o644)
		os.WriteFile(filepath.Join(p, "values.yaml"), []byte(values), 0o644)
		return p
	}
	old := chart("harbor", "redis:\n  external:\n    addr: x\n    password: \"\"\n")
	c, err := ChartFromPath(old)
	if err != nil || c.RedisUsername || c.Version != "1.10.0" {
		t.Errorf("a harbor chart without the username key: %+v, %v", c, err)
	}
	if _, err := ChartFromPath(chart("nginx", "")); err == nil || !strings.Contains(err.Error(), `chart "nginx" is not goharbor's harbor chart`) {
		t.Errorf("another chart: %v", err)
	}
	if _, err := ChartFromPath(filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "cannot load the chart") {
		t.Errorf("missing chart: %v", err)
	}
}

func TestWriteFileIsPrivateAndReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("new: true\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "new: true\n" {
		t.Errorf("content %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir", "v.yaml"), nil); err == nil || !strings.HasPrefix(err.Error(), "-o ") {
		t.Errorf("unwritable path: %v", err)
	}
}

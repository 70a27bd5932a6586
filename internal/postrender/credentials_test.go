package postrender

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// coreRelease is a small release: core reads its Redis URL from a
// ConfigMap (envFrom), the registry its password from a Secret (envFrom)
// and its config.yml from a ConfigMap volume.
const coreRelease = `apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-core, namespace: harbor, labels: {release: myharbor}}
data:
  _REDIS_URL_CORE: "redis://:pw@redis$host:6379/0"
  EXT_ENDPOINT: "http://h"
---
apiVersion: v1
kind: Secret
metadata: {name: myharbor-registry, namespace: harbor, labels: {release: myharbor}}
data: {REGISTRY_REDIS_PASSWORD: cHc=, REGISTRY_HTTP_SECRET: eA==}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-registry, namespace: harbor, labels: {release: myharbor}}
data:
  config.yml: |
    redis:
      addr: redis:6379
      password: pw
    http:
      addr: :5000
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
          envFrom: [{configMapRef: {name: myharbor-core}}]
          env: [{name: CORE_SECRET, value: ""}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-registry, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: registry}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: registry}}
    spec:
      containers:
        - name: registry
          envFrom: [{secretRef: {name: myharbor-registry}}]
          volumeMounts: [{name: registry-config, mountPath: /etc/registry/config.yml, subPath: config.yml}]
      volumes: [{name: registry-config, configMap: {name: myharbor-registry}}]
`

func renderCredentials(t *testing.T, o Knobs, in string) (*harbor.Release, string) {
	t.Helper()
	out, warnings := postRender(t, o, []byte(in))
	return readRelease(t, out), warnings
}

// readRelease parses a stream into the release model.
func readRelease(t *testing.T, stream []byte) *harbor.Release {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := harbor.Read(docs)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

func withRedisSecret(secret, user string) Knobs {
	o := DefaultKnobs()
	o.RedisPasswordSecret, o.RedisUsername = secret, user
	return o
}

// poolVars are the database pool's variables core's env also gets
// (pool.go), after the credentials' rewrite.
const poolVars = 3

func TestCredentialRewrite(t *testing.T) {
	rel, _ := renderCredentials(t, withRedisSecret("my-redis:pw", "harbor"), coreRelease)
	sources := harbor.ReadSources(rel.Docs)
	env := rel.Workload("core").Template().Spec.Containers[0].Env
	if len(env) != 3+poolVars || env[0].Name != passwordVar || env[0].ValueFrom.SecretKeyRef.Name != "my-redis" || env[0].ValueFrom.SecretKeyRef.Key != "pw" {
		t.Fatalf("core env: %+v", env)
	}
	// A "$" from a ConfigMap is escaped, or Kubernetes would expand it;
	// the user comes from --redis-username.
	if got := env[2]; got.Name != "_REDIS_URL_CORE" || got.Value != "redis://harbor:$(HARBORHA_REDIS_PASSWORD)@redis$$host:6379/0" {
		t.Errorf("core's URL: %+v", got)
	}
	// The ConfigMap keeps the address, without the password (env wins).
	if cm := sources.Get("ConfigMap", "harbor", "myharbor-core"); cm.Data["_REDIS_URL_CORE"] != "redis://harbor@redis$host:6379/0" || cm.Data["EXT_ENDPOINT"] != "http://h" {
		t.Errorf("core's ConfigMap: %v", cm.Data)
	}
	reg := rel.Workload("registry").Template().Spec.Containers[0].Env
	if len(reg) != 2 || reg[0].Name != harbor.RegistryPasswordEnv || reg[0].ValueFrom.SecretKeyRef.Name != "my-redis" || reg[1].Name != RegistryDrainEnv {
		t.Errorf("registry env: %+v", reg)
	}
	if s := sources.Get("Secret", "harbor", "myharbor-registry"); len(s.Data) != 1 || s.Data["REGISTRY_HTTP_SECRET"] != "x" {
		t.Errorf("registry Secret: %v", s.Data)
	}
	if cfg := sources.Get("ConfigMap", "harbor", "myharbor-registry").Data["config.yml"]; cfg != "redis:\n  addr: redis:6379\nhttp:\n  addr: :5000\n" {
		t.Errorf("registry config.yml:\n%s", cfg)
	}
}

func TestCredentialKnobsAndLimits(t *testing.T) {
	bad := []struct {
		o    Knobs
		want string
	}{
		{withRedisSecret("Bad_Name", ""), `--redis-password-secret: "Bad_Name" is not a Secret name`},
		{withRedisSecret("s:bad key", ""), `--redis-password-secret: "bad key" is not a Secret key`},
		{withRedisSecret("", "harbor"), "--redis-username is only used with --redis-password-secret"},
		{withRedisSecret("s", "ha@rbor"), `--redis-username "ha@rbor" holds characters other than`},
	}
	for _, b := range bad {
		_, err := New(b.o, nil)
		if err == nil {
			t.Errorf("%+v: no error", b.o)
			continue
		}
		testutil.OneLineWith(t, err.Error(), b.want)
	}
	if ref, err := withRedisSecret("s", "").redisSecret(); err != nil || *ref != (secretKeyRef{"s", DefaultRedisPasswordKey}) {
		t.Errorf("the default key: %+v %v", ref, err)
	}

	// A config file the post-renderer cannot edit line by line is an error
	// naming the document, not a silent miss.
	flow := strings.Replace(coreRelease, "    redis:\n      addr: redis:6379\n      password: pw\n", "    redis: {addr: 'redis:6379', password: pw}\n", 1)
	r, _ := New(withRedisSecret("s", ""), nil)
	if _, err := r.Run(bytes.NewBufferString(flow)); err == nil {
		t.Error("a flow-style redis mapping was accepted")
	} else {
		testutil.OneLineWith(t, err.Error(), "document 3 (ConfigMap/harbor/myharbor-registry) key config.yml: the config file has a layout the post-renderer cannot edit line by line")
	}
	if pointerEscape("a/b~c") != "a~1b~0c" {
		t.Error("JSON pointer escaping")
	}
}

func TestCredentialWarnings(t *testing.T) {
	_, warnings := renderCredentials(t, DefaultKnobs(), coreRelease)
	want := "release harbor/myharbor: the Redis password is inline in ConfigMap myharbor-core key _REDIS_URL_CORE, Secret myharbor-registry key REGISTRY_REDIS_PASSWORD, ConfigMap myharbor-registry key config.yml; pass --redis-password-secret"
	if !strings.Contains(warnings, want) || strings.Contains(warnings, "pw@") {
		t.Errorf("without the knob, warnings:\n%s\nwant %q", warnings, want)
	}
	internal := coreRelease + `---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: myharbor-redis, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: redis}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: redis}}
    spec: {containers: [{name: redis}]}
`
	rel, warnings := renderCredentials(t, withRedisSecret("s", ""), internal)
	if !strings.Contains(warnings, "release harbor/myharbor uses the chart's internal Redis, which has no password; nothing to reference") ||
		len(rel.Workload("core").Template().Spec.Containers[0].Env) != 1+poolVars {
		t.Errorf("with the internal Redis nothing is referenced; warnings:\n%s", warnings)
	}
	db := strings.Replace(coreRelease, "data: {REGISTRY_REDIS_PASSWORD: cHc=, REGISTRY_HTTP_SECRET: eA==}", "data: {REGISTRY_REDIS_PASSWORD: cHc=, POSTGRESQL_PASSWORD: eA==}", 1)
	if _, warnings := renderCredentials(t, withRedisSecret("s", ""), db); !strings.Contains(warnings, "the database password is in the values (Secret myharbor-registry key POSTGRESQL_PASSWORD): set database.external.existingSecret") {
		t.Errorf("an inline database password, warnings:\n%s", warnings)
	}
}

// A patch names the object it changes and nothing more: the ConfigMaps and
// Secrets the credential rewrite patches are no workloads (no selector, no
// replicas to read), and export targets them by name.
func TestPatchTargets(t *testing.T) {
	docs, err := manifest.Parse([]byte(coreRelease))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(withRedisSecret("s", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Plan(docs)
	if err != nil {
		t.Fatal(err)
	}
	rel := readRelease(t, []byte(coreRelease))
	var kinds []string
	for _, pt := range p.parts[0].patches {
		id := pt.doc.ID()
		kinds = append(kinds, id.Kind+"/"+id.Name)
		switch id.Kind {
		case "Deployment", "StatefulSet":
			i := slices.IndexFunc(rel.Workloads, func(w *harbor.Workload) bool { return w.Doc.ID() == id })
			if i < 0 || rel.Workloads[i].Replicas() < 1 || !equalJSON(pt.selector, rel.Workloads[i].Selector()) {
				t.Errorf("%s: patched as no workload of the release", id)
			}
		default:
			if pt.selector != nil {
				t.Errorf("%s: a selector %v on an object that is no workload", id, pt.selector)
			}
		}
	}
	want := "[Deployment/myharbor-core Deployment/myharbor-registry ConfigMap/myharbor-core Secret/myharbor-registry ConfigMap/myharbor-registry]"
	if fmt.Sprint(kinds) != want {
		t.Errorf("patches %v, want %s (workloads, then ConfigMaps and Secrets in stream order)", kinds, want)
	}
	for _, c := range p.Changes().Patches {
		if c.Target.Kind != "Deployment" && len(c.Selector) > 0 {
			t.Errorf("export would select %s by labels %v", c.Target, c.Selector)
		}
	}
}

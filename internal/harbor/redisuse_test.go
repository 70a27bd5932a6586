package harbor

import (
	"fmt"
	"strings"
	"testing"
)

// redisStream reads Redis every way the index knows: env values (an init
// container's too), a Secret key by reference, envFrom (a URL, other keys,
// the registry's password), and config files that two containers mount.
const redisStream = `apiVersion: v1
kind: Secret
metadata: {name: myharbor-registry, namespace: harbor}
stringData: {REGISTRY_REDIS_PASSWORD: pw, REGISTRY_HTTP_SECRET: x}
---
apiVersion: v1
kind: Secret
metadata: {name: trivy, namespace: harbor}
stringData: {url: "redis://:pw@t:6379/5"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-core, namespace: harbor}
data: {_REDIS_URL_CORE: "redis://:pw@c:6379/0", EXT_ENDPOINT: "https://h"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: myharbor-registry, namespace: harbor}
data:
  config.yml: |
    redis:
      addr: r:6379
      password: pw
    storage:
      cache:
        redis: {addr: "n1:6379,n2:6379", sentinelMasterSet: m}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: myharbor-core, namespace: harbor}
spec:
  selector: {matchLabels: {release: myharbor, app: harbor, component: core}}
  template:
    metadata: {labels: {release: myharbor, app: harbor, component: core}}
    spec:
      initContainers:
        - {name: wait, env: [{name: PING, value: "until redis-cli -u redis://i:6379/0 ping; do sleep 1; done"}]}
      containers:
        - name: core
          envFrom: [{configMapRef: {name: myharbor-core}}]
          env:
            - {name: SCANNER, valueFrom: {secretKeyRef: {name: trivy, key: url}}}
            - {name: PLAIN, value: "no store here"}
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
          volumeMounts: [{name: config, mountPath: /etc/registry}]
        - name: registryctl
          volumeMounts: [{name: config, mountPath: /etc/registry}]
      volumes: [{name: config, configMap: {name: myharbor-registry}}]
`

func readRedisStream(t *testing.T) *Release {
	t.Helper()
	return readStream(t, redisStream)
}

func TestRedisUses(t *testing.T) {
	rel := readRedisStream(t)
	var got []string
	for _, u := range rel.RedisUses() {
		got = append(got, fmt.Sprintf("%s %d %s %q url=%v", u.Container.Name, u.Via, u.Where(), u.Name, u.Value.URL != nil))
	}
	want := []string{
		`wait 0 Deployment myharbor-core container wait env PING "PING" url=false`,
		`core 1 ConfigMap myharbor-core key _REDIS_URL_CORE "_REDIS_URL_CORE" url=true`,
		`core 0 Secret trivy key url "SCANNER" url=true`,
		`registry 1 Secret myharbor-registry key REGISTRY_REDIS_PASSWORD "REGISTRY_REDIS_PASSWORD" url=false`,
		`registry 2 ConfigMap myharbor-registry key config.yml "" url=false`,
		`registryctl 2 ConfigMap myharbor-registry key config.yml "" url=false`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("uses:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	uses := rel.RedisUses()
	if !uses[3].RegistryPassword() || uses[4].RegistryPassword() {
		t.Error("the registry's password is its envFrom key")
	}
	// registry and registryctl read one file: one value, parsed once.
	file, ctl := uses[4].Value, uses[5].Value
	if file != ctl || file.Config() != ctl.Config() {
		t.Error("the mounted config.yml is read twice")
	}
	c := file.Config()
	if c.File == nil || c.File.Env != RegistryPasswordEnv || c.File.Password != "pw" || len(c.Mappings) != 2 ||
		c.Mappings[1].Path != "storage.cache.redis" || fmt.Sprint(c.Mappings[1].Addrs) != "[n1:6379 n2:6379]" || c.Mappings[1].MasterSet != "m" {
		t.Errorf("config.yml read as %+v", c)
	}
	if uses[0].Value.Config() != nil {
		t.Error("an env value is no config file")
	}
}

func TestRedisSettings(t *testing.T) {
	rel := readRedisStream(t)
	var got []string
	for _, s := range rel.RedisSettings() {
		if s.URL != nil {
			got = append(got, s.Use.Where()+" "+strings.Join(s.URL.Hosts, ","))
		} else {
			got = append(got, s.Use.Where()+" "+s.Mapping.Path+" "+strings.Join(s.Mapping.Addrs, ","))
		}
	}
	// Sources in stream order, each once, then env values.
	want := []string{
		"Secret trivy key url t:6379",
		"ConfigMap myharbor-core key _REDIS_URL_CORE c:6379",
		"ConfigMap myharbor-registry key config.yml redis r:6379",
		"ConfigMap myharbor-registry key config.yml storage.cache.redis n1:6379,n2:6379",
		"Deployment myharbor-core container wait env PING i:6379",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("settings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

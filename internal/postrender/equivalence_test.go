package postrender

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestEnvironmentEquivalence is the proof that credentials by reference
// give Harbor the same settings as the chart's inline password, on every
// golden case (charts 1.14.3, 1.18.4, 1.19.1): every container's effective
// environment, computed by the kubelet's own expansion code
// (bin/k8s/envexpand, built from k8s.io/kubernetes in tools/kube) with the
// referenced Secrets' data, equals the chart's rendered the old way
// (password inline), key for key; and every config file that embeds Redis
// is equal once the component's env override is applied. Two new ways are
// checked: the old values post-rendered (the password dropped), and values
// without the password (what `helm harborha values` writes now).
func TestEnvironmentEquivalence(t *testing.T) {
	envexpand := testutil.Tool(t, "HARBORHA_ENVEXPAND", "k8s/envexpand")
	for _, c := range goldenCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			v := caseRedis(t, c)
			chart := testutil.Chart(t, c.Chart)
			values := []string{filepath.Join(c.Dir, "values.yaml")}
			old := testutil.HelmTemplate(t, chart, values, "--set-string", "redis.external.password="+v.password)
			withoutPassword := testutil.HelmTemplate(t, chart, values, "--set-string", "redis.external.password=")

			o := c.options(t)
			if o.RedisPasswordSecret == "" {
				o.RedisPasswordSecret = "harborha-equivalence:" + DefaultRedisPasswordKey
			}
			ref, err := o.redisSecret()
			if err != nil {
				t.Fatal(err)
			}
			fromOld, _ := postRender(t, o, old)
			o.RedisUsername = v.username // the chart drops a username without a password
			fromValues, _ := postRender(t, o, withoutPassword)

			secret := corev1.Secret{Data: map[string][]byte{ref.key: []byte(v.password)}}
			secret.Name = ref.name
			want := effective(t, envexpand, old, secret)
			for name, stream := range map[string][]byte{"old values post-rendered": fromOld, "values without the password": fromValues} {
				got := effective(t, envexpand, stream, secret)
				compareEffective(t, name, want, got, v)
				if v.external {
					assertNoPassword(t, name, stream, v.password)
				}
			}
			if v.external && !bytes.Contains(old, []byte(v.password)) {
				t.Errorf("the old render does not hold the password %q: this test would prove nothing", v.password)
			}
		})
	}
}

type redisValues struct {
	external bool
	password string // the case's, or a marker when it has none
	username string
}

func caseRedis(t *testing.T, c goldenCase) redisValues {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals struct {
		Redis struct {
			Type     string `json:"type"`
			External struct {
				Username string `json:"username"`
				Password string `json:"password"`
			} `json:"external"`
		} `json:"redis"`
	}
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatal(err)
	}
	v := redisValues{external: vals.Redis.Type == "external", password: vals.Redis.External.Password, username: vals.Redis.External.Username}
	if v.password == "" {
		v.password = "equivalence-marker-password"
	}
	return v
}

// containerEnv is one container's effective environment, or the error the
// kubelet would refuse to start it with; files are its mounted config
// files with the env overrides applied.
type containerEnv struct {
	Env   map[string]string `json:"env"`
	Error string            `json:"error"`
	files map[string]any
	// component and container name it: its workload's component, its
	// own name.
	component, container string
}

// effective computes every workload container's environment with
// envexpand, keyed "workload/container".
func effective(t *testing.T, envexpand string, stream []byte, extra corev1.Secret) map[string]*containerEnv {
	t.Helper()
	rel := readRelease(t, stream)
	in := expansionInput{Secrets: []corev1.Secret{extra}}
	var keys []string
	var owners []*harbor.Workload
	for _, d := range rel.Docs {
		switch d.ID().Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			convert(t, d, &cm)
			in.ConfigMaps = append(in.ConfigMaps, cm)
		case "Secret":
			var s corev1.Secret
			convert(t, d, &s)
			in.Secrets = append(in.Secrets, s)
		}
	}
	for _, w := range rel.Workloads {
		for _, c := range w.Containers() {
			in.Containers = append(in.Containers, *c.Container)
			keys = append(keys, w.Name()+"/"+c.Name)
			owners = append(owners, w)
		}
	}
	in.addExternal()
	out := runEnvexpand(t, envexpand, in)
	res := map[string]*containerEnv{}
	for i, key := range keys {
		ce := out[i]
		ce.files = configFiles(t, owners[i], &in.Containers[i], in.ConfigMaps, ce.Env)
		ce.component, ce.container = owners[i].Component, in.Containers[i].Name
		res[key] = ce
	}
	return res
}

type expansionInput struct {
	ConfigMaps []corev1.ConfigMap `json:"configMaps"`
	Secrets    []corev1.Secret    `json:"secrets"`
	Containers []corev1.Container `json:"containers"`
}

// addExternal stands in for the objects a release reads but does not
// render (the database's existingSecret): the same fixed data on both
// sides of a comparison.
func (in *expansionInput) addExternal() {
	have := map[string]bool{}
	for _, s := range in.Secrets {
		have["Secret/"+s.Name] = true
	}
	for _, cm := range in.ConfigMaps {
		have["ConfigMap/"+cm.Name] = true
	}
	external := map[string]*corev1.Secret{}
	for _, c := range in.Containers {
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || have["Secret/"+e.ValueFrom.SecretKeyRef.Name] {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if external[ref.Name] == nil {
				external[ref.Name] = &corev1.Secret{Data: map[string][]byte{}}
				external[ref.Name].Name = ref.Name
			}
			external[ref.Name].Data[ref.Key] = []byte("external " + ref.Name + " " + ref.Key)
		}
	}
	for _, name := range harbor.SortedKeys(external) {
		in.Secrets = append(in.Secrets, *external[name])
	}
}

func convert(t *testing.T, d *manifest.Doc, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Obj.Object, into); err != nil {
		t.Fatalf("%s: %v", d.Describe(), err)
	}
}

func runEnvexpand(t *testing.T, envexpand string, in expansionInput) []*containerEnv {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(envexpand)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("envexpand: %v\n%s", err, stderr.String())
	}
	var out struct {
		Containers []*containerEnv `json:"containers"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Containers) != len(in.Containers) {
		t.Fatalf("envexpand output: %v (%d containers for %d)", err, len(out.Containers), len(in.Containers))
	}
	return out.Containers
}

// configFiles are the container's mounted ConfigMap keys that parse as
// YAML mappings, each with the overrides Harbor's components apply from
// env: distribution's REGISTRY_REDIS_PASSWORD (yaml-decoded, as its
// configuration/parser.go L207 does) and jobservice's
// JOB_SERVICE_POOL_REDIS_URL (only with the redis backend, non-empty).
func configFiles(t *testing.T, w *harbor.Workload, c *corev1.Container, cms []corev1.ConfigMap, env map[string]string) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, cm := range cms {
		if !w.Mounts(c, "ConfigMap", cm.Name) {
			continue
		}
		for key, text := range cm.Data {
			var tree map[string]any
			if yaml.Unmarshal([]byte(text), &tree) != nil || tree == nil {
				continue
			}
			if r, ok := tree["redis"].(map[string]any); ok {
				if pw, set := env["REGISTRY_REDIS_PASSWORD"]; set {
					var decoded string
					if err := yaml.Unmarshal([]byte(pw), &decoded); err != nil {
						t.Fatalf("REGISTRY_REDIS_PASSWORD does not decode as distribution decodes it: %v", err)
					}
					r["password"] = decoded
				}
			}
			if wp, ok := tree["worker_pool"].(map[string]any); ok && wp["backend"] == "redis" {
				if u := env["JOB_SERVICE_POOL_REDIS_URL"]; u != "" {
					wp["redis_pool"].(map[string]any)["redis_url"] = u
				}
			}
			out[cm.Name+"/"+key] = tree
		}
	}
	return out
}

// compareEffective: the same containers, each with the same variables and
// values, no container the kubelet would refuse, the same files; a
// database proxy is checked apart (checkProxyEnv). Two variables may be
// new: ours, the password variable (it must hold the
// password), and jobservice's JOB_SERVICE_POOL_REDIS_URL, which replaces
// its config file's URL (the files must then be equal).
func compareEffective(t *testing.T, name string, want, got map[string]*containerEnv, v redisValues) {
	t.Helper()
	checkProxyEnv(t, name, want, got)
	if len(got) != len(want) {
		t.Errorf("%s: %d containers, the old render has %d", name, len(got), len(want))
	}
	for key, w := range want {
		g := got[key]
		if g == nil {
			t.Errorf("%s: container %s is missing", name, key)
			continue
		}
		if g.Error != "" || w.Error != "" {
			t.Errorf("%s: %s: the kubelet would refuse it: new %q, old %q", name, key, g.Error, w.Error)
			continue
		}
		if pw, ok := g.Env[passwordVar]; ok {
			if pw != v.password {
				t.Errorf("%s: %s: %s does not hold the password", name, key, passwordVar)
			}
			delete(g.Env, passwordVar)
		}
		dropLeverSettings(w.Env, g.Env)
		for _, k := range harbor.SortedKeys(w.Env) {
			if gv, ok := g.Env[k]; !ok || gv != w.Env[k] {
				t.Errorf("%s: %s: %s = %q, the old render has %q", name, key, k, redact(gv, v.password), redact(w.Env[k], v.password))
			}
		}
		for _, k := range harbor.SortedKeys(g.Env) {
			// jobservice's URL moved from its config file into env: the
			// files compared below prove it is the same URL.
			if _, ok := w.Env[k]; !ok && k != harbor.JobserviceURLEnv {
				t.Errorf("%s: %s: variable %s is new", name, key, k)
			}
		}
		if !equalJSON(w.files, g.files) {
			t.Errorf("%s: %s: the config files differ once env overrides apply:\n%s", name, key, testutil.LineDiff(jsonText(w.files), jsonText(g.files)))
		}
	}
}

// dropLeverSettings leaves the levers' variables out of both
// environments: the database pools (pool.go) and the registry's drain
// (drain.go) are set on purpose, the Redis credentials are what this test
// compares. TestPoolBudget and checkLevers check the levers.
func dropLeverSettings(envs ...map[string]string) {
	for _, env := range envs {
		for _, p := range harbor.DatabasePools {
			delete(env, p.MaxOpen)
			delete(env, p.MaxIdle)
			delete(env, p.Lifetime)
		}
		delete(env, RegistryDrainEnv)
	}
}

func redact(s, password string) string { return strings.ReplaceAll(s, password, "<password>") }

func jsonText(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// assertNoPassword: the password is in no document of the new output, as
// text or as a Secret's decoded data.
func assertNoPassword(t *testing.T, name string, stream []byte, password string) {
	t.Helper()
	docs, err := manifest.Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if strings.Contains(d.Raw, password) {
			t.Errorf("%s: %s holds the Redis password", name, d.Describe())
		}
		if d.ID().Kind != "Secret" {
			continue
		}
		var s corev1.Secret
		convert(t, d, &s)
		for k, val := range s.Data {
			if strings.Contains(string(val), password) {
				t.Errorf("%s: %s key %s holds the Redis password", name, d.Describe(), k)
			}
		}
	}
}

// checkProxyEnv: each database proxy (--database-proxy-image) gets, as
// the kubelet resolves its environment, the very database address,
// sslmode and password its process had in the old render (core's for
// jobservice), and the process (core, exporter) connects to the proxy.
// The proxy then leaves the comparison, and the process's three variables
// get their old values back: the rest must be equal.
func checkProxyEnv(t *testing.T, name string, want, got map[string]*containerEnv) {
	t.Helper()
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	for _, key := range harbor.SortedKeys(got) {
		g := got[key]
		if g.container != contract.Container {
			continue
		}
		delete(got, key)
		pool, opens := harbor.PoolOf(g.component)
		old := findContainer(want, pool.Reads)
		if !opens || old == nil {
			t.Errorf("%s: %s: a proxy beside a process that opens no pool, or whose settings the old render lacks", name, key)
			continue
		}
		password := old.Env[pool.Password]
		wantEnv := map[string]string{
			contract.EnvListen:   contract.Listen,
			contract.EnvUpstream: net.JoinHostPort(old.Env[pool.Host], or(old.Env[pool.Port], "5432")),
			contract.EnvSSLMode:  or(old.Env[pool.SSLMode], "disable"),
			contract.EnvPassword: password,
		}
		// The pods are no setting of the old render but a knob's
		// (checkProxy holds them to it): here they need only resolve to
		// a host:port.
		if pods, ok := g.Env[contract.EnvPods]; ok {
			if _, _, err := net.SplitHostPort(pods); err != nil {
				t.Errorf("%s: %s: %s %q is not host:port", name, key, contract.EnvPods, pods)
			}
			wantEnv[contract.EnvPods] = pods
		}
		if g.Error != "" || password == "" || !equalJSON(g.Env, wantEnv) {
			t.Errorf("%s: %s: the kubelet gives the proxy %s (error %q), want %s", name, key,
				redact(jsonText(g.Env), password), g.Error, redact(jsonText(wantEnv), password))
		}
		if pool.Reads != g.component {
			continue
		}
		proc := findContainer(got, g.component)
		if proc == nil {
			t.Errorf("%s: %s: no %s container beside it", name, key, g.component)
			continue
		}
		for v, at := range map[string]string{pool.Host: contract.Host, pool.Port: "6432", pool.SSLMode: "disable"} {
			if proc.Env[v] != at {
				t.Errorf("%s: %s: %s = %q, want %q (the proxy)", name, key, v, proc.Env[v], at)
			}
			if was, ok := old.Env[v]; ok {
				proc.Env[v] = was
			} else {
				delete(proc.Env, v)
			}
		}
	}
}

// findContainer is the container named as component of that component's
// workload (core's core, exporter's exporter).
func findContainer(envs map[string]*containerEnv, component string) *containerEnv {
	for _, key := range harbor.SortedKeys(envs) {
		if e := envs[key]; e.component == component && e.container == component {
			return e
		}
	}
	return nil
}

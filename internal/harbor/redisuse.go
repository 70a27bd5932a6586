package harbor

import (
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// Where a release uses Redis is indexed once (Release.RedisUses): every
// place a container reads a Redis setting, each value read once however
// many containers read it. The credential rewrite, its warning, lint and
// doctor all read the index, so they agree on what a Redis URL is, where
// it hides and when its password is a $(VAR) reference.

// Via is how a container reads a value.
type Via int

const (
	ViaEnv     Via = iota // an env entry: its value, or the ConfigMap or Secret key it names
	ViaEnvFrom            // a key of a ConfigMap or Secret the container's envFrom imports
	ViaFile               // a key of a ConfigMap volume the container mounts
)

// The two config files of the chart that embed a Redis credential, and the
// environment variable each component reads instead (env wins over the
// file in both):
//
//   - the registry's config.yml, redis.password: distribution overrides
//     any field from REGISTRY_<PATH> after reading the file
//     (distribution/distribution@v2.8.3 configuration/parser.go L114-152,
//     unchanged in goharbor/distribution release/2.8; the field is
//     Redis.Password, configuration.go L172), so REGISTRY_REDIS_PASSWORD.
//     The chart also fills that variable from the values, in a Secret the
//     registry imports with envFrom.
//   - jobservice's config.yml, worker_pool.redis_pool.redis_url: jobservice
//     reads JOB_SERVICE_POOL_REDIS_URL after the file when the backend is
//     redis, as the chart sets it (goharbor/harbor@v2.15.1
//     src/jobservice/config/config.go L40 and L273-279; v2.10.3 L40 and
//     L260-266; main.go L64 Load(path, true)).
const (
	RegistryPasswordEnv = "REGISTRY_REDIS_PASSWORD"
	JobserviceURLEnv    = "JOB_SERVICE_POOL_REDIS_URL"
)

// RedisUse is one place a container reads a Redis setting.
type RedisUse struct {
	Workload  *Workload
	Container PodContainer
	Via       Via
	Env       int     // ViaEnv: the entry's index in the container's env
	Name      string  // the variable it sets (env name, envFrom prefix and key); "" for a file
	Source    *Source // the ConfigMap or Secret read; nil for an env value
	Key       string  // the Source's key
	Value     *RedisValue
}

// RegistryPassword reports the registry's Redis password itself: a key
// of a Secret (the chart fills it from the values) that envFrom imports.
func (u RedisUse) RegistryPassword() bool { return u.Via == ViaEnvFrom && u.Key == RegistryPasswordEnv }

// Where names the place for messages: "ConfigMap x key K", "Deployment x
// container c env E".
func (u RedisUse) Where() string {
	if u.Source != nil {
		return u.Source.Kind + " " + u.Source.Name() + " key " + u.Key
	}
	return u.Workload.Kind + " " + u.Workload.Name() + " container " + u.Container.Name + " env " + u.Name
}

// RedisValue is what one value says about Redis.
type RedisValue struct {
	Text string
	// URL is set when the whole value is a Redis URL, the form the chart
	// writes and the credential rewrite rebuilds.
	URL *RedisURL
	// URLs are the Redis URLs in the value, URL or ones inside other text.
	URLs []RedisURL

	file   bool // a ConfigMap or Secret key: may be a config file
	once   sync.Once
	config *RedisConfig
}

func newRedisValue(text string, file bool) *RedisValue {
	v := &RedisValue{Text: text, URLs: RedisURLsIn(text), file: file}
	if u, ok := ParseRedisURL(text); ok {
		v.URL = &u
	}
	return v
}

// RedisConfig is a value read as a YAML config file.
type RedisConfig struct {
	Mappings []RedisMapping // its redis: mappings, by path
	File     *ConfigFile    // set for the registry's or jobservice's config.yml
}

// RedisMapping is a mapping under a key named "redis" in a config file
// (the registry's config.yml has one at the top).
type RedisMapping struct {
	Path      string   // its YAML path: "redis", "storage.cache.redis"
	Addrs     []string // addr, split at the commas between Sentinels
	MasterSet string   // sentinelMasterSet
	Password  string   // a file is never expanded: a password there is plain text
}

// ConfigFile is one of the chart's two config files with a Redis
// credential.
type ConfigFile struct {
	Env string // the variable that overrides the credential
	// URL is jobservice's Redis URL and RawURL the text the file holds;
	// nil for the registry, whose variable is the password itself.
	URL    *RedisURL
	RawURL string
	// Password is the credential the file holds now ("" when none).
	Password string
	// NoUsername: the registry's file has no redis.username, which the
	// charts render from 1.19 on (Harbor 2.15, whose registry reads it).
	NoUsername bool
}

// Config reads the value as a YAML config file, once; nil for an env
// value, or a value that is no YAML mapping mentioning Redis.
func (v *RedisValue) Config() *RedisConfig {
	if !v.file {
		return nil
	}
	v.once.Do(func() { v.config = readRedisConfig(v.Text) })
	return v.config
}

func readRedisConfig(text string) *RedisConfig {
	tree, err := manifest.UnmarshalMap([]byte(text))
	if err != nil || tree == nil {
		return nil
	}
	c := &RedisConfig{}
	walkRedisMappings(tree, "", func(path string, m map[string]any) {
		c.Mappings = append(c.Mappings, redisMapping(path, m))
	})
	c.File = configFile(tree)
	return c
}

// configFile recognises the registry's and jobservice's config.yml by
// their shape.
func configFile(tree map[string]any) *ConfigFile {
	if r, ok := tree["redis"].(map[string]any); ok {
		if _, hasAddr := r["addr"]; hasAddr {
			pw, _ := r["password"].(string)
			_, hasUser := r["username"]
			return &ConfigFile{Env: RegistryPasswordEnv, Password: pw, NoUsername: !hasUser}
		}
	}
	raw, _, _ := unstructured.NestedString(tree, "worker_pool", "redis_pool", "redis_url")
	if u, ok := ParseRedisURL(raw); ok {
		return &ConfigFile{Env: JobserviceURLEnv, URL: &u, RawURL: raw, Password: u.Password}
	}
	return nil
}

func redisMapping(path string, m map[string]any) RedisMapping {
	addr, _ := m["addr"].(string)
	out := RedisMapping{Path: path}
	out.MasterSet, _ = m["sentinelMasterSet"].(string)
	out.Password, _ = m["password"].(string)
	for _, a := range strings.Split(addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out.Addrs = append(out.Addrs, a)
		}
	}
	return out
}

// walkRedisMappings calls fn for each mapping under a key named "redis",
// with its YAML path, in key order.
func walkRedisMappings(v any, path string, fn func(string, map[string]any)) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, k := range SortedKeys(m) {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if sub, ok := m[k].(map[string]any); ok && k == "redis" {
			fn(p, sub)
			continue
		}
		walkRedisMappings(m[k], p, fn)
	}
}

// Sources are the stream's ConfigMaps and Secrets, decoded once.
func (r *Release) Sources() *Sources {
	r.sourcesOnce.Do(func() { r.sources = ReadSources(r.Docs) })
	return r.sources
}

// RedisUses are the places the release's containers read Redis settings,
// workload by workload in stream order, container by container as the
// kubelet starts them, and in each container: its envFrom keys (in envFrom
// order, keys sorted), its env entries, its mounted ConfigMap keys (in
// volume order, keys sorted). A value is a use when it mentions Redis (the
// registry's password key always is).
func (r *Release) RedisUses() []RedisUse {
	r.usesOnce.Do(func() { r.uses = readRedisUses(r.Workloads, r.Sources()) })
	return r.uses
}

func readRedisUses(workloads []*Workload, sources *Sources) []RedisUse {
	r := &usesReader{sources: sources, values: map[valueKey]*RedisValue{}}
	for _, w := range workloads {
		for _, c := range w.Containers() {
			r.envFrom(w, c)
			r.env(w, c)
			r.files(w, c)
		}
	}
	return r.out
}

// usesReader collects uses, reading each ConfigMap or Secret key once.
type usesReader struct {
	sources *Sources
	values  map[valueKey]*RedisValue // nil: the key does not mention Redis
	out     []RedisUse
}

type valueKey struct {
	src *Source
	key string
}

// value is a ConfigMap or Secret key's value, nil when it does not
// mention Redis.
func (r *usesReader) value(src *Source, key string) *RedisValue {
	k := valueKey{src, key}
	v, done := r.values[k]
	if !done {
		if text := src.Data[key]; strings.Contains(text, "redis") {
			v = newRedisValue(text, true)
		}
		r.values[k] = v
	}
	return v
}

func (r *usesReader) envFrom(w *Workload, c PodContainer) {
	for _, from := range c.EnvFrom {
		src := envFromSource(r.sources, w.Namespace(), from)
		if src == nil {
			continue
		}
		for _, k := range SortedKeys(src.Data) {
			v := r.value(src, k)
			if v == nil && k == RegistryPasswordEnv { // the password itself mentions no Redis
				v = &RedisValue{Text: src.Data[k]}
				r.values[valueKey{src, k}] = v
			}
			if v != nil {
				r.out = append(r.out, RedisUse{Workload: w, Container: c, Via: ViaEnvFrom, Name: from.Prefix + k, Source: src, Key: k, Value: v})
			}
		}
	}
}

func (r *usesReader) env(w *Workload, c PodContainer) {
	for i, e := range c.Env {
		use := RedisUse{Workload: w, Container: c, Via: ViaEnv, Env: i, Name: e.Name}
		if e.Value != "" {
			if strings.Contains(e.Value, "redis") {
				use.Value = newRedisValue(e.Value, false)
			}
		} else if use.Source, use.Key = keyRef(r.sources, w.Namespace(), e.ValueFrom); use.Source != nil {
			use.Value = r.value(use.Source, use.Key)
		}
		if use.Value != nil {
			r.out = append(r.out, use)
		}
	}
}

func (r *usesReader) files(w *Workload, c PodContainer) {
	for _, vol := range w.Template().Spec.Volumes {
		if vol.ConfigMap == nil || !w.Mounts(c.Container, "ConfigMap", vol.ConfigMap.Name) {
			continue
		}
		src := r.sources.Get("ConfigMap", w.Namespace(), vol.ConfigMap.Name)
		if src == nil {
			continue
		}
		for _, k := range SortedKeys(src.Data) {
			if v := r.value(src, k); v != nil {
				r.out = append(r.out, RedisUse{Workload: w, Container: c, Via: ViaFile, Source: src, Key: k, Value: v})
			}
		}
	}
}

// envFromSource is the stream ConfigMap or Secret an envFrom entry imports.
func envFromSource(sources *Sources, ns string, from corev1.EnvFromSource) *Source {
	switch {
	case from.ConfigMapRef != nil:
		return sources.Get("ConfigMap", ns, from.ConfigMapRef.Name)
	case from.SecretRef != nil:
		return sources.Get("Secret", ns, from.SecretRef.Name)
	}
	return nil
}

// keyRef is the stream ConfigMap or Secret an env entry reads, and the key.
func keyRef(sources *Sources, ns string, from *corev1.EnvVarSource) (*Source, string) {
	switch {
	case from == nil:
	case from.ConfigMapKeyRef != nil:
		return sources.Get("ConfigMap", ns, from.ConfigMapKeyRef.Name), from.ConfigMapKeyRef.Key
	case from.SecretKeyRef != nil:
		return sources.Get("Secret", ns, from.SecretKeyRef.Name), from.SecretKeyRef.Key
	}
	return nil, ""
}

// RedisSetting is a Redis address the release's configuration gives: a
// Redis URL, or a config file's redis: mapping.
type RedisSetting struct {
	Use     RedisUse // the first use that reads it
	URL     *RedisURL
	Mapping *RedisMapping
}

// RedisSettings are the Redis URLs and redis: mappings the release reads:
// first those of its ConfigMaps and Secrets (stream order, keys sorted,
// each key once however many containers read it; its URLs, then its
// mappings), then those of its env values (in RedisUses' order).
func (r *Release) RedisSettings() []RedisSetting {
	var fromSources []RedisUse
	seen := map[*RedisValue]bool{}
	for _, u := range r.RedisUses() {
		if u.Source != nil && !seen[u.Value] {
			seen[u.Value] = true
			fromSources = append(fromSources, u)
		}
	}
	sortUses(fromSources)
	var out []RedisSetting
	add := func(u RedisUse) {
		for i := range u.Value.URLs {
			out = append(out, RedisSetting{Use: u, URL: &u.Value.URLs[i]})
		}
		if c := u.Value.Config(); c != nil {
			for i := range c.Mappings {
				out = append(out, RedisSetting{Use: u, Mapping: &c.Mappings[i]})
			}
		}
	}
	for _, u := range fromSources {
		add(u)
	}
	for _, u := range r.RedisUses() {
		if u.Source == nil {
			add(u)
		}
	}
	return out
}

// sortUses orders uses of ConfigMaps and Secrets by document, then key.
func sortUses(uses []RedisUse) {
	slices.SortStableFunc(uses, func(a, b RedisUse) int {
		if a.Source.Doc.Pos != b.Source.Doc.Pos {
			return a.Source.Doc.Pos - b.Source.Doc.Pos
		}
		return strings.Compare(a.Key, b.Key)
	})
}

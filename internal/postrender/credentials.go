package postrender

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// Credentials by reference (--redis-password-secret): every place the
// chart writes the Redis password (ConfigMaps, Secrets built from values,
// config files) becomes a reference to one Secret key, the same in every
// chart version 1.14-1.19:
//
//   - a Redis URL a container reads (envFrom, env valueFrom, env value) is
//     rebuilt from the chart's own URL as an env value with
//     "[user]:$(HARBORHA_REDIS_PASSWORD)@": Kubernetes expands a $(VAR)
//     defined earlier in the same container's env, so the password
//     variable (secretKeyRef) is the first entry. Core reads only URLs
//     (goharbor/harbor@v2.15.1 src/core/main.go L148 _REDIS_URL_CORE,
//     src/lib/redis/client.go L42 _REDIS_URL_REG, L67 _REDIS_URL_HARBOR,
//     src/lib/cache/cache.go L154 _REDIS_URL_CACHE_LAYER), so do the
//     exporter (src/cmd/exporter/main.go L73 HARBOR_REDIS_URL via viper)
//     and trivy (goharbor/harbor-scanner-trivy@v0.36.0 pkg/etc/config.go
//     L73 SCANNER_REDIS_URL);
//   - a config file loses it for the component's own override
//     (configfiles.go);
//   - the registry's REGISTRY_REDIS_PASSWORD (a Secret key the chart fills
//     from values) becomes a secretKeyRef in env, which beats envFrom.
//
// A URL that stays in its ConfigMap or Secret loses its password (the
// container's env entry overrides it); a key that held the password itself
// is removed. None is left behind.

// passwordVar is the variable the rebuilt URLs expand. HARBORHA_ is no
// prefix a user's kustomize vars would pick.
const passwordVar = "HARBORHA_REDIS_PASSWORD"

// secretKeyRef is --redis-password-secret NAME[:KEY].
type secretKeyRef struct{ name, key string }

func (o Knobs) redisSecret() (*secretKeyRef, error) {
	if o.RedisPasswordSecret == "" {
		if o.RedisUsername != "" {
			return nil, fmt.Errorf("--redis-username is only used with --redis-password-secret: add it, or drop --redis-username")
		}
		return nil, nil
	}
	name, key, hasKey := strings.Cut(o.RedisPasswordSecret, ":")
	if !hasKey {
		key = DefaultRedisPasswordKey
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, fmt.Errorf("--redis-password-secret: %q is not a Secret name: %s", name, errs[0])
	}
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return nil, fmt.Errorf("--redis-password-secret: %q is not a Secret key: %s", key, errs[0])
	}
	return &secretKeyRef{name: name, key: key}, nil
}

func (r *secretKeyRef) env(name string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: r.name}, Key: r.key,
	}}}
}

// credentials is the credential part of the plan: operations per workload
// and per ConfigMap or Secret.
type credentials struct {
	workloads map[*harbor.Workload][]jsonOp
	sources   []patch
}

// credentialRewrite rewrites one release.
type credentialRewrite struct {
	ref     *secretKeyRef
	user    string
	sources harbor.Sources
	drop    map[*harbor.Source][]string          // keys that held the password itself
	files   map[*harbor.Source]map[string]string // key -> its value without the credential
	// parsed holds each mounted file's override: registry and registryctl
	// mount the same config.yml, and reading it parses YAML three times.
	parsed map[sourceKey]parsedFile
	// configs is each mounted file parsed, shared by the releases of a
	// stream: the rewrite and the inline-password warning both read them.
	configs map[sourceKey]parsedConfig
}

type sourceKey struct {
	src *harbor.Source
	key string
}

type parsedFile struct {
	ov  override
	ok  bool
	err error
}

type parsedConfig struct {
	f  configFile
	ok bool
}

// planCredentials plans the rewrite of every release in the stream, or,
// without --redis-password-secret, warns about each inline password.
func planCredentials(p *plan, rel *harbor.Release, o Knobs) (*credentials, error) {
	ref, err := o.redisSecret()
	if err != nil {
		return nil, err
	}
	out := &credentials{workloads: map[*harbor.Workload][]jsonOp{}}
	sources := harbor.ReadSources(rel.Docs)
	configs := map[sourceKey]parsedConfig{}
	for _, group := range releases(rel) {
		warnInlineDatabase(p, group, sources)
		if hasInternalRedis(group) {
			if ref != nil {
				p.warnf("--redis-password-secret: release %s uses the chart's internal Redis, which has no password; nothing to reference", group.key)
			}
			continue
		}
		cr := &credentialRewrite{ref: ref, user: o.RedisUsername, sources: sources, configs: configs,
			drop: map[*harbor.Source][]string{}, files: map[*harbor.Source]map[string]string{}}
		if ref == nil {
			warnInlineRedis(p, group, cr)
			continue
		}
		for _, w := range group.workloads {
			ops, err := cr.workloadOps(w)
			if err != nil {
				return nil, err
			}
			out.workloads[w] = ops
		}
		out.sources = append(out.sources, cr.sourcePatches()...)
		cr.warnHooks(p, rel.Docs)
	}
	return out, nil
}

// releaseGroup is one release's Harbor workloads.
type releaseGroup struct {
	key       string // namespace/release
	workloads []*harbor.Workload
	internals []*harbor.Workload
}

func releases(rel *harbor.Release) []*releaseGroup {
	var order []*releaseGroup
	byKey := map[string]*releaseGroup{}
	for _, w := range rel.Workloads {
		key := w.Namespace() + "/" + w.Release()
		g := byKey[key]
		if g == nil {
			g = &releaseGroup{key: key}
			byKey[key] = g
			order = append(order, g)
		}
		if harbor.IsComponent(w.Component) {
			g.workloads = append(g.workloads, w)
		} else {
			g.internals = append(g.internals, w)
		}
	}
	return order
}

func hasInternalRedis(g *releaseGroup) bool {
	return slices.ContainsFunc(g.internals, func(w *harbor.Workload) bool { return w.Component == "redis" })
}

// workloadOps rewrites each container's env; it records the ConfigMap and
// Secret keys that moved and the config files to rewrite.
func (cr *credentialRewrite) workloadOps(w *harbor.Workload) ([]jsonOp, error) {
	var ops []jsonOp
	for _, c := range w.Containers() {
		env, err := cr.containerEnv(w, c)
		if err != nil {
			return nil, err
		}
		if !equalJSON(c.Env, env) {
			ops = append(ops, set(c.Path+"/env", toMap(env)))
		}
	}
	return ops, nil
}

// override is an env entry that must win over what the chart gives.
type override struct {
	name string
	env  corev1.EnvVar
}

// containerEnv is the container's new env: the password variable first,
// the chart's entries in place (Redis URLs rebuilt), then the entries that
// override what envFrom and config files would give.
func (cr *credentialRewrite) containerEnv(w *harbor.Workload, c harbor.PodContainer) ([]corev1.EnvVar, error) {
	overrides, err := cr.overrides(w, c)
	if err != nil {
		return nil, err
	}
	var out []corev1.EnvVar
	used := map[string]bool{}
	for _, e := range c.Env {
		if e.Name == passwordVar {
			continue
		}
		if i := slices.IndexFunc(overrides, func(ov override) bool { return ov.name == e.Name }); i >= 0 {
			out = append(out, overrides[i].env)
			used[e.Name] = true
			continue
		}
		out = append(out, cr.rewriteEntry(w, e))
	}
	for _, ov := range overrides {
		if !used[ov.name] {
			out = append(out, ov.env)
			used[ov.name] = true
		}
	}
	if slices.ContainsFunc(out, func(e corev1.EnvVar) bool { return strings.Contains(e.Value, "$("+passwordVar+")") }) {
		out = append([]corev1.EnvVar{cr.ref.env(passwordVar)}, out...)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// rewriteEntry rebuilds an env entry that is a Redis URL, as a value or
// read from a ConfigMap or Secret of the stream.
func (cr *credentialRewrite) rewriteEntry(w *harbor.Workload, e corev1.EnvVar) corev1.EnvVar {
	if e.Value != "" {
		if u, ok := parseURL(e.Value); ok {
			return corev1.EnvVar{Name: e.Name, Value: cr.url(u, false)}
		}
		return e
	}
	src, key := cr.keyRef(w, e.ValueFrom)
	if src == nil {
		return e
	}
	if u, ok := parseURL(src.Data[key]); ok {
		cr.setValue(src, key, cr.addressOnly(u))
		return corev1.EnvVar{Name: e.Name, Value: cr.url(u, true)}
	}
	return e
}

// keyRef is the stream ConfigMap or Secret an env entry reads, and the key.
func (cr *credentialRewrite) keyRef(w *harbor.Workload, from *corev1.EnvVarSource) (*harbor.Source, string) {
	switch {
	case from == nil:
	case from.ConfigMapKeyRef != nil:
		return cr.sources.Get("ConfigMap", w.Namespace(), from.ConfigMapKeyRef.Name), from.ConfigMapKeyRef.Key
	case from.SecretKeyRef != nil:
		return cr.sources.Get("Secret", w.Namespace(), from.SecretKeyRef.Name), from.SecretKeyRef.Key
	}
	return nil, ""
}

// overrides are the entries the container needs in env: the Redis URLs
// and the registry password its envFrom sources carry, and the variable
// of each config file it mounts.
func (cr *credentialRewrite) overrides(w *harbor.Workload, c harbor.PodContainer) ([]override, error) {
	var out []override
	add := func(ov override) {
		if i := slices.IndexFunc(out, func(o override) bool { return o.name == ov.name }); i >= 0 {
			out[i] = ov // a later source wins, as in the kubelet
			return
		}
		out = append(out, ov)
	}
	for _, from := range c.EnvFrom {
		src := cr.envFromSource(w, from)
		if src == nil {
			continue
		}
		for _, k := range harbor.SortedKeys(src.Data) {
			name := from.Prefix + k
			if u, ok := parseURL(src.Data[k]); ok {
				add(override{name, corev1.EnvVar{Name: name, Value: cr.url(u, true)}})
				cr.setValue(src, k, cr.addressOnly(u))
			} else if k == registryPasswordEnv {
				add(override{name, cr.ref.env(name)})
				cr.dropKey(src, k)
			}
		}
	}
	for _, v := range w.Template().Spec.Volumes {
		if v.ConfigMap == nil || !w.Mounts(c.Container, "ConfigMap", v.ConfigMap.Name) {
			continue
		}
		src := cr.sources.Get("ConfigMap", w.Namespace(), v.ConfigMap.Name)
		if src == nil {
			continue
		}
		for _, k := range harbor.SortedKeys(src.Data) {
			ov, ok, err := cr.fileOverride(src, k)
			if err != nil {
				return nil, err
			}
			if ok {
				add(ov)
			}
		}
	}
	return out, nil
}

func (cr *credentialRewrite) envFromSource(w *harbor.Workload, from corev1.EnvFromSource) *harbor.Source {
	switch {
	case from.ConfigMapRef != nil:
		return cr.sources.Get("ConfigMap", w.Namespace(), from.ConfigMapRef.Name)
	case from.SecretRef != nil:
		return cr.sources.Get("Secret", w.Namespace(), from.SecretRef.Name)
	}
	return nil
}

// fileOverride is the variable a mounted config file needs, recording the
// file's rewrite; each file is read once.
func (cr *credentialRewrite) fileOverride(src *harbor.Source, key string) (override, bool, error) {
	k := sourceKey{src, key}
	if r, done := cr.parsed[k]; done {
		return r.ov, r.ok, r.err
	}
	ov, ok, err := cr.readFile(src, key)
	if cr.parsed == nil {
		cr.parsed = map[sourceKey]parsedFile{}
	}
	cr.parsed[k] = parsedFile{ov, ok, err}
	return ov, ok, err
}

func (cr *credentialRewrite) readFile(src *harbor.Source, key string) (override, bool, error) {
	f, ok := cr.configFile(src, key)
	if !ok {
		return override{}, false, nil
	}
	text, err := f.rewrite(src.Data[key])
	if err != nil {
		return override{}, false, fmt.Errorf("%s key %s: %v", src.Doc.Describe(), key, err)
	}
	cr.setValue(src, key, text)
	if f.url != nil {
		return override{f.env, corev1.EnvVar{Name: f.env, Value: cr.url(*f.url, true)}}, true, nil
	}
	return override{f.env, cr.ref.env(f.env)}, true, nil
}

// configFile is parseConfigFile of a ConfigMap key, parsed once.
func (cr *credentialRewrite) configFile(src *harbor.Source, key string) (configFile, bool) {
	k := sourceKey{src, key}
	if c, done := cr.configs[k]; done {
		return c.f, c.ok
	}
	f, ok := parseConfigFile(src.Data[key])
	cr.configs[k] = parsedConfig{f, ok}
	return f, ok
}

// setValue records a new value for a ConfigMap or Secret key, when it
// differs (so that post-rendering our output plans nothing).
func (cr *credentialRewrite) setValue(src *harbor.Source, key, value string) {
	if value == src.Data[key] {
		return
	}
	if cr.files[src] == nil {
		cr.files[src] = map[string]string{}
	}
	cr.files[src][key] = value
}

// addressOnly is a Redis URL without its password, with the user the
// rebuilt URLs log in as: what stays in the chart's ConfigMap or Secret,
// which the container's env entry overrides. It keeps the address where
// people and tools (kubectl get configmap, harborha doctor) look for it.
func (cr *credentialRewrite) addressOnly(u harbor.RedisURL) string {
	if cr.user != "" {
		u.User = cr.user
	}
	return u.WithoutPassword()
}

func (cr *credentialRewrite) dropKey(src *harbor.Source, key string) {
	if !slices.Contains(cr.drop[src], key) {
		cr.drop[src] = append(cr.drop[src], key)
	}
}

func parseURL(s string) (harbor.RedisURL, bool) {
	if !harbor.IsRedisURL(s) {
		return harbor.RedisURL{}, false
	}
	return harbor.ParseRedisURL(s)
}

// url rebuilds a Redis URL with the password variable. literal says the
// URL came from a ConfigMap or Secret, so a "$" in it must become "$$" in
// an env value; a URL already in an env value is in that syntax.
func (cr *credentialRewrite) url(u harbor.RedisURL, literal bool) string {
	esc := func(s string) string { return s }
	if literal {
		esc = func(s string) string { return strings.ReplaceAll(s, "$", "$$") }
	}
	user := u.User
	if cr.user != "" {
		user = cr.user
	}
	cred := ""
	if user != "" {
		cred = esc(url.User(user).String())
	}
	return u.Scheme + "://" + cred + ":$(" + passwordVar + ")@" + esc(strings.Join(u.Hosts, ",")) + esc(u.Rest)
}

// sourcePatches removes the password keys and rewrites the values that
// held a credential, in stream order.
func (cr *credentialRewrite) sourcePatches() []patch {
	var out []patch
	for _, s := range cr.changedSources() {
		var ops []jsonOp
		keys := slices.Clone(cr.drop[s])
		slices.Sort(keys)
		for _, k := range keys {
			ops = append(ops, jsonOp{Op: "remove", Path: "/" + s.Field[k] + "/" + pointerEscape(k)})
		}
		for _, k := range harbor.SortedKeys(cr.files[s]) {
			ops = append(ops, setValueOp(s, k, cr.files[s][k]))
		}
		// The document is written anew: a value its text had to trim keeps
		// the newline Helm would give it back.
		for _, k := range harbor.SortedKeys(s.Trimmed) {
			if _, rewritten := cr.files[s][k]; !rewritten && !slices.Contains(keys, k) {
				ops = append(ops, setValueOp(s, k, s.Data[k]))
			}
		}
		out = append(out, patch{target: harbor.Target(s.Doc), ops: ops})
	}
	return out
}

// setValueOp sets a key of a ConfigMap or Secret (a Secret's data is
// base64).
func setValueOp(s *harbor.Source, key, value string) jsonOp {
	if s.Kind == "Secret" && s.Field[key] == "data" {
		value = base64.StdEncoding.EncodeToString([]byte(value))
	}
	return set("/"+s.Field[key]+"/"+pointerEscape(key), value)
}

// changedSources are the ConfigMaps and Secrets that change, in stream
// order.
func (cr *credentialRewrite) changedSources() []*harbor.Source {
	var srcs []*harbor.Source
	for s := range cr.drop {
		srcs = append(srcs, s)
	}
	for s := range cr.files {
		if _, ok := cr.drop[s]; !ok {
			srcs = append(srcs, s)
		}
	}
	slices.SortFunc(srcs, func(a, b *harbor.Source) int { return a.Doc.Pos - b.Doc.Pos })
	return srcs
}

// pointerEscape escapes a key for a JSON pointer (RFC 6901).
func pointerEscape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// warnHooks warns about Helm hooks that read a ConfigMap or Secret whose
// Redis password now reaches only the workloads: Helm 3 never post-renders
// hooks (Helm 4 does, but they pass through untouched), so such a hook
// (the chart's migration-job, enableMigrateHelmHook) gets none.
func (cr *credentialRewrite) warnHooks(p *plan, docs []*manifest.Doc) {
	changed := cr.changedSources()
	for _, d := range docs {
		if !d.Hook {
			continue
		}
		for _, src := range changed {
			if src.Doc.Obj.GetNamespace() == d.Obj.GetNamespace() && mentions(d, src.Kind, src.Name()) {
				p.warnf("%s is a Helm hook reading %s %s, whose Redis password now reaches only the workloads' env: Helm does not post-render hooks, so it cannot log in to Redis (leave the chart's enableMigrateHelmHook off)", d.Describe(), src.Kind, src.Name())
				break
			}
		}
	}
}

// mentions reports whether a document's pod spec reads the ConfigMap or
// Secret by name (envFrom or env valueFrom).
func mentions(d *manifest.Doc, kind, name string) bool {
	refKey := map[string]string{"ConfigMap": "configMapRef", "Secret": "secretRef"}[kind]
	keyRefKey := map[string]string{"ConfigMap": "configMapKeyRef", "Secret": "secretKeyRef"}[kind]
	found := false
	walk(d.Obj.Object, func(key string, m map[string]any) {
		if (key == refKey || key == keyRefKey) && m["name"] == name {
			found = true
		}
	})
	return found
}

// walk calls fn for every mapping in v with the key it is under.
func walk(v any, fn func(key string, m map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if m, ok := child.(map[string]any); ok {
				fn(k, m)
			}
			walk(child, fn)
		}
	case []any:
		for _, child := range t {
			walk(child, fn)
		}
	}
}

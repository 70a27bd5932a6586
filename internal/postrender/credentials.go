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
	ref   *secretKeyRef
	user  string
	drop  map[*harbor.Source][]string          // keys that held the password itself
	files map[*harbor.Source]map[string]string // key -> its value without the credential
	// fileOverrides is each mounted config file's override, by file:
	// registry and registryctl mount the same config.yml, rewritten once.
	fileOverrides map[fileKey]fileOverride
}

type fileKey struct {
	src *harbor.Source
	key string
}

type fileOverride struct {
	ov  override
	ok  bool
	err error
}

// planCredentials plans the rewrite of every release in the stream, or,
// without --redis-password-secret, warns about each inline password.
func planCredentials(p *plan, rel *harbor.Release, o Knobs) (*credentials, error) {
	ref, err := o.redisSecret()
	if err != nil {
		return nil, err
	}
	out := &credentials{workloads: map[*harbor.Workload][]jsonOp{}}
	uses := map[*harbor.Workload][]harbor.RedisUse{}
	for _, u := range rel.RedisUses() {
		uses[u.Workload] = append(uses[u.Workload], u)
	}
	for _, group := range releases(rel) {
		warnInlineDatabase(p, group, rel.Sources())
		if hasInternalRedis(group) {
			if ref != nil {
				p.warnf("--redis-password-secret: release %s uses the chart's internal Redis, which has no password; nothing to reference", group.key)
			}
			continue
		}
		if ref == nil {
			warnInlineRedis(p, group, uses)
			continue
		}
		cr := &credentialRewrite{ref: ref, user: o.RedisUsername,
			drop: map[*harbor.Source][]string{}, files: map[*harbor.Source]map[string]string{}}
		for _, w := range group.workloads {
			ops, err := cr.workloadOps(w, uses[w])
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

// workloadOps rewrites each container's env from the workload's Redis uses;
// it records the ConfigMap and Secret keys that moved and the config files
// to rewrite.
func (cr *credentialRewrite) workloadOps(w *harbor.Workload, uses []harbor.RedisUse) ([]jsonOp, error) {
	var ops []jsonOp
	for _, c := range w.Containers() {
		var own []harbor.RedisUse
		for _, u := range uses {
			if u.Container.Path == c.Path {
				own = append(own, u)
			}
		}
		env, err := cr.containerEnv(c, own)
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
func (cr *credentialRewrite) containerEnv(c harbor.PodContainer, uses []harbor.RedisUse) ([]corev1.EnvVar, error) {
	overrides, err := cr.overrides(uses)
	if err != nil {
		return nil, err
	}
	entries := map[int]harbor.RedisUse{}
	for _, u := range uses {
		if u.Via == harbor.ViaEnv && u.Value.URL != nil {
			entries[u.Env] = u
		}
	}
	var out []corev1.EnvVar
	used := map[string]bool{}
	for i, e := range c.Env {
		if e.Name == passwordVar {
			continue
		}
		if j := slices.IndexFunc(overrides, func(ov override) bool { return ov.name == e.Name }); j >= 0 {
			out = append(out, overrides[j].env)
			used[e.Name] = true
			continue
		}
		if u, ok := entries[i]; ok {
			e = cr.rebuiltEntry(u)
		}
		out = append(out, e)
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

// rebuiltEntry is an env entry whose value is a Redis URL, or reads one
// from a ConfigMap or Secret of the stream, rebuilt as a value.
func (cr *credentialRewrite) rebuiltEntry(u harbor.RedisUse) corev1.EnvVar {
	if u.Source == nil {
		return corev1.EnvVar{Name: u.Name, Value: cr.url(*u.Value.URL, false)}
	}
	cr.setValue(u.Source, u.Key, cr.addressOnly(*u.Value.URL))
	return corev1.EnvVar{Name: u.Name, Value: cr.url(*u.Value.URL, true)}
}

// overrides are the entries the container needs in env: the Redis URLs
// and the registry password its envFrom sources carry, and the variable
// of each config file it mounts.
func (cr *credentialRewrite) overrides(uses []harbor.RedisUse) ([]override, error) {
	var out []override
	add := func(ov override) {
		if i := slices.IndexFunc(out, func(o override) bool { return o.name == ov.name }); i >= 0 {
			out[i] = ov // a later source wins, as in the kubelet
			return
		}
		out = append(out, ov)
	}
	for _, u := range uses {
		switch {
		case u.Via == harbor.ViaEnvFrom && u.Value.URL != nil:
			add(override{u.Name, corev1.EnvVar{Name: u.Name, Value: cr.url(*u.Value.URL, true)}})
			cr.setValue(u.Source, u.Key, cr.addressOnly(*u.Value.URL))
		case u.RegistryPassword():
			add(override{u.Name, cr.ref.env(u.Name)})
			cr.dropKey(u.Source, u.Key)
		case u.Via == harbor.ViaFile:
			ov, ok, err := cr.fileOverride(u)
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

// fileOverride is the variable a mounted config file needs, recording the
// file's rewrite; each file is rewritten once.
func (cr *credentialRewrite) fileOverride(u harbor.RedisUse) (override, bool, error) {
	k := fileKey{u.Source, u.Key}
	if r, done := cr.fileOverrides[k]; done {
		return r.ov, r.ok, r.err
	}
	ov, ok, err := cr.rewriteFile(u)
	if cr.fileOverrides == nil {
		cr.fileOverrides = map[fileKey]fileOverride{}
	}
	cr.fileOverrides[k] = fileOverride{ov, ok, err}
	return ov, ok, err
}

func (cr *credentialRewrite) rewriteFile(u harbor.RedisUse) (override, bool, error) {
	c := u.Value.Config()
	if c == nil || c.File == nil {
		return override{}, false, nil
	}
	f := c.File
	text, err := withoutCredential(f, u.Value.Text)
	if err != nil {
		return override{}, false, fmt.Errorf("%s key %s: %v", u.Source.Doc.Describe(), u.Key, err)
	}
	cr.setValue(u.Source, u.Key, text)
	if f.URL != nil {
		return override{f.Env, corev1.EnvVar{Name: f.Env, Value: cr.url(*f.URL, true)}}, true, nil
	}
	return override{f.Env, cr.ref.env(f.Env)}, true, nil
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
		out = append(out, patch{doc: s.Doc, ops: ops})
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

package postrender

import (
	"slices"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/output"
)

// Without --redis-password-secret the post-renderer has no Secret to point
// at, so it changes no credential: it names where the Redis password is
// inline instead, one warning per release (the wrappers always pass the
// knob; a plain `helm template | harborha post-render` keeps working).

// warnInlineRedis warns when the release carries the Redis password in a
// ConfigMap, a Secret built from values, a config file or an env value.
func warnInlineRedis(p *plan, g *releaseGroup, cr *credentialRewrite) {
	var places []string
	note := func(place string) {
		if !slices.Contains(places, place) {
			places = append(places, place)
		}
	}
	for _, w := range g.workloads {
		for _, c := range w.Containers() {
			for _, from := range c.EnvFrom {
				src := cr.envFromSource(w, from)
				if src == nil {
					continue
				}
				for _, k := range harbor.SortedKeys(src.Data) {
					if inlinePassword(src.Data[k]) || (k == registryPasswordEnv && src.Data[k] != "") {
						note(src.Kind + " " + src.Name() + " key " + k)
					}
				}
			}
			for _, e := range c.Env {
				if src, key := cr.keyRef(w, e.ValueFrom); src != nil && inlinePassword(src.Data[key]) {
					note(src.Kind + " " + src.Name() + " key " + key)
				} else if inlinePassword(e.Value) {
					note("the env of " + w.Name() + " container " + c.Name + " (" + e.Name + ")")
				}
			}
			for _, v := range w.Template().Spec.Volumes {
				if v.ConfigMap == nil || !w.Mounts(c.Container, "ConfigMap", v.ConfigMap.Name) {
					continue
				}
				if src := cr.sources.Get("ConfigMap", w.Namespace(), v.ConfigMap.Name); src != nil {
					for _, k := range harbor.SortedKeys(src.Data) {
						if f, ok := cr.configFile(src, k); ok && f.password != "" {
							note("ConfigMap " + src.Name() + " key " + k)
						}
					}
				}
			}
		}
	}
	if len(places) == 0 {
		return
	}
	more := ""
	if len(places) > 3 {
		more = " and " + output.Count(len(places)-3, "more place")
		places = places[:3]
	}
	p.warnf("release %s: the Redis password is inline in %s%s; pass --redis-password-secret NAME[:KEY] so that pods read it from a Secret (helm harborha install, upgrade and template do)", g.key, strings.Join(places, ", "), more)
}

// inlinePassword reports a Redis URL with a literal password (not a
// $(VAR) reference).
func inlinePassword(s string) bool {
	u, ok := parseURL(s)
	return ok && u.Password != "" && !(strings.HasPrefix(u.Password, "$(") && strings.HasSuffix(u.Password, ")"))
}

// databasePasswordKeys are the chart's Secret keys that hold
// database.external.password when no existingSecret is set (core's
// POSTGRESQL_PASSWORD, the exporter's HARBOR_DATABASE_PASSWORD).
var databasePasswordKeys = []string{"POSTGRESQL_PASSWORD", "HARBOR_DATABASE_PASSWORD"}

// warnInlineDatabase warns when an external database's password comes
// from the values: the chart reads it from database.external.existingSecret
// by reference in every version, so that is the fix.
func warnInlineDatabase(p *plan, g *releaseGroup, sources harbor.Sources) {
	if slices.ContainsFunc(g.internals, func(w *harbor.Workload) bool { return w.Component == "database" }) {
		return
	}
	for _, w := range g.workloads {
		for _, c := range w.Containers() {
			for _, from := range c.EnvFrom {
				if from.SecretRef == nil {
					continue
				}
				src := sources.Get("Secret", w.Namespace(), from.SecretRef.Name)
				for _, k := range databasePasswordKeys {
					if src != nil && src.Data[k] != "" {
						p.warnf("release %s: the database password is in the values (Secret %s key %s): set database.external.existingSecret to a Secret holding it (helm harborha values does)", g.key, src.Name(), k)
						return
					}
				}
			}
		}
	}
}

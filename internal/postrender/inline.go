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
// ConfigMap, a Secret built from values, a config file or an env value:
// where the rewrite would take it from.
func warnInlineRedis(p *plan, g *releaseGroup, uses map[*harbor.Workload][]harbor.RedisUse) {
	var places []string
	for _, w := range g.workloads {
		for _, u := range uses[w] {
			if place := inlinePlace(u); place != "" && !slices.Contains(places, place) {
				places = append(places, place)
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

// inlinePlace names where a use holds the Redis password in plain text,
// or is "".
func inlinePlace(u harbor.RedisUse) string {
	var plain bool
	switch {
	case u.RegistryPassword():
		plain = u.Value.Text != ""
	case u.Via == harbor.ViaFile:
		c := u.Value.Config()
		plain = c != nil && c.File != nil && c.File.Password != ""
	default:
		plain = u.Value.URL != nil && u.Value.URL.PlainPassword()
	}
	switch {
	case !plain:
		return ""
	case u.Source == nil:
		return "the env of " + u.Workload.Name() + " container " + u.Container.Name + " (" + u.Name + ")"
	}
	return u.Source.Kind + " " + u.Source.Name() + " key " + u.Key
}

// databasePasswordKeys are the chart's Secret keys that hold
// database.external.password when no existingSecret is set (core's
// POSTGRESQL_PASSWORD, the exporter's HARBOR_DATABASE_PASSWORD).
var databasePasswordKeys = []string{"POSTGRESQL_PASSWORD", "HARBOR_DATABASE_PASSWORD"}

// warnInlineDatabase warns when an external database's password comes
// from the values: the chart reads it from database.external.existingSecret
// by reference in every version, so that is the fix.
func warnInlineDatabase(p *plan, g *releaseGroup, sources *harbor.Sources) {
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

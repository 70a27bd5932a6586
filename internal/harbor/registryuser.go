package harbor

// The registry and a Redis user. Harbor's registry (goharbor/distribution)
// reads a Redis user name from its config.yml only from Harbor 2.15 on,
// which chart 1.19 ships and fills redis.username for. An older registry
// logs in with the password alone, which Redis takes as user "default":
// with another user's password it is refused (WRONGPASS) on every
// connection and serves without its blob descriptor cache, saying so only
// in its log (goharbor/harbor#18892; docs/harbor-from-source.md (a)).

// RegistryUserGap is a release whose components log in to Redis as an
// ACL user its registry cannot log in as.
type RegistryUserGap struct {
	Release  string   // namespace/release
	User     string   // the user of the others' Redis URLs
	Registry RedisUse // the registry's config.yml, without redis.username
}

// RegistryUserGaps are the releases whose Redis URLs name a user other
// than "default" while their registry's config.yml has no redis.username
// (charts before 1.19), in stream order. user, when not "", is the user
// the URLs are about to carry (the post-renderer's --redis-username).
func (r *Release) RegistryUserGaps(user string) []RegistryUserGap {
	users := map[string]string{}
	registry := map[string]RedisUse{}
	var order []string
	for _, u := range r.RedisUses() {
		key := u.Workload.Namespace() + "/" + u.Workload.Release()
		if _, seen := users[key]; !seen {
			users[key] = ""
			if user != "default" {
				users[key] = user
			}
			order = append(order, key)
		}
		for _, url := range u.Value.URLs {
			if url.User != "" && url.User != "default" && users[key] == "" {
				users[key] = url.User
			}
		}
		if c := u.Value.Config(); c != nil && c.File != nil && c.File.Env == RegistryPasswordEnv && c.File.NoUsername {
			if _, ok := registry[key]; !ok {
				registry[key] = u
			}
		}
	}
	var out []RegistryUserGap
	for _, key := range order {
		if reg, ok := registry[key]; ok && users[key] != "" {
			out = append(out, RegistryUserGap{Release: key, User: users[key], Registry: reg})
		}
	}
	return out
}

package bootstrap

import (
	"fmt"
	"io"
	"strings"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/generated"
	"github.com/harborha/helm-harborha/internal/values"
)

// Result says what Run set up, for the values overlay and for the user.
// It never carries a password in its JSON/YAML form.
type Result struct {
	// Namespace is Harbor's: the Secrets below are there.
	Namespace string          `json:"namespace"`
	Database  *DatabaseResult `json:"database,omitempty"`
	Redis     *RedisResult    `json:"redis,omitempty"`
	// Generated are the Secrets of the values the chart would generate.
	Generated *generated.Set `json:"generated,omitempty"`
}

// DatabaseResult: Harbor's role, its database, and the Secret whose key
// "password" (DatabasePasswordKey) the chart reads.
type DatabaseResult struct {
	Role     string `json:"role"`
	Database string `json:"database"`
	Secret   string `json:"secret"`
	Rotated  bool   `json:"rotated,omitempty"`
	// MaxConnections is the server's max_connections (SHOW, as the
	// superuser), which Harbor's pools are sized to; 0 when unknown.
	MaxConnections int `json:"maxConnections,omitempty"`
}

// RedisResult: Harbor's ACL user (or, with Copy, the cluster's own
// account) and its Secret in Harbor's namespace (keys RedisUsernameKey,
// RedisPasswordKey), which pods read the password from by reference.
type RedisResult struct {
	User    string   `json:"user"`
	Secret  string   `json:"secret"`
	Nodes   []string `json:"nodes,omitempty"`
	Rotated bool     `json:"rotated,omitempty"`
	// Copy: the Secret is a copy of the KubeBlocks account's, made because
	// that one lives outside Harbor's namespace.
	Copy bool `json:"copy,omitempty"`
}

// Settings are the chart values that point Harbor at what Run set up:
//   - database.external.username = the role, coreDatabase = its database,
//     existingSecret = the generated Secret; password removed (the chart
//     reads it from existingSecret, key "password");
//   - redis.external.username = the user, when the chart supports it
//     (redisUsername: goharbor chart 1.12 or later); no password and no
//     existingSecret (the post-renderer references the Secret: RedisRef);
//   - the generated values' fields (core.existingSecret, ...).
//
// Without chart support for a Redis username, a Redis user cannot be used
// (Harbor would log in as "default" with the user's password): an error.
func (r Result) Settings(redisUsername bool) ([]values.Setting, error) {
	var s []values.Setting
	if d := r.Database; d != nil {
		s = append(s,
			values.Setting{Path: "database.external.username", Value: d.Role},
			values.Setting{Path: "database.external.coreDatabase", Value: d.Database},
			values.Setting{Path: "database.external.existingSecret", Value: d.Secret},
			values.Setting{Path: "database.external.password", Value: nil},
		)
	}
	if rd := r.Redis; rd != nil {
		if !redisUsername && !rd.Copy {
			return nil, fmt.Errorf("the chart cannot pass a Redis username (redis.external.username needs goharbor chart 1.12 or later), so Harbor would log in as \"default\" with the password of %q: use a newer chart or drop --redis-user", rd.User)
		}
		if redisUsername {
			s = append(s, values.Setting{Path: "redis.external.username", Value: rd.User})
		}
		s = append(s,
			values.Setting{Path: "redis.external.password", Value: nil},
			values.Setting{Path: "redis.external.existingSecret", Value: nil},
		)
	}
	if g := r.Generated; g != nil {
		s = append(s, g.Settings()...)
	}
	return s, nil
}

// RedisRef is the Secret Harbor's pods read the Redis password from:
// bootstrap's (the user's, or the copy), else the discovered cluster's.
func (r Result) RedisRef(found *discover.Result, namespace string, chart values.Chart) (values.RedisRef, error) {
	if rd := r.Redis; rd != nil {
		ref := values.RedisRef{Secret: rd.Secret, Key: RedisPasswordKey}
		if chart.RedisUsername {
			ref.Username = rd.User
		}
		return ref, nil
	}
	return values.DiscoveredRedis(found, namespace, chart)
}

// WriteText writes what was set up for people (-o text); -o json and yaml
// encode the Result itself. No form holds a password.
func (r Result) WriteText(out io.Writer) error {
	var b strings.Builder
	if d := r.Database; d != nil {
		fmt.Fprintf(&b, "PostgreSQL: role %q owns database %q; its password is in Secret %s/%s (key %q)%s\n",
			d.Role, d.Database, r.Namespace, d.Secret, DatabasePasswordKey, rotatedNote(d.Rotated))
	}
	switch rd := r.Redis; {
	case rd != nil && rd.Copy:
		fmt.Fprintf(&b, "Redis: the password of account %q is copied into Secret %s/%s (key %q), where Harbor's pods can read it\n",
			rd.User, r.Namespace, rd.Secret, RedisPasswordKey)
	case rd != nil:
		fmt.Fprintf(&b, "Redis: user %q on %s; its password is in Secret %s/%s (key %q)%s\n",
			rd.User, strings.Join(rd.Nodes, ", "), r.Namespace, rd.Secret, RedisPasswordKey, rotatedNote(rd.Rotated))
	}
	if g := r.Generated; g != nil {
		var names []string
		for _, s := range g.Secrets {
			names = append(names, s.Secret+" ("+s.State+")")
		}
		fmt.Fprintf(&b, "Generated values (core, jobservice and registry secrets, CSRF key, token key pair, registry credentials): Secrets %s in %s\n",
			strings.Join(names, ", "), g.Namespace)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func rotatedNote(rotated bool) string {
	if rotated {
		return "; password rotated: upgrade or restart Harbor to use it"
	}
	return ""
}

// EndpointFrom is a discovered KubeBlocks cluster as bootstrap reaches it:
// the Service address and the credential Secret (keys "username" and
// "password" in every KubeBlocks version).
func EndpointFrom(ep *discover.Endpoint) Endpoint {
	return Endpoint{Namespace: ep.Namespace, Host: ep.Host, Port: ep.Port, Secret: SecretRef{Name: ep.Secret}}
}

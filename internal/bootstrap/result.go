package bootstrap

import (
	"fmt"
	"io"
	"strings"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/values"
)

// Result says what Run set up, for the values overlay and for the user.
// It never carries a password in its JSON/YAML form.
type Result struct {
	// Namespace is Harbor's: the Secrets below are there.
	Namespace string          `json:"namespace"`
	Database  *DatabaseResult `json:"database,omitempty"`
	Redis     *RedisResult    `json:"redis,omitempty"`
}

// DatabaseResult: Harbor's role, its database, and the Secret whose key
// "password" (DatabasePasswordKey) the chart reads.
type DatabaseResult struct {
	Role     string `json:"role"`
	Database string `json:"database"`
	Secret   string `json:"secret"`
	Rotated  bool   `json:"rotated,omitempty"`
}

// RedisResult: Harbor's ACL user and its Secret (keys RedisUsernameKey,
// RedisPasswordKey).
type RedisResult struct {
	User    string   `json:"user"`
	Secret  string   `json:"secret"`
	Nodes   []string `json:"nodes"`
	Rotated bool     `json:"rotated,omitempty"`
	// Password is the user's password, for the overlay only: the chart
	// reads Redis credentials from values (its existingSecret goes through
	// Helm's lookup, which is empty under helm template and GitOps tools).
	Password string `json:"-"`
}

// Settings are the chart values that point Harbor at what Run set up:
//   - database.external.username = the role, coreDatabase = its database,
//     existingSecret = the generated Secret; password removed (the chart
//     reads it from existingSecret, key "password");
//   - redis.external.password = the user's password and, when the chart
//     supports it (redisUsername: goharbor chart 1.12 or later),
//     redis.external.username; existingSecret removed (the inline values
//     must win).
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
		if !redisUsername {
			return nil, fmt.Errorf("the chart cannot pass a Redis username (redis.external.username needs goharbor chart 1.12 or later), so Harbor would log in as \"default\" with the password of %q: use a newer chart or drop --redis-user", rd.User)
		}
		s = append(s,
			values.Setting{Path: "redis.external.username", Value: rd.User},
			values.Setting{Path: "redis.external.password", Value: rd.Password},
			values.Setting{Path: "redis.external.existingSecret", Value: nil},
		)
	}
	return s, nil
}

// WriteText writes what was set up for people (-o text); -o json and yaml
// encode the Result itself. No form holds a password.
func (r Result) WriteText(out io.Writer) error {
	var b strings.Builder
	if d := r.Database; d != nil {
		fmt.Fprintf(&b, "PostgreSQL: role %q owns database %q; its password is in Secret %s/%s (key %q)%s\n",
			d.Role, d.Database, r.Namespace, d.Secret, DatabasePasswordKey, rotatedNote(d.Rotated))
	}
	if rd := r.Redis; rd != nil {
		fmt.Fprintf(&b, "Redis: user %q on %s; its password is in Secret %s/%s (key %q)%s\n",
			rd.User, strings.Join(rd.Nodes, ", "), r.Namespace, rd.Secret, RedisPasswordKey, rotatedNote(rd.Rotated))
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// Patch points a values overlay at what bootstrap set up (the dedicated
// role, its Secret and database, the Redis user), keeping its header.
func (r Result) Patch(overlay []byte, redisUsername bool) ([]byte, error) {
	settings, err := r.Settings(redisUsername)
	if err != nil {
		return nil, err
	}
	return values.Patch(overlay, settings)
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

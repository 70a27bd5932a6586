package bootstrap

import (
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/discover"
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

// Setting is one chart value bootstrap decides.
type Setting struct {
	Path  string // dotted, e.g. "database.external.username"
	Value any    // nil: remove the key
	// Sensitive values (a password) make the overlay a secret file (0600).
	Sensitive bool
}

// Settings are the chart values that point Harbor at what Run set up:
//   - database.external.username = the role, coreDatabase = its database,
//     existingSecret = the generated Secret; password removed (the chart
//     reads it from existingSecret, key "password");
//   - redis.external.password = the user's password and, when the chart
//     supports it (redisUsername: goharbor chart 1.18 or later),
//     redis.external.username; existingSecret removed (the inline values
//     must win).
//
// Without chart support for a Redis username, a Redis user cannot be used
// (Harbor would log in as "default" with the user's password): an error.
func (r Result) Settings(redisUsername bool) ([]Setting, error) {
	var s []Setting
	if d := r.Database; d != nil {
		s = append(s,
			Setting{Path: "database.external.username", Value: d.Role},
			Setting{Path: "database.external.coreDatabase", Value: d.Database},
			Setting{Path: "database.external.existingSecret", Value: d.Secret},
			Setting{Path: "database.external.password", Value: nil},
		)
	}
	if rd := r.Redis; rd != nil {
		if !redisUsername {
			return nil, fmt.Errorf("the chart cannot pass a Redis username (redis.external.username needs goharbor chart 1.18 or later), so Harbor would log in as \"default\" with the password of %q: use a newer chart or drop --redis-user", rd.User)
		}
		s = append(s,
			Setting{Path: "redis.external.username", Value: rd.User},
			Setting{Path: "redis.external.password", Value: rd.Password, Sensitive: true},
			Setting{Path: "redis.external.existingSecret", Value: nil},
		)
	}
	return s, nil
}

// Apply writes settings into a values tree (as decoded from YAML),
// creating the maps on the way. It fails, changing nothing, when a path
// crosses a value that is not a map.
func Apply(values map[string]any, settings []Setting) error {
	for _, st := range settings {
		if _, err := parent(values, st.Path, false); err != nil {
			return err
		}
	}
	for _, st := range settings {
		m, _ := parent(values, st.Path, st.Value != nil)
		if m == nil {
			continue // removing under a missing map: nothing to do
		}
		leaf := st.Path[strings.LastIndexByte(st.Path, '.')+1:]
		if st.Value == nil {
			delete(m, leaf)
		} else {
			m[leaf] = st.Value
		}
	}
	return nil
}

// parent walks to the map holding path's last element, creating missing
// maps when create is set (else returning nil for a missing one).
func parent(values map[string]any, path string, create bool) (map[string]any, error) {
	parts := strings.Split(path, ".")
	m := values
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok || next == nil {
			if !create {
				return nil, nil
			}
			child := map[string]any{}
			m[p] = child
			m = child
			continue
		}
		child, ok := next.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("values: %s is a %T, not a map, so %s cannot be set", strings.Join(parts[:i+1], "."), next, path)
		}
		m = child
	}
	return m, nil
}

// Formats of Render.
const (
	FormatText = "text"
	FormatJSON = "json"
	FormatYAML = "yaml"
)

// Render formats a result: a few lines for people, JSON or YAML for tools.
// No format holds a password.
func Render(r Result, format string) ([]byte, error) {
	switch format {
	case "", FormatText:
		var b strings.Builder
		if d := r.Database; d != nil {
			fmt.Fprintf(&b, "PostgreSQL: role %q owns database %q; its password is in Secret %s/%s (key %q)%s\n",
				d.Role, d.Database, r.Namespace, d.Secret, DatabasePasswordKey, rotatedNote(d.Rotated))
		}
		if rd := r.Redis; rd != nil {
			fmt.Fprintf(&b, "Redis: user %q on %s; its password is in Secret %s/%s (key %q)%s\n",
				rd.User, strings.Join(rd.Nodes, ", "), r.Namespace, rd.Secret, RedisPasswordKey, rotatedNote(rd.Rotated))
		}
		return []byte(b.String()), nil
	case FormatJSON:
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return nil, err
		}
		return append(b, '\n'), nil
	case FormatYAML:
		return yaml.Marshal(r)
	}
	return nil, fmt.Errorf("-o %q: use text, json or yaml", format)
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

package postrender

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
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
//   - jobservice's config.yml, worker_pool.redis_pool.redis_url: jobservice
//     reads JOB_SERVICE_POOL_REDIS_URL after the file when the backend is
//     redis, as the chart sets it (goharbor/harbor@v2.15.1
//     src/jobservice/config/config.go L40 and L273-279; v2.10.3 L40 and
//     L260-266; main.go L64 Load(path, true)).
const (
	registryPasswordEnv = "REGISTRY_REDIS_PASSWORD"
	jobserviceURLEnv    = "JOB_SERVICE_POOL_REDIS_URL"
)

// configFile is a config file that embeds a Redis credential.
type configFile struct {
	env string // the variable that overrides it
	// url is jobservice's Redis URL (the variable's value is rebuilt from
	// it); nil for the registry, whose variable is the password itself.
	url *harbor.RedisURL
	// password is the credential the file holds now ("" when none).
	password string
	// rewrite is the file without the credential.
	rewrite func(text string) (string, error)
}

// parseConfigFile recognises the registry's and jobservice's config.yml
// by their shape; ok is false for any other data.
func parseConfigFile(text string) (configFile, bool) {
	if !strings.Contains(text, "redis") {
		return configFile{}, false
	}
	tree, err := manifest.UnmarshalMap([]byte(text))
	if err != nil {
		return configFile{}, false
	}
	if r, ok := tree["redis"].(map[string]any); ok {
		if _, hasAddr := r["addr"]; hasAddr {
			pw, _ := r["password"].(string)
			return configFile{env: registryPasswordEnv, password: pw, rewrite: withoutRegistryPassword}, true
		}
	}
	raw, _, _ := unstructured.NestedString(tree, "worker_pool", "redis_pool", "redis_url")
	if u, ok := parseURL(raw); ok {
		return configFile{env: jobserviceURLEnv, url: &u, password: u.Password, rewrite: func(text string) (string, error) {
			return withJobserviceURL(text, raw, u.WithoutPassword())
		}}, true
	}
	return configFile{}, false
}

// withoutRegistryPassword drops the password line of the top-level redis
// mapping, keeping every other byte; the result is checked to mean the
// same file without redis.password.
func withoutRegistryPassword(text string) (string, error) {
	drop := func(tree map[string]any) { delete(tree["redis"].(map[string]any), "password") }
	if i := registryPasswordLine(text); i >= 0 {
		lines := strings.SplitAfter(text, "\n")
		out := strings.Join(append(append([]string{}, lines[:i]...), lines[i+1:]...), "")
		return out, sameExcept(text, out, drop)
	}
	// No such line: fine when there is no password, else a layout (flow
	// style, anchors) this edit cannot handle.
	return text, sameExcept(text, text, drop)
}

// registryPasswordLine is the index of the "password:" line directly under
// the top-level "redis:" line, or -1.
func registryPasswordLine(text string) int {
	lines := strings.SplitAfter(text, "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.TrimRight(l, " \r\n") == "redis:" })
	if start < 0 {
		return -1
	}
	childIndent := -1
	for i := start + 1; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " ")
		if strings.TrimSpace(trimmed) == "" {
			continue
		}
		indent := len(lines[i]) - len(trimmed)
		if indent == 0 {
			break
		}
		if childIndent < 0 {
			childIndent = indent
		}
		if indent == childIndent && strings.HasPrefix(trimmed, "password:") {
			return i
		}
	}
	return -1
}

// withJobserviceURL replaces jobservice's Redis URL in its config.yml.
func withJobserviceURL(text, old, replacement string) (string, error) {
	out := strings.Replace(text, old, replacement, 1)
	return out, sameExcept(text, out, func(tree map[string]any) {
		tree["worker_pool"].(map[string]any)["redis_pool"].(map[string]any)["redis_url"] = replacement
	})
}

// sameExcept checks a text edit: after must parse to before's tree with
// only the change edit makes to it.
func sameExcept(before, after string, edit func(map[string]any)) error {
	want, err := manifest.UnmarshalMap([]byte(before))
	if err != nil {
		return err
	}
	edit(want)
	if got, err := manifest.UnmarshalMap([]byte(after)); err != nil || !equalJSON(want, got) {
		return fmt.Errorf("the config file has a layout the post-renderer cannot edit line by line")
	}
	return nil
}

package postrender

import (
	"fmt"
	"slices"
	"strings"

	"github.com/harborha/helm-harborha/internal/harbor"
	"github.com/harborha/helm-harborha/internal/manifest"
)

// withoutCredential is a config file of the chart (harbor.ConfigFile)
// without its Redis credential, which the variable f.Env then carries.
func withoutCredential(f *harbor.ConfigFile, text string) (string, error) {
	if f.URL == nil {
		return withoutRegistryPassword(text)
	}
	return withJobserviceURL(text, f.RawURL, f.URL.WithoutPassword())
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

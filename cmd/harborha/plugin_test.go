package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestPluginManifestsAgree: the Helm 3/4 CLI plugin and the Helm 4
// post-renderer plugin are one release: same version, strict semver (Helm 4
// rejects "v0.1.0"), and the post-renderer plugin runs this binary.
func TestPluginManifestsAgree(t *testing.T) {
	root := testutil.RepoRoot()
	version := regexp.MustCompile(`(?m)^version: "?([^"\n]+)"?$`)
	read := func(rel string) string {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cli, post := read("plugin.yaml"), read("plugins/harborha-post-renderer/plugin.yaml")
	cv, pv := version.FindStringSubmatch(cli), version.FindStringSubmatch(post)
	if cv == nil || pv == nil || cv[1] != pv[1] {
		t.Fatalf("plugin versions differ: %v vs %v", cv, pv)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(cv[1]) {
		t.Errorf("version %q is not strict semver", cv[1])
	}
	if target, err := os.Readlink(filepath.Join(root, "plugins", "harborha-post-renderer", "bin")); err != nil || target != "../../bin" {
		t.Errorf("plugins/harborha-post-renderer/bin must link to ../../bin: %q %v", target, err)
	}
}

package helmexec

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// As a plugin, the Helm major comes from the environment Helm sets:
// HELM_CONTENT_CACHE is Helm 4's alone. No helm process runs (the helm
// named here does not exist).
func TestMajorFromPluginEnvironment(t *testing.T) {
	t.Setenv("HELM_PLUGIN_DIR", t.TempDir())
	t.Setenv("HELM_BIN", "/does/not/exist/helm")
	os.Unsetenv("HELM_CONTENT_CACHE")
	if m, err := Major(t.Context(), "/does/not/exist/helm"); m != 3 || err != nil {
		t.Errorf("Helm 3's environment: major %d, %v", m, err)
	}
	t.Setenv("HELM_CONTENT_CACHE", "/home/u/.cache/helm/content")
	if m, err := Major(t.Context(), "/does/not/exist/helm"); m != 4 || err != nil {
		t.Errorf("Helm 4's environment: major %d, %v", m, err)
	}
	t.Setenv("HELM_PLUGIN_DIR", "") // on its own: it must ask the binary
	if _, err := Major(t.Context(), "/does/not/exist/helm"); err == nil {
		t.Error("run on its own with no helm, Major must fail")
	}
}

func TestRequirePluginReadsHelmPlugins(t *testing.T) {
	plugins := t.TempDir()
	t.Setenv("HELM_PLUGIN_DIR", filepath.Join(plugins, "helm-harborha"))
	t.Setenv("HELM_BIN", "/does/not/exist/helm")
	t.Setenv("HELM_PLUGINS", plugins)
	if err := RequirePlugin(t.Context(), "/does/not/exist/helm", Helm4PostRenderer); err == nil {
		t.Fatal("no post-renderer plugin installed, yet RequirePlugin passed")
	}
	dir := filepath.Join(plugins, "whatever-dir-name")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "plugin.yaml"), []byte("apiVersion: v1\ntype: postrenderer/v1\nname: \"harborha-post-renderer\"\n"), 0o644)
	if err := RequirePlugin(t.Context(), "/does/not/exist/helm", Helm4PostRenderer); err != nil {
		t.Fatalf("installed plugin not found: %v", err)
	}
}

// Helm 3 runs the post-render binary of the plugin directly when it is
// there, and goes through "$HELM_BIN harborha post-render" otherwise.
func TestPostRendererCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HELM_PLUGIN_DIR", dir)
	t.Setenv("HELM_BIN", "/opt/helm")
	got, err := PostRendererCommand()
	if want := []string{"/opt/helm", "harborha", "post-render"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("without the binary: %q %v, want %q", got, err, want)
	}
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	bin := filepath.Join(dir, "bin", postRenderBinary)
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	if got, err := PostRendererCommand(); err != nil || !reflect.DeepEqual(got, []string{bin}) {
		t.Errorf("with the binary: %q %v, want %q", got, err, bin)
	}
}

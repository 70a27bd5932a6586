package helmexec

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Helm4PostRenderer is the plugin Helm 4 runs as our post-renderer: Helm 4
// runs post-renderers only as plugins of type postrenderer/v1, by name.
const Helm4PostRenderer = "harborha-post-renderer"

// postRenderBinary is the post-render-only binary beside harborha.
const postRenderBinary = "harborha-post-render"

// HelmBin is the user's Helm: $HELM_BIN when Helm runs us as a plugin,
// else helm on PATH.
func HelmBin() string {
	if h := os.Getenv("HELM_BIN"); h != "" {
		return h
	}
	return "helm"
}

// asPlugin reports whether Helm runs us as a plugin (it then sets
// HELM_PLUGIN_DIR and HELM_BIN, and passes its settings as HELM_*).
func asPlugin() bool { return os.Getenv("HELM_PLUGIN_DIR") != "" && os.Getenv("HELM_BIN") != "" }

// Major learns the major version of the user's Helm. Run as a plugin, from
// the environment Helm gives its plugins: only Helm 4 sets
// HELM_CONTENT_CACHE (helm.sh/helm/v4 pkg/cli/environment.go EnvVars),
// which spares a `helm version` process on every wrapper run. Run on its
// own, it asks the binary.
func Major(ctx context.Context, helm string) (int, error) {
	if asPlugin() {
		if _, helm4 := os.LookupEnv("HELM_CONTENT_CACHE"); helm4 {
			return 4, nil
		}
		return 3, nil
	}
	out, err := exec.CommandContext(ctx, helm, "version", "--short").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return 0, fmt.Errorf("%s version failed: %s", helm, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("cannot run helm %q: %v; set HELM_BIN or put helm on PATH", helm, err)
	}
	v := strings.TrimSpace(string(out))
	switch {
	case strings.HasPrefix(v, "v3."):
		return 3, nil
	case strings.HasPrefix(v, "v4."):
		return 4, nil
	}
	return 0, fmt.Errorf("%s reports version %q; helm-harborha supports Helm 3 and Helm 4", helm, v)
}

// RequirePlugin fails unless a plugin of that name is installed in the
// given helm: Helm 4 needs the post-renderer plugin before anything runs.
// Run as a plugin, it reads the plugin directory Helm names (HELM_PLUGINS);
// on its own, it asks `helm plugin list`.
func RequirePlugin(ctx context.Context, helm, name string) error {
	var found bool
	if dir := os.Getenv("HELM_PLUGINS"); asPlugin() && dir != "" {
		found = pluginInDir(dir, name)
	} else {
		out, err := exec.CommandContext(ctx, helm, "plugin", "list").Output()
		if err != nil {
			return fmt.Errorf("%s plugin list failed: %v", helm, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("Helm 4 runs post-renderers as plugins and %q is not installed: helm plugin install \"$HELM_PLUGIN_DIR/plugins/%s\" (make install does it)", name, name)
	}
	return nil
}

// pluginInDir reports whether a plugin directory under dir (each may hold
// several, one per list entry of HELM_PLUGINS) has a plugin.yaml naming it.
func pluginInDir(dirs, name string) bool {
	for _, dir := range filepath.SplitList(dirs) {
		manifests, _ := filepath.Glob(filepath.Join(dir, "*", "plugin.yaml"))
		for _, m := range manifests {
			if pluginName(m) == name {
				return true
			}
		}
	}
	return false
}

// pluginName is the top-level name: of a plugin.yaml (both plugin formats
// have it at the top level).
func pluginName(manifest string) string {
	f, err := os.Open(manifest)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "name:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}

// PostRendererCommand is how Helm 3 reaches our post-renderer: the
// post-render-only binary beside ours (in the plugin's bin/ when Helm runs
// us as a plugin), which starts in milliseconds; without it, through
// "$HELM_BIN harborha post-render" as a plugin, else this executable.
func PostRendererCommand() ([]string, error) {
	dir, err := binDir()
	if err != nil {
		return nil, err
	}
	small := filepath.Join(dir, exeName(postRenderBinary))
	if st, err := os.Stat(small); err == nil && !st.IsDir() {
		return []string{small}, nil
	}
	if asPlugin() {
		return []string{os.Getenv("HELM_BIN"), "harborha", "post-render"}, nil
	}
	exe, _ := os.Executable() // binDir has read it
	return []string{exe, "post-render"}, nil
}

// binDir is where our binaries are: the plugin's bin/ when Helm runs us as
// a plugin, else this executable's directory.
func binDir() (string, error) {
	if asPlugin() {
		return filepath.Join(os.Getenv("HELM_PLUGIN_DIR"), "bin"), nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", errors.New("locating the harborha executable: " + err.Error())
	}
	return filepath.Dir(exe), nil
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}

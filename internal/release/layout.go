package release

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Platform is one GOOS/GOARCH a release has a binary for.
type Platform struct{ OS, Arch string }

// Platforms are the release's platforms; the install hook lists the same.
var Platforms = []Platform{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"},
}

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// ParsePlatforms reads a comma-separated list of os/arch, each one of
// Platforms; "" is all of them. The tests build a subset (the host's and
// Windows') to keep a cold CI run short; a release builds every one.
func ParsePlatforms(list string) ([]Platform, error) {
	if strings.TrimSpace(list) == "" {
		return Platforms, nil
	}
	var out []Platform
	for _, item := range strings.Split(list, ",") {
		i := slices.IndexFunc(Platforms, func(p Platform) bool { return p.String() == strings.TrimSpace(item) })
		if i < 0 {
			return nil, fmt.Errorf("platform %q is not a release platform (%v)", item, Platforms)
		}
		if !slices.Contains(out, Platforms[i]) {
			out = append(out, Platforms[i])
		}
	}
	return out, nil
}

// Commands are the binaries every platform archive holds, each built from
// ./cmd/<name>: the CLI, and the post-render-only binary Helm runs on every
// render (Helm 3's --post-renderer, the Helm 4 post-renderer plugin). The
// install hook installs them together or not at all.
var Commands = []string{"harborha", "harborha-post-render"}

// Binary is command's path in a plugin directory: bin/<command>(.exe).
func (p Platform) Binary(command string) string {
	if p.OS == "windows" {
		return "bin/" + command + ".exe"
	}
	return "bin/" + command
}

// Binaries are the paths of every command's binary, in Commands' order.
func (p Platform) Binaries() []string {
	paths := make([]string, len(Commands))
	for i, c := range Commands {
		paths[i] = p.Binary(c)
	}
	return paths
}

// ArchiveName is the platform archive the install hook downloads.
func ArchiveName(version string, p Platform) string {
	return fmt.Sprintf("harborha_%s_%s_%s.tar.gz", version, p.OS, p.Arch)
}

// The two plugins: the CLI plugin (plugin.yaml at the root of the
// checkout, Helm 3 and 4) and the Helm 4 post-renderer plugin.
const (
	CLIPlugin          = "harborha"
	PostRendererPlugin = "harborha-post-renderer"
	postRendererDir    = "plugins/" + PostRendererPlugin
	hook               = "scripts/install-binary.sh"
)

// BuildScript builds every command of Commands for one platform, with the
// flags of every build of them: make build, make dist and the install
// hook's build from source run it.
const BuildScript = "scripts/build.sh"

// PluginArchiveName is a Helm 4 plugin archive: <name>-<version>.tgz, the
// name `helm plugin package` gives and from which `helm plugin install`
// derives the plugin's directory name.
func PluginArchiveName(plugin, version string) string {
	return fmt.Sprintf("%s-%s.tgz", plugin, version)
}

var versionLine = regexp.MustCompile(`(?m)^version: *"?([^"\n]+)"?$`)

// Version is the version in plugin.yaml of the checkout at root; the
// post-renderer plugin must have the same.
func Version(root string) (string, error) {
	var versions []string
	for _, rel := range []string{"plugin.yaml", postRendererDir + "/plugin.yaml"} {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "", err
		}
		m := versionLine.FindSubmatch(data)
		if m == nil {
			return "", fmt.Errorf("%s has no version line", rel)
		}
		versions = append(versions, string(m[1]))
	}
	if versions[0] != versions[1] {
		return "", fmt.Errorf("plugin.yaml has version %s but %s/plugin.yaml has %s: release them together", versions[0], postRendererDir, versions[1])
	}
	return versions[0], nil
}

// PlatformArchive is the content of a platform archive: the CLI plugin
// with every binary of Commands (binaries: the built files by command
// name), and the post-renderer plugin beside it (its own copy of the hook,
// which links or downloads its binaries; no links: Helm's extractors refuse
// them).
func PlatformArchive(root string, p Platform, binaries map[string][]byte) ([]Entry, error) {
	entries, err := readEntries(root, []file{
		{"plugin.yaml", "plugin.yaml", 0o644},
		{hook, hook, 0o755},
		{postRendererDir + "/plugin.yaml", postRendererDir + "/plugin.yaml", 0o644},
		{postRendererDir + "/" + hook, hook, 0o755},
	})
	if err != nil {
		return nil, err
	}
	for _, c := range Commands {
		data, ok := binaries[c]
		if !ok {
			return nil, fmt.Errorf("no %s binary for %s: every platform archive needs all of %v", c, p, Commands)
		}
		entries = append(entries, Entry{Name: p.Binary(c), Mode: 0o755, Data: data})
	}
	return entries, nil
}

// PluginArchive is the content of a Helm 4 plugin archive, in a directory
// named after the plugin (as `helm plugin package` writes it): plugin.yaml,
// the hook, and checksums.txt of the platform archives, which the plugin's
// signature then covers.
func PluginArchive(root, plugin string, checksums []byte) ([]Entry, error) {
	entries, err := readEntries(root, []file{
		{plugin + "/plugin.yaml", manifestPath(plugin), 0o644},
		{plugin + "/" + hook, hook, 0o755},
	})
	return append(entries, Entry{Name: plugin + "/checksums.txt", Mode: 0o644, Data: checksums}), err
}

// PluginManifest is the plugin.yaml of plugin in the checkout at root.
func PluginManifest(root, plugin string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, manifestPath(plugin)))
}

func manifestPath(plugin string) string {
	if plugin == PostRendererPlugin {
		return postRendererDir + "/plugin.yaml"
	}
	return "plugin.yaml"
}

// file is an archive entry read from the checkout: name in the archive,
// path in the checkout, mode.
type file struct {
	name, from string
	mode       int64
}

func readEntries(root string, files []file) ([]Entry, error) {
	var entries []Entry
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f.from))
		if err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Name: f.name, Mode: f.mode, Data: data})
	}
	return entries, nil
}

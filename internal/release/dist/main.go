// Command dist writes one version's release files into a new directory
// (make dist), reproducibly:
//
//	harborha_<version>_<os>_<arch>.tar.gz  per platform: bin/harborha, bin/harborha-post-render, plugin.yaml, the hook, the post-renderer plugin
//	harborha-<version>.tgz                 the Helm 4 CLI plugin archive (+ .prov when signing)
//	harborha-post-renderer-<version>.tgz   the Helm 4 post-renderer plugin archive (+ .prov)
//	checksums.txt                          sha256sum format, every archive
//	harborha-release-key.asc               the signing key's public part (when signing)
//
// HARBORHA_SIGN_KEY names an OpenPGP secret key file to sign the Helm 4
// archives with (HARBORHA_SIGN_PASSPHRASE_FILE: its passphrase).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/harborha/helm-harborha/internal/release"
)

type options struct {
	root, out, goCmd  string
	mtime             time.Time
	keyFile, passFile string
	platforms         []release.Platform
}

func main() {
	var o options
	var epoch int64
	flag.StringVar(&o.root, "root", ".", "the checkout to release")
	flag.StringVar(&o.out, "out", "dist", "directory for the release files; must not exist or be empty")
	flag.StringVar(&o.goCmd, "go", "go", "the go command")
	flag.Int64Var(&epoch, "mtime", 0, "modification time of every archive entry, in seconds since the epoch (SOURCE_DATE_EPOCH)")
	platforms := flag.String("platforms", "", "comma-separated os/arch to build (default: every release platform)")
	flag.Parse()
	o.mtime = time.Unix(epoch, 0)
	var err error
	if o.platforms, err = release.ParsePlatforms(*platforms); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
	o.keyFile, o.passFile = os.Getenv("HARBORHA_SIGN_KEY"), os.Getenv("HARBORHA_SIGN_PASSPHRASE_FILE")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

// run writes every release file, or nothing: on an error the output
// directory is removed.
func run(o options) (err error) {
	version, err := release.Version(o.root)
	if err != nil {
		return err
	}
	key, err := signingKey(o)
	if err != nil {
		return err
	}
	if entries, _ := os.ReadDir(o.out); len(entries) > 0 {
		return fmt.Errorf("%s is not empty (make dist removes it first)", o.out)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(o.out)
		}
	}()
	sums, err := platformArchives(o, version)
	if err != nil {
		return err
	}
	platformSums := release.Checksums(sums)
	for _, plugin := range []string{release.CLIPlugin, release.PostRendererPlugin} {
		name, sum, err := pluginArchive(o, version, plugin, platformSums, key)
		if err != nil {
			return err
		}
		sums[name] = sum
	}
	if err := writeReleaseKey(o, key); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, "checksums.txt"), release.Checksums(sums), 0o644)
}

func writeReleaseKey(o options, key *openpgp.Entity) error {
	if key == nil {
		return nil
	}
	pub, err := release.ArmoredPublicKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.out, release.ReleaseKeyName), pub, 0o644)
}

func signingKey(o options) (*openpgp.Entity, error) {
	if o.keyFile == "" {
		fmt.Fprintln(os.Stderr, "dist: HARBORHA_SIGN_KEY is not set: the Helm 4 plugin archives get no .prov, and Helm 4 installs them only with --verify=false")
		return nil, nil
	}
	return release.LoadSigningKey(o.keyFile, o.passFile)
}

// platformArchives builds the binaries for every platform and writes its
// archive; it returns the archives' sha256 by name.
func platformArchives(o options, version string) (map[string]string, error) {
	build, err := os.MkdirTemp("", "harborha-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(build)
	sums := map[string]string{}
	for _, p := range o.platforms {
		binaries, err := buildBinaries(o, version, p, build)
		if err != nil {
			return nil, err
		}
		entries, err := release.PlatformArchive(o.root, p, binaries)
		if err != nil {
			return nil, err
		}
		name := release.ArchiveName(version, p)
		if _, sums[name], err = writeArchive(o, name, entries); err != nil {
			return nil, err
		}
	}
	return sums, nil
}

// buildBinaries cross-builds every command (release.Commands) with
// scripts/build.sh, the build make build and the install hook run too. It
// returns the binaries by command name.
func buildBinaries(o options, version string, p release.Platform, dir string) (map[string][]byte, error) {
	out := filepath.Join(dir, p.OS+"_"+p.Arch)
	cmd := exec.Command("sh", filepath.Join(o.root, release.BuildScript), out)
	cmd.Env = append(os.Environ(), "GO="+o.goCmd, "GOOS="+p.OS, "GOARCH="+p.Arch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "dist: building %s %s for %s\n", strings.Join(p.Binaries(), " and "), version, p)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s for %s: %w", release.BuildScript, p, err)
	}
	binaries := map[string][]byte{}
	for _, c := range release.Commands {
		data, err := os.ReadFile(filepath.Join(out, path.Base(p.Binary(c))))
		if err != nil {
			return nil, fmt.Errorf("%s for %s wrote no %s: %w", release.BuildScript, p, p.Binary(c), err)
		}
		binaries[c] = data
	}
	return binaries, nil
}

// pluginArchive writes a Helm 4 plugin archive holding the platform
// archives' checksums, and its .prov when there is a key.
func pluginArchive(o options, version, plugin string, platformSums []byte, key *openpgp.Entity) (name, sum string, err error) {
	entries, err := release.PluginArchive(o.root, plugin, platformSums)
	if err != nil {
		return "", "", err
	}
	name = release.PluginArchiveName(plugin, version)
	archive, sum, err := writeArchive(o, name, entries)
	if err != nil || key == nil {
		return name, sum, err
	}
	manifest, err := release.PluginManifest(o.root, plugin)
	if err != nil {
		return "", "", err
	}
	prov, err := release.Provenance(key, archive, name, manifest)
	if err != nil {
		return "", "", fmt.Errorf("signing %s: %w", name, err)
	}
	return name, sum, os.WriteFile(filepath.Join(o.out, name+".prov"), prov, 0o644)
}

// writeArchive writes a tar.gz of entries to the output directory and
// returns its bytes (the .prov signs them) and their SHA-256.
func writeArchive(o options, name string, entries []release.Entry) ([]byte, string, error) {
	var buf bytes.Buffer
	if err := release.TarGz(&buf, entries, o.mtime); err != nil {
		return nil, "", fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(o.out, name), buf.Bytes(), 0o666); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), release.SHA256(buf.Bytes()), nil
}

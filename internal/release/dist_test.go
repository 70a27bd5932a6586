package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/harborha/helm-harborha/internal/release"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// distribution is one `make dist` output, signed with a throwaway key made
// by the test (never a long-lived one).
type distribution struct {
	dir, version string
	mtime        time.Time
}

var (
	distOnce sync.Once
	distDir  string
	distErr  error
)

// signedDist runs `make dist` once per test binary, signed with a fresh
// key; every test of the package shares the result.
func signedDist(t *testing.T) distribution {
	t.Helper()
	testutil.SkipShort(t, "make dist (the release files)")
	root := testutil.RepoRoot()
	version, err := release.Version(root)
	if err != nil {
		t.Fatal(err)
	}
	distOnce.Do(func() {
		distDir, distErr = os.MkdirTemp("", "harborha-dist-test-")
		if distErr == nil {
			key, pass := throwawayKey(t, distDir)
			distErr = makeDist(distDir, key, pass)
		}
	})
	if distErr != nil {
		t.Fatal(distErr)
	}
	return distribution{filepath.Join(distDir, "dist"), version, time.Unix(sourceDateEpoch(t), 0)}
}

// distPlatforms are the platforms the tests' dist builds
// (HARBORHA_DIST_PLATFORMS, as make test sets it; else all).
func distPlatforms(t *testing.T) []release.Platform {
	t.Helper()
	ps, err := release.ParsePlatforms(os.Getenv("HARBORHA_DIST_PLATFORMS"))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestReleasePlatforms: a release has an archive for each platform the
// install hook knows, the five the README promises.
func TestReleasePlatforms(t *testing.T) {
	var got []string
	for _, p := range release.Platforms {
		got = append(got, p.String())
	}
	want := "linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
	if strings.Join(got, " ") != want {
		t.Errorf("release platforms %v, want %s", got, want)
	}
	hook := string(testutil.ReadFile(t, filepath.Join(testutil.RepoRoot(), "scripts", "install-binary.sh")))
	for _, p := range release.Platforms {
		if !strings.Contains(hook, p.OS) || !strings.Contains(hook, p.Arch) {
			t.Errorf("the install hook does not name %s", p)
		}
	}
	if _, err := release.ParsePlatforms("linux/amd64,plan9/386"); err == nil {
		t.Error("plan9/386 accepted as a release platform")
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{distDir, recipeDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// makeDist runs `make dist` into dir/dist, signing with keyFile (and its
// passphrase in passFile) when set.
func makeDist(dir, keyFile, passFile string) error {
	cmd := exec.Command("make", "-s", "dist", "DIST_DIR="+filepath.Join(dir, "dist"), "DIST_PLATFORMS="+os.Getenv("HARBORHA_DIST_PLATFORMS"))
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = append(environWithout("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "HARBORHA_SIGN_KEY", "HARBORHA_SIGN_PASSPHRASE_FILE"),
		"HARBORHA_SIGN_KEY="+keyFile, "HARBORHA_SIGN_PASSPHRASE_FILE="+passFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return errors.New("make dist: " + err.Error() + "\n" + stderr.String())
	}
	return nil
}

func environWithout(names ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !contains(names, name) {
			env = append(env, kv)
		}
	}
	return env
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// throwawayKey writes a new Ed25519 OpenPGP secret key, protected by a
// passphrase as a release key would be; it returns the key's file and the
// passphrase's.
func throwawayKey(t *testing.T, dir string) (keyFile, passFile string) {
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Time: func() time.Time { return time.Now().Add(-time.Hour) }}
	key, err := openpgp.NewEntity("harborha test release", "throwaway", "test@harborha.invalid", cfg)
	if err != nil {
		t.Fatal(err)
	}
	pass := []byte(rand.Text())
	if err := key.EncryptPrivateKeys(pass, nil); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	keyFile, passFile = filepath.Join(dir, "key.asc"), filepath.Join(dir, "key.pass")
	if err := os.WriteFile(keyFile, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passFile, pass, 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile, passFile
}

func sourceDateEpoch(t *testing.T) int64 {
	out, err := exec.Command("git", "-C", testutil.RepoRoot(), "log", "-1", "--format=%ct").Output()
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDistIsReproducible: a second `make dist` (make test's own, unsigned,
// when HARBORHA_DIST has one; else another run here) writes the same bytes
// for every archive and for checksums.txt.
func TestDistIsReproducible(t *testing.T) {
	d := signedDist(t)
	other := os.Getenv("HARBORHA_DIST")
	if _, err := os.Stat(filepath.Join(other, "checksums.txt")); other == "" || err != nil {
		other = filepath.Join(t.TempDir(), "dist")
		if err := makeDist(filepath.Dir(other), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	names := archives(t, d.dir)
	if len(names) != len(distPlatforms(t))+2 {
		t.Fatalf("%d archives in %s, want %d: %v", len(names), d.dir, len(distPlatforms(t))+2, names)
	}
	for _, name := range append(names, "checksums.txt") {
		a, b := testutil.ReadFile(t, filepath.Join(d.dir, name)), testutil.ReadFile(t, filepath.Join(other, name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two make dist runs (%s, %s)", name, d.dir, other)
		}
	}
}

func archives(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tar.gz") || strings.HasSuffix(e.Name(), ".tgz") {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestDistFiles: the release files are what the hook, Helm 3 and Helm 4
// expect: checksums.txt lists every archive with its real sha256; each
// platform archive holds the plugin with both binaries (bin/harborha and
// bin/harborha-post-render, which the post-renderer plugin and Helm 3's
// --post-renderer run), each built from its own command for that platform;
// entries are sorted, dated at the commit, owned by 0:0, with no links.
func TestDistFiles(t *testing.T) {
	d := signedDist(t)
	sums := parseChecksums(testutil.ReadFile(t, filepath.Join(d.dir, "checksums.txt")))
	names := archives(t, d.dir)
	if len(sums) != len(names) {
		t.Errorf("checksums.txt lists %d files, dist has %d archives", len(sums), len(names))
	}
	for _, name := range names {
		if got := release.SHA256(testutil.ReadFile(t, filepath.Join(d.dir, name))); sums[name] != got {
			t.Errorf("checksums.txt says %s for %s, its sha256 is %s", sums[name], name, got)
		}
	}
	for _, p := range distPlatforms(t) {
		t.Run(p.OS+"_"+p.Arch, func(t *testing.T) {
			files := readArchive(t, filepath.Join(d.dir, release.ArchiveName(d.version, p)), d.mtime)
			// Named here, not taken from release.Commands: a binary
			// dropped from the release must fail this test.
			binaries := map[string]string{"harborha": exeName(p, "bin/harborha"), "harborha-post-render": exeName(p, "bin/harborha-post-render")}
			want := []string{"bin/", binaries["harborha"], binaries["harborha-post-render"], "plugin.yaml", "plugins/", "plugins/harborha-post-renderer/",
				"plugins/harborha-post-renderer/plugin.yaml", "plugins/harborha-post-renderer/scripts/",
				"plugins/harborha-post-renderer/scripts/install-binary.sh", "scripts/", "scripts/install-binary.sh"}
			sort.Strings(want)
			if got := keys(files); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("entries:\n  %v\nwant:\n  %v", got, want)
			}
			for command, name := range binaries {
				checkBinary(t, p, command, name, files[name])
			}
			if !bytes.Equal(files["plugin.yaml"], testutil.ReadFile(t, filepath.Join(testutil.RepoRoot(), "plugin.yaml"))) {
				t.Error("plugin.yaml differs from the checkout's")
			}
		})
	}
}

// TestPlatformArchiveNeedsEveryBinary: a platform archive cannot be made
// without the post-render binary (nor without the CLI).
func TestPlatformArchiveNeedsEveryBinary(t *testing.T) {
	p := release.Platform{OS: "linux", Arch: "amd64"}
	for _, missing := range []string{"harborha", "harborha-post-render"} {
		binaries := map[string][]byte{"harborha": []byte("cli"), "harborha-post-render": []byte("post")}
		delete(binaries, missing)
		_, err := release.PlatformArchive(testutil.RepoRoot(), p, binaries)
		if err == nil || !strings.Contains(err.Error(), "no "+missing+" binary for linux/amd64") {
			t.Errorf("without %s: %v", missing, err)
		}
	}
	entries, err := release.PlatformArchive(testutil.RepoRoot(), p, map[string][]byte{"harborha": []byte("cli"), "harborha-post-render": []byte("post")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range entries {
		got[e.Name] = string(e.Data)
	}
	if got["bin/harborha"] != "cli" || got["bin/harborha-post-render"] != "post" {
		t.Errorf("binaries in the archive: bin/harborha %q, bin/harborha-post-render %q", got["bin/harborha"], got["bin/harborha-post-render"])
	}
}

// readArchive reads a release archive, checking the header of every entry;
// it returns the files' contents by name (directories with nil).
func readArchive(t *testing.T, path string, mtime time.Time) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(testutil.ReadFile(t, path)))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header has name %q, time %v", path, zr.Name, zr.ModTime)
	}
	files := map[string][]byte{}
	tr, last := tar.NewReader(zr), ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name <= last || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(mtime) ||
			(h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeDir) {
			t.Errorf("%s: entry %s: after %q, owner %d:%d %q, time %v (want %v), type %c", path, h.Name, last, h.Uid, h.Gid, h.Uname, h.ModTime, mtime, h.Typeflag)
		}
		last = h.Name
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			files[h.Name] = data
		} else {
			files[h.Name] = nil
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func exeName(p release.Platform, name string) string {
	if p.OS == "windows" {
		return name + ".exe"
	}
	return name
}

// checkBinary: the executable format and CPU are the platform's, and the
// Go build information says it is cmd/<command>, built as make dist
// builds (no cgo, -trimpath, no VCS stamp).
func checkBinary(t *testing.T, p release.Platform, command, name string, data []byte) {
	t.Helper()
	if data == nil {
		t.Errorf("%s for %s: not in the archive", name, p)
		return
	}
	if arch := executableArch(t, p, data); arch != p.Arch {
		t.Errorf("%s for %s is for %q", name, p, arch)
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s for %s: no Go build information: %v", name, p, err)
	}
	if want := "github.com/harborha/helm-harborha/cmd/" + command; info.Path != want {
		t.Errorf("%s for %s is built from %s, want %s", name, p, info.Path, want)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"CGO_ENABLED": "0", "GOOS": p.OS, "GOARCH": p.Arch, "-trimpath": "true", "vcs": ""} {
		if settings[key] != want {
			t.Errorf("%s for %s: build setting %s=%q, want %q", name, p, key, settings[key], want)
		}
	}
}

// executableArch is the CPU of data in the executable format of p's OS.
func executableArch(t *testing.T, p release.Platform, data []byte) string {
	t.Helper()
	r := bytes.NewReader(data)
	switch p.OS {
	case "linux":
		f, err := elf.NewFile(r)
		if err != nil {
			t.Fatal(err)
		}
		return map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
	case "darwin":
		f, err := macho.NewFile(r)
		if err != nil {
			t.Fatal(err)
		}
		return map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
	case "windows":
		f, err := pe.NewFile(r)
		if err != nil {
			t.Fatal(err)
		}
		return map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64"}[f.Machine]
	}
	return ""
}

// parseChecksums reads a sha256sum-format listing (name -> sha256 hex).
func parseChecksums(data []byte) map[string]string {
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if sum, name, ok := strings.Cut(line, "  "); ok {
			sums[name] = sum
		}
	}
	return sums
}

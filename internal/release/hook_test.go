package release_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/release"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// TestInstallFromCheckout: `helm plugin install` of a checkout without
// bin/ and without Go downloads the release binary, checked against the
// release's checksums.txt; on Helm 4 the post-renderer plugin then works
// too. With alpine's busybox tools and with dash, GNU tools and curl.
func TestInstallFromCheckout(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	for _, c := range []struct {
		major   int
		toolset string
	}{{3, "busybox"}, {3, "gnu"}, {4, "busybox"}, {4, "gnu"}} {
		t.Run(fmt.Sprintf("helm%d/%s", c.major, c.toolset), func(t *testing.T) {
			u := newUser(t, c.major, c.toolset, s.URL+"/good/")
			u.plugin = checkoutCopy(t)
			u.run(t, 0, "plugin", "install", u.plugin)
			if info, err := os.Lstat(filepath.Join(u.plugin, "bin", "harborha")); err != nil || !info.Mode().IsRegular() {
				t.Fatalf("bin/harborha is not a file: %v", err)
			}
			u.assertWorks(t, d.version)
			if c.major == 4 {
				u.run(t, 0, "plugin", "install", filepath.Join(u.plugin, "plugins", release.PostRendererPlugin))
				u.assertPostRenders(t)
			}
		})
	}
	for _, want := range []string{"/good/" + hostArchive(d), "/good/checksums.txt"} {
		if !slices.Contains(s.requests(), want) {
			t.Errorf("the hook never asked for %s: %v", want, s.requests())
		}
	}
}

// TestInstallUnpackedArchiveOffline: a platform archive unpacked by hand
// is a plugin directory Helm 4 installs with no network (the release URL
// answers nothing): the CLI plugin has its binary and the post-renderer
// plugin inside it uses the same.
func TestInstallUnpackedArchiveOffline(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	u := newUser(t, 4, "busybox", s.URL+"/missing")
	u.plugin = t.TempDir()
	testutil.Exec(t, nil, 0, lookPath(t, "tar"), "-xzf", filepath.Join(d.dir, hostArchive(d)), "-C", u.plugin)
	u.run(t, 0, "plugin", "install", u.plugin)
	u.run(t, 0, "plugin", "install", filepath.Join(u.plugin, "plugins", release.PostRendererPlugin))
	u.assertWorks(t, d.version)
	u.assertPostRenders(t)
	if got := s.requests(); len(got) != 0 {
		t.Errorf("downloads for an unpacked archive: %v", got)
	}
}

// assertPostRenders: Helm 4 runs the harborha-post-renderer plugin on the
// real chart, which then has PodDisruptionBudgets (the chart alone has none).
func (u *user) assertPostRenders(t *testing.T) {
	t.Helper()
	out, _ := u.run(t, 0, "template", "myharbor", testutil.Chart(t, "harbor-1.19.1.tgz"), "-n", "harbor",
		"--kube-version", testutil.KubeVersion, "-f", testutil.PinSecrets(t), "--post-renderer", release.PostRendererPlugin)
	if !strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Errorf("helm template --post-renderer %s rendered no PodDisruptionBudget", release.PostRendererPlugin)
	}
}

// TestHelm4InstallsSignedArchives: Helm 4 `helm plugin install <URL>` of
// both plugin archives with its default verification, trusting the
// release key; the hook checks the binary against the checksums.txt inside
// the signed archive, so a mirror that swapped the archive and its
// checksums.txt is caught. Without the key, Helm refuses the archive.
func TestHelm4InstallsSignedArchives(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	keyring := filepath.Join(d.dir, release.ReleaseKeyName)
	cli := s.URL + "/good/" + release.PluginArchiveName(release.CLIPlugin, d.version)
	post := s.URL + "/good/" + release.PluginArchiveName(release.PostRendererPlugin, d.version)

	u := newUser(t, 4, "gnu", s.URL+"/good")
	_, stderr := u.run(t, 1, "plugin", "install", cli)
	testutil.OneLineWith(t, strings.TrimSpace(stderr), "plugin verification failed")
	if out, _ := u.run(t, 0, "plugin", "list"); strings.Contains(out, "harborha") {
		t.Errorf("an archive that failed verification is installed:\n%s", out)
	}

	before := len(s.requests())
	for _, url := range []string{cli, post} {
		out, _ := u.run(t, 0, "plugin", "install", "--keyring", keyring, url)
		if !strings.Contains(out, "Signed by: harborha test release") {
			t.Errorf("helm plugin install %s did not verify the signature:\n%s", url, out)
		}
	}
	u.assertWorks(t, d.version)
	u.assertPostRenders(t)
	if got := s.requests()[before:]; slices.Contains(got, "/good/checksums.txt") || !slices.Contains(got, "/good/"+hostArchive(d)) {
		t.Errorf("the hooks should fetch the archive and not checksums.txt: %v", got)
	}

	u = newUser(t, 4, "busybox", s.URL+"/resummed")
	u.plugin = filepath.Join(u.pluginsDir(), release.CLIPlugin)
	_, stderr = u.run(t, 1, "plugin", "install", "--keyring", keyring, cli)
	u.assertRefused(t, stderr, "checksum mismatch", s.URL+"/resummed/"+hostArchive(d), "signed with the plugin")
}

func (u *user) pluginsDir() string {
	for _, kv := range u.env {
		if dir, ok := strings.CutPrefix(kv, "HELM_DATA_HOME="); ok {
			return filepath.Join(dir, "plugins")
		}
	}
	return ""
}

// TestHookRefusesBadDownloads: an archive that is cut off, or does not
// have the sum checksums.txt gives, or is missing, is refused with one
// line naming what was tried, and no working plugin is left behind.
func TestHookRefusesBadDownloads(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	for _, c := range []struct {
		variant, toolset string
		major            int
		want             string
	}{
		{"truncated", "busybox", 3, "checksum mismatch"},
		{"wrong-checksum", "gnu", 4, "checksum mismatch"},
		{"resummed", "gnu", 3, "holds no bin/harborha " + d.version + " that runs here"},
		{"missing", "busybox", 4, "download of " + s.URL + "/missing/" + hostArchive(d) + " failed"},
	} {
		t.Run(c.variant, func(t *testing.T) {
			u := newUser(t, c.major, c.toolset, s.URL+"/"+c.variant)
			u.plugin = checkoutCopy(t)
			_, stderr := u.run(t, 1, "plugin", "install", u.plugin)
			u.assertRefused(t, stderr, c.want, s.URL+"/"+c.variant+"/"+hostArchive(d))
		})
	}
}

// TestHookUnsupportedPlatform: on a platform without a release binary and
// without Go, the hook says so, downloads nothing and leaves no binary.
func TestHookUnsupportedPlatform(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	u := newUser(t, 3, "busybox", s.URL+"/good")
	fakeUname := "#!/bin/sh\ncase $1 in -s) echo FreeBSD ;; -m) echo riscv64 ;; esac\n"
	os.Remove(filepath.Join(u.tools, "uname"))
	if err := os.WriteFile(filepath.Join(u.tools, "uname"), []byte(fakeUname), 0o755); err != nil {
		t.Fatal(err)
	}
	u.plugin = checkoutCopy(t)
	_, stderr := u.run(t, 1, "plugin", "install", u.plugin)
	u.assertRefused(t, stderr, "freebsd/riscv64", "no release archive is built for freebsd/riscv64 (only for linux/amd64")
	if got := s.requests(); len(got) != 0 {
		t.Errorf("downloads for an unsupported platform: %v", got)
	}
}

// TestHookBuildsFromSourceWithGo: in a checkout, with Go on PATH and no
// release to download, the hook builds bin/harborha from source.
func TestHookBuildsFromSourceWithGo(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	u := newUser(t, 3, "gnu", s.URL+"/missing")
	goCmd := lookPath(t, "go")
	if err := os.Symlink(goCmd, filepath.Join(u.tools, "go")); err != nil {
		t.Fatal(err)
	}
	// Go's caches as they are (warm), and no toolchain download.
	for _, name := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command(goCmd, "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		u.env = append(u.env, name+"="+strings.TrimSpace(string(out)))
	}
	u.env = append(u.env, "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	u.plugin = checkoutCopy(t)
	_, stderr := u.run(t, 0, "plugin", "install", u.plugin)
	if !strings.Contains(stderr, "building bin/harborha "+d.version+" from source with Go") {
		t.Errorf("the hook did not say it builds from source:\n%s", stderr)
	}
	u.assertWorks(t, d.version)
}

// TestHookReplacesStaleBinary: the update hook replaces a bin/harborha of
// another version (after `helm plugin update` pulled a new plugin.yaml);
// when it cannot, it removes it rather than leave a binary that does not
// match the plugin's files.
func TestHookReplacesStaleBinary(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	for _, variant := range []string{"missing", "good"} {
		t.Run(variant, func(t *testing.T) {
			u := newUser(t, 3, "busybox", s.URL+"/"+variant)
			u.plugin = checkoutCopy(t)
			bin := filepath.Join(u.plugin, "bin", "harborha")
			if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(bin, []byte("#!/bin/sh\necho harborha 0.0.1\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			env := append(u.env, "HELM_PLUGIN_DIR="+u.plugin)
			hook := []string{filepath.Join(u.tools, "sh"), filepath.Join(u.plugin, "scripts", "install-binary.sh")}
			if variant == "missing" {
				_, stderr := testutil.Exec(t, env, 1, hook[0], hook[1])
				u.assertRefused(t, stderr, "download of "+s.URL+"/missing/"+hostArchive(d)+" failed")
				return
			}
			testutil.Exec(t, env, 0, hook[0], hook[1])
			if out, _ := testutil.Exec(t, env, 0, bin, "version"); strings.TrimSpace(out) != "harborha "+d.version {
				t.Errorf("bin/harborha version: %q after the update hook", out)
			}
			u.assertNoTempFiles(t)
		})
	}
}

// TestHookIsPOSIX: the hook is POSIX sh (alpine has no bash): shellcheck
// in sh mode, and parsed by dash and busybox sh.
func TestHookIsPOSIX(t *testing.T) {
	hook := filepath.Join(testutil.RepoRoot(), "scripts", "install-binary.sh")
	testutil.Exec(t, nil, 0, lookPath(t, "shellcheck"), "-s", "sh", hook)
	testutil.Exec(t, nil, 0, lookPath(t, "dash"), "-n", hook)
	testutil.Exec(t, nil, 0, lookPath(t, "busybox"), "sh", "-n", hook)
}

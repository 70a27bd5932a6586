package release_test

import (
	"bytes"
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
// bin/ and without Go downloads the release archive, checked against the
// release's checksums.txt, and installs both binaries from it; Helm 3's
// `helm harborha template` then post-renders with bin/harborha-post-render,
// and on Helm 4 the post-renderer plugin works too. With alpine's busybox
// tools and with dash, GNU tools and curl.
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
			assertInstalled(t, d, u.plugin)
			u.assertWorks(t, d.version)
			if c.major == 3 {
				u.assertHelm3PostRendersWithBinary(t)
				return
			}
			post := filepath.Join(u.plugin, "plugins", release.PostRendererPlugin)
			u.run(t, 0, "plugin", "install", post)
			u.assertPostRenders(t, post)
		})
	}
	for _, want := range []string{"/good/" + hostArchive(d), "/good/checksums.txt"} {
		if !slices.Contains(s.requests(), want) {
			t.Errorf("the hook never asked for %s: %v", want, s.requests())
		}
	}
}

// TestInstallUnpackedArchiveOffline: a platform archive unpacked by hand
// is a plugin directory Helm 3 and Helm 4 install with no network (the
// release URL answers nothing): the CLI plugin has both binaries (Helm 3's
// wrappers post-render with bin/harborha-post-render) and the Helm 4
// post-renderer plugin inside it uses the same.
func TestInstallUnpackedArchiveOffline(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	for _, major := range []int{3, 4} {
		t.Run(fmt.Sprintf("helm%d", major), func(t *testing.T) {
			u := newUser(t, major, "busybox", s.URL+"/missing")
			u.plugin = t.TempDir()
			testutil.Exec(t, nil, 0, lookPath(t, "tar"), "-xzf", filepath.Join(d.dir, hostArchive(d)), "-C", u.plugin)
			u.run(t, 0, "plugin", "install", u.plugin)
			u.assertWorks(t, d.version)
			if major == 3 {
				u.assertHelm3PostRendersWithBinary(t)
				return
			}
			post := filepath.Join(u.plugin, "plugins", release.PostRendererPlugin)
			u.run(t, 0, "plugin", "install", post)
			u.assertPostRenders(t, post)
		})
	}
	if got := s.requests(); len(got) != 0 {
		t.Errorf("downloads for an unpacked archive: %v", got)
	}
}

// assertPostRenders: Helm 4 runs the harborha-post-renderer plugin (in
// directory post) on the real chart, which then has PodDisruptionBudgets
// (the chart alone has none); what it runs is the plugin's
// bin/harborha-post-render: with that file moved away, the same render
// fails, naming it.
func (u *user) assertPostRenders(t *testing.T, post string) {
	t.Helper()
	args := []string{"template", "myharbor", testutil.Chart(t, "harbor-1.19.1.tgz"), "-n", "harbor",
		"--kube-version", testutil.KubeVersion, "-f", testutil.PinSecrets(t), "--post-renderer", release.PostRendererPlugin}
	out, _ := u.run(t, 0, args...)
	if !strings.Contains(out, "kind: PodDisruptionBudget") {
		t.Errorf("helm template --post-renderer %s rendered no PodDisruptionBudget", release.PostRendererPlugin)
	}
	bin := filepath.Join(post, "bin", "harborha-post-render")
	if err := os.Rename(bin, bin+".aside"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(bin+".aside", bin)
	if _, stderr := u.run(t, 1, args...); !strings.Contains(stderr, "bin/harborha-post-render") {
		t.Errorf("without %s, helm template failed for another reason:\n%s", bin, stderr)
	}
}

// assertHelm3PostRendersWithBinary: Helm 3's `helm harborha template` of
// the real chart post-renders it, passing Helm --post-renderer with the
// plugin's bin/harborha-post-render. Helm is started under the name of a
// wrapper script, which Helm hands to the plugin as HELM_BIN (its
// os.Args[0]): harborha runs the wrapper, which logs harborha's arguments
// for Helm and runs the real Helm with them.
func (u *user) assertHelm3PostRendersWithBinary(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	argsLog, wrapper := filepath.Join(dir, "args"), filepath.Join(dir, "helm")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$@\" >>'%s'\nexec '%s' \"$@\"\n", argsLog, u.helm)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(u.helm, "harborha", "template", "myharbor", testutil.Chart(t, "harbor-1.19.1.tgz"), "-n", "harbor",
		"--kube-version", testutil.KubeVersion, "-f", testutil.PinSecrets(t), "--no-discover")
	cmd.Args[0], cmd.Env = wrapper, u.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm harborha template: %v\n%s", err, stderr.String())
	}
	u.assertNoTempFiles(t)
	if !strings.Contains(stdout.String(), "kind: PodDisruptionBudget") {
		t.Error("helm harborha template rendered no PodDisruptionBudget")
	}
	testutil.OneLineWith(t, progressLine(stderr.String()), "harborha: running helm template (Helm 3, post-renderer: post-render")
	args := strings.Split(string(testutil.ReadFile(t, argsLog)), "\n")
	i := slices.Index(args, "--post-renderer")
	if i < 0 || i+1 == len(args) {
		t.Fatalf("harborha passed Helm no --post-renderer: %q", args)
	}
	got, _ := filepath.EvalSymlinks(args[i+1])
	want, _ := filepath.EvalSymlinks(filepath.Join(u.plugin, "bin", "harborha-post-render"))
	if want == "" || got != want {
		t.Errorf("harborha passed Helm --post-renderer %s, want the plugin's bin/harborha-post-render (%s)", args[i+1], want)
	}
}

// progressLine is the line of stderr where harborha says how it runs Helm.
func progressLine(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "harborha: running helm") {
			return line
		}
	}
	return ""
}

// assertInstalled: the plugin directory has both binaries, regular files
// (not links), byte for byte the host platform archive's.
func assertInstalled(t *testing.T, d distribution, dir string) {
	t.Helper()
	files := hostArchiveFiles(t, d)
	for _, name := range []string{"bin/harborha", "bin/harborha-post-render"} {
		path := filepath.Join(dir, name)
		info, err := os.Lstat(path)
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not an executable file: %v %v", path, info, err)
			continue
		}
		if !bytes.Equal(testutil.ReadFile(t, path), files[name]) {
			t.Errorf("%s is not the %s of %s", path, name, hostArchive(d))
		}
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
	for _, plugin := range []string{release.CLIPlugin, release.PostRendererPlugin} {
		assertInstalled(t, d, filepath.Join(u.pluginsDir(), plugin))
	}
	u.assertWorks(t, d.version)
	u.assertPostRenders(t, filepath.Join(u.pluginsDir(), release.PostRendererPlugin))
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
// have the sum checksums.txt gives, or lacks bin/harborha-post-render, or
// is missing, is refused with one line naming what was tried, and no
// working plugin is left behind: the plugin had a stale pair of binaries,
// and neither remains.
func TestHookRefusesBadDownloads(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	unusable := "holds no bin/harborha and bin/harborha-post-render " + d.version + " that run here"
	for _, c := range []struct {
		variant, toolset string
		major            int
		want             string
	}{
		{"truncated", "busybox", 3, "checksum mismatch"},
		{"wrong-checksum", "gnu", 4, "checksum mismatch"},
		{"resummed", "gnu", 3, unusable + ": tar cannot unpack them"},
		{"cli-only", "busybox", 3, unusable + ": tar cannot unpack them"},
		{"cli-only", "gnu", 4, unusable + ": tar cannot unpack them"},
		{"missing", "busybox", 4, "download of " + s.URL + "/missing/" + hostArchive(d) + " failed"},
	} {
		t.Run(fmt.Sprintf("%s/helm%d", c.variant, c.major), func(t *testing.T) {
			u := newUser(t, c.major, c.toolset, s.URL+"/"+c.variant)
			u.plugin = checkoutCopy(t)
			writeBinaries(t, u.plugin, staleCLI, stalePostRender)
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
// release to download, the hook builds both binaries from source: the
// release's, byte for byte (scripts/build.sh).
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
	if !strings.Contains(stderr, "building bin/harborha and bin/harborha-post-render "+d.version+" from source with Go") {
		t.Errorf("the hook did not say it builds from source:\n%s", stderr)
	}
	assertSameBinaries(t, "the hook's build from source", hostArchiveFiles(t, d), filepath.Join(u.plugin, "bin"))
	u.assertWorks(t, d.version)
	u.assertHelm3PostRendersWithBinary(t)
}

// Stand-ins for binaries a plugin directory may hold before the update
// hook runs: a bin/harborha of another version, and a
// bin/harborha-post-render of another version, or one that fails.
const (
	staleCLI         = "#!/bin/sh\necho harborha 0.0.1\n"
	stalePostRender  = "#!/bin/sh\necho harborha-post-render 0.0.1\n"
	brokenPostRender = "#!/bin/sh\nexit 1\n"
)

// writeBinaries puts cli as bin/harborha and post as
// bin/harborha-post-render into the plugin directory; "" writes none.
func writeBinaries(t *testing.T, plugin, cli, post string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(plugin, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"harborha": cli, "harborha-post-render": post} {
		if content == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(plugin, "bin", name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHookReplacesStaleBinary: the update hook (after `helm plugin update`
// pulled a new plugin.yaml) reinstalls both binaries from the release
// when either is not right: bin/harborha of another version, or
// bin/harborha-post-render missing, failing or of another version beside the right
// bin/harborha. When it cannot, it removes both rather than leave binaries
// that do not match the plugin's files, or one without the other.
func TestHookReplacesStaleBinary(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	current := string(hostArchiveFiles(t, d)["bin/harborha"])
	for _, c := range []struct {
		name, variant, cli, post string
	}{
		{"stale-cli", "good", staleCLI, stalePostRender},
		{"no-post-render", "good", current, ""},
		{"stale-post-render", "good", current, stalePostRender},
		{"broken-post-render", "good", current, brokenPostRender},
		{"stale-cli", "missing", staleCLI, stalePostRender},
		{"broken-post-render", "missing", current, brokenPostRender},
	} {
		t.Run(c.name+"/"+c.variant, func(t *testing.T) {
			u := newUser(t, 3, "busybox", s.URL+"/"+c.variant)
			u.plugin = checkoutCopy(t)
			writeBinaries(t, u.plugin, c.cli, c.post)
			env := append(u.env, "HELM_PLUGIN_DIR="+u.plugin)
			hook := []string{filepath.Join(u.tools, "sh"), filepath.Join(u.plugin, "scripts", "install-binary.sh")}
			before := len(s.requests())
			if c.variant == "missing" {
				_, stderr := testutil.Exec(t, env, 1, hook[0], hook[1])
				u.assertRefused(t, stderr, "download of "+s.URL+"/missing/"+hostArchive(d)+" failed")
				return
			}
			testutil.Exec(t, env, 0, hook[0], hook[1])
			if !slices.Contains(s.requests()[before:], "/good/"+hostArchive(d)) {
				t.Errorf("the hook kept the binaries it had: %v", s.requests()[before:])
			}
			assertInstalled(t, d, u.plugin)
			u.assertNoTempFiles(t)
		})
	}
}

// TestHookKeepsWorkingBinaries: with both binaries in place and right, the
// hook downloads nothing and changes nothing.
func TestHookKeepsWorkingBinaries(t *testing.T) {
	d := signedDist(t)
	s := serveRelease(t, d)
	u := newUser(t, 3, "gnu", s.URL+"/good")
	u.plugin = checkoutCopy(t)
	files := hostArchiveFiles(t, d)
	writeBinaries(t, u.plugin, string(files["bin/harborha"]), string(files["bin/harborha-post-render"]))
	testutil.Exec(t, append(u.env, "HELM_PLUGIN_DIR="+u.plugin), 0, filepath.Join(u.tools, "sh"), filepath.Join(u.plugin, "scripts", "install-binary.sh"))
	if got := s.requests(); len(got) != 0 {
		t.Errorf("downloads with both binaries in place: %v", got)
	}
	assertInstalled(t, d, u.plugin)
}

// TestHookIsPOSIX: the hook, and the build it runs from source, are POSIX
// sh (alpine has no bash): shellcheck in sh mode, and parsed by dash and
// busybox sh.
func TestHookIsPOSIX(t *testing.T) {
	for _, script := range []string{"scripts/install-binary.sh", release.BuildScript} {
		path := filepath.Join(testutil.RepoRoot(), script)
		testutil.Exec(t, nil, 0, lookPath(t, "shellcheck"), "-s", "sh", path)
		testutil.Exec(t, nil, 0, lookPath(t, "dash"), "-n", path)
		testutil.Exec(t, nil, 0, lookPath(t, "busybox"), "sh", "-n", path)
	}
}

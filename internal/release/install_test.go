package release_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/harborha/helm-harborha/internal/release"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// These tests install the plugin as a user without Go would: the real Helm
// 3 and Helm 4 binaries, a clean HOME, a PATH holding only the tools the
// hook may use (busybox's as on alpine, or dash with GNU tools and curl),
// and the release files of `make dist` served by a loopback HTTP server
// standing in for the GitHub release.

// releaseServer serves a distribution under /<variant>/: "good" is the
// dist as it is; the others alter one file, as a broken download or a bad
// mirror would. Every request path is recorded.
type releaseServer struct {
	*httptest.Server
	d    distribution
	mu   sync.Mutex
	seen []string
}

func serveRelease(t *testing.T, d distribution) *releaseServer {
	s := &releaseServer{d: d}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// variants: what each directory of the server changes in the release.
var variants = map[string]func(d distribution, name string, data []byte) []byte{
	"good": func(_ distribution, _ string, data []byte) []byte { return data },
	// the archive cut off half way, checksums.txt as released
	"truncated": func(d distribution, name string, data []byte) []byte {
		if name == hostArchive(d) {
			return data[:len(data)/2]
		}
		return data
	},
	// the archive as released, checksums.txt with another sum for it
	"wrong-checksum": func(d distribution, name string, data []byte) []byte {
		if name == "checksums.txt" {
			return bytes.Replace(data, []byte(release.SHA256(readFileOrNil(filepath.Join(d.dir, hostArchive(d))))), []byte(strings.Repeat("0", 64)), 1)
		}
		return data
	},
	// a truncated archive and a checksums.txt that matches it (a mirror
	// that regenerated it): only a signed checksums.txt can tell
	"resummed": func(d distribution, name string, data []byte) []byte {
		archive := readFileOrNil(filepath.Join(d.dir, hostArchive(d)))
		cut := archive[:len(archive)/2]
		switch name {
		case hostArchive(d):
			return cut
		case "checksums.txt":
			return bytes.Replace(data, []byte(release.SHA256(archive)), []byte(release.SHA256(cut)), 1)
		}
		return data
	},
	// an archive with bin/harborha and no bin/harborha-post-render (a
	// release made before there were two binaries, or a broken build),
	// with a checksums.txt that matches it
	"cli-only": func(d distribution, name string, data []byte) []byte {
		switch name {
		case hostArchive(d):
			return cliOnlyArchive(d)
		case "checksums.txt":
			archive := readFileOrNil(filepath.Join(d.dir, hostArchive(d)))
			return bytes.Replace(data, []byte(release.SHA256(archive)), []byte(release.SHA256(cliOnlyArchive(d))), 1)
		}
		return data
	},
}

var (
	cliOnlyOnce sync.Once
	cliOnly     []byte
)

// cliOnlyArchive is the host platform archive without
// bin/harborha-post-render, otherwise entry for entry the same; built once.
func cliOnlyArchive(d distribution) []byte {
	cliOnlyOnce.Do(func() {
		entries, err := archiveEntries(readFileOrNil(filepath.Join(d.dir, hostArchive(d))))
		var kept []release.Entry
		for _, e := range entries {
			if path.Base(e.Name) != "harborha-post-render" && path.Base(e.Name) != "harborha-post-render.exe" {
				kept = append(kept, e)
			}
		}
		var b bytes.Buffer
		if err == nil && len(kept) == len(entries)-1 && release.TarGz(&b, kept, d.mtime) == nil {
			cliOnly = b.Bytes()
		}
	})
	return cliOnly
}

// archiveEntries are the regular files of a gzipped tar.
func archiveEntries(data []byte) ([]release.Entry, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	var entries []release.Entry
	for tr := tar.NewReader(zr); ; {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, nil
		}
		if err != nil {
			return nil, err
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			entries = append(entries, release.Entry{Name: h.Name, Mode: h.Mode, Data: content})
		}
	}
}

var (
	hostFilesOnce sync.Once
	hostFiles     map[string][]byte
)

// hostArchiveFiles are the files of the host platform archive by name,
// read (and checked, as TestDistFiles does) once.
func hostArchiveFiles(t *testing.T, d distribution) map[string][]byte {
	t.Helper()
	hostFilesOnce.Do(func() { hostFiles = readArchive(t, filepath.Join(d.dir, hostArchive(d)), d.mtime) })
	if hostFiles == nil {
		t.Fatalf("cannot read %s", hostArchive(d))
	}
	return hostFiles
}

func (s *releaseServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.URL.Path)
	s.mu.Unlock()
	variant, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	alter, ok := variants[variant]
	data, err := os.ReadFile(filepath.Join(s.d.dir, filepath.Base(name)))
	if !ok || err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(alter(s.d, name, data))
}

func (s *releaseServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// hostArchive is the archive the hook picks on this machine.
func hostArchive(d distribution) string {
	return release.ArchiveName(d.version, release.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH})
}

func readFileOrNil(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

// user is a clean machine: a HOME of its own, Helm's homes in it, a PATH
// with only the given tools (no go), and TMPDIR, which must be empty
// after every command.
type user struct {
	helm   string
	env    []string
	tmp    string
	tools  string // the PATH
	plugin string // the CLI plugin's directory, once known
}

// Tool sets: the hook's needs, from busybox (alpine: sh, tar, wget) or
// from the host (dash, GNU tools, curl).
var hookTools = []string{"sh", "tar", "gzip", "sha256sum", "uname", "mktemp", "rm", "mv", "mkdir", "chmod", "cp",
	"cat", "cut", "tr", "awk", "sed", "dirname", "readlink", "ln"}

func newUser(t *testing.T, major int, toolset, releaseURL string) *user {
	t.Helper()
	u := &user{helm: testutil.Helm3(t), tmp: t.TempDir()}
	if major == 4 {
		u.helm = testutil.Helm4(t)
	}
	u.tools = toolDir(t, toolset)
	u.env = append(testutil.IsolatedHelmEnv(t), "HOME="+t.TempDir(), "TMPDIR="+u.tmp,
		"PATH="+u.tools, "HARBORHA_RELEASE_URL="+releaseURL)
	return u
}

// toolDir is a directory of links to the tools of toolset, and nothing else.
func toolDir(t *testing.T, toolset string) string {
	t.Helper()
	dir := t.TempDir()
	link := func(name, target string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	switch toolset {
	case "busybox":
		bb := lookPath(t, "busybox")
		for _, name := range append(hookTools, "wget") {
			link(name, bb)
		}
	case "gnu":
		for _, name := range append(hookTools, "curl") {
			if name == "sh" {
				link(name, lookPath(t, "dash"))
			} else {
				link(name, lookPath(t, name))
			}
		}
	}
	return dir
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		testutil.Missing(t, "%s on PATH (make dist-test-tools installs busybox and shellcheck)", name)
	}
	return p
}

func (u *user) run(t *testing.T, wantCode int, args ...string) (string, string) {
	t.Helper()
	stdout, stderr := testutil.Exec(t, u.env, wantCode, u.helm, args...)
	u.assertNoTempFiles(t)
	return stdout, stderr
}

func (u *user) assertNoTempFiles(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(u.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temporary file left behind: %s", filepath.Join(u.tmp, e.Name()))
	}
}

// assertWorks: `helm harborha version` prints plugin.yaml's version.
func (u *user) assertWorks(t *testing.T, version string) {
	t.Helper()
	out, _ := u.run(t, 0, "harborha", "version")
	if strings.TrimSpace(out) != "harborha "+version {
		t.Errorf("helm harborha version printed %q, want %q", out, "harborha "+version)
	}
}

// assertRefused: the install failed with exactly one line of the hook's
// naming every want, and left no working plugin: neither binary (nor a
// copy on its way into place), and `helm harborha version` fails.
func (u *user) assertRefused(t *testing.T, stderr string, want ...string) {
	t.Helper()
	var ours []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "helm-harborha:") {
			ours = append(ours, line)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("want one line from the hook, got %d in:\n%s", len(ours), stderr)
	}
	testutil.OneLineWith(t, ours[0], append(want, "to install by hand")...)
	if u.plugin != "" {
		for _, name := range []string{"harborha", "harborha-post-render", ".harborha.new", ".harborha-post-render.new"} {
			if _, err := os.Lstat(filepath.Join(u.plugin, "bin", name)); err == nil {
				t.Errorf("%s/bin/%s left behind", u.plugin, name)
			}
		}
	}
	if out, _ := testutil.Exec(t, u.env, 1, u.helm, "harborha", "version"); strings.Contains(out, "harborha") {
		t.Errorf("helm harborha version still works: %q", out)
	}
}

// checkoutCopy is a copy of this checkout without bin/ (and dist/, .git),
// links kept: what `git clone` gives a user.
func checkoutCopy(t testing.TB) string {
	t.Helper()
	root, dst := testutil.RepoRoot(), filepath.Join(t.TempDir(), "helm-harborha")
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if e.IsDir() && (rel == "bin" || rel == "dist" || rel == ".git") {
			return filepath.SkipDir
		}
		return copyEntry(path, filepath.Join(dst, rel), e)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyEntry(src, dst string, e fs.DirEntry) error {
	switch {
	case e.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(target, dst)
	case e.IsDir():
		return os.MkdirAll(dst, 0o755)
	}
	info, err := e.Info()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, info.Mode().Perm())
}

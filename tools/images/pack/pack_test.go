package pack

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageDir makes an image directory with a file, a directory, a symlink
// and the given config.json.
func imageDir(t *testing.T, config string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "demo")
	for _, d := range []string{"rootfs/bin", "rootfs/data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs/bin/app"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app", filepath.Join(dir, "rootfs/bin/alias")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestWrite(t *testing.T) {
	cases := []struct {
		name, config string
		wantRef      string // prefix of the reference
		wantErr      string
	}{
		{"tag kept", `{"ref":"harborha.local/demo:v1","entrypoint":["/bin/app"]}`, "harborha.local/demo:v1", ""},
		{"no tag: content hash", `{"ref":"harborha.local/demo"}`, "harborha.local/demo:", ""},
		{"no ref: harborha.local/<name>", `{}`, "harborha.local/demo:", ""},
		{"latest refused", `{"ref":"harborha.local/demo:latest"}`, "", "latest makes the kubelet pull"},
		{"digest refused", `{"ref":"harborha.local/demo@sha256:` + strings.Repeat("a", 64) + `"}`, "", "a digest cannot name"},
		{"unknown key refused", `{"command":["/bin/app"]}`, "", "unknown field"},
		{"bad owner refused", `{"owners":{"data":"postgres"}}`, "", `want "uid:gid"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := imageDir(t, c.config)
			res, err := Write(dir, t.TempDir())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Write: err %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Ref, c.wantRef) || strings.HasSuffix(res.Ref, ":") {
				t.Fatalf("ref %q, want prefix %q", res.Ref, c.wantRef)
			}
			if _, err := tarball.ImageFromPath(res.Tarball, nil); err != nil {
				t.Fatalf("the tarball does not load as an image: %v", err)
			}
		})
	}
}

// The image's config carries config.json's process settings, the stop
// signal among them: the kubelet stops a container with it (Harbor's nginx
// with SIGQUIT, a graceful stop).
func TestWriteConfig(t *testing.T) {
	dir := imageDir(t, `{"ref":"harborha.local/demo:v1","cmd":["/bin/app"],"user":"10000:10000","stopSignal":"SIGQUIT"}`)
	res, err := Write(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(res.Tarball, nil)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config; got.StopSignal != "SIGQUIT" || got.User != "10000:10000" || len(got.Cmd) != 1 || got.Cmd[0] != "/bin/app" {
		t.Fatalf("image config %+v, want cmd [/bin/app], user 10000:10000, stop signal SIGQUIT", got)
	}
}

// The same directory gives the same bytes, whatever the files' times; a
// content hash tag follows the content.
func TestWriteDeterministic(t *testing.T) {
	dir := imageDir(t, `{"ref":"harborha.local/demo","owners":{"data":"999:999"}}`)
	a, err := Write(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "rootfs/bin/app"), later, later); err != nil {
		t.Fatal(err)
	}
	b, err := Write(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a.Ref != b.Ref || !bytes.Equal(readFile(t, a.Tarball), readFile(t, b.Tarball)) {
		t.Fatalf("two packs of one directory differ: %s vs %s", a.Ref, b.Ref)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs/bin/app"), []byte("changed\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Write(dir, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.Ref == a.Ref {
		t.Fatalf("changed content kept the tag %s", a.Ref)
	}
}

// A second Write into the same place keeps the tarball; a change rewrites it.
func TestWriteIncremental(t *testing.T) {
	dir := imageDir(t, `{"ref":"harborha.local/demo:v1"}`)
	out := t.TempDir()
	if res, err := Write(dir, out); err != nil || res.Skipped {
		t.Fatalf("first Write: %+v %v", res, err)
	}
	if res, err := Write(dir, out); err != nil || !res.Skipped {
		t.Fatalf("second Write: %+v %v, want skipped", res, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rootfs/bin/new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if res, err := Write(dir, out); err != nil || res.Skipped {
		t.Fatalf("Write after a change: %+v %v, want rewritten", res, err)
	}
}

// Entries are sorted, dated at the epoch, owned as the owners map says
// (longest path wins, default 0:0), symlinks kept.
func TestLayerEntries(t *testing.T) {
	dir := imageDir(t, `{}`)
	var buf bytes.Buffer
	owners := map[string]string{"data": "999:998", "bin/app": "5:6"}
	if err := writeLayer(&buf, filepath.Join(dir, "rootfs"), owners); err != nil {
		t.Fatal(err)
	}
	want := []string{"bin/ 0:0", "bin/alias 0:0 -> app", "bin/app 5:6", "data/ 999:998"}
	var got []string
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !h.ModTime.Equal(epoch) {
			t.Errorf("%s dated %v, want the epoch", h.Name, h.ModTime)
		}
		e := h.Name + " " + itoa(h.Uid) + ":" + itoa(h.Gid)
		if h.Linkname != "" {
			e += " -> " + h.Linkname
		}
		got = append(got, e)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

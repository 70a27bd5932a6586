// Package pack turns an image directory into an image tarball that
// `ctr images import` loads: no registry and no Docker engine exist on the
// test machines, so the real node's images are built from directories.
//
// An image directory <name>/ holds
//
//	rootfs/      the files exactly as they appear in the image (modes as on disk)
//	config.json  {"ref": "harborha.local/<name>[:<tag>]", "entrypoint": [...], "cmd": [...],
//	              "workingDir": "...", "env": ["K=V"], "user": "uid:gid",
//	              "exposedPorts": ["8080/tcp"], "labels": {...},
//	              "owners": {"path/in/rootfs": "uid:gid"}}   // optional, default 0:0
//
// An owner applies to its path and everything below it; the longest
// matching path wins. A ref without a tag gets the first 16 hex digits of
// the image's digest: a content hash, so that `imagePullPolicy:
// IfNotPresent` never meets a stale image. "latest" is refused (the kubelet
// would try to pull it).
//
// The output is deterministic: one layer, entries sorted by path, every
// timestamp the Unix epoch, no user or group names; the same directory
// gives the same bytes.
package pack

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Config is an image directory's config.json.
type Config struct {
	Ref          string            `json:"ref"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	Env          []string          `json:"env,omitempty"`
	User         string            `json:"user,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	// StopSignal is the image's STOPSIGNAL (Harbor's nginx and portal:
	// SIGQUIT, nginx's graceful stop); empty: SIGTERM.
	StopSignal string            `json:"stopSignal,omitempty"`
	Owners     map[string]string `json:"owners,omitempty"`
}

// epoch is every entry's and the image's timestamp.
var epoch = time.Unix(0, 0).UTC()

// ReadConfig reads and checks dir/config.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return c, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %v", filepath.Join(dir, "config.json"), err)
	}
	for p, o := range c.Owners {
		if _, _, err := parseOwner(o); err != nil {
			return c, fmt.Errorf("%s: owner of %q: %v", filepath.Join(dir, "config.json"), p, err)
		}
	}
	return c, nil
}

// Result is what Write made.
type Result struct {
	Ref     string // the image reference, with its tag
	Tarball string // the tarball's path
	Skipped bool   // the tarball was up to date
}

// Write packs the image directory dir into outDir/<name>.tar (name = the
// directory's base name) and writes its reference to outDir/<name>.ref. A
// tarball whose inputs have not changed since (outDir/<name>.inputs) is
// kept. Nothing is left half-written: the files are renamed into place.
func Write(dir, outDir string) (Result, error) {
	base := filepath.Base(filepath.Clean(dir))
	res := Result{Tarball: filepath.Join(outDir, base+".tar")}
	cfg, err := ReadConfig(dir)
	if err != nil {
		return res, err
	}
	inputs, err := fingerprint(dir)
	if err != nil {
		return res, err
	}
	refFile, inputsFile := filepath.Join(outDir, base+".ref"), filepath.Join(outDir, base+".inputs")
	if old, err := os.ReadFile(inputsFile); err == nil && string(old) == inputs {
		if ref, err := os.ReadFile(refFile); err == nil {
			if _, err := os.Stat(res.Tarball); err == nil {
				res.Ref, res.Skipped = strings.TrimSpace(string(ref)), true
				return res, nil
			}
		}
	}
	layerFile, err := os.CreateTemp(outDir, "."+base+"-layer-*.tar")
	if err != nil {
		return res, err
	}
	defer os.Remove(layerFile.Name())
	if err := writeLayer(layerFile, filepath.Join(dir, "rootfs"), cfg.Owners); err != nil {
		layerFile.Close()
		return res, fmt.Errorf("image %s: %v", base, err)
	}
	if err := layerFile.Close(); err != nil {
		return res, err
	}
	img, err := Image(layerFile.Name(), cfg)
	if err != nil {
		return res, fmt.Errorf("image %s: %v", base, err)
	}
	tag, err := Tag(cfg.Ref, base, img)
	if err != nil {
		return res, fmt.Errorf("image %s: %v", base, err)
	}
	res.Ref = tag.String()
	tmp := res.Tarball + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return res, fmt.Errorf("image %s: writing %s: %v", base, tmp, err)
	}
	if err := os.Rename(tmp, res.Tarball); err != nil {
		return res, err
	}
	if err := os.WriteFile(refFile, []byte(res.Ref+"\n"), 0o644); err != nil {
		return res, err
	}
	return res, os.WriteFile(inputsFile, []byte(inputs), 0o644)
}

// Image builds the one-layer image from an uncompressed layer tarball.
func Image(layerTar string, cfg Config) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.History = nil
	cf.Config = v1.Config{
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		WorkingDir: cfg.WorkingDir,
		Env:        cfg.Env,
		User:       cfg.User,
		Labels:     cfg.Labels,
		StopSignal: cfg.StopSignal,
	}
	if len(cfg.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range cfg.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	return mutate.ConfigFile(img, cf)
}

// Tag is ref with its tag; a ref without one gets the image's content
// hash (16 hex digits of its digest), an empty ref harborha.local/<name>.
func Tag(ref, base string, img v1.Image) (name.Tag, error) {
	if ref == "" {
		ref = "harborha.local/" + base
	}
	if strings.Contains(ref, "@") {
		return name.Tag{}, fmt.Errorf("ref %q: a digest cannot name an image to import; give a tag or none (a content hash is used)", ref)
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		d, err := img.Digest()
		if err != nil {
			return name.Tag{}, err
		}
		ref += ":" + d.Hex[:16]
	}
	t, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("ref %q: %v", ref, err)
	}
	if t.TagStr() == "latest" {
		return name.Tag{}, fmt.Errorf("ref %q: the tag latest makes the kubelet pull; give a version or no tag (a content hash is used)", ref)
	}
	return t, nil
}

// writeLayer writes rootfs as a tar stream: entries sorted by path, every
// time the epoch, owners from the owners map (default 0:0).
func writeLayer(w io.Writer, rootfs string, owners map[string]string) error {
	if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
		return fmt.Errorf("%s: not a directory (an image directory holds rootfs/ and config.json)", rootfs)
	}
	tw := tar.NewWriter(w)
	err := walkSorted(rootfs, func(rel string, info fs.FileInfo) error {
		hdr, err := header(rootfs, rel, info, owners)
		if err != nil || hdr == nil {
			return err
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(filepath.Join(rootfs, rel))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// header is the tar header of one entry, nil for a socket (nothing to keep).
func header(rootfs, rel string, info fs.FileInfo, owners map[string]string) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(info.Mode().Perm()),
		ModTime: epoch,
		Format:  tar.FormatPAX,
	}
	m := info.Mode()
	if m&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	switch {
	case m.IsDir():
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
	case m.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
	case m&fs.ModeSymlink != 0:
		target, err := os.Readlink(filepath.Join(rootfs, rel))
		if err != nil {
			return nil, err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case m&fs.ModeSocket != 0:
		return nil, nil
	default:
		return nil, fmt.Errorf("%s: unsupported file type %v", rel, m.Type())
	}
	uid, gid, err := ownerOf(rel, owners)
	if err != nil {
		return nil, err
	}
	hdr.Uid, hdr.Gid = uid, gid
	return hdr, nil
}

// ownerOf is the owner of rel: the longest owners path that is rel or a
// parent of it, else 0:0.
func ownerOf(rel string, owners map[string]string) (int, int, error) {
	best := ""
	found := false
	for p := range owners {
		clean := strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/")
		if (rel == clean || strings.HasPrefix(rel, clean+"/")) && (!found || len(clean) > len(best)) {
			best, found = clean, true
		}
	}
	if !found {
		return 0, 0, nil
	}
	for p, o := range owners {
		if strings.Trim(filepath.ToSlash(filepath.Clean(p)), "/") == best {
			return parseOwner(o)
		}
	}
	return 0, 0, nil
}

func parseOwner(s string) (int, int, error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, errors.New(`want "uid:gid" (numbers)`)
	}
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
		return 0, 0, errors.New(`want "uid:gid" (numbers)`)
	}
	return uid, gid, nil
}

// walkSorted calls fn for every entry under root (not root itself) in
// lexical order of the slash-separated relative path, without following
// symlinks.
func walkSorted(root string, fn func(rel string, info fs.FileInfo) error) error {
	var rels []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			rels = append(rels, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(rels)
	for _, rel := range rels {
		info, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		if err := fn(rel, info); err != nil {
			return err
		}
	}
	return nil
}

// fingerprint hashes what the tarball depends on: config.json and every
// rootfs entry's path, type, mode, size, modification time and link
// target. A changed file changes its size or time.
func fingerprint(dir string) (string, error) {
	h := sha256.New()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", err
	}
	h.Write(b)
	rootfs := filepath.Join(dir, "rootfs")
	err = walkSorted(rootfs, func(rel string, info fs.FileInfo) error {
		target := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			target, _ = os.Readlink(filepath.Join(rootfs, rel))
		}
		fmt.Fprintf(h, "%s\x00%v\x00%d\x00%d\x00%s\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano(), target)
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)) + "\n", nil
}

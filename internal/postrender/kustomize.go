package postrender

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/manifest"
)

// kustomizeRun runs krusty in-process on an in-memory filesystem and
// returns each resulting object's YAML by its original identity (before any
// name change a user's kustomization makes), in output order.
func kustomizeRun(mem filesys.FileSystem, dir string) ([]rendered, error) {
	opts := krusty.MakeDefaultOptions() // keeps input order, no plugins, no files outside dir
	rm, err := krusty.MakeKustomizer(opts).Run(mem, dir)
	if err != nil {
		return nil, err
	}
	return fromResMap(rm)
}

type rendered struct {
	orig manifest.ID
	yaml string
}

func fromResMap(rm resmap.ResMap) ([]rendered, error) {
	out := make([]rendered, 0, rm.Size())
	for _, r := range rm.Resources() {
		// The node's own encoding: keeps the document's key order (AsYAML
		// goes through JSON, which sorts every key and costs twice as much).
		b, err := r.RNode.String()
		if err != nil {
			return nil, err
		}
		id := r.OrgId()
		out = append(out, rendered{
			orig: manifest.ID{Group: id.Group, Kind: id.Kind, Namespace: id.Namespace, Name: id.Name},
			yaml: trimHead(b),
		})
	}
	return out, nil
}

// maxUserFile bounds what --kustomize copies into memory: kustomizations
// and patches are small, and a stray large file is a mistake.
const maxUserFile = 16 << 20

// userKustomization copies the user's --kustomize directory into mem under
// dir and makes our output (written as harborha.yaml) its first resource.
func userKustomization(mem filesys.FileSystem, dir, userDir string, stream []byte) error {
	root := os.DirFS(userDir)
	err := fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxUserFile {
			return fmt.Errorf("%s is larger than %d MiB", p, maxUserFile>>20)
		}
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return err
		}
		return mem.WriteFile(filepath.Join(dir, filepath.FromSlash(p)), b)
	})
	if err != nil {
		return fmt.Errorf("--kustomize %s: %s", userDir, pathErrReason(err))
	}
	var kfile string
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if mem.Exists(filepath.Join(dir, n)) {
			kfile = filepath.Join(dir, n)
			break
		}
	}
	if kfile == "" {
		return fmt.Errorf("--kustomize %s: no kustomization.yaml in it", userDir)
	}
	b, err := mem.ReadFile(kfile)
	if err != nil {
		return err
	}
	var k map[string]any
	if err := yaml.Unmarshal(b, &k); err != nil || k == nil {
		return fmt.Errorf("--kustomize %s: %s is not a YAML mapping", userDir, filepath.Base(kfile))
	}
	const ours = "harborha.yaml"
	if mem.Exists(filepath.Join(dir, ours)) {
		return fmt.Errorf("--kustomize %s: rename %s; that name is where our output goes", userDir, ours)
	}
	res, _ := k["resources"].([]any)
	k["resources"] = append([]any{ours}, res...)
	if b, err = yaml.Marshal(k); err != nil {
		return err
	}
	if err := mem.WriteFile(kfile, b); err != nil {
		return err
	}
	return mem.WriteFile(filepath.Join(dir, ours), stream)
}

// trimHead drops the comment lines before an object: kyaml keeps the input
// document's ("# Source: ..."), and the caller puts that head back itself.
func trimHead(s string) string {
	for strings.HasPrefix(s, "#") {
		_, rest, ok := strings.Cut(s, "\n")
		if !ok {
			return ""
		}
		s = rest
	}
	return s
}

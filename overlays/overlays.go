// Package overlays holds the kustomize material the post-renderer starts
// from: the kustomization it fills in and the objects it adds. Each file is
// a shape; the post-renderer fills in names, selectors and sizes taken from
// the rendered workloads and the flags.
package overlays

import "embed"

// FS holds kustomization.yaml, pdb.yaml and shared-pvc.yaml.
//
//go:embed *.yaml
var FS embed.FS

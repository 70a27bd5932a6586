// Package overlays holds the objects the post-renderer adds, as shapes:
// it fills in names, selectors and sizes taken from the rendered workloads
// and the flags.
package overlays

import "embed"

// FS holds pdb.yaml, hpa.yaml and shared-pvc.yaml.
//
//go:embed *.yaml
var FS embed.FS

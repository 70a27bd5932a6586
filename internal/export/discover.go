package export

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/helmrun"
)

// overlay is the discovered values overlay as the export writes it: with
// no password in it. Each password the chart would have read inline is
// named by the Secret that holds it, for Flux's valuesFrom.
type overlay struct {
	Values  []byte
	Secrets []secretValue
	// Knobs are the post-render knobs discovery adds (the Secret that
	// holds the Redis password), as the wrappers pass them.
	Knobs []string
}

// secretValue is one value Flux reads from a Secret at reconcile time.
type secretValue struct {
	Secret, Key, TargetPath string
	Namespace               string // where the Secret lives (valuesFrom reads only the release's)
}

// passwordKey is the key of a KubeBlocks account Secret that holds the
// password.
const passwordKey = "password"

// discoverOverlay discovers the KubeBlocks clusters as `helm harborha
// template` does (read-only: it points at the Secrets bootstrap made, and
// creates none) and returns the overlay and the knobs it needs.
func discoverOverlay(ctx context.Context, w *helmrun.Options, progress io.Writer) (*overlay, error) {
	doc, knobs, err := w.Overlay(ctx, progress)
	if err != nil {
		return nil, err
	}
	ov, err := withoutPasswords(doc)
	if err != nil {
		return nil, err
	}
	ov.Knobs = knobs
	return ov, nil
}

// withoutPasswords drops the passwords from the overlay and records where
// each one is kept. The header (it holds the time) goes too: the export is
// the same bytes for the same input.
func withoutPasswords(doc []byte) (*overlay, error) {
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("reading the values overlay: %v", err)
	}
	for _, store := range []string{"database", "redis"} {
		ext, _ := harborMap(v, store, "external")
		if _, ok := ext["password"]; ok {
			return nil, fmt.Errorf("the discovered values hold %s.external.password, and an export never carries a credential", store)
		}
	}
	body, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	header := "# Values overlay for the goharbor/harbor chart, from the KubeBlocks clusters that helm harborha\n" +
		"# discovered. No password is written here: see the README (export) for where each one comes from.\n"
	return &overlay{Values: append([]byte(header), body...)}, nil
}

func harborMap(v map[string]any, keys ...string) (map[string]any, bool) {
	cur := v
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, false
		}
		cur = next
	}
	return cur, true
}

// paths lists the values the overlay left out, for messages.
func (o *overlay) paths() []string {
	var out []string
	for _, s := range o.Secrets {
		out = append(out, s.TargetPath)
	}
	return out
}

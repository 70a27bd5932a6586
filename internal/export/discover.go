package export

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/helmrun"
)

// overlay is the discovered values overlay as the export writes it. It
// holds no password: the database's is read by the chart from the Secret
// the overlay names (existingSecret), the Redis password by Harbor's pods
// from the Secret the post-render knobs name (env secretKeyRef, which the
// export's patches carry).
type overlay struct {
	Values []byte
	// Knobs are the post-render knobs discovery adds (the Secret that
	// holds the Redis password), as the wrappers pass them.
	Knobs []string
}

// discoverOverlay discovers the KubeBlocks clusters as `helm harborha
// template` does (read-only: it points at the Secrets bootstrap made, and
// creates none) and returns the overlay and the knobs it needs.
func discoverOverlay(ctx context.Context, w *helmrun.Options, progress io.Writer) (*overlay, error) {
	doc, knobs, err := w.Overlay(ctx, progress)
	if err != nil {
		return nil, err
	}
	values, err := exportValues(doc)
	if err != nil {
		return nil, err
	}
	return &overlay{Values: values, Knobs: knobs}, nil
}

// exportValues is the overlay without its header (it holds the time: the
// export is the same bytes for the same input). The overlay never holds a
// password; one that did would be a bug, and is refused rather than
// written into Git.
func exportValues(doc []byte) ([]byte, error) {
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("reading the values overlay: %v", err)
	}
	for _, store := range []string{"database", "redis"} {
		ext, _ := harborMap(v, store, "external")
		if _, ok := ext["password"]; ok {
			return nil, fmt.Errorf("the discovered values hold %s.external.password, and an export never carries a credential; this is a bug in helm-harborha, please report it", store)
		}
	}
	body, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	header := "# Values overlay for the goharbor/harbor chart, from the KubeBlocks clusters that helm harborha\n" +
		"# discovered. It holds no password: the chart reads the database's from the Secret named here,\n" +
		"# and Harbor's pods the Redis password from the Secret the patches reference.\n"
	return append([]byte(header), body...), nil
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

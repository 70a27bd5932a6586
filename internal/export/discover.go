package export

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/helmrun"
	"github.com/harborha/helm-harborha/internal/values"
)

// overlay is the discovered values overlay as the export writes it: with
// no password in it. Each password the chart would have read inline is
// named by the Secret that holds it, for Flux's valuesFrom.
type overlay struct {
	Values  []byte
	Secrets []secretValue
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
// template` does and returns the overlay without its passwords.
func discoverOverlay(ctx context.Context, w *helmrun.Options, chart values.Chart, progress io.Writer) (*overlay, error) {
	found, _, doc, err := w.Discover(ctx, chart, progress)
	if err != nil {
		return nil, err
	}
	return withoutPasswords(doc, found)
}

// withoutPasswords drops the passwords from the overlay and records where
// each one is kept. The header (it holds the time) goes too: the export is
// the same bytes for the same input.
func withoutPasswords(doc []byte, found *discover.Result) (*overlay, error) {
	var v map[string]any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("reading the values overlay: %v", err)
	}
	o := &overlay{}
	for _, p := range []struct {
		store string
		ep    *discover.Endpoint
	}{{"database", found.PostgreSQL}, {"redis", found.Redis}} {
		ext, _ := harborMap(v, p.store, "external")
		if pw, ok := ext["password"].(string); ok {
			delete(ext, "password")
			if pw != "" {
				o.Secrets = append(o.Secrets, secretValue{Secret: p.ep.Secret, Namespace: p.ep.Namespace, Key: passwordKey,
					TargetPath: p.store + ".external.password"})
			}
		}
	}
	body, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	header := "# Values overlay for the goharbor/harbor chart, from the KubeBlocks clusters that helm harborha\n" +
		"# discovered. No password is written here: see the README (export) for where each one comes from.\n"
	o.Values = append([]byte(header), body...)
	return o, nil
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

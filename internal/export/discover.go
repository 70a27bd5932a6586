package export

import (
	"context"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	"github.com/harborha/helm-harborha/internal/postrender"
	"github.com/harborha/helm-harborha/internal/values"
)

// discover runs the template wrapper's spine (read-only: it points at the
// Secrets bootstrap made, and creates none) for the chart the export
// renders, not one guessed from --version (a range, or none, for a
// repository chart). It returns the knobs with the Redis password's Secret
// it learnt, and the overlay as the export writes it, which holds no
// password: the database's is read by the chart from the Secret the
// overlay names (existingSecret), the Redis password by Harbor's pods from
// the Secret the knobs name (env secretKeyRef, which the export's patches
// carry). With --no-discover, the user's knobs and no overlay.
func (o *Options) discover(ctx context.Context, ch *chartRef, progress io.Writer) (postrender.Knobs, []byte, error) {
	if o.Flags.NoDiscover {
		return o.input.Knobs, nil, nil
	}
	loaded, err := values.ChartFromLoaded(ch.Chart, "chart "+o.rel.Chart)
	if err != nil {
		return postrender.Knobs{}, nil, err
	}
	o.input.Overlay.Chart = loaded
	res, err := o.input.Run(ctx, progress)
	if err != nil {
		return postrender.Knobs{}, nil, err
	}
	doc, err := exportValues(res.Overlay.Values())
	return res.Knobs, doc, err
}

// exportValues is the overlay without its header (it holds the time: the
// export is the same bytes for the same input). The overlay never holds a
// password; one that did would be a bug, and is refused rather than
// written into Git.
func exportValues(v map[string]any) ([]byte, error) {
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

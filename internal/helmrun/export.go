package helmrun

import (
	"context"
	"fmt"
	"io"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
	"github.com/harborha/helm-harborha/internal/values"
)

// What `helm harborha export` reads of a completed wrapper's options: it
// takes the template wrapper's arguments, and renders and writes them
// itself instead of running Helm with the post-renderer.

// HelmArgs are the arguments Complete left for Helm, in order.
func (o *Options) HelmArgs() []string { return o.helmArgs }

// Helm is the user's helm binary.
func (o *Options) Helm() string { return o.helm }

// Discover finds the KubeBlocks clusters, connecting as the Helm run will
// (Helm's environment, or -n/--kube-context/--kubeconfig among Helm's
// arguments), and builds the values overlay for chart; warnings go to
// progress. The result says where each password came from.
func (o *Options) Discover(ctx context.Context, chart values.Chart, progress io.Writer) (*discover.Result, *kube.Client, []byte, error) {
	vo := o.Values
	vo.Chart = chart
	settings := o.kubeSettings()
	fmt.Fprintf(progress, "harborha: discovering the KubeBlocks clusters for namespace %s\n", settings.Namespace())
	d := o.Discovery
	d.NodeAddress = vo.ExternalURL == ""
	found, client, err := discover.Find(ctx, settings, d)
	if err != nil {
		return nil, nil, nil, err
	}
	doc, warnings, err := values.Generate(found, client.Namespace, vo)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range append(found.Warnings, warnings...) {
		fmt.Fprintf(progress, "harborha %s: warning: %s\n", o.Action, w)
	}
	return found, client, doc, nil
}

package lint

import (
	"context"
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	helmpostrender "helm.sh/helm/v3/pkg/postrender"

	"github.com/harborha/helm-harborha/internal/chartref"
)

// DefaultKubeVersion is the Kubernetes version charts are rendered for
// (.Capabilities.KubeVersion), fixed so that renders do not depend on the
// machine: the version the project's tests run the API server at.
const DefaultKubeVersion = "v1.37.1"

// DefaultRelease is the release name --chart renders with. It contains
// "harbor", so the chart's fullname is the release name itself.
const DefaultRelease = "harbor"

// ChartFlags are the --chart inputs, the ones `helm template` takes.
type ChartFlags struct {
	Chart       string // path, repo/name or oci:// reference
	Version     string // chart version constraint for repository charts
	Release     string
	KubeVersion string
	Values      values.Options // -f, --set, --set-string, --set-file
}

// renderChart renders a chart in-process the way `helm template` does
// (action.Install, client-only dry run) and returns the same stream:
// the manifest, post-rendered by pr when it is not nil (Helm 3 post-renders
// everything but hooks), then the hooks.
func renderChart(ctx context.Context, settings *cli.EnvSettings, namespace string, co ChartFlags, pr helmpostrender.PostRenderer) ([]byte, error) {
	kv, err := chartutil.ParseKubeVersion(co.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q is not a Kubernetes version such as %s", co.KubeVersion, DefaultKubeVersion)
	}
	path, err := chartref.Locate(chartref.Ref{Name: co.Chart, Version: co.Version}, settings, "--chart "+co.Chart)
	if err != nil {
		return nil, err
	}
	vals, err := co.Values.MergeValues(getter.All(settings))
	if err != nil {
		return nil, fmt.Errorf("values: %v", err)
	}
	ch, err := chartref.Load(path, "--chart "+co.Chart)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.ReleaseName = co.Release
	install.Namespace = namespace
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.KubeVersion = kv
	install.PostRenderer = pr
	if deps := ch.Metadata.Dependencies; deps != nil {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return nil, fmt.Errorf("--chart %s: %v; run `helm dependency build` first", co.Chart, err)
		}
	}
	rel, err := install.RunWithContext(ctx, ch, vals)
	if err != nil {
		return nil, fmt.Errorf("rendering %s: %v", co.Chart, err)
	}
	// The stream `helm template` prints: manifest, then every hook.
	var b strings.Builder
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteString("\n")
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return []byte(b.String()), nil
}

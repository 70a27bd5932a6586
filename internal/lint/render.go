package lint

import (
	"context"
	"fmt"
	"io"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	helmpostrender "helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/registry"
)

// DefaultKubeVersion is the Kubernetes version charts are rendered for
// (.Capabilities.KubeVersion), fixed so that renders do not depend on the
// machine: the version the project's tests run the API server at.
const DefaultKubeVersion = "v1.37.1"

// DefaultRelease is the release name --chart renders with. It contains
// "harbor", so the chart's fullname is the release name itself.
const DefaultRelease = "harbor"

// ChartOptions are the --chart inputs, the ones `helm template` takes.
type ChartOptions struct {
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
func renderChart(ctx context.Context, settings *cli.EnvSettings, namespace string, co ChartOptions, pr helmpostrender.PostRenderer) ([]byte, error) {
	kv, err := chartutil.ParseKubeVersion(co.KubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q is not a Kubernetes version such as %s", co.KubeVersion, DefaultKubeVersion)
	}
	rc, err := registry.NewClient(registry.ClientOptCredentialsFile(settings.RegistryConfig), registry.ClientOptWriter(io.Discard), registry.ClientOptEnableCache(true))
	if err != nil {
		return nil, fmt.Errorf("--chart %s: cannot set up an OCI registry client: %v", co.Chart, err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.SetRegistryClient(rc)
	install.Version = co.Version
	install.ReleaseName = co.Release
	install.Namespace = namespace
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.KubeVersion = kv
	install.PostRenderer = pr

	path, err := install.ChartPathOptions.LocateChart(co.Chart, settings)
	if err != nil {
		return nil, fmt.Errorf("--chart %s: %v", co.Chart, err)
	}
	vals, err := co.Values.MergeValues(getter.All(settings))
	if err != nil {
		return nil, fmt.Errorf("values: %v", err)
	}
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--chart %s: cannot load the chart: %v", co.Chart, err)
	}
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

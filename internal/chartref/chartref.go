// Package chartref finds and loads a chart the way `helm template` does:
// a local directory or archive, a repository chart (REPO/NAME, or NAME
// with --repo) downloaded into Helm's cache, or an oci:// reference. lint
// --chart, export and the values overlay locate their chart here.
package chartref

import (
	"fmt"
	"io"
	"os"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// Ref names a chart as Helm's arguments do.
type Ref struct {
	Name    string // a path, REPO/NAME, a name with Repo, or oci://
	Version string // a version or constraint, for repository charts
	Repo    string // --repo URL
	Devel   bool   // --devel: pre-releases too
}

// Local reports whether Name is a chart on this machine.
func (r Ref) Local() bool {
	_, err := os.Stat(r.Name)
	return err == nil
}

// Locate returns the chart's path on this machine: a local chart's, or
// where Helm's cache holds a repository chart, downloaded if need be.
// what names the chart in messages ("--chart NAME", "chart NAME").
func Locate(r Ref, settings *cli.EnvSettings, what string) (string, error) {
	rc, err := registry.NewClient(registry.ClientOptCredentialsFile(settings.RegistryConfig), registry.ClientOptWriter(io.Discard), registry.ClientOptEnableCache(true))
	if err != nil {
		return "", fmt.Errorf("%s: cannot set up an OCI registry client: %v", what, err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.SetRegistryClient(rc)
	install.Version, install.RepoURL, install.Devel = r.Version, r.Repo, r.Devel
	p, err := install.ChartPathOptions.LocateChart(r.Name, settings)
	if err != nil {
		return "", fmt.Errorf("%s: %v", what, err)
	}
	return p, nil
}

// Load reads the chart at path (a directory or archive) with Helm's
// loader; what names it in messages.
func Load(path, what string) (*chart.Chart, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot load the chart: %v", what, err)
	}
	return ch, nil
}

package export

import (
	"fmt"
	"net/url"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
	"helm.sh/helm/v3/pkg/repo"

	"github.com/harborha/helm-harborha/internal/chartref"
	"github.com/harborha/helm-harborha/internal/helmexec"
)

// chartRef is the chart as both formats name it: a repository chart by
// name, pinned version and repository URL (https or oci://), or a local
// chart that the export carries in its directory.
type chartRef struct {
	Name, Version string
	Repo          string // "" for a local chart
	Path          string // the chart on this machine: the local one, or Helm's download
	Chart         *chart.Chart
}

// Local reports whether the chart is carried in the export.
func (c *chartRef) Local() bool { return c.Repo == "" }

// locateChart finds the chart as `helm template` would and pins its
// version: the export must render the same chart tomorrow.
func locateChart(r *helmexec.Release, settings *cli.EnvSettings) (*chartRef, error) {
	ref, err := chartRepository(r, settings)
	if err != nil {
		return nil, err
	}
	name, repo := r.Chart, r.Repo
	if ref.Repo != "" && !registry.IsOCI(name) {
		name, repo = ref.Name, ref.Repo
	}
	what := "chart " + r.Chart
	p, err := chartref.Locate(chartref.Ref{Name: name, Version: r.Version, Repo: repo, Devel: r.Devel}, settings, what)
	if err != nil {
		return nil, err
	}
	ch, err := chartref.Load(p, what)
	if err != nil {
		return nil, err
	}
	ref.Path, ref.Chart, ref.Version = p, ch, ch.Metadata.Version
	if ref.Local() {
		ref.Name = ch.Metadata.Name
	}
	return ref, nil
}

// chartRepository is where both formats fetch the chart from: its
// repository URL (https or oci://) and name there, or none for a local
// chart.
func chartRepository(r *helmexec.Release, settings *cli.EnvSettings) (*chartRef, error) {
	ref := &chartRef{}
	name := r.Chart
	switch {
	case chartref.Ref{Name: name}.Local():
	case registry.IsOCI(name):
		i := strings.LastIndex(strings.TrimSuffix(name, "/"), "/")
		ref.Repo, ref.Name = name[:i], name[i+1:]
	case strings.Contains(name, "://"):
		return nil, fmt.Errorf("chart %s: kustomize's helmCharts and Flux take a chart from a repository (--repo URL NAME, REPO/NAME) or oci://, not the URL of an archive; pass the repository and the chart's name", name)
	case r.Repo != "":
		ref.Repo, ref.Name = r.Repo, name
	default:
		repoName, chartName, ok := strings.Cut(name, "/")
		if !ok {
			return nil, fmt.Errorf("chart %s: not a local chart and no repository: pass --repo URL, REPO/%s, or a chart path", name, name)
		}
		u, err := repoURL(settings, repoName)
		if err != nil {
			return nil, err
		}
		ref.Repo, ref.Name = u, chartName
	}
	return ref, checkRepoURL(ref.Repo)
}

// repoURL is the URL of a repository added with `helm repo add`.
func repoURL(settings *cli.EnvSettings, name string) (string, error) {
	f, err := repo.LoadFile(settings.RepositoryConfig)
	if err != nil {
		return "", fmt.Errorf("chart repository %q: cannot read %s: %v (helm repo add %s URL)", name, settings.RepositoryConfig, err, name)
	}
	e := f.Get(name)
	if e == nil {
		return "", fmt.Errorf("chart repository %q is not in %s: helm repo add %s URL, or pass --repo URL", name, settings.RepositoryConfig, name)
	}
	if e.Username != "" || e.CertFile != "" || e.CAFile != "" {
		return "", fmt.Errorf("chart repository %q needs credentials or TLS files, which kustomize (it runs helm with an empty configuration) and an export cannot carry; pull the chart (helm pull --untar) and export the directory", name)
	}
	return e.URL, nil
}

// checkRepoURL refuses a repository URL with credentials in it: they
// would be written into the export.
func checkRepoURL(u string) error {
	if u == "" {
		return nil
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("--repo %q: not a URL", u)
	}
	if parsed.User != nil {
		parsed.User = nil
		return fmt.Errorf("--repo %s: the URL holds credentials, which an export never writes; use a repository that needs none, or pull the chart and export the directory", parsed.Redacted())
	}
	return nil
}

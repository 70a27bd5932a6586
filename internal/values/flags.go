package values

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/chartref"
)

// AddFlags defines the overlay's flags on fs, bound to o.
func (o *Spec) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Database, "database", o.Database, "PostgreSQL database for Harbor's core (database.external.coreDatabase); it must exist")
	fs.StringVar(&o.SSLMode, "sslmode", o.SSLMode, "PostgreSQL sslmode: disable, require, verify-ca or verify-full")
	fs.BoolVar(&o.TLS, "tls", false, "expose Harbor over HTTPS with the chart's auto-generated certificate")
	fs.IntVar(&o.NodePort, "node-port", o.NodePort, "NodePort for HTTP")
	fs.IntVar(&o.HTTPSNodePort, "https-node-port", o.HTTPSNodePort, "NodePort for HTTPS (with --tls)")
	fs.StringVar(&o.ExternalURL, "external-url", "", "Harbor's external URL (default: http://<a node's InternalIP>:<node port>)")
}

// ChartFromFlags is the chart values' --chart PATH or --chart-version V
// name (at most one), or the current chart.
func ChartFromFlags(path, version string) (Chart, error) {
	switch {
	case path != "" && version != "":
		return Chart{}, errors.New("--chart and --chart-version both given: pass one (--chart detects the version)")
	case version != "":
		return ChartFromVersion(version)
	case path != "":
		return ChartFromPath(path)
	}
	return LatestChart(), nil
}

// ChartOfRelease is the chart an install wrapper installs: a local chart
// (directory or archive) is read; a repository chart is known by an exact
// --version, and otherwise assumed current (a range says too little).
func ChartOfRelease(chart, version string) (Chart, error) {
	if (chartref.Ref{Name: chart}).Local() {
		return ChartFromPath(chart)
	}
	if c, err := ChartFromVersion(version); err == nil {
		return c, nil
	}
	return LatestChart(), nil
}

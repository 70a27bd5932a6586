package values

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
)

// AddFlags defines the overlay's flags on fs, bound to o. forceFlag names
// the flag that accepts unhealthy clusters: "force" for values,
// "allow-unhealthy" in the install wrappers, where --force is Helm's.
func (o *Options) AddFlags(fs *pflag.FlagSet, forceFlag string) {
	fs.StringVar(&o.Database, "database", o.Database, "PostgreSQL database for Harbor's core (database.external.coreDatabase); it must exist")
	fs.StringVar(&o.SSLMode, "sslmode", o.SSLMode, "PostgreSQL sslmode: disable, require, verify-ca or verify-full")
	fs.BoolVar(&o.TLS, "tls", false, "expose Harbor over HTTPS with the chart's auto-generated certificate")
	fs.IntVar(&o.NodePort, "node-port", o.NodePort, "NodePort for HTTP")
	fs.IntVar(&o.HTTPSNodePort, "https-node-port", o.HTTPSNodePort, "NodePort for HTTPS (with --tls)")
	fs.StringVar(&o.ExternalURL, "external-url", "", "Harbor's external URL (default: http://<a node's InternalIP>:<node port>)")
	o.ForceFlag = forceFlag
	fs.BoolVar(&o.Force, forceFlag, false, "write the values even when a cluster is not Running or has no primary pod")
}

// Generate builds the overlay for what discovery found, for Harbor in
// namespace. It refuses clusters that are not Running with a primary pod
// unless o.Force, and then warns instead.
func Generate(r *discover.Result, namespace string, o Options) ([]byte, []string, error) {
	o.HarborNamespace = namespace
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	var warnings []string
	if err := r.Unhealthy(); err != nil {
		if !o.Force {
			return nil, nil, fmt.Errorf("%v: wait until KubeBlocks reports it Running with a primary pod, or pass --%s to write the values anyway", err, o.ForceFlag)
		}
		warnings = append(warnings, fmt.Sprintf("--%s: %v", o.ForceFlag, err))
	}
	doc, err := Build(r, o)
	if err != nil {
		return nil, nil, err
	}
	return doc, warnings, nil
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
	if _, err := os.Stat(chart); err == nil {
		return ChartFromPath(chart)
	}
	if c, err := ChartFromVersion(version); err == nil {
		return c, nil
	}
	return LatestChart(), nil
}

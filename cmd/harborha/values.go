package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/values"
)

func init() {
	register(command{
		name:    "values",
		summary: "write the goharbor chart's values overlay for the KubeBlocks clusters",
		run:     runValues,
	})
}

const valuesHelp = `Usage: helm harborha values [flags] [-o FILE]

Discovers the KubeBlocks PostgreSQL and Redis clusters (as 'discover' does)
and writes the goharbor/harbor chart's values overlay: external database and
Redis, NodePort exposure and externalURL. The database password stays in the
cluster (existingSecret) when its Secret is in Harbor's namespace; the Redis
password is inline, so keep the output private (-o writes mode 0600).
Refuses clusters that are not Running with a primary pod, unless --force.

Flags:
`

func runValues(ctx context.Context, s *streams, args []string) error {
	fs := pflag.NewFlagSet("values", pflag.ContinueOnError)
	df := addDiscoveryFlags(fs)
	o := values.Defaults()
	var output, chartPath, chartVersion string
	var force bool
	fs.StringVar(&o.Database, "database", o.Database, "PostgreSQL database for Harbor's core (database.external.coreDatabase); it must exist")
	fs.StringVar(&o.SSLMode, "sslmode", o.SSLMode, "PostgreSQL sslmode: disable, require, verify-ca or verify-full")
	fs.BoolVar(&o.TLS, "tls", false, "expose Harbor over HTTPS with the chart's auto-generated certificate")
	fs.IntVar(&o.NodePort, "node-port", o.NodePort, "NodePort for HTTP")
	fs.IntVar(&o.HTTPSNodePort, "https-node-port", o.HTTPSNodePort, "NodePort for HTTPS (with --tls)")
	fs.StringVar(&o.ExternalURL, "external-url", "", "Harbor's external URL (default: http://<a node's InternalIP>:<node port>)")
	fs.StringVar(&chartPath, "chart", "", "the goharbor chart (directory or .tgz) the values are for: detects its version")
	fs.StringVar(&chartVersion, "chart-version", "", "the goharbor chart version the values are for (default: the current chart)")
	fs.BoolVar(&force, "force", false, "write the values even when a cluster is not Running or has no primary pod")
	fs.StringVarP(&output, "output", "o", "", "write to FILE (mode 0600) instead of stdout")
	if done, err := parseFlags(fs, s, valuesHelp, args); done || err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	switch {
	case chartPath != "" && chartVersion != "":
		return errors.New("--chart and --chart-version both given: pass one (--chart detects the version)")
	case chartVersion != "":
		c, err := values.ChartFromVersion(chartVersion)
		if err != nil {
			return err
		}
		o.Chart = c
	case chartPath != "":
		c, err := values.ChartFromPath(chartPath)
		if err != nil {
			return err
		}
		o.Chart = c
	}

	r, c, err := df.discover(ctx, s, "values", o.ExternalURL == "")
	if err != nil {
		return err
	}
	if err := values.Unhealthy(r); err != nil {
		if !force {
			return fmt.Errorf("%v: wait until KubeBlocks reports it Running with a primary pod, or pass --force to write the values anyway", err)
		}
		fmt.Fprintf(s.err, "harborha values: warning: --force: %v\n", err)
	}
	o.HarborNamespace = c.Namespace
	o.Now = time.Now()
	o.Generator = "helm-harborha " + version
	doc, warnings, err := values.Build(r, o)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(s.err, "harborha values: warning: %s\n", w)
	}
	if output == "" || output == "-" {
		_, err = s.out.Write(doc)
		return err
	}
	if err := values.WriteFile(output, doc); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "harborha values: wrote %s (mode 0600)\n", output)
	return nil
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/kube"
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

// valuesFlags are the flags that shape the overlay, shared by values and
// the install/upgrade/template wrappers.
type valuesFlags struct {
	disc                    *discoveryFlags
	o                       values.Options
	chartPath, chartVersion string
	force                   bool
	forceFlag               string
}

// addValuesFlags adds the overlay's flags; forceFlag names the flag that
// accepts unhealthy clusters ("force" for values, "allow-unhealthy" in the
// wrappers, where --force is Helm's).
func addValuesFlags(fs *pflag.FlagSet, d *discoveryFlags, forceFlag string) *valuesFlags {
	v := &valuesFlags{disc: d, o: values.Defaults(), forceFlag: forceFlag}
	o := &v.o
	fs.StringVar(&o.Database, "database", o.Database, "PostgreSQL database for Harbor's core (database.external.coreDatabase); it must exist")
	fs.StringVar(&o.SSLMode, "sslmode", o.SSLMode, "PostgreSQL sslmode: disable, require, verify-ca or verify-full")
	fs.BoolVar(&o.TLS, "tls", false, "expose Harbor over HTTPS with the chart's auto-generated certificate")
	fs.IntVar(&o.NodePort, "node-port", o.NodePort, "NodePort for HTTP")
	fs.IntVar(&o.HTTPSNodePort, "https-node-port", o.HTTPSNodePort, "NodePort for HTTPS (with --tls)")
	fs.StringVar(&o.ExternalURL, "external-url", "", "Harbor's external URL (default: http://<a node's InternalIP>:<node port>)")
	fs.BoolVar(&v.force, forceFlag, false, "write the values even when a cluster is not Running or has no primary pod")
	return v
}

// chart sets the chart the overlay is for, from a path or a version.
func (v *valuesFlags) chart() error {
	switch {
	case v.chartPath != "" && v.chartVersion != "":
		return errors.New("--chart and --chart-version both given: pass one (--chart detects the version)")
	case v.chartVersion != "":
		c, err := values.ChartFromVersion(v.chartVersion)
		if err != nil {
			return err
		}
		v.o.Chart = c
	case v.chartPath != "":
		c, err := values.ChartFromPath(v.chartPath)
		if err != nil {
			return err
		}
		v.o.Chart = c
	}
	return nil
}

// overlay discovers the clusters and builds the values overlay, with
// warnings on stderr prefixed by the command's name.
func (v *valuesFlags) overlay(ctx context.Context, s *streams, cmd string) ([]byte, *discover.Result, *kube.Client, error) {
	if err := v.o.Validate(); err != nil {
		return nil, nil, nil, err
	}
	if err := v.chart(); err != nil {
		return nil, nil, nil, err
	}
	r, c, err := v.disc.discover(ctx, s, cmd, v.o.ExternalURL == "")
	if err != nil {
		return nil, nil, nil, err
	}
	if err := values.Unhealthy(r); err != nil {
		if !v.force {
			return nil, nil, nil, fmt.Errorf("%v: wait until KubeBlocks reports it Running with a primary pod, or pass --%s to write the values anyway", err, v.forceFlag)
		}
		fmt.Fprintf(s.err, "harborha %s: warning: --%s: %v\n", cmd, v.forceFlag, err)
	}
	o := v.o
	o.HarborNamespace = c.Namespace
	o.Now = time.Now()
	o.Generator = "helm-harborha " + version
	doc, warnings, err := values.Build(r, o)
	if err != nil {
		return nil, nil, nil, err
	}
	for _, w := range warnings {
		fmt.Fprintf(s.err, "harborha %s: warning: %s\n", cmd, w)
	}
	return doc, r, c, nil
}

func runValues(ctx context.Context, s *streams, args []string) error {
	fs := pflag.NewFlagSet("values", pflag.ContinueOnError)
	v := addValuesFlags(fs, addDiscoveryFlags(fs), "force")
	var output, bootstrapped string
	fs.StringVar(&bootstrapped, "bootstrapped", "", "point the overlay at the role, database and Redis user that `bootstrap RELEASE` created (its Secrets)")
	fs.StringVar(&v.chartPath, "chart", "", "the goharbor chart (directory or .tgz) the values are for: detects its version")
	fs.StringVar(&v.chartVersion, "chart-version", "", "the goharbor chart version the values are for (default: the current chart)")
	fs.StringVarP(&output, "output", "o", "", "write to FILE (mode 0600) instead of stdout")
	if done, err := parseFlags(fs, s, valuesHelp, args); done || err != nil {
		return err
	}
	doc, _, c, err := v.overlay(ctx, s, "values")
	if err != nil {
		return err
	}
	if bootstrapped != "" {
		res, err := bootstrap.Existing(ctx, c, c.Namespace, bootstrapped, v.o.Database)
		if err != nil {
			return err
		}
		if doc, err = withBootstrap(doc, res, v.o.Chart.RedisUsername); err != nil {
			return err
		}
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

// withBootstrap points an overlay at what bootstrap set up (the dedicated
// role, its Secret and database, the Redis user), keeping its header.
func withBootstrap(doc []byte, res bootstrap.Result, redisUsername bool) ([]byte, error) {
	settings, err := res.Settings(redisUsername)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("reading the values overlay: %w", err)
	}
	if err := bootstrap.Apply(m, settings); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(string(doc), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		b.WriteString(line)
	}
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/output"
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
Redis, NodePort exposure and externalURL. No password is written: the
database's stays in its Secret (existingSecret), the Redis one is read by
Harbor's pods from a Secret by reference: post-render with the
--redis-password-secret this command prints. A Secret outside Harbor's
namespace is refused (pods cannot read it): bootstrap RELEASE, then
--bootstrapped RELEASE. -o writes mode 0600.
Refuses clusters that are not Running with a primary pod, unless --force.

Flags:
`

func runValues(ctx context.Context, s *streams, args []string) error {
	var d discover.Options
	o := values.Defaults()
	o.Generator = "helm-harborha " + version
	var file, bootstrapped, chartPath, chartVersion string
	_, kf, done, err := parseClusterCommand(s, "values", valuesHelp, args, false, func(fs *pflag.FlagSet) {
		d.AddFlags(fs)
		o.AddFlags(fs, "force")
		fs.StringVar(&bootstrapped, "bootstrapped", "", "point the overlay at what `bootstrap RELEASE` created: the role, database, Redis user or copy, and the generated values' Secrets")
		fs.StringVar(&chartPath, "chart", "", "the goharbor chart (directory or .tgz) the values are for: detects its version")
		fs.StringVar(&chartVersion, "chart-version", "", "the goharbor chart version the values are for (default: the current chart)")
		fs.StringVarP(&file, "output", "o", "", "write to FILE (mode 0600) instead of stdout")
	})
	if done || err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Chart, err = values.ChartFromFlags(chartPath, chartVersion); err != nil {
		return err
	}
	d.NodeAddress = o.ExternalURL == ""
	found, c, err := discover.Find(ctx, kf.Settings(), d)
	if err != nil {
		return err
	}
	output.Warn(s.err, "values", found.Warnings)
	o.Bootstrapped = bootstrapped != ""
	doc, warnings, err := values.Generate(found, c.Namespace, o)
	if err != nil {
		return err
	}
	output.Warn(s.err, "values", warnings)
	res := bootstrap.Result{Namespace: c.Namespace}
	if bootstrapped != "" {
		if res, err = bootstrap.Existing(ctx, c, c.Namespace, bootstrapped, o.Database); err != nil {
			return err
		}
		if doc, err = res.Patch(doc, o.Chart.RedisUsername); err != nil {
			return err
		}
	}
	ref, err := res.RedisRef(found, c.Namespace, o.Chart)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.err, "harborha values: the Redis password is not in the values, Harbor's pods read it from a Secret: post-render with %s\n", strings.Join(ref.Args(), " "))
	if file == "" || file == "-" {
		_, err = s.out.Write(doc)
		return err
	}
	if err := values.WriteFile(file, doc); err != nil {
		return err
	}
	fmt.Fprintf(s.err, "harborha values: wrote %s (mode 0600)\n", file)
	return nil
}

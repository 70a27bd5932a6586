package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/output"
)

func init() {
	register(command{
		name:    "discover",
		summary: "find the KubeBlocks PostgreSQL and Redis clusters for Harbor and show their health",
		run:     runDiscover,
	})
}

const discoverHelp = `Usage: helm harborha discover [flags]

Finds the KubeBlocks (0.7 to 1.0) PostgreSQL and Redis clusters Harbor will
use in the namespace (helm's -n, HELM_NAMESPACE), and shows for each: the
KubeBlocks shape, phase, replicas, primary pod, the address of the service
that follows the primary, and the credential Secret (never a password).
With one cluster of each engine no flag is needed; otherwise name them.

Flags:
`

func runDiscover(ctx context.Context, s *streams, args []string) error {
	var o discover.Options
	var format output.Format
	_, kf, done, err := parseClusterCommand(s, "discover", discoverHelp, args, false, func(fs *pflag.FlagSet) {
		o.AddFlags(fs)
		output.AddFlag(fs, &format, "", output.Text, output.JSON, output.YAML)
	})
	if done || err != nil {
		return err
	}
	r, _, err := discover.Find(ctx, kf.Settings(), o)
	if err != nil {
		return err
	}
	output.Warn(s.err, "discover", r.Warnings)
	return format.Write(s.out, r)
}

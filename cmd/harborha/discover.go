package main

import (
	"context"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
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
	fs := pflag.NewFlagSet("discover", pflag.ContinueOnError)
	df := addDiscoveryFlags(fs)
	var output string
	fs.StringVarP(&output, "output", "o", discover.FormatTable, "table, json or yaml")
	if done, err := parseFlags(fs, s, discoverHelp, args); done || err != nil {
		return err
	}
	if _, err := discover.Render(&discover.Result{}, output); err != nil {
		return err // a bad -o, found before contacting the cluster
	}
	r, _, err := df.discover(ctx, s, "discover", false)
	if err != nil {
		return err
	}
	doc, err := discover.Render(r, output)
	if err != nil {
		return err
	}
	_, err = s.out.Write(doc)
	return err
}

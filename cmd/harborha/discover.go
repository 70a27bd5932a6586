package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/discover"
)

func init() {
	register(entry{
		name:    "discover",
		summary: "find the KubeBlocks PostgreSQL and Redis clusters for Harbor and show their health",
		help:    discoverHelp,
		new:     func() command.Command { return &discover.Options{} },
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

package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/pipeline"
)

func init() {
	register(entry{
		name:    "values",
		summary: "write the goharbor chart's values overlay for the KubeBlocks clusters",
		help:    valuesHelp,
		new:     func() command.Command { return pipeline.NewValuesOptions("helm-harborha " + version) },
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

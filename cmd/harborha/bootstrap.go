package main

import (
	"github.com/harborha/helm-harborha/internal/command"
	"github.com/harborha/helm-harborha/internal/pipeline"
)

func init() {
	register(entry{
		name:    "bootstrap",
		summary: "create Harbor's database, role and Redis user in the KubeBlocks clusters",
		help:    bootstrapHelp,
		new:     func() command.Command { return pipeline.NewBootstrapOptions() },
	})
}

const bootstrapHelp = `Usage: helm harborha bootstrap RELEASE [flags]

Creates, in the KubeBlocks clusters Harbor uses (found as 'discover' finds
them), what Harbor needs before it starts: a PostgreSQL role (--db-user)
owning a database (--database), and with --redis-user a Redis ACL user on
every Redis node. Their generated passwords go to Secrets in Harbor's
namespace (RELEASE-harborha-db, key "password"; RELEASE-harborha-redis),
created once and reused. Safe to run again: nothing changes, unless --rotate.

It runs one Kubernetes Job per engine, in the cluster's namespace, with
progress on stderr; the superuser credentials reach the Jobs only through
secretKeyRef. A Job that fails is kept a day and its log shown.

Flags:
`

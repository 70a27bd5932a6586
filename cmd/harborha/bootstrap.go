package main

import (
	"context"

	"github.com/harborha/helm-harborha/internal/bootstrap"
)

func init() {
	register(command{
		name:    "bootstrap",
		summary: "create Harbor's database, role and Redis user in the KubeBlocks clusters",
		run:     runBootstrap,
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

func runBootstrap(ctx context.Context, s *streams, args []string) error {
	var c bootstrap.Command
	fs, kf, done, err := parseClusterCommand(s, "bootstrap", bootstrapHelp, args, true, c.AddFlags)
	if done || err != nil {
		return err
	}
	if err := c.Complete(fs); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	return c.Run(ctx, kf.Settings(), s.out, s.err)
}

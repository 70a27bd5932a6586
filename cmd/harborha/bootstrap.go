package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/bootstrap"
	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/values"
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

// bootstrapFlags are the flags of what bootstrap creates, shared by the
// bootstrap command and the install/upgrade wrappers.
type bootstrapFlags struct {
	o         bootstrap.Options
	role      string
	redisUser string
}

// addBootstrapFlags adds them; timeoutFlag is "timeout" for bootstrap and
// "bootstrap-timeout" in the wrappers, where --timeout is Helm's.
func addBootstrapFlags(fs *pflag.FlagSet, timeoutFlag string) *bootstrapFlags {
	b := &bootstrapFlags{}
	fs.StringVar(&b.role, "db-user", bootstrap.DefaultRole, "PostgreSQL role Harbor logs in as")
	fs.StringVar(&b.redisUser, "redis-user", "", "also create this Redis ACL user for Harbor (goharbor chart 1.18 or later)")
	fs.BoolVar(&b.o.Rotate, "rotate", false, "give the existing role and user new generated passwords")
	fs.StringVar(&b.o.PsqlImage, "psql-image", bootstrap.DefaultPsqlImage, "image with /bin/sh and psql for the PostgreSQL Job")
	fs.StringVar(&b.o.RedisImage, "redis-image", bootstrap.DefaultRedisImage, "image with /bin/sh and redis-cli (6.2 or later) for the Redis Job")
	fs.DurationVar(&b.o.Timeout, timeoutFlag, bootstrap.DefaultTimeout, "how long each bootstrap Job may take")
	return b
}

// options are the bootstrap options for a release, from discovery.
func (b *bootstrapFlags) options(release, namespace, database string, found *discover.Result, progress io.Writer) bootstrap.Options {
	o := b.o
	o.Release, o.Namespace, o.Progress = release, namespace, progress
	o.Postgres = &bootstrap.PostgresTarget{Endpoint: bootstrap.EndpointFrom(found.PostgreSQL), Role: b.role, Database: database}
	if b.redisUser != "" {
		o.Redis = &bootstrap.RedisTarget{Endpoint: bootstrap.EndpointFrom(found.Redis), User: b.redisUser, Service: found.Redis.Service}
	}
	return o
}

func runBootstrap(ctx context.Context, s *streams, args []string) error {
	fs := pflag.NewFlagSet("bootstrap", pflag.ContinueOnError)
	df := addDiscoveryFlags(fs)
	b := addBootstrapFlags(fs, "timeout")
	var (
		database, output string
		dryRun, force    bool
	)
	fs.StringVar(&database, "database", bootstrap.DefaultDatabase, "PostgreSQL database for Harbor, owned by --db-user")
	fs.BoolVar(&dryRun, "dry-run", false, "print the Secrets and Jobs as YAML (passwords redacted) and create nothing")
	fs.StringVarP(&output, "output", "o", "", "text, json or yaml; with --dry-run only yaml")
	fs.BoolVar(&force, "force", false, "bootstrap even when a cluster is not Running or has no primary pod")
	fs.SetOutput(io.Discard) // errors are returned as one line
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			io.WriteString(s.out, bootstrapHelp)
			fs.SetOutput(s.out)
			fs.PrintDefaults()
			return nil
		}
		return fmt.Errorf("%v (see --help)", err)
	}
	if fs.NArg() != 1 {
		return errors.New("bootstrap needs the Helm release name, and only that argument: helm harborha bootstrap RELEASE [flags]")
	}
	if dryRun && output != "" && output != bootstrap.FormatYAML {
		return fmt.Errorf("--dry-run prints YAML: drop -o %s", output)
	}
	if _, err := bootstrap.Render(bootstrap.Result{}, output); err != nil {
		return err // a bad -o, found before anything runs
	}

	found, c, err := df.discover(ctx, s, "bootstrap", false)
	if err != nil {
		return err
	}
	if err := values.Unhealthy(found); err != nil {
		if !force {
			return fmt.Errorf("%v: bootstrap needs the primary; wait until KubeBlocks reports the cluster Running with a primary pod, or pass --force", err)
		}
		fmt.Fprintf(s.err, "harborha bootstrap: warning: --force: %v\n", err)
	}
	o := b.options(fs.Arg(0), c.Namespace, database, found, s.err)

	var doc []byte
	if dryRun {
		doc, err = bootstrap.DryRun(o)
	} else {
		var res bootstrap.Result
		if res, err = bootstrap.Run(ctx, c, o); err == nil {
			doc, err = bootstrap.Render(res, output)
		}
	}
	if err != nil {
		return err
	}
	_, err = s.out.Write(doc)
	return err
}

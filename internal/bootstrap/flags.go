package bootstrap

import (
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
)

// Flags are what a user asks bootstrap to create, as the bootstrap command
// and the install/upgrade wrappers take them; discovery then says where.
type Flags struct {
	Role       string
	RedisUser  string
	Rotate     bool
	PsqlImage  string
	RedisImage string
	Timeout    time.Duration
	// timeoutFlag is "--timeout" for bootstrap, "--bootstrap-timeout" in
	// the wrappers (where --timeout is Helm's), for messages.
	timeoutFlag string
}

// AddFlags defines them on fs; timeoutFlag names the flag of Timeout.
func (f *Flags) AddFlags(fs *pflag.FlagSet, timeoutFlag string) {
	f.timeoutFlag = "--" + timeoutFlag
	fs.StringVar(&f.Role, "db-user", DefaultRole, "PostgreSQL role Harbor logs in as")
	fs.StringVar(&f.RedisUser, "redis-user", "", "also create this Redis ACL user for Harbor (goharbor chart 1.12 or later)")
	fs.BoolVar(&f.Rotate, "rotate", false, "give the existing role and user new generated passwords")
	fs.StringVar(&f.PsqlImage, "psql-image", DefaultPsqlImage, "image with /bin/sh and psql for the PostgreSQL Job")
	fs.StringVar(&f.RedisImage, "redis-image", DefaultRedisImage, "image with /bin/sh and redis-cli (6.2 or later) for the Redis Job")
	fs.DurationVar(&f.Timeout, timeoutFlag, DefaultTimeout, "how long each bootstrap Job may take")
}

// Options are the bootstrap options for a release in Harbor's namespace,
// on the clusters discovery found; progress gets one line per step.
func (f *Flags) Options(release, namespace, database string, found *discover.Result, progress io.Writer) Options {
	o := Options{
		Release: release, Namespace: namespace, Progress: progress,
		Rotate: f.Rotate, PsqlImage: f.PsqlImage, RedisImage: f.RedisImage,
		Timeout: f.Timeout, TimeoutFlag: f.timeoutFlag,
	}
	o.Postgres = &PostgresTarget{Endpoint: EndpointFrom(found.PostgreSQL), Role: f.Role, Database: database}
	if f.RedisUser != "" {
		o.Redis = &RedisTarget{Endpoint: EndpointFrom(found.Redis), User: f.RedisUser, Service: found.Redis.Service}
	}
	return o
}

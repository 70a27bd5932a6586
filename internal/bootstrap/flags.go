package bootstrap

import (
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
)

// Flags are what a user asks bootstrap to create, as the bootstrap command
// and the install/upgrade wrappers take them; discovery then says where.
type Flags struct {
	Role      string
	RedisUser string
	// Rotate names what to make anew: RotatePasswords (the role's and the
	// Redis user's passwords; a bare --rotate) and generated values
	// (GeneratedNames).
	Rotate     []string
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
	fs.StringSliceVar(&f.Rotate, "rotate", nil, "make anew: "+RotatePasswords+" (the role's and the Redis user's passwords; a bare --rotate), or any of the generated values "+strings.Join(GeneratedNames(), ", ")+" (--rotate=token,csrf)")
	fs.Lookup("rotate").NoOptDefVal = RotatePasswords
	fs.StringVar(&f.PsqlImage, "psql-image", DefaultPsqlImage, "image with /bin/sh and psql for the PostgreSQL Job")
	fs.StringVar(&f.RedisImage, "redis-image", DefaultRedisImage, "image with /bin/sh and redis-cli (6.2 or later) for the Redis Job")
	fs.DurationVar(&f.Timeout, timeoutFlag, DefaultTimeout, "how long each bootstrap Job may take")
}

// Options are the bootstrap options for a release in Harbor's namespace,
// on the clusters discovery found; progress gets one line per step.
func (f *Flags) Options(release, namespace, database string, found *discover.Result, progress io.Writer) Options {
	o := Options{
		Release: release, Namespace: namespace, Progress: progress,
		Rotate: slices.Contains(f.Rotate, RotatePasswords), PsqlImage: f.PsqlImage, RedisImage: f.RedisImage,
		Timeout: f.Timeout, TimeoutFlag: f.timeoutFlag,
	}
	o.Postgres = &PostgresTarget{Endpoint: EndpointFrom(found.PostgreSQL), Role: f.Role, Database: database}
	if f.RedisUser != "" {
		o.Redis = &RedisTarget{Endpoint: EndpointFrom(found.Redis), User: f.RedisUser, Service: found.Redis.Service}
	} else if found.Redis.Namespace != namespace {
		e := EndpointFrom(found.Redis)
		o.RedisCopy = &e
	}
	return o
}

// RotatePasswords is the --rotate name of the role's and the Redis user's
// passwords.
const RotatePasswords = "passwords"

// RotateGenerated are the generated values --rotate names.
func (f *Flags) RotateGenerated() []string {
	var out []string
	for _, n := range f.Rotate {
		if n != RotatePasswords {
			out = append(out, n)
		}
	}
	return out
}

// Generated are the options of EnsureGenerated for a release.
func (f *Flags) Generated(release, namespace string, progress io.Writer) GeneratedOptions {
	return GeneratedOptions{Release: release, Namespace: namespace, Rotate: f.RotateGenerated(), Progress: progress}
}

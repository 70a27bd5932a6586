package bootstrap

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/harborha/helm-harborha/internal/discover"
	"github.com/harborha/helm-harborha/internal/generated"
)

// Flags are what a user asks bootstrap to create, as the bootstrap command
// and the install/upgrade wrappers take them; discovery then says where.
type Flags struct {
	Role      string
	RedisUser string
	// Rotate names what to make anew: RotatePasswords (the role's and the
	// Redis user's passwords; a bare --rotate) and generated values
	// (generated.Names).
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
	fs.StringSliceVar(&f.Rotate, "rotate", nil, "make anew: "+RotatePasswords+" (the role's and the Redis user's passwords; a bare --rotate), or any of the generated values "+strings.Join(generated.Names(), ", ")+" (--rotate=token,csrf)")
	fs.Lookup("rotate").NoOptDefVal = RotatePasswords
	fs.StringVar(&f.PsqlImage, "psql-image", DefaultPsqlImage, "image with /bin/sh and psql for the PostgreSQL Job")
	fs.StringVar(&f.RedisImage, "redis-image", DefaultRedisImage, "image with /bin/sh and redis-cli (6.2 or later) for the Redis Job")
	fs.DurationVar(&f.Timeout, timeoutFlag, DefaultTimeout, "how long each bootstrap Job may take")
}

// Spec is what to bootstrap for a release in Harbor's namespace,
// on the clusters discovery found; progress gets one line per step.
func (f *Flags) Spec(release, namespace, database string, found *discover.Result, progress io.Writer) Spec {
	o := Spec{
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

// Generated is what generated.Ensure makes for a release.
func (f *Flags) Generated(release, namespace string, progress io.Writer) generated.Spec {
	return generated.Spec{Release: release, Namespace: namespace, Rotate: f.RotateGenerated(), Progress: progress}
}

// CheckRotate refuses a --rotate name that is not a generated value (nor
// "passwords", the role and user passwords).
func CheckRotate(names []string) error {
	for _, n := range names {
		if n != RotatePasswords && !slices.Contains(generated.Names(), n) {
			return fmt.Errorf("--rotate: %q is not %s, or %s", n, RotatePasswords, strings.Join(generated.Names(), ", "))
		}
	}
	return nil
}

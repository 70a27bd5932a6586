package bootstrap

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Defaults for Spec. The images are public images that carry psql and
// redis-cli; air-gapped clusters mirror them or pass --psql-image and
// --redis-image (any image with /bin/sh and psql ≥ 10 — before 15 also
// printf, a builtin of the usual shells — or /bin/sh, grep and
// redis-cli ≥ 6.2). The Jobs name a missing tool in one line.
const (
	DefaultRole       = "harbor"
	DefaultDatabase   = "registry"
	DefaultPsqlImage  = "docker.io/library/postgres:17-alpine"
	DefaultRedisImage = "docker.io/library/redis:7.4-alpine"
	DefaultTimeout    = 5 * time.Minute
)

// Spec says what to bootstrap. Postgres and Redis are each optional
// (nil: left alone); install/upgrade fill them from discovery.
type Spec struct {
	// Release is the Helm release: it names the Secrets and the Jobs.
	Release string
	// Namespace is Harbor's namespace, where the generated Secrets live
	// (the chart reads database.external.existingSecret from there).
	Namespace string

	Postgres *PostgresTarget
	Redis    *RedisTarget
	// RedisCopy, without Redis, is a Redis cluster outside Harbor's
	// namespace whose account credential is copied into it (Harbor's pods
	// read Secrets of their own namespace only).
	RedisCopy *Endpoint

	// Rotate gives the existing role/user a new generated password.
	Rotate bool

	PsqlImage  string // default DefaultPsqlImage
	RedisImage string // default DefaultRedisImage
	// Timeout bounds each Job, from creation to completion.
	Timeout time.Duration // default DefaultTimeout
	// TimeoutFlag is the flag that sets Timeout, for messages: "--timeout"
	// (the default) for bootstrap, "--bootstrap-timeout" in the wrappers,
	// where --timeout is Helm's.
	TimeoutFlag string
	// Progress receives one line per step (stderr); nil discards.
	Progress io.Writer
}

// Endpoint is a database server as seen from inside the cluster, with the
// Secret holding its superuser credential.
type Endpoint struct {
	// Namespace of the cluster and of its credential Secret. The Job runs
	// there, because secretKeyRef only reads Secrets of the pod's namespace.
	Namespace string
	Host      string // Service ClusterIP or DNS name
	Port      int
	// Secret is the KubeBlocks credential Secret of the superuser.
	Secret SecretRef
}

// SecretRef names a Secret and the keys of a credential in it.
type SecretRef struct {
	Name        string
	UsernameKey string // default "username"
	PasswordKey string // default "password"
}

// PostgresTarget is the PostgreSQL server and what to create in it.
type PostgresTarget struct {
	Endpoint
	Role     string // default DefaultRole
	Database string // default DefaultDatabase
	// SSLMode is libpq's sslmode for the Job's connections ("" = libpq's
	// default, prefer).
	SSLMode string
}

// RedisTarget is the Redis server and the ACL user to create on it.
type RedisTarget struct {
	Endpoint
	User string // required: the ACL user Harbor logs in as
	// Nodes are every data node of the cluster ("host:port"): ACL users are
	// per node and not replicated. Empty: Run lists the pods behind
	// Service (below), else only Host:Port gets the user, with a warning.
	Nodes []string
	// Service, optional, is the primary-selecting Service of the cluster
	// in Endpoint.Namespace; its selector without the role label finds
	// every data pod.
	Service string
}

// Names of the objects bootstrap creates for a release.
func DatabaseSecretName(release string) string { return release + "-harborha-db" }
func RedisSecretName(release string) string    { return release + "-harborha-redis" }

// Keys of the generated Secrets. The database one is what the chart's
// database.external.existingSecret reads; the Redis one follows the
// chart's redis.external.existingSecret (REDIS_USERNAME, REDIS_PASSWORD).
const (
	DatabaseUsernameKey = "username"
	DatabasePasswordKey = "password"
	RedisUsernameKey    = "REDIS_USERNAME"
	RedisPasswordKey    = "REDIS_PASSWORD"
	// rotatingKey holds a rotated password until the Job has set it: a
	// failed rotation leaves the working password in place.
	rotatingKey = "harborha-rotating-password"
)

// pgIdentifier is what we accept for role and database names: unquoted
// PostgreSQL identifiers, so that the names read the same in SQL, in the
// chart's values and in a DSN.
var pgIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// redisUser: no spaces or ACL rule characters (>, <, #, ~, &, +, -, @ at the
// start would be read as rules by ACL SETUSER).
var redisUser = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// withDefaults returns a copy with defaults filled in; validate checks it.
func (o Spec) withDefaults() Spec {
	if o.PsqlImage == "" {
		o.PsqlImage = DefaultPsqlImage
	}
	if o.RedisImage == "" {
		o.RedisImage = DefaultRedisImage
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.TimeoutFlag == "" {
		o.TimeoutFlag = "--timeout"
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Postgres != nil {
		pg := *o.Postgres
		pg.Endpoint = pg.Endpoint.withDefaults(o.Namespace)
		if pg.Role == "" {
			pg.Role = DefaultRole
		}
		if pg.Database == "" {
			pg.Database = DefaultDatabase
		}
		o.Postgres = &pg
	}
	if o.Redis != nil {
		r := *o.Redis
		r.Endpoint = r.Endpoint.withDefaults(o.Namespace)
		r.Nodes = append([]string(nil), r.Nodes...)
		o.Redis = &r
	}
	if o.RedisCopy != nil {
		e := o.RedisCopy.withDefaults(o.Namespace)
		o.RedisCopy = &e
	}
	return o
}

func (e Endpoint) withDefaults(ns string) Endpoint {
	if e.Namespace == "" {
		e.Namespace = ns
	}
	if e.Secret.UsernameKey == "" {
		e.Secret.UsernameKey = "username"
	}
	if e.Secret.PasswordKey == "" {
		e.Secret.PasswordKey = "password"
	}
	return e
}

// validate reports the first bad input as one line naming the flag.
func (o Spec) validate() error {
	if o.Postgres == nil && o.Redis == nil && o.RedisCopy == nil {
		return fmt.Errorf("nothing to bootstrap: neither PostgreSQL nor a Redis user was asked for")
	}
	if msgs := validation.IsDNS1123Subdomain(o.Release); o.Release == "" || len(msgs) > 0 || len(o.Release) > 53 {
		return fmt.Errorf("release name %q is not a Helm release name (at most 53 lower-case letters, digits, '-' and '.')", o.Release)
	}
	if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		return fmt.Errorf("namespace %q is not a valid namespace name", o.Namespace)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("%s %s is negative", o.TimeoutFlag, o.Timeout)
	}
	if err := o.validatePostgres(); err != nil {
		return err
	}
	if err := o.validateRedis(); err != nil {
		return err
	}
	if c := o.RedisCopy; c != nil {
		return c.validate("Redis")
	}
	return nil
}

// validatePostgres checks the role, the database and the Job's image.
func (o Spec) validatePostgres() error {
	pg := o.Postgres
	if pg == nil {
		return nil
	}
	if !pgIdentifier.MatchString(pg.Role) {
		return fmt.Errorf("--db-user %q is not a plain PostgreSQL name: use lower-case letters, digits and '_', starting with a letter or '_', at most 63 characters", pg.Role)
	}
	if !pgIdentifier.MatchString(pg.Database) {
		return fmt.Errorf("--database %q is not a plain PostgreSQL name: use lower-case letters, digits and '_', starting with a letter or '_', at most 63 characters", pg.Database)
	}
	if strings.HasPrefix(pg.Role, "pg_") {
		return fmt.Errorf("--db-user %q: names starting with pg_ are reserved by PostgreSQL", pg.Role)
	}
	switch pg.SSLMode {
	case "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return fmt.Errorf("PostgreSQL sslmode %q is not one of disable, allow, prefer, require, verify-ca, verify-full", pg.SSLMode)
	}
	if err := pg.Endpoint.validate("PostgreSQL"); err != nil {
		return err
	}
	if o.PsqlImage == "" || strings.ContainsAny(o.PsqlImage, " \t\n") {
		return fmt.Errorf("--psql-image %q is not an image reference", o.PsqlImage)
	}
	return nil
}

// validateRedis checks the Redis user, its nodes and the Job's image.
func (o Spec) validateRedis() error {
	r := o.Redis
	if r == nil {
		return nil
	}
	if !redisUser.MatchString(r.User) || r.User == "default" {
		return fmt.Errorf("--redis-user %q: use letters, digits, '_', '.' and '-' (at most 64, not starting with '.' or '-'), and not Redis's own \"default\" user", r.User)
	}
	if err := r.Endpoint.validate("Redis"); err != nil {
		return err
	}
	for _, n := range r.Nodes {
		if err := checkNode(n); err != nil {
			return fmt.Errorf("Redis node %q: %v", n, err)
		}
	}
	if r.Service != "" {
		if msgs := validation.IsDNS1123Label(r.Service); len(msgs) > 0 {
			return fmt.Errorf("Redis service name %q is not a valid Service name", r.Service)
		}
	}
	if o.RedisImage == "" || strings.ContainsAny(o.RedisImage, " \t\n") {
		return fmt.Errorf("--redis-image %q is not an image reference", o.RedisImage)
	}
	return nil
}

func (e Endpoint) validate(engine string) error {
	if msgs := validation.IsDNS1123Label(e.Namespace); e.Namespace == "" || len(msgs) > 0 {
		return fmt.Errorf("%s namespace %q is not a valid namespace name", engine, e.Namespace)
	}
	if e.Host == "" || (strings.ContainsAny(e.Host, " \t\n/:") && net.ParseIP(e.Host) == nil) {
		return fmt.Errorf("%s host %q is not a host name or IP address", engine, e.Host)
	}
	if e.Port < 1 || e.Port > 65535 {
		return fmt.Errorf("%s port %d is out of range 1-65535", engine, e.Port)
	}
	if msgs := validation.IsDNS1123Subdomain(e.Secret.Name); e.Secret.Name == "" || len(msgs) > 0 {
		return fmt.Errorf("%s superuser Secret name %q is not a valid Secret name", engine, e.Secret.Name)
	}
	for _, k := range []string{e.Secret.UsernameKey, e.Secret.PasswordKey} {
		if msgs := validation.IsConfigMapKey(k); len(msgs) > 0 {
			return fmt.Errorf("%s superuser Secret key %q is not a valid Secret key", engine, k)
		}
	}
	return nil
}

// addr is "host:port" as the Redis script splits it (at the last colon).
func (e Endpoint) addr() string { return e.Host + ":" + strconv.Itoa(e.Port) }

// checkNode accepts "host:port" where host may be an IPv6 address without
// brackets (the Redis script splits at the last colon).
func checkNode(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return fmt.Errorf("want host:port")
	}
	if p, err := strconv.Atoi(s[i+1:]); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q is not a number in 1-65535", s[i+1:])
	}
	if strings.ContainsAny(s[:i], " \t\n/") {
		return fmt.Errorf("host %q is not a host name or IP address", s[:i])
	}
	return nil
}

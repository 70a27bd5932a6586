package bootstrap

import (
	"strings"
	"testing"
	"time"
)

func validOptions() Spec {
	return Spec{
		Release: "myharbor", Namespace: "harbor",
		Postgres: &PostgresTarget{Endpoint: Endpoint{Host: "10.96.0.10", Port: 5432, Secret: SecretRef{Name: "mypg-conn-credential"}}},
		Redis:    &RedisTarget{Endpoint: Endpoint{Host: "10.96.0.11", Port: 6379, Secret: SecretRef{Name: "myredis-redis-account-default"}}, User: "harbor"},
	}
}

func TestOptionsRejectBadInput(t *testing.T) {
	tests := []struct {
		name   string
		change func(o *Spec)
		want   string
	}{
		{"nothing asked", func(o *Spec) { o.Postgres, o.Redis = nil, nil }, "nothing to bootstrap"},
		{"no release", func(o *Spec) { o.Release = "" }, `release name "" is not a Helm release name`},
		{"release too long", func(o *Spec) { o.Release = strings.Repeat("a", 54) }, "is not a Helm release name (at most 53"},
		{"release upper case", func(o *Spec) { o.Release = "MyHarbor" }, `release name "MyHarbor"`},
		{"bad namespace", func(o *Spec) { o.Namespace = "Harbor_NS" }, `namespace "Harbor_NS" is not a valid namespace name`},
		{"negative timeout", func(o *Spec) { o.Timeout = -time.Second }, "--timeout -1s is negative"},
		{"role with quote", func(o *Spec) { o.Postgres.Role = `harbor"; DROP` }, `--db-user "harbor\"; DROP" is not a plain PostgreSQL name`},
		{"role upper case", func(o *Spec) { o.Postgres.Role = "Harbor" }, `--db-user "Harbor" is not a plain PostgreSQL name`},
		{"reserved role", func(o *Spec) { o.Postgres.Role = "pg_monitor" }, "names starting with pg_ are reserved"},
		{"database too long", func(o *Spec) { o.Postgres.Database = strings.Repeat("d", 64) }, "is not a plain PostgreSQL name"},
		{"bad sslmode", func(o *Spec) { o.Postgres.SSLMode = "on" }, `sslmode "on" is not one of`},
		{"no host", func(o *Spec) { o.Postgres.Host = "" }, `PostgreSQL host "" is not a host name or IP address`},
		{"host with path", func(o *Spec) { o.Postgres.Host = "db/x" }, `PostgreSQL host "db/x"`},
		{"port zero", func(o *Spec) { o.Postgres.Port = 0 }, "PostgreSQL port 0 is out of range"},
		{"no superuser Secret", func(o *Spec) { o.Postgres.Secret.Name = "" }, `PostgreSQL superuser Secret name ""`},
		{"bad Secret key", func(o *Spec) { o.Postgres.Secret.PasswordKey = "pass word" }, `superuser Secret key "pass word"`},
		{"bad cluster namespace", func(o *Spec) { o.Postgres.Namespace = "-db" }, `PostgreSQL namespace "-db"`},
		{"image with space", func(o *Spec) { o.PsqlImage = "postgres 17" }, `--psql-image "postgres 17"`},
		{"no Redis user", func(o *Spec) { o.Redis.User = "" }, `--redis-user ""`},
		{"Redis default user", func(o *Spec) { o.Redis.User = "default" }, `not Redis's own "default" user`},
		{"Redis user looking like a rule", func(o *Spec) { o.Redis.User = ">pw" }, `--redis-user ">pw"`},
		{"Redis user with space", func(o *Spec) { o.Redis.User = "har bor" }, `--redis-user "har bor"`},
		{"Redis node without port", func(o *Spec) { o.Redis.Nodes = []string{"10.0.0.1"} }, `Redis node "10.0.0.1": want host:port`},
		{"Redis node bad port", func(o *Spec) { o.Redis.Nodes = []string{"10.0.0.1:redis"} }, `port "redis" is not a number`},
		{"Redis service name", func(o *Spec) { o.Redis.Service = "My_Svc" }, `Redis service name "My_Svc"`},
		{"Redis port", func(o *Spec) { o.Redis.Port = 70000 }, "Redis port 70000 is out of range"},
		{"Redis image", func(o *Spec) { o.RedisImage = "redis\n7" }, "--redis-image"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.change(&o)
			err := o.withDefaults().validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if _, dryErr := DryRun(o); dryErr == nil || dryErr.Error() != err.Error() {
				t.Errorf("DryRun must refuse the same input: %v", dryErr)
			}
		})
	}
	if err := validOptions().withDefaults().validate(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

func TestDefaultsFillEverythingAndKeepTheCaller(t *testing.T) {
	in := validOptions()
	in.Redis.Nodes = []string{"10.0.0.1:6379"}
	o := in.withDefaults()
	if o.PsqlImage != DefaultPsqlImage || o.RedisImage != DefaultRedisImage || o.Timeout != DefaultTimeout ||
		o.Postgres.Role != "harbor" || o.Postgres.Database != "registry" ||
		o.Postgres.Namespace != "harbor" || o.Redis.Namespace != "harbor" ||
		o.Postgres.Secret.UsernameKey != "username" || o.Postgres.Secret.PasswordKey != "password" {
		t.Errorf("defaults: %+v %+v", o, o.Postgres)
	}
	o.Redis.Nodes[0] = "changed:1"
	if in.Postgres.Role != "" || in.Redis.Nodes[0] != "10.0.0.1:6379" {
		t.Error("withDefaults changed the caller's options")
	}
}

func TestJobNamesFitInALabel(t *testing.T) {
	for _, release := range []string{"h", "myharbor", strings.Repeat("r", 44), strings.Repeat("r", 53), strings.Repeat("a-", 26) + "b"} {
		for _, engine := range []string{"pg", "redis"} {
			n := jobName(release, engine)
			if len(n) > 63 || !strings.HasSuffix(n, "-harborha-bootstrap-"+engine) || strings.Contains(n, "--") {
				t.Errorf("jobName(%q, %q) = %q (%d characters)", release, engine, n, len(n))
			}
		}
	}
	if a, b := jobName(strings.Repeat("r", 50)+"aaa", "pg"), jobName(strings.Repeat("r", 50)+"bbb", "pg"); a == b {
		t.Errorf("two long releases share the Job name %s", a)
	}
}

func TestJobDeadlineFollowsTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		want    int64
	}{{300 * time.Millisecond, 1}, {90 * time.Second, 90}, {90500 * time.Millisecond, 91}} {
		o := validOptions()
		o.Timeout = tc.timeout
		j := postgresJob(o.withDefaults(), passwordRef{secret: "s", key: "k"})
		if got := *j.Spec.ActiveDeadlineSeconds; got != tc.want {
			t.Errorf("timeout %s: activeDeadlineSeconds %d, want %d", tc.timeout, got, tc.want)
		}
	}
}

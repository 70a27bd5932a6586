package doctor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/discover"
)

func TestRedisAddresses(t *testing.T) {
	tests := []struct {
		value string
		want  []string // host:port, "+s" for Sentinel
	}{
		{"redis://:p%40ss@10.96.0.11:6379/0?idle_timeout_seconds=30", []string{"10.96.0.11:6379"}},
		{"redis://harbor:s3cr3t@myredis-redis-redis.harbor.svc:6379/2", []string{"myredis-redis-redis.harbor.svc:6379"}},
		{"rediss://$(REDIS_USERNAME):$(REDIS_PASSWORD)@10.96.0.11:6380/0", []string{"10.96.0.11:6380"}},
		{"redis+sentinel://:pw@s1:26379,s2:26379,s3/myredis-redis/0", []string{"s1:26379+s", "s2:26379+s", "s3:26379+s"}},
		{"redis://10.96.0.11/0", []string{"10.96.0.11:6379"}},
		{"redis://$(REDIS_HOST):6379/0", nil}, // an unexpanded reference is no address
		{"worker_pool:\n  redis_pool:\n    redis_url: \"redis://:pw@10.96.0.11:6379/1\"\n", []string{"10.96.0.11:6379"}},
		{"version: 0.1\nredis:\n  addr: 10.96.0.11:6379\n  password: pw\n  db: 2\n", []string{"10.96.0.11:6379"}},
		{"redis:\n  addr: s1:26379,s2:26379\n  sentinelMasterSet: mymaster\n", []string{"s1:26379+s", "s2:26379+s"}},
		{"POSTGRESQL_HOST: 10.96.0.10", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range redisAddresses(tt.value, "test") {
			s := a.String()
			if a.sentinel {
				s += "+s"
			}
			if a.engine != discover.Redis {
				t.Errorf("%q: engine %s", tt.value, a.engine)
			}
			got = append(got, s)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%q: %v, want %v", tt.value, got, tt.want)
		}
		for _, a := range redisAddresses(tt.value, "test") {
			if strings.Contains(a.String(), "pw") || strings.Contains(a.String(), "s3cr3t") {
				t.Errorf("%q: a password reached the address %s", tt.value, a)
			}
		}
	}
}

func TestServiceName(t *testing.T) {
	for _, tt := range []struct {
		host, name, ns string
		ok             bool
	}{
		{"10.96.0.10", "", "", false},
		{"fd00::10", "", "", false},
		{"mypg-postgresql-postgresql", "mypg-postgresql-postgresql", "", true},
		{"mypg-postgresql-postgresql.db", "mypg-postgresql-postgresql", "db", true},
		{"mypg-postgresql-postgresql.db.svc", "mypg-postgresql-postgresql", "db", true},
		{"mypg-postgresql-postgresql.db.svc.cluster.local.", "mypg-postgresql-postgresql", "db", true},
		{"db.example.com", "", "", false},
	} {
		name, ns, ok := serviceName(tt.host)
		if name != tt.name || ns != tt.ns || ok != tt.ok {
			t.Errorf("%s: %q %q %v, want %q %q %v", tt.host, name, ns, ok, tt.name, tt.ns, tt.ok)
		}
	}
}

package bootstrap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/output"
)

// The Redis part against real redis-servers on loopback, run exactly as the
// Job runs it (redis.sh with the Job's environment), then checked by
// logging in as Harbor's user and sending what Harbor's components send.

const redisUserPassword = "RedisUserPassword0123456789AB"

func redisOptions(nodes ...*redisServer) Spec {
	o := Spec{Release: "myharbor", Namespace: "harbor", Redis: &RedisTarget{Endpoint: nodes[0].endpoint("harbor"), User: "harbor"}}.withDefaults()
	for _, n := range nodes {
		o.Redis.Nodes = append(o.Redis.Nodes, n.addr())
	}
	return o
}

func runRedisJob(t *testing.T, o Spec, super, userPassword string) (log string, exitCode int) {
	t.Helper()
	job := redisJob(o, o.Redis.Nodes, passwordRef{secret: RedisSecretName(o.Release), key: RedisPasswordKey})
	return runJobWith(t, job, map[string]map[string]string{
		o.Redis.Secret.Name:        {"username": "default", "password": super},
		RedisSecretName(o.Release): {RedisPasswordKey: userPassword},
	})
}

func aclList(t *testing.T, s *redisServer) []string {
	t.Helper()
	v, err := login(t, s.addr(), "default", superPassword).do("ACL", "LIST")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range v.([]any) {
		out = append(out, l.(string))
	}
	return out
}

// harborCommands are what Harbor's components send, per component and
// database index (chart defaults: core 0, jobservice 1, registry 2, trivy
// 5, harbor 6, cache layer 7). Sources: goharbor/harbor src/lib/cache/redis
// (go-redis), src/jobservice/common/rds (redigo: HMSET/HMGET, Lua scripts,
// MULTI/EXEC ZRANGE+ZREMRANGEBYRANK, SET NX EX locks), gocraft/work (lists,
// sorted sets, RPOPLPUSH in Lua, KEYS in its stale-lock script), the
// exporter (SMEMBERS, HGETALL), distribution's blob descriptor cache
// (HMGET/HSET/SADD/SISMEMBER), the trivy adapter (SET EX, GET, job queue),
// and Sentinel's pool check (ROLE).
var harborCommands = []struct {
	component string
	db        int
	cmds      [][]string
}{
	{"core", 0, [][]string{
		{"PING"},
		{"SET", "cache:project:1", "v", "EX", "60"},
		{"GET", "cache:project:1"},
		{"EXISTS", "cache:project:1"},
		{"EXPIRE", "cache:project:1", "120"},
		{"TTL", "cache:project:1"},
		{"SCAN", "0", "MATCH", "cache:*", "COUNT", "1000"},
		{"MGET", "cache:project:1", "cache:project:2"},
		{"SETEX", "session:abc", "3600", "data"},
		{"RENAME", "session:abc", "session:def"},
		{"DEL", "cache:project:1", "session:def"},
	}},
	{"jobservice", 1, [][]string{
		{"HMSET", "{ns}:job_stats:1", "status", "Pending", "revision", "1"},
		{"HMGET", "{ns}:job_stats:1", "status", "revision"},
		{"HSET", "{ns}:job_stats:1", "ack", "{}"},
		{"HINCRBY", "{ns}:job_track", "1", "1"},
		{"HDEL", "{ns}:job_stats:1", "ack"},
		{"HGETALL", "{ns}:job_stats:1"},
		{"PERSIST", "{ns}:job_stats:1"},
		{"ZADD", "{ns}:scheduled", "100", "job-a"},
		{"ZRANGEBYSCORE", "{ns}:scheduled", "0", "200", "WITHSCORES"},
		{"ZCARD", "{ns}:scheduled"},
		{"MULTI"}, {"ZRANGE", "{ns}:scheduled", "0", "0"}, {"ZREMRANGEBYRANK", "{ns}:scheduled", "0", "0"}, {"EXEC"},
		{"LPUSH", "{ns}:jobs:GC", `{"name":"GC"}`},
		{"LLEN", "{ns}:jobs:GC"},
		{"LRANGE", "{ns}:jobs:GC", "0", "-1"},
		{"SADD", "{ns}:known_jobs", "GC"},
		{"SMEMBERS", "{ns}:known_jobs"},
		{"SISMEMBER", "{ns}:known_jobs", "GC"},
		{"SET", "{ns}:lock", "id", "NX", "EX", "30"},
		{"INCR", "{ns}:jobs:GC:locked"},
		{"DECR", "{ns}:jobs:GC:locked"},
		{"EVAL", `local r = redis.call('rpoplpush', KEYS[1], KEYS[2]); redis.call('hincrby', KEYS[3], 'n', 1); return cjson.encode({r})`, "3", "{ns}:jobs:GC", "{ns}:jobs:GC:inprogress", "{ns}:stats"},
		{"SCRIPT", "LOAD", "return redis.call('llen', KEYS[1])"},
		{"EVALSHA", "3e0c4c0e2c1fb6e6d4ac9e8f44d9c3d8f3c4a3e1", "1", "{ns}:jobs:GC"}, // NOSCRIPT is fine: allowed, just unknown
		{"EVAL", `return redis.call('keys', KEYS[1] .. ':*:inprogress')`, "1", "{ns}:jobs:GC"},
		{"KEYS", "{ns}:jobs:*"},
		{"LREM", "{ns}:jobs:GC:inprogress", "1", `{"name":"GC"}`},
		{"PUBLISH", "{ns}:events", "hello"},
		{"DEL", "{ns}:job_stats:1", "{ns}:job_track", "{ns}:scheduled", "{ns}:known_jobs", "{ns}:lock", "{ns}:stats"},
	}},
	{"registry", 2, [][]string{
		{"HELLO", "3"},
		{"CLIENT", "SETNAME", "registry"},
		{"HSET", "blobs::sha256:aa", "digest", "sha256:aa", "size", "3", "mediatype", "x"},
		{"HMGET", "blobs::sha256:aa", "digest", "size", "mediatype"},
		{"SADD", "repository::library/x::blobs", "sha256:aa"},
		{"SISMEMBER", "repository::library/x::blobs", "sha256:aa"},
		{"MULTI"}, {"HSETNX", "repository::library/x::blobs::sha256:aa", "digest", "sha256:aa"}, {"EXPIRE", "blobs::sha256:aa", "600"}, {"EXEC"},
		{"SREM", "repository::library/x::blobs", "sha256:aa"},
		{"DEL", "blobs::sha256:aa", "repository::library/x::blobs::sha256:aa"},
	}},
	{"trivy adapter", 5, [][]string{
		{"SET", "harbor.scanner.trivy:scan-job:1", "{}", "EX", "3600"},
		{"GET", "harbor.scanner.trivy:scan-job:1"},
		{"LPUSH", "harbor.scanner.trivy:job-queue:jobs:scan", "{}"},
		{"DEL", "harbor.scanner.trivy:scan-job:1", "harbor.scanner.trivy:job-queue:jobs:scan"},
	}},
	{"exporter", 1, [][]string{
		{"SMEMBERS", "{ns}:known_jobs"},
		{"HGETALL", "{ns}:jobs:GC:lock_info"},
		{"LLEN", "{ns}:jobs:GC"},
	}},
	{"harbor and cache layer", 6, [][]string{{"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k"}}},
	{"cache layer", 7, [][]string{{"SET", "k", "v"}, {"GET", "k"}, {"DEL", "k"}}},
	{"sentinel pool check", 0, [][]string{{"ROLE"}}},
}

// adminCommands must all be refused to Harbor's user: server-wide
// destruction, configuration, ACLs, replication, introspection of others.
var adminCommands = [][]string{
	{"FLUSHALL"}, {"FLUSHDB"},
	{"CONFIG", "GET", "maxmemory"}, {"CONFIG", "SET", "maxmemory", "1"}, {"CONFIG", "REWRITE"},
	{"ACL", "LIST"}, {"ACL", "SETUSER", "intruder", "on", ">x", "+@all"}, {"ACL", "DELUSER", "default"}, {"ACL", "SAVE"},
	{"DEBUG", "SLEEP", "0"}, {"SHUTDOWN", "NOSAVE"},
	{"SAVE"}, {"BGSAVE"}, {"BGREWRITEAOF"}, {"LASTSAVE"},
	{"REPLICAOF", "NO", "ONE"}, {"SLAVEOF", "NO", "ONE"}, {"FAILOVER"}, {"SYNC"},
	{"MONITOR"}, {"CLIENT", "LIST"}, {"CLIENT", "KILL", "ID", "1"}, {"SLOWLOG", "GET"}, {"INFO"},
	{"MODULE", "LIST"}, {"SWAPDB", "0", "1"}, {"MIGRATE", "127.0.0.1", "1", "k", "0", "10"}, {"RESTORE", "k", "0", "x"},
	{"SORT", "k"},
}

func TestRedisUserCanRunWhatHarborRuns(t *testing.T) {
	t.Parallel()
	s := startRedis(t, true)
	o := redisOptions(s)
	if log, code := runRedisJob(t, o, superPassword, redisUserPassword); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	for _, comp := range harborCommands {
		t.Run(comp.component, func(t *testing.T) {
			c := login(t, s.addr(), "harbor", redisUserPassword)
			if _, err := c.do("SELECT", strconv.Itoa(comp.db)); err != nil {
				t.Fatalf("SELECT %d: %v", comp.db, err)
			}
			for _, cmd := range comp.cmds {
				_, err := c.do(cmd...)
				if err != nil && !(cmd[0] == "EVALSHA" && strings.HasPrefix(err.Error(), "NOSCRIPT")) {
					t.Errorf("%s: %v", strings.Join(cmd, " "), err)
				}
			}
		})
	}
	t.Run("pub/sub", func(t *testing.T) {
		sub := login(t, s.addr(), "harbor", redisUserPassword)
		for _, cmd := range [][]string{{"SUBSCRIBE", "{ns}:events"}, {"PSUBSCRIBE", "{ns}:*"}} {
			v, err := sub.do(cmd...)
			if err != nil {
				t.Fatalf("%s: %v", strings.Join(cmd, " "), err)
			}
			if got := fmt.Sprint(v); !strings.Contains(got, "subscribe") {
				t.Errorf("%s: reply %v", strings.Join(cmd, " "), got)
			}
		}
		pub := login(t, s.addr(), "harbor", redisUserPassword)
		// One delivery for the channel, one for the pattern.
		if n, err := pub.do("PUBLISH", "{ns}:events", "hi"); err != nil || n.(int64) != 2 {
			t.Errorf("PUBLISH to a subscriber: %v, %v (want 2 deliveries)", n, err)
		}
	})
}

func TestRedisUserIsRefusedAdministration(t *testing.T) {
	t.Parallel()
	s := startRedis(t, true)
	if log, code := runRedisJob(t, redisOptions(s), superPassword, redisUserPassword); code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	admin := login(t, s.addr(), "default", superPassword)
	for _, cmd := range adminCommands {
		name := strings.Join(cmd, " ")
		t.Run(name, func(t *testing.T) {
			c := login(t, s.addr(), "harbor", redisUserPassword)
			_, err := c.do(cmd...)
			if err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
				t.Errorf("Harbor's user ran %s: got %v, want NOPERM", name, err)
			}
		})
	}
	// The refusals come from the ACL, not from commands this server lacks.
	for _, cmd := range [][]string{{"CONFIG", "GET", "maxmemory"}, {"ACL", "LIST"}, {"INFO", "server"}, {"SLOWLOG", "GET"}, {"DEBUG", "SLEEP", "0"}} {
		if _, err := admin.do(cmd...); err != nil {
			t.Errorf("the superuser cannot run %s (%v): the refusal above proves nothing", strings.Join(cmd, " "), err)
		}
	}
	// Redis ACLs cannot restrict database indexes: say so, by testing it.
	c := login(t, s.addr(), "harbor", redisUserPassword)
	if _, err := c.do("SELECT", "15"); err != nil {
		t.Errorf("SELECT 15: %v (if Redis can now restrict databases, tighten RedisACL)", err)
	}
}

func TestRedisSecondRunChangesNothingAndRotateChangesOnlyThePassword(t *testing.T) {
	t.Parallel()
	s := startRedis(t, true)
	o := redisOptions(s)
	log, code := runRedisJob(t, o, superPassword, redisUserPassword)
	if code != 0 || !strings.Contains(log, `user "harbor" created; saved with ACL SAVE; it logs in`) {
		t.Fatalf("first run: exit %d\n%s", code, log)
	}
	acl1 := aclList(t, s)
	file1, err := os.ReadFile(s.aclfile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(file1), "user harbor on") {
		t.Fatalf("ACL SAVE did not persist the user:\n%s", file1)
	}

	log, code = runRedisJob(t, o, superPassword, redisUserPassword)
	if code != 0 || !strings.Contains(log, `user "harbor" exists; permissions applied, password unchanged`) {
		t.Fatalf("second run: exit %d\n%s", code, log)
	}
	if acl2 := aclList(t, s); strings.Join(acl2, "\n") != strings.Join(acl1, "\n") {
		t.Errorf("second run changed the ACL:\nbefore %v\nafter  %v", acl1, acl2)
	}
	if file2, _ := os.ReadFile(s.aclfile); string(file2) != string(file1) {
		t.Errorf("second run changed the ACL file:\nbefore %s\nafter  %s", file1, file2)
	}

	o.Rotate = true
	const rotated = "RotatedRedisPassword0123456789"
	log, code = runRedisJob(t, o, superPassword, rotated)
	if code != 0 || !strings.Contains(log, "password rotated") {
		t.Fatalf("rotate: exit %d\n%s", code, log)
	}
	acl3 := aclList(t, s)
	for i := range acl1 {
		if strings.HasPrefix(acl1[i], "user harbor ") == (acl1[i] == acl3[i]) {
			t.Errorf("rotation should change the harbor line only:\nbefore %s\nafter  %s", acl1[i], acl3[i])
		}
	}
	if _, err := dialRedis(t, s.addr()).do("AUTH", "harbor", redisUserPassword); err == nil {
		t.Error("the old password still logs in after rotation")
	}
	login(t, s.addr(), "harbor", rotated)
}

func TestRedisEveryNodeGetsTheUser(t *testing.T) {
	t.Parallel()
	withFile, withoutFile := startRedis(t, true), startRedis(t, false)
	o := redisOptions(withFile, withoutFile)
	log, code := runRedisJob(t, o, superPassword, redisUserPassword)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log)
	}
	for _, s := range []*redisServer{withFile, withoutFile} {
		login(t, s.addr(), "harbor", redisUserPassword) // fails the test if the user is missing
	}
	wantWarning := fmt.Sprintf("harborha-warning: Redis at %s has no ACL file and CONFIG REWRITE failed", withoutFile.addr())
	if !strings.Contains(log, wantWarning) {
		t.Errorf("a node that cannot persist the user should be reported; log:\n%s", log)
	}
	// The warning reaches the user through the progress lines.
	var warned bool
	for _, l := range progressLines(log) {
		warned = warned || strings.HasPrefix(l, "warning: Redis at "+withoutFile.addr())
	}
	if !warned {
		t.Errorf("progressLines dropped the warning: %v", progressLines(log))
	}
}

func TestRedisScriptFailures(t *testing.T) {
	t.Parallel()
	s := startRedis(t, true)
	// A user that exists with another password than its Secret's.
	if _, err := login(t, s.addr(), "default", superPassword).do("ACL", "SETUSER", "olduser", "on", ">some-other-password-123", "+@all", "~*"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, user, super string
		nodes             []string
		wantError         string
	}{
		{name: "wrong superuser password", user: "harbor", super: "wrong-superuser-password",
			wantError: `Redis at %s refused the superuser "default": wrong password (WRONGPASS); check the cluster's credential Secret`},
		{name: "user exists with another password", user: "olduser", super: superPassword,
			wantError: `user "olduser" cannot log in to Redis at %s with the password of its Secret: AUTH failed: WRONGPASS invalid username-password pair or user is disabled.; when the user existed before its Secret was created, run bootstrap once with --rotate to give the user the Secret's password`},
		{name: "node unreachable", user: "harbor", super: superPassword, nodes: []string{"127.0.0.1:1"},
			wantError: `cannot reach Redis at %s: Could not connect to Redis at 127.0.0.1:1: Connection refused`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := redisOptions(s)
			o.Redis.User = tc.user
			if tc.nodes != nil {
				o.Redis.Nodes = tc.nodes
			}
			log, code := runRedisJob(t, o, tc.super, redisUserPassword)
			if code == 0 {
				t.Fatalf("exit 0, want a failure:\n%s", log)
			}
			j := redisRun(o)
			j.job = redisJob(o, o.Redis.Nodes, passwordRef{})
			want := fmt.Sprintf(tc.wantError, o.Redis.Nodes[0])
			if got := output.OneLine(newRunner(nil, o).explainFailure(j, failureLines(log), outcome{})); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if tc.user == "harbor" {
				for _, l := range aclList(t, s) {
					if strings.HasPrefix(l, "user harbor ") {
						t.Errorf("the user was created although the run failed: %s", l)
					}
				}
			}
		})
	}
}

// The Redis Job in an image with busybox's sh (the tools image, alpine's
// redis): the script runs there, and an image without what it needs is
// named in one line instead of failing at its first ACL command.
func TestRedisJobImageTools(t *testing.T) {
	t.Parallel()
	s := startRedis(t, true)
	tests := []struct {
		name     string
		tools    []string
		wantCode int
		wantLog  string
	}{
		{"redis-cli 7, busybox", []string{"redis-cli"}, 0, `harborha: Redis at %s: user "harbor0" created; saved with ACL SAVE; it logs in`},
		{"redis-cli 5 has no --user", []string{"redis-cli=redis-cli 5.0.14"}, 1, `harborha-error: the --redis-image's redis-cli is too old or unknown ("redis-cli 5.0.14"): bootstrap needs redis-cli 6 or later (--user)`},
		{"no redis-cli", nil, 1, "harborha-error: the --redis-image has no redis-cli on its PATH"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := redisOptions(s)
			o.Redis.User = fmt.Sprintf("harbor%d", i)
			job := redisJob(o, o.Redis.Nodes, passwordRef{secret: RedisSecretName(o.Release), key: RedisPasswordKey})
			log, code := runInImage(t, job, imageTools(t, tc.tools...), map[string]map[string]string{
				o.Redis.Secret.Name:        {"username": "default", "password": superPassword},
				RedisSecretName(o.Release): {RedisPasswordKey: redisUserPassword},
			})
			want := tc.wantLog
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, s.addr())
			}
			if code != tc.wantCode || !strings.Contains(log, want) {
				t.Fatalf("exit %d, want %d and a log with %q:\n%s", code, tc.wantCode, want, log)
			}
			if code != 0 {
				j := redisRun(o)
				j.job = job
				if got := newRunner(nil, o).explainFailure(j, failureLines(log), outcome{}); !strings.HasPrefix(got, strings.TrimPrefix(want, "harborha-error: ")) {
					t.Errorf("the command's error line %q is not the script's %q", got, want)
				}
			}
		})
	}
}

package harbor

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// The PostgreSQL and Redis Harbor runs against: Debian's server binaries
// (`make test-services`), each started in a temporary directory on a free
// loopback port and stopped at the end of the test.

// account is who a process runs as: under root, the given account (the
// servers refuse root; Harbor runs as uid 10000 in the chart's pods);
// otherwise the test's own user.
type account struct{ cred *syscall.Credential }

func accountFor(t *testing.T, uid, gid int) account {
	if os.Geteuid() != 0 {
		return account{}
	}
	return account{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}

// serverAccount is postgres (or nobody) under root.
func serverAccount(t *testing.T) account {
	t.Helper()
	if os.Geteuid() != 0 {
		return account{}
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			return accountFor(t, uid, gid)
		}
	}
	t.Fatal("running as root, and neither a postgres nor a nobody account exists to run the servers")
	return account{}
}

// dir is a new directory the account owns (t.TempDir's parent is closed
// to other users), removed at the end.
func (a account) dir(t *testing.T, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if a.cred != nil {
		if err := os.Chown(d, int(a.cred.Uid), int(a.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (a account) command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: a.cred}
	return c
}

func run(t *testing.T, c *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String())
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// postgres is a PostgreSQL server whose database "registry" belongs to the
// role "harbor" (password dbPassword), as helm-harborha's bootstrap leaves it.
type postgres struct{ port int }

const dbPassword = "harbor-db-password-7c2e9a41"

func startPostgres(t *testing.T) postgres {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		testutil.Missing(t, "PostgreSQL server binaries in /usr/lib/postgresql/*/bin (run `make test-services`)")
	}
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	bin := filepath.Dir(dirs[0])
	a := serverAccount(t)
	dir := a.dir(t, "harborha-harbor-pg-")
	data := filepath.Join(dir, "data")
	run(t, a.command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "-N"))
	s := postgres{port: freePort(t)}
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s -c fsync=off", s.port, dir)
	run(t, a.command(filepath.Join(bin, "pg_ctl"), "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"))
	t.Cleanup(func() {
		c := a.command(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop")
		if out, err := c.CombinedOutput(); err != nil {
			t.Logf("stopping PostgreSQL: %v\n%s", err, out)
		}
	})
	psql := func(sql string) {
		run(t, a.command(filepath.Join(bin, "psql"), "-X", "-q", "-h", dir, "-p", strconv.Itoa(s.port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql))
	}
	psql("CREATE ROLE harbor LOGIN PASSWORD '" + dbPassword + "'")
	psql("CREATE DATABASE registry OWNER harbor")
	return s
}

func major(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// redis is a redis-server whose default user has the password
// redisPassword (the chart's redis.external.password).
type redis struct {
	port     int
	cli      string
	password *string // the default user's, now
}

const redisPassword = "harbor-redis-password-51d0b7e3"

// defaultPassword is the default user's when Harbor logs in as an ACL
// user (the test's own commands go on as the default user).
const defaultPassword = "redis-default-password-0c9e3f1a"

func startRedis(t *testing.T) redis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testutil.Missing(t, "redis-server (run `make test-services`)")
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		testutil.Missing(t, "redis-cli (run `make test-services`)")
	}
	a := serverAccount(t)
	dir := a.dir(t, "harborha-harbor-redis-")
	password := redisPassword
	s := redis{port: freePort(t), cli: cli, password: &password}
	c := a.command(bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--requirepass", redisPassword)
	server := start(t, "redis-server", c, t.TempDir())
	waitFor(t, "redis-server", []*running{server}, func() error {
		_, err := s.do("PING")
		return err
	})
	return s
}

// do runs one command as the default user; an error carries the reply.
func (s redis) do(args ...string) (string, error) {
	c := exec.Command(s.cli, append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "--no-auth-warning", "-a", *s.password}, args...)...)
	out, err := c.CombinedOutput()
	reply := strings.TrimSpace(string(out))
	for _, failed := range []string{"ERR", "NOAUTH", "WRONGPASS", "Could not connect"} {
		if err == nil && strings.HasPrefix(reply, failed) {
			err = fmt.Errorf("%s", reply)
		}
	}
	return reply, err
}

// keys is how many keys database db holds.
func (s redis) keys(t *testing.T, db int) int {
	t.Helper()
	out, err := s.do("-n", strconv.Itoa(db), "DBSIZE")
	if err != nil {
		t.Fatalf("redis DBSIZE of database %d: %v", db, err)
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("redis DBSIZE of database %d: %q", db, out)
	}
	return n
}

// aclUser creates an ACL user with every permission and redisPassword, as
// bootstrap's Redis Job does, and gives the default user defaultPassword.
func (s redis) aclUser(t *testing.T, name string) {
	t.Helper()
	if _, err := s.do("ACL", "SETUSER", name, "on", ">"+redisPassword, "~*", "&*", "+@all"); err != nil {
		t.Fatalf("redis ACL SETUSER %s: %v", name, err)
	}
	if _, err := s.do("CONFIG", "SET", "requirepass", defaultPassword); err != nil {
		t.Fatalf("redis: a password of its own for the default user: %v", err)
	}
	*s.password = defaultPassword
}

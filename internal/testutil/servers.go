package testutil

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
)

// Real PostgreSQL servers for the tests that talk to one: each test starts
// its own in a temporary directory on a free port and stops it at the end.
// Nothing depends on a system service. The binaries come from Debian's
// postgresql package (`make test-services`).

// SuperPassword is the password of the servers' superuser "postgres".
const SuperPassword = "Super-Secret-For-Tests-7e1f"

// FreePort is a TCP port on 127.0.0.1 nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// PostgresBin is the newest /usr/lib/postgresql/*/bin holding initdb.
func PostgresBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(binDir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	Missing(t, "PostgreSQL server binaries in /usr/lib/postgresql/*/bin (run `make test-services`)")
	return ""
}

// ServerUser is who runs the servers: PostgreSQL refuses to run as root,
// so under root the postgres account (or nobody) does.
type ServerUser struct{ cred *syscall.Credential }

// NewServerUser is the account servers run as.
func NewServerUser(t testing.TB) ServerUser {
	if os.Geteuid() != 0 {
		return ServerUser{}
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			return ServerUser{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		}
	}
	t.Fatal("running as root, and neither a postgres nor a nobody account exists to run the servers")
	return ServerUser{}
}

// Dir is a temporary directory the server user owns, removed at the end.
func (u ServerUser) Dir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	u.Chown(t, d)
	return d
}

// Chown gives path to the server user.
func (u ServerUser) Chown(t testing.TB, path string) {
	if u.cred != nil {
		if err := os.Chown(path, int(u.cred.Uid), int(u.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

// Command runs name as the server user, with a minimal environment.
func (u ServerUser) Command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	if u.cred != nil {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
	return c
}

// MustRun runs c and fails the test with its output when it fails.
func MustRun(t testing.TB, c *exec.Cmd) {
	t.Helper()
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(c.Args, " "), err, out)
	}
}

// Postgres is a PostgreSQL server on 127.0.0.1 with the superuser
// "postgres" (password SuperPassword), SCRAM authentication and every
// statement logged.
type Postgres struct {
	Bin, Data, Log string
	Port           int
	user           ServerUser
	opts           string
}

// StartPostgres initialises and starts a server; settings are extra
// `-c name=value` options. It is stopped at the end of the test.
func StartPostgres(t testing.TB, settings ...string) *Postgres {
	t.Helper()
	bin := PostgresBin(t)
	u := NewServerUser(t)
	dir := u.Dir(t, "harborha-pg-")
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(SuperPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u.Chown(t, pwfile)
	s := &Postgres{Bin: bin, Data: filepath.Join(dir, "data"), Log: filepath.Join(dir, "server.log"), Port: FreePort(t), user: u}
	MustRun(t, u.Command(filepath.Join(bin, "initdb"), "-D", s.Data, "-U", "postgres", "--auth=scram-sha-256",
		"--pwfile="+pwfile, "-E", "UTF8", "--locale=C", "-N"))
	os.Remove(pwfile) // the superuser password is in the cluster now
	s.opts = fmt.Sprintf("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories='' -c fsync=off -c log_statement=all -c log_min_error_statement=error", s.Port)
	for _, o := range settings {
		s.opts += " -c " + o
	}
	s.PgCtl(t, "start")
	t.Cleanup(func() {
		c := u.Command(filepath.Join(bin, "pg_ctl"), "-D", s.Data, "-m", "immediate", "-w", "stop")
		if out, err := c.CombinedOutput(); err != nil && !bytes.Contains(out, []byte("Is server running")) {
			t.Logf("stopping PostgreSQL: %v\n%s", err, out)
		}
	})
	return s
}

// PgCtl runs pg_ctl start, stop or restart (with -m MODE in args) on the
// server, waiting for it.
func (s *Postgres) PgCtl(t testing.TB, action string, args ...string) {
	t.Helper()
	a := []string{"-D", s.Data, "-w", "-t", "30"}
	if action == "start" || action == "restart" {
		a = append(a, "-o", s.opts, "-l", s.Log)
	}
	MustRun(t, s.user.Command(filepath.Join(s.Bin, "pg_ctl"), append(append(a, args...), action)...))
}

// Addr is the server's host:port.
func (s *Postgres) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// Psql runs SQL as user on db and returns the unaligned, tuples-only
// output; an error is returned with psql's message.
func (s *Postgres) Psql(user, password, db, sql string) (string, error) {
	c := exec.Command(filepath.Join(s.Bin, "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
	c.Env = []string{"PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(s.Port), "PGUSER=" + user, "PGPASSWORD=" + password, "PGDATABASE=" + db, "PGCONNECT_TIMEOUT=5"}
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Super runs SQL as the superuser, failing the test on an error.
func (s *Postgres) Super(t testing.TB, sql string) string {
	t.Helper()
	out, err := s.Psql("postgres", SuperPassword, "postgres", sql)
	if err != nil {
		t.Fatalf("psql as postgres: %s: %v", sql, err)
	}
	return out
}

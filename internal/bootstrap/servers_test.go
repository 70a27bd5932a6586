package bootstrap

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	"github.com/harborha/helm-harborha/internal/testutil"
)

// Throwaway PostgreSQL and Redis servers on loopback for the tests: each
// test starts its own in a temporary directory on a free port and stops it
// at the end. Nothing depends on a system service. The binaries come from
// Debian's postgresql and redis-server packages (`make test-services`).

const superPassword = testutil.SuperPassword

func freePort(t *testing.T) int { return testutil.FreePort(t) }

func pgBin(t *testing.T) string { return testutil.PostgresBin(t) }

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// pgServer is a PostgreSQL server on 127.0.0.1 (testutil.StartPostgres)
// with the superuser "postgres" (password superPassword) and every
// statement logged.
type pgServer struct {
	*testutil.Postgres
	bin  string
	port int
	log  string
}

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	p := testutil.StartPostgres(t)
	return &pgServer{Postgres: p, bin: p.Bin, port: p.Port, log: p.Log}
}

func (s *pgServer) psql(user, password, db, sql string) (string, error) {
	return s.Psql(user, password, db, sql)
}

func (s *pgServer) super(t *testing.T, sql string) string {
	t.Helper()
	return s.Super(t, sql)
}

func (s *pgServer) endpoint(ns string) Endpoint {
	return Endpoint{Namespace: ns, Host: "127.0.0.1", Port: s.port, Secret: SecretRef{Name: "mypg-conn-credential"}}
}

// redisServer is a redis-server on 127.0.0.1 whose default user has the
// password superPassword. With an ACL file (aclfile), ACL SAVE works, as on
// KubeBlocks.
type redisServer struct {
	port    int
	aclfile string // "" when started without one
}

func redisBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		testutil.Missing(t, "redis-server (run `make test-services`)")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		testutil.Missing(t, "redis-cli (run `make test-services`)")
	}
	return p
}

func startRedis(t *testing.T, withACLFile bool) *redisServer {
	t.Helper()
	bin := redisBin(t)
	u := testutil.NewServerUser(t)
	dir := u.Dir(t, "harborha-redis-")
	s := &redisServer{port: freePort(t)}
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
		// DEBUG would be refused before the ACL is consulted otherwise.
		"--enable-debug-command", "yes"}
	if withACLFile {
		s.aclfile = filepath.Join(dir, "users.acl")
		if err := os.WriteFile(s.aclfile, []byte("user default on >"+superPassword+" ~* &* +@all\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		u.Chown(t, s.aclfile)
		args = append(args, "--aclfile", s.aclfile)
	} else {
		args = append(args, "--requirepass", superPassword)
	}
	c := u.Command(bin, args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.Process.Kill()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", s.addr())
		if err == nil {
			conn.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not listen on %s: %v\n%s", s.addr(), err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) endpoint(ns string) Endpoint {
	return Endpoint{Namespace: ns, Host: "127.0.0.1", Port: s.port, Secret: SecretRef{Name: "myredis-redis-account-default"}}
}

// execJob runs the Job's container here, the way the kubelet would: its
// command with its environment, secretKeyRef values read through secret
// (an error for a missing Secret or key is what the kubelet reports as
// CreateContainerConfigError). The output is stdout and stderr interleaved,
// as in the pod's log. PATH finds psql and redis-cli on this machine.
// It may run outside the test's goroutine: it reports errors, never fails t.
func execJob(t *testing.T, job *batchv1.Job, secret func(name, key string) (string, error)) (log string, exitCode int, err error) {
	return execJobIn(t, job, localPath(), secret)
}

// execJobIn is execJob with PATH path.
func execJobIn(t *testing.T, job *batchv1.Job, path string, secret func(name, key string) (string, error)) (log string, exitCode int, err error) {
	ctr := job.Spec.Template.Spec.Containers[0]
	env := []string{"PATH=" + path, "HOME=" + t.TempDir()}
	for _, e := range ctr.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			if ref.SecretKeyRef == nil {
				return "", 0, fmt.Errorf("env %s: only secretKeyRef is expected", e.Name)
			}
			if v, err = secret(ref.SecretKeyRef.Name, ref.SecretKeyRef.Key); err != nil {
				return "", 0, err
			}
		}
		env = append(env, e.Name+"="+v)
	}
	c := exec.Command(ctr.Command[0], append(ctr.Command[1:], ctr.Args...)...)
	c.Env = env
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	runErr := c.Run()
	if ee, ok := runErr.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode(), nil
	}
	if runErr != nil {
		return "", 0, fmt.Errorf("running the Job's command: %v", runErr)
	}
	return out.String(), 0, nil
}

// runJobWith runs job with secrets (name → key → value) as its Secrets;
// a missing one fails the test, as it would leave the pod unstarted.
func runJobWith(t *testing.T, job *batchv1.Job, secrets map[string]map[string]string) (log string, exitCode int) {
	t.Helper()
	log, code, err := execJob(t, job, func(name, key string) (string, error) {
		if v, ok := secrets[name][key]; ok {
			return v, nil
		}
		return "", fmt.Errorf("couldn't find key %s in Secret %s", key, name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return log, code
}

// localPath puts the PostgreSQL client binaries (when installed) before
// the system's.
func localPath() string {
	p := "/usr/local/bin:/usr/bin:/bin"
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(dirs) > 0 {
		sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
		p = dirs[0] + ":" + p
	}
	return p
}

// lines is a log split into non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// imageTools is a PATH laid out like the tools image (--psql-image and
// --redis-image of the real-node tests) and the alpine images: busybox's
// applets, no printenv (Debian's busybox has none), and the tools named:
// "psql" or "redis-cli" is the real one, "psql=psql (PostgreSQL) 14.11" a
// script that reports that version and runs the real one.
func imageTools(t *testing.T, tools ...string) string {
	t.Helper()
	bb, err := exec.LookPath("busybox")
	if err != nil {
		testutil.Missing(t, "busybox (make dist-test-tools)")
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, applet := range strings.Fields(string(out)) {
		if applet == "printenv" {
			t.Fatalf("this busybox has a printenv applet: the test needs one without")
		}
		if err := os.Symlink(bb, filepath.Join(dir, applet)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range tools {
		name, version, fake := strings.Cut(tool, "=")
		real := filepath.Join(pgBin(t), "psql")
		if name == "redis-cli" {
			if real, err = exec.LookPath("redis-cli"); err != nil {
				testutil.Missing(t, "redis-cli (make test-services)")
			}
		}
		if !fake {
			if err := os.Symlink(real, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		script := fmt.Sprintf("#!/bin/sh\ncase \" $* \" in *\" --version \"*) echo '%s'; exit 0;; esac\nexec %s \"$@\"\n", version, real)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runInImage runs job as the image whose PATH is path would: its own
// /bin/sh (busybox's), the Secrets' values from secrets.
func runInImage(t *testing.T, job *batchv1.Job, path string, secrets map[string]map[string]string) (string, int) {
	t.Helper()
	job.Spec.Template.Spec.Containers[0].Command[0] = filepath.Join(path, "sh")
	log, code, err := execJobIn(t, job, path, func(name, key string) (string, error) { return secrets[name][key], nil })
	if err != nil {
		t.Fatal(err)
	}
	return log, code
}

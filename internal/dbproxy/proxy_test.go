package dbproxy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgconn"
	_ "github.com/jackc/pgx/v4/stdlib" // Harbor v2.15.1's driver, at its version

	"github.com/harborha/helm-harborha/internal/testutil"
)

// The proxy is tested against real PostgreSQL servers and Harbor's own
// client stack (database/sql over pgx v4.18.3's stdlib driver, which
// prepares every statement it runs with arguments, by name): the servers
// are stopped, restarted and made writable the way a switchover does it.

const harborPassword = "Harbor-Db-Password-3c9a"

// harborServer is a server with Harbor's role and database, and a table
// the workload writes to. readOnly makes it a standby-to-be: connections
// to it report transaction_read_only = on.
func harborServer(t *testing.T, readOnly bool) *testutil.Postgres {
	t.Helper()
	s := testutil.StartPostgres(t)
	s.Super(t, "CREATE ROLE harbor LOGIN PASSWORD '"+harborPassword+"'")
	s.Super(t, "CREATE DATABASE registry OWNER harbor")
	if _, err := s.Psql("postgres", testutil.SuperPassword, "registry",
		"BEGIN READ WRITE; CREATE TABLE artifact (id serial PRIMARY KEY, digest text NOT NULL); ALTER TABLE artifact OWNER TO harbor; COMMIT"); err != nil {
		t.Fatal(err)
	}
	if readOnly {
		s.Super(t, "ALTER SYSTEM SET default_transaction_read_only = on")
		s.Super(t, "SELECT pg_reload_conf()")
	}
	return s
}

// promote makes a read-only server take writes, as a promotion does.
func promote(t *testing.T, s *testutil.Postgres) {
	s.Super(t, "ALTER SYSTEM SET default_transaction_read_only = off")
	s.Super(t, "SELECT pg_reload_conf()")
}

// startProxy serves the upstreams on a free loopback port until the test
// ends.
func startProxy(t *testing.T, upstreams ...string) (addr string, logs *syncLog) {
	t.Helper()
	return serveProxy(t, Config{Upstreams: upstreams, Hold: 20 * time.Second})
}

// serveProxy serves cfg, Harbor's password and no TLS set, on a free
// loopback port until the test ends.
func serveProxy(t *testing.T, cfg Config) (addr string, logs *syncLog) {
	t.Helper()
	logs = &syncLog{t: t}
	cfg.Password, cfg.SSLMode, cfg.Log = harborPassword, "disable", newLog(logs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		New(cfg).Serve(ctx, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l.Addr().String(), logs
}

type syncLog struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	l.t.Log("dbproxy: " + strings.TrimSpace(string(p)))
	return len(p), nil
}

func newLog(l *syncLog) *log.Logger { return log.New(l, "", 0) }

func (l *syncLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *syncLog) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// harborDB opens a pool the way Harbor does (the DSN of
// src/common/dao/pgsql.go), connections kept idle between uses.
func harborDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	db, err := sql.Open("pgx", fmt.Sprintf("host=%s port=%s user=harbor password=%s dbname=registry sslmode=disable", host, port, harborPassword))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	t.Cleanup(func() { db.Close() })
	return db
}

// workload is Harbor's kind of traffic from workers goroutines: reads and
// writes by prepared statements, each its own transaction, until stopped.
type workload struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	stop       chan struct{}
	wg         sync.WaitGroup
}

func runWorkload(db *sql.DB, workers int) *workload {
	w := &workload{stop: make(chan struct{})}
	for i := 0; i < workers; i++ {
		w.wg.Add(1)
		go func(i int) {
			defer w.wg.Done()
			for n := 0; ; n++ {
				select {
				case <-w.stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var err error
				if n%2 == 0 {
					var id int
					err = db.QueryRowContext(ctx, "INSERT INTO artifact (digest) VALUES ($1) RETURNING id", fmt.Sprintf("sha256:%d-%d", i, n)).Scan(&id)
				} else {
					var count int
					err = db.QueryRowContext(ctx, "SELECT count(*) FROM artifact WHERE id > $1", n).Scan(&count)
				}
				cancel()
				if err != nil {
					w.failed.Add(1)
					w.mu.Lock()
					w.errs = append(w.errs, err.Error())
					w.mu.Unlock()
				} else {
					w.ok.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}(i)
	}
	return w
}

func (w *workload) end() (ok, failed int64, errs []string) {
	close(w.stop)
	w.wg.Wait()
	return w.ok.Load(), w.failed.Load(), w.errs
}

func serverPort(t *testing.T, db *sql.DB) string {
	t.Helper()
	var port string
	if err := db.QueryRow("SELECT current_setting('port')").Scan(&port); err != nil {
		t.Fatal(err)
	}
	return port
}

// TestSwitchoverLosesNoQuery plays a switchover under Harbor's kind of
// load: the primary stops (fast: every session ends with 57P01), no server
// takes writes for a while, then the standby is promoted. Through the
// proxy not one query fails and the pool's connections are kept; the same
// load straight to the server loses queries (the test can fail).
func TestSwitchoverLosesNoQuery(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	primary, standby := harborServer(t, false), harborServer(t, true)
	addr, logs := startProxy(t, primary.Addr(), standby.Addr())
	db := harborDB(t, addr)
	if got := serverPort(t, db); got != fmt.Sprint(primary.Port) {
		t.Fatalf("through the proxy the server is on port %s, want the primary's %d (the standby is read-only)", got, primary.Port)
	}

	w := runWorkload(db, 4)
	time.Sleep(300 * time.Millisecond)
	before := w.ok.Load()
	primary.PgCtl(t, "stop", "-m", "fast")
	time.Sleep(700 * time.Millisecond) // no primary
	promote(t, standby)
	time.Sleep(700 * time.Millisecond)
	ok, failed, errs := w.end()

	t.Logf("through the proxy: %d queries before the fault, %d in all, %d failed", before, ok, failed)
	if failed != 0 {
		t.Errorf("%d queries failed through the proxy, want 0: %v", failed, errs)
	}
	if ok <= before {
		t.Errorf("no query succeeded after the switchover (%d before, %d in all)", before, ok)
	}
	if got := serverPort(t, db); got != fmt.Sprint(standby.Port) {
		t.Errorf("after the switchover the server is on port %s, want the promoted standby's %d", got, standby.Port)
	}
	if logs.count("lost (57P01") == 0 && logs.count("lost (the connection ended") == 0 {
		t.Errorf("the proxy logged no server connection lost")
	}
	if logs.count("prepared again") == 0 {
		t.Errorf("the proxy logged no session carried over to the new primary")
	}
	if n := logs.count("client connection closed"); n != 0 {
		t.Errorf("the proxy closed %d client connection(s), want none", n)
	}
}

// TestRestartWithoutProxyFails is the same fault on the same load with
// Harbor's pool straight on the server: its stale connections fail (the
// measurement the proxy exists for; if this ever passes with 0, the
// switchover test above proves nothing).
func TestRestartWithoutProxyFails(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	for _, via := range []string{"direct", "proxy"} {
		t.Run(via, func(t *testing.T) {
			s := harborServer(t, false)
			addr := s.Addr()
			if via == "proxy" {
				addr, _ = startProxy(t, s.Addr())
			}
			db := harborDB(t, addr)
			w := runWorkload(db, 4)
			time.Sleep(300 * time.Millisecond)
			s.PgCtl(t, "restart", "-m", "fast")
			time.Sleep(500 * time.Millisecond)
			ok, failed, errs := w.end()
			t.Logf("%s: %d queries, %d failed", via, ok, failed)
			switch {
			case via == "direct" && failed == 0:
				t.Errorf("straight to the server a fast restart failed no query: the fault was not played")
			case via == "proxy" && failed != 0:
				t.Errorf("%d queries failed through the proxy, want 0: %v", failed, errs)
			}
		})
	}
}

// TestInFlightQueryIsSentAgain: a query running when the server ends the
// session (57P01) did not commit; the proxy sends it to the next primary
// and the client gets its answer, later.
func TestInFlightQueryIsSentAgain(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	s := harborServer(t, false)
	addr, logs := startProxy(t, s.Addr())
	db := harborDB(t, addr)
	res := make(chan error, 1)
	go func() {
		var slept string
		res <- db.QueryRow("SELECT pg_sleep($1)::text", 1.5).Scan(&slept)
	}()
	time.Sleep(500 * time.Millisecond)
	s.PgCtl(t, "restart", "-m", "fast")
	if err := <-res; err != nil {
		t.Fatalf("the query in flight failed through the proxy: %v", err)
	}
	if logs.count("1 request(s) sent again") == 0 {
		t.Errorf("the proxy did not log the request sent again")
	}
}

// TestOpenTransactionFailsCleanly: what was done in a transaction is gone
// with its server; the proxy must not hide that, so the client's
// connection ends and the next one works.
func TestOpenTransactionFailsCleanly(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	s := harborServer(t, false)
	addr, logs := startProxy(t, s.Addr())
	db := harborDB(t, addr)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO artifact (digest) VALUES ($1)", "sha256:in-tx"); err != nil {
		t.Fatal(err)
	}
	s.PgCtl(t, "restart", "-m", "fast")
	if _, err := tx.Exec("INSERT INTO artifact (digest) VALUES ($1)", "sha256:in-tx-2"); err == nil {
		if err := tx.Commit(); err == nil {
			t.Fatalf("a transaction whose server went committed through the proxy")
		}
	}
	tx.Rollback()
	if logs.count("a transaction was open") == 0 {
		t.Errorf("the proxy did not log why it closed the client's connection")
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM artifact WHERE digest LIKE $1", "sha256:in-tx%").Scan(&n); err != nil {
		t.Fatalf("the pool did not recover after the transaction's failure: %v", err)
	}
	if n != 0 {
		t.Errorf("%d rows of the lost transaction are in the table", n)
	}
}

// TestSessionStateIsNotReplaced: a session with a setting of its own
// would silently lose it on a new server, so it is not carried over.
func TestSessionStateIsNotReplaced(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	s := harborServer(t, false)
	addr, logs := startProxy(t, s.Addr())
	db := harborDB(t, addr)
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET application_name = 'pinned'"); err != nil {
		t.Fatal(err)
	}
	s.PgCtl(t, "restart", "-m", "fast")
	var name string
	err := db.QueryRow("SELECT current_setting('application_name')").Scan(&name)
	if err == nil && name == "pinned" {
		t.Fatalf("the setting survived a restart: the test played no fault")
	}
	if logs.count("holds server state") == 0 {
		t.Errorf("the proxy did not log why it closed the session (err %v, application_name %q)", err, name)
	}
}

// TestRefusals: what waiting cannot mend is said once it has lasted
// finalGrace; no primary at all is said after the hold, naming the
// upstreams.
func TestRefusals(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	s := harborServer(t, false)
	t.Run("wrong password", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go New(Config{Upstreams: []string{s.Addr()}, Password: "not-it", SSLMode: "disable", Hold: 20 * time.Second}).Serve(ctx, l)
		start := time.Now()
		db := harborDB(t, l.Addr().String())
		err = db.Ping()
		if err == nil || !strings.Contains(err.Error(), "28P01") {
			t.Fatalf("ping with the proxy's password wrong: %v, want SQLSTATE 28P01", err)
		}
		if d := time.Since(start); d > finalGrace+2*time.Second {
			t.Errorf("a refused password was held %s, want an answer after %s", d, finalGrace)
		}
		if strings.Contains(err.Error(), harborPassword) || strings.Contains(err.Error(), "not-it") {
			t.Errorf("the error shows a password: %v", err)
		}
	})
	t.Run("no primary", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		down := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go New(Config{Upstreams: []string{down}, Password: harborPassword, SSLMode: "disable", Hold: time.Second}).Serve(ctx, l)
		err = harborDB(t, l.Addr().String()).Ping()
		if err == nil || !strings.Contains(err.Error(), "no PostgreSQL primary took writes within 1s at "+down) {
			t.Fatalf("ping with no server: %v, want the hold and the upstream named", err)
		}
		var pe interface{ SQLState() string }
		if errors.As(err, &pe) && pe.SQLState() != "08006" {
			t.Errorf("SQLSTATE %s, want 08006", pe.SQLState())
		}
	})
}

// TestCancelReachesTheServer: a query the client cancels (its context)
// is cancelled on the server through the proxy's key.
func TestCancelReachesTheServer(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	s := harborServer(t, false)
	addr, _ := startProxy(t, s.Addr())
	db := harborDB(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := db.ExecContext(ctx, "SELECT pg_sleep(20)")
	if err == nil {
		t.Fatal("a query cancelled after 300 ms returned no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the cancelled query returned after %s", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := s.Super(t, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(20)%' AND state = 'active'")
		if n == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server still runs the cancelled query")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// staleRoute is a Service route kube-proxy has not rewritten yet, to a
// deleted pod's address: connections are taken and never answered.
func staleRoute(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return l.Addr().String()
}

// TestPodsServeWhileTheServiceLags: with the pods named (the headless
// Service), a connection reaches the one pod that takes writes while the
// primary Service's route reaches a server that does not, or hangs; the
// Service still decides whenever it answers or refuses, and two pods that
// take writes are not chosen between.
func TestPodsServeWhileTheServiceLags(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	primary, standby, other := harborServer(t, false), harborServer(t, true), harborServer(t, false)
	cases := []struct {
		name     string
		service  string
		pods     []string
		wantPort int      // 0: no connection
		wantLogs []string // what the proxy must log
		within   time.Duration
	}{
		{"route to a deleted pod", staleRoute(t), []string{standby.Addr(), primary.Addr()}, primary.Port, []string{"(rounds: 1 Service slow)"}, 0},
		{"route to the old primary, now a standby", standby.Addr(), []string{standby.Addr(), primary.Addr()}, primary.Port, []string{"(rounds: 1 read-only)"}, 0},
		// A refusal is no sign that no pod is the primary: after a
		// crash kube-proxy routes to the deleted pod while it
		// terminates, where nothing listens any more.
		{"the Service refuses", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)), []string{primary.Addr(), standby.Addr()}, primary.Port, []string{"(rounds: 1 refused)"}, 0},
		{"the Service answers", other.Addr(), []string{standby.Addr(), primary.Addr()}, other.Port, nil, 0},
		{"two pods take writes", standby.Addr(), []string{primary.Addr(), other.Addr()}, 0, []string{"2 database pods take writes", "pods asked, 2 of 2 writable"}, 0},
		// A pod deleted a moment ago may still be in DNS and answer
		// nothing: the others are not kept waiting for it.
		{"a deleted pod still listed", staleRoute(t), []string{staleRoute(t), standby.Addr(), primary.Addr()}, primary.Port, nil, serviceWait + podGrace + 300*time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, logs := serveProxy(t, Config{Upstreams: []string{tc.service}, Pods: tc.pods, Hold: 2 * time.Second})
			db := harborDB(t, addr)
			start := time.Now()
			var port string
			err := db.QueryRow("SELECT current_setting('port')").Scan(&port)
			took := time.Since(start)
			if tc.wantPort == 0 {
				if err == nil {
					t.Fatalf("connected to port %s, want no connection (two servers take writes)", port)
				}
			} else {
				if err != nil {
					t.Fatalf("no connection: %v", err)
				}
				if port != fmt.Sprint(tc.wantPort) {
					t.Errorf("served by port %s, want %d", port, tc.wantPort)
				}
				// The pods are asked after serviceWait, and answer in
				// milliseconds: not the 3 s a hung attempt lasts.
				within := tc.within
				if within == 0 {
					within = serviceWait + podWait
				}
				if took > within {
					t.Errorf("the connection took %s, want under %s", took, within)
				}
			}
			for _, want := range tc.wantLogs {
				if logs.count(want) == 0 {
					t.Errorf("the proxy did not log %q", want)
				}
			}
		})
	}
}

// TestPromotedWhileTheServiceHangs: while the Service's route hangs (its
// attempt lasts up to 3 s), the pods are asked again, so a standby
// promoted meanwhile serves within a round, not after the attempt, and a
// pod address that answers nothing does not make each round last podWait.
func TestPromotedWhileTheServiceHangs(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	standby := harborServer(t, true)
	// A deleted pod's address, still listed, answers nothing: it holds
	// no round up.
	addr, logs := serveProxy(t, Config{Upstreams: []string{staleRoute(t)}, Pods: []string{staleRoute(t), standby.Addr()}, Hold: 10 * time.Second})
	db := harborDB(t, addr)
	start := time.Now()
	promoted := make(chan time.Duration, 1)
	go func() {
		time.Sleep(600 * time.Millisecond)
		promote(t, standby)
		promoted <- time.Since(start)
	}()
	var port string
	if err := db.QueryRow("SELECT current_setting('port')").Scan(&port); err != nil {
		t.Fatalf("no connection: %v", err)
	}
	took, at := time.Since(start), <-promoted
	if port != fmt.Sprint(standby.Port) {
		t.Errorf("served by port %s, want the promoted standby's %d", port, standby.Port)
	}
	// A round lasts podGrace after the standby's answer, then podsAgain;
	// the silent address alone would make it podWait.
	if after, want := took-at, 2*(podGrace+podsAgain)+200*time.Millisecond; after > want {
		t.Errorf("served %s after the promotion, want within %s (about a round of asking the pods)", after, want)
	}
	if m := regexp.MustCompile(`(\d+) pods asked, 0 of 2 writable`).FindStringSubmatch(logs.all()); m == nil || m[1] == "1" {
		t.Errorf("the proxy did not log asking the pods again while the Service hung (rounds: %v)", m)
	}
}

// TestDialTriesAgain: a SYN the network drops (here: a listener whose
// accept queue is full) is not left to the kernel, which sends it again
// only after 1 s; a new connection is tried after synWait.
func TestDialTriesAgain(t *testing.T) {
	addr, free := fullListener(t)
	start := time.Now()
	go func() {
		time.Sleep(100 * time.Millisecond)
		free()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.Close()
	// The first SYN is dropped; the second try, at synWait, is taken.
	took := time.Since(start)
	t.Logf("connected after %s", took)
	if kernel := time.Second; took > kernel-300*time.Millisecond {
		t.Errorf("connected after %s, want about %s (the kernel alone: %s)", took, synWait, kernel)
	}
}

// fullListener is a loopback listener whose accept queue is full, so
// that the kernel drops new SYNs until free accepts what is queued.
func fullListener(t *testing.T) (addr string, free func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // room for one
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	var queued []net.Conn
	for range 2 { // fills the queue (the kernel takes backlog+1)
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		queued = append(queued, c)
	}
	t.Cleanup(func() {
		l.Close()
		for _, c := range queued {
			c.Close()
		}
	})
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the kernel took a connection beyond a full accept queue: the test cannot drop a SYN")
	}
	return addr, func() {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
	}
}

// TestWaitingSessionsShareThePods: connections waiting at once for a
// primary share each round of asking the pods, so the pods see a few
// logins a round, not one from every waiting connection.
func TestWaitingSessionsShareThePods(t *testing.T) {
	testutil.SkipShort(t, "PostgreSQL servers")
	standby := harborServer(t, true)
	pod, logins := countingRelay(t, standby.Addr())
	addr, _ := serveProxy(t, Config{Upstreams: []string{staleRoute(t)}, Pods: []string{pod}, Hold: 10 * time.Second})
	db := harborDB(t, addr)
	const waiting = 8 // harborDB's pool
	var wg sync.WaitGroup
	errs := make(chan error, waiting)
	for range waiting {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var port string
			errs <- db.QueryRow("SELECT current_setting('port') FROM pg_sleep(0.2)").Scan(&port)
		}()
	}
	time.Sleep(time.Second)
	before := logins()
	promote(t, standby)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a waiting connection failed: %v", err)
		}
	}
	// A round at most every podsAgain (about 9 in the second) shared by
	// all, then one login each; unshared, every connection asks every
	// round (56 logins here).
	t.Logf("%d logins at the pod while %d connections waited 1s, %d in all", before, waiting, logins())
	if before > 20 {
		t.Errorf("%d logins at the pod while %d connections waited 1s: the rounds of asking the pods are not shared", before, waiting)
	}
}

// countingRelay forwards connections to target and counts them.
func countingRelay(t *testing.T, target string) (addr string, accepted func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go io.Copy(up, c)
				io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().String(), func() int { return int(n.Load()) }
}

// TestRoundsSayWhatHappened: the log's words for how a round failed, and
// the tally most frequent first.
func TestRoundsSayWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "refused"},
		{&pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is shutting down"}, "SQLSTATE 57P03"},
		{fmt.Errorf("failed to connect to `host=10.0.0.1`: %w", errors.New("read only connection")), "read-only"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "no answer"},
		{&net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, "unreachable"},
		{errors.New("tls: bad certificate"), "failed"},
		{nil, "none"},
	} {
		if got := outcome(tc.err); got != tc.want {
			t.Errorf("outcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	r := rounds{}
	for _, w := range []string{"refused", "Service slow", "refused", "read-only", "refused", "read-only"} {
		r.add(w)
	}
	if got, want := r.String(), "3 refused, 2 read-only, 1 Service slow"; got != want {
		t.Errorf("rounds = %q, want %q", got, want)
	}
	if got := (rounds{}).String(); got != "none failed" {
		t.Errorf("no rounds = %q", got)
	}
}

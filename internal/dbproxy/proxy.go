// Package dbproxy is harborha-dbproxy: a PostgreSQL session proxy that runs
// as a sidecar beside each Harbor process that opens a database pool, on
// the pod's loopback, so that a database switchover or crash costs Harbor
// no request it need not lose.
//
// Harbor (v2.15.1, pgx v4 through database/sql) retries no query: after a
// switchover every pooled connection fails once (57P01) and every new one
// fails until a primary takes writes again (measured on the real node:
// 5–11 failed requests per switchover, pulls among them). The proxy keeps
// Harbor's connections and replaces the server connection behind them:
//
//   - a new connection waits (up to Hold) until an upstream accepts it and
//     takes writes (target_session_attrs=read-write), instead of failing;
//   - a server connection lost while its client is idle outside a
//     transaction is reconnected, and the client's prepared statements are
//     prepared again on the new server: the client never sees it;
//   - a request in flight is sent again only when the server said it ended
//     the session before answering (FATAL 57P01/57P02: the statement did
//     not commit) and nothing of its answer had reached the client;
//   - everything else (a transaction open, a session-level setting or
//     lock, a connection cut mid-answer) ends the client's connection, as
//     losing the server would have without the proxy.
//
// One server connection per client connection: the pools' budget
// (max_connections) is unchanged.
package dbproxy

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgconn"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
)

// Config is the proxy's configuration; the sidecar reads it from its
// environment (ConfigFromEnv).
type Config struct {
	// Listen is where Harbor connects: the pod's loopback.
	Listen string
	// Upstreams are host:port of the database, tried in order; the first
	// that accepts a connection and takes writes serves it.
	Upstreams []string
	// Password authenticates every user upstream (Harbor's one role).
	Password string
	// SSLMode is libpq's sslmode for the upstream connections.
	SSLMode string
	// Pods are host:port naming every database pod (the cluster's
	// headless Service; a name resolves to each pod's address). When the
	// Upstreams reach a server that does not take writes, or are slow to
	// answer, every pod is asked at once and the one that takes writes
	// serves, if exactly one does: the Service's route reaches a new
	// primary only once kube-proxy has rewritten its rules (about a
	// second after the role label moved), the pods' addresses the moment
	// it is promoted. Two pods that take writes leave the choice to the
	// Service, and so does a Service that refuses (noPrimary).
	Pods []string
	// Hold is how long a client waits for a primary before it is told
	// none is there.
	Hold time.Duration
	// Log gets a line per server connection lost and what became of it.
	Log *log.Logger
}

// DefaultHold is used when DBPROXY_HOLD does not say: longer than any
// switchover measured (about 2 s), shorter than Harbor's HTTP timeouts.
const DefaultHold = 30 * time.Second

// ConfigFromEnv reads the configuration; an error names the variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Listen: getenv(contract.EnvListen), Password: getenv(contract.EnvPassword), SSLMode: getenv(contract.EnvSSLMode), Hold: DefaultHold}
	if c.Listen == "" {
		c.Listen = contract.Listen
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return c, fmt.Errorf("%s %q is not host:port", contract.EnvListen, c.Listen)
	}
	var err error
	if c.Upstreams, err = hostPorts(getenv(contract.EnvUpstream), contract.EnvUpstream); err != nil {
		return c, err
	}
	if c.Pods, err = hostPorts(getenv(contract.EnvPods), contract.EnvPods); err != nil {
		return c, err
	}
	if len(c.Upstreams) == 0 {
		return c, fmt.Errorf("%s is not set: give the database's host:port", contract.EnvUpstream)
	}
	if c.Password == "" {
		return c, fmt.Errorf("%s is not set: give the database password (a Secret reference)", contract.EnvPassword)
	}
	switch c.SSLMode {
	case "":
		c.SSLMode = "disable"
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return c, fmt.Errorf("%s %q is not an sslmode (disable, allow, prefer, require, verify-ca, verify-full)", contract.EnvSSLMode, c.SSLMode)
	}
	if v := getenv(contract.EnvHold); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, fmt.Errorf("%s %q is not a positive duration (e.g. 30s)", contract.EnvHold, v)
		}
		c.Hold = d
	}
	return c, nil
}

// hostPorts reads a comma-separated list of host:port.
func hostPorts(list, name string) ([]string, error) {
	var out []string
	for _, u := range strings.Split(list, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("%s: %q is not host:port", name, u)
		}
		out = append(out, u)
	}
	return out, nil
}

// Proxy serves client connections.
type Proxy struct {
	cfg Config

	mu       sync.Mutex
	sessions map[uint64]*session // by the cancel key handed to the client
	saidAt   time.Time           // of the last line firstInASecond allowed
}

// firstInASecond tells whether a line every waiting client would write
// each round is the first in a second: one line says it.
func (p *Proxy) firstInASecond() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.saidAt) < time.Second {
		return false
	}
	p.saidAt = time.Now()
	return true
}

// New returns a proxy for cfg (from ConfigFromEnv, or a test's).
func New(cfg Config) *Proxy {
	if cfg.Log == nil {
		cfg.Log = log.New(io.Discard, "", 0)
	}
	if cfg.Hold <= 0 {
		cfg.Hold = DefaultHold
	}
	return &Proxy{cfg: cfg, sessions: map[uint64]*session{}}
}

// Serve accepts connections on l until ctx is done.
func (p *Proxy) Serve(ctx context.Context, l net.Listener) error {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.serveConn(ctx, c)
		}()
	}
}

// serveConn reads a client's startup and runs its session.
func (p *Proxy) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	for {
		st, err := readStartup(r)
		if err != nil {
			p.cfg.Log.Printf("client %s: %v", c.RemoteAddr(), err)
			return
		}
		switch st.code {
		case sslRequestCode, gssEncCode:
			// Loopback only: no encryption to offer; libpq and pgx go on in
			// plain text unless told to require it.
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		case cancelCode:
			p.cancel(st.pid, st.secret)
			return
		}
		s := p.newSession(c, r, w, st.params)
		defer p.drop(s)
		s.run(ctx)
		return
	}
}

func (p *Proxy) newSession(c net.Conn, r *bufio.Reader, w *bufio.Writer, params map[string]string) *session {
	s := &session{p: p, client: c, cr: r, cw: w, params: params, prepared: map[string]frame{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		s.key = binary.BigEndian.Uint64(b[:])
		if _, taken := p.sessions[s.key]; !taken {
			p.sessions[s.key] = s
			return s
		}
	}
}

func (p *Proxy) drop(s *session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sessions, s.key)
}

// cancel passes a client's cancel request to the server its session is on.
func (p *Proxy) cancel(pid, secret uint32) {
	p.mu.Lock()
	s := p.sessions[uint64(pid)<<32|uint64(secret)]
	p.mu.Unlock()
	if s == nil {
		return
	}
	addr, spid, ssecret, ok := s.serverKey()
	if !ok {
		return
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	c.Write(cancelPacket(spid, ssecret))
}

// upstream is a server connection, authenticated and taking writes.
type upstream struct {
	addr        string
	conn        net.Conn
	r           *bufio.Reader
	w           *bufio.Writer
	pid, secret uint32
	params      map[string]string
}

// connect opens a server connection for user on database, trying every
// upstream in turn until one takes writes or Hold has passed. An error the
// database gives for the credentials or the database itself ends it once
// it has lasted finalGrace: a server changing roles may say so for a
// moment (its pg_hba.conf or roles being rewritten), a wrong password says
// so for good.
func (p *Proxy) connect(ctx context.Context, user, database string, params map[string]string) (*upstream, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Hold)
	defer cancel()
	var finalSince time.Time
	for {
		up, err := p.connectOnce(ctx, user, database, params)
		if err == nil {
			return up, nil
		}
		if final(err) {
			if finalSince.IsZero() {
				finalSince = time.Now()
				p.cfg.Log.Printf("%v; trying again for %s", err, finalGrace)
			}
			if time.Since(finalSince) >= finalGrace {
				return nil, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no PostgreSQL primary took writes within %s at %s: %w", p.cfg.Hold, strings.Join(p.cfg.Upstreams, ", "), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// serviceWait is how long the Upstreams have to answer before the pods
// are asked too: a login through the Service takes milliseconds, while
// a route kube-proxy has not yet rewritten may lead to a deleted pod's
// address, where a connection hangs until its timeout.
const serviceWait = 250 * time.Millisecond

// podWait bounds one round of asking every pod.
const podWait = time.Second

// connectOnce is one round: the Upstreams (the primary Service), and the
// pods themselves when the Service's route fails or is slow.
func (p *Proxy) connectOnce(ctx context.Context, user, database string, params map[string]string) (*upstream, error) {
	if len(p.cfg.Pods) == 0 {
		return p.viaUpstreams(ctx, user, database, params)
	}
	type answer struct {
		up  *upstream
		err error
	}
	service := make(chan answer, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		up, err := p.viaUpstreams(sctx, user, database, params)
		service <- answer{up, err}
	}()
	select {
	case a := <-service:
		if a.err == nil || noPrimary(a.err) {
			return a.up, a.err
		}
		if up := p.viaPods(ctx, user, database, params); up != nil {
			return up, nil
		}
		return nil, a.err
	case <-time.After(serviceWait):
	}
	up := p.viaPods(ctx, user, database, params)
	if up == nil {
		a := <-service
		return a.up, a.err
	}
	cancel()
	go func() {
		if a := <-service; a.up != nil {
			a.up.close()
		}
	}()
	return up, nil
}

// noPrimary tells a connection the Service refused: kube-proxy refuses
// one to a Service without endpoints, which is the orchestrator saying no
// pod is the primary right now (a crashed primary gone, its successor not
// yet labelled). The pods are not asked then: a deleted primary can still
// run, take writes and be listed by DNS for its TTL, and a write it took
// would be lost with it.
func noPrimary(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// viaUpstreams tries every upstream in turn; the first that takes writes
// serves.
func (p *Proxy) viaUpstreams(ctx context.Context, user, database string, params map[string]string) (*upstream, error) {
	var last error
	for _, addr := range p.cfg.Upstreams {
		up, err := p.connectTo(ctx, addr, user, database, params)
		if err == nil {
			return up, nil
		}
		last = err
	}
	return nil, last
}

// viaPods asks every pod at once (up to podWait) and returns the
// connection to the one that takes writes, when exactly one does.
func (p *Proxy) viaPods(ctx context.Context, user, database string, params map[string]string) *upstream {
	ctx, cancel := context.WithTimeout(ctx, podWait)
	defer cancel()
	addrs := p.podAddrs(ctx)
	answers := make(chan *upstream, len(addrs))
	for _, addr := range addrs {
		go func() {
			up, _ := p.connectTo(ctx, addr, user, database, params)
			answers <- up
		}()
	}
	var writable []*upstream
	for range addrs {
		if up := <-answers; up != nil {
			writable = append(writable, up)
		}
	}
	if len(writable) == 1 {
		return writable[0]
	}
	var at []string
	for _, up := range writable {
		at = append(at, up.addr)
		up.close()
	}
	if len(at) > 1 && p.firstInASecond() {
		sort.Strings(at)
		p.cfg.Log.Printf("%d database pods take writes (%s): following the Service alone", len(at), strings.Join(at, ", "))
	}
	return nil
}

// podAddrs resolves Pods to every pod's host:port, each once.
func (p *Proxy) podAddrs(ctx context.Context) []string {
	seen := map[string]bool{}
	var out []string
	for _, hp := range p.cfg.Pods {
		host, port, _ := net.SplitHostPort(hp)
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if addr := net.JoinHostPort(ip, port); !seen[addr] {
				seen[addr] = true
				out = append(out, addr)
			}
		}
	}
	return out
}

// finalGrace is how long an error that waiting should not mend is tried
// again before the client is told.
const finalGrace = 3 * time.Second

// final tells errors that retrying should not mend: credentials refused,
// no such database or role, a bad parameter.
func final(err error) bool {
	pe := asPgError(err)
	if pe == nil || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "28", "3D", "42", "22":
		return true
	}
	return false
}

func (p *Proxy) connectTo(ctx context.Context, addr, user, database string, params map[string]string) (*upstream, error) {
	host, port, _ := net.SplitHostPort(addr)
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("host=%s port=%s sslmode=%s", host, port, p.cfg.SSLMode))
	if err != nil {
		return nil, err
	}
	cfg.User, cfg.Database, cfg.Password = user, database, p.cfg.Password
	cfg.RuntimeParams = map[string]string{}
	for k, v := range params {
		if k != "user" && k != "database" && k != "replication" {
			cfg.RuntimeParams[k] = v
		}
	}
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}}
	cfg.DialFunc = dialer.DialContext
	cfg.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	attempt, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	pc, err := pgconn.ConnectConfig(attempt, cfg)
	if err != nil {
		return nil, err
	}
	h, err := pc.Hijack()
	if err != nil {
		pc.Close(context.Background())
		return nil, err
	}
	return &upstream{addr: addr, conn: h.Conn, r: bufio.NewReader(h.Conn), w: bufio.NewWriter(h.Conn),
		pid: h.PID, secret: h.SecretKey, params: h.ParameterStatuses}, nil
}

// close ends a server connection politely (Terminate), so the server
// logs no lost client.
func (u *upstream) close() {
	u.conn.SetWriteDeadline(time.Now().Add(time.Second))
	u.conn.Write([]byte{'X', 0, 0, 0, 4})
	u.conn.Close()
}

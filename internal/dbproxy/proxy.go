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
	// it is promoted. After a crash the route may even lead for seconds
	// to the deleted pod (kube-proxy keeps a terminating endpoint that
	// was serving while no other is ready), where the connection is
	// refused, told the server is shutting down, or unanswered. Two pods
	// that take writes leave the choice to the Service.
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

// hostPorts reads the list in variable name.
func hostPorts(list, name string) ([]string, error) {
	out, err := contract.HostPorts(list)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Proxy serves client connections.
type Proxy struct {
	cfg Config

	mu        sync.Mutex
	sessions  map[uint64]*session  // by the cancel key handed to the client
	saidAt    time.Time            // of the last line firstInASecond allowed
	podRounds map[string]*podRound // the last, by user and database
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
	return &Proxy{cfg: cfg, sessions: map[uint64]*session{}, podRounds: map[string]*podRound{}}
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
// so for good. The rounds say how each failed round ended, for the line
// that tells how long a client waited.
func (p *Proxy) connect(ctx context.Context, user, database string, params map[string]string) (*upstream, rounds, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Hold)
	defer cancel()
	r := rounds{}
	var finalSince time.Time
	for {
		up, err := p.connectOnce(ctx, r, user, database, params)
		if err == nil {
			return up, r, nil
		}
		r.add(outcome(err))
		if final(err) {
			if finalSince.IsZero() {
				finalSince = time.Now()
				if p.firstInASecond() {
					p.cfg.Log.Printf("%v; trying again for %s", err, finalGrace)
				}
			}
			if time.Since(finalSince) >= finalGrace {
				return nil, r, err
			}
		}
		select {
		case <-ctx.Done():
			return nil, r, fmt.Errorf("no PostgreSQL primary took writes within %s at %s: %w", p.cfg.Hold, strings.Join(p.cfg.Upstreams, ", "), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// rounds counts how connect's rounds went, by what happened.
type rounds map[string]int

func (r rounds) add(what string) { r[what]++ }

// String is "3 refused, 1 read-only", most frequent first.
func (r rounds) String() string {
	if len(r) == 0 {
		return "none failed"
	}
	whats := make([]string, 0, len(r))
	for w := range r {
		whats = append(whats, w)
	}
	sort.Slice(whats, func(i, j int) bool {
		if r[whats[i]] != r[whats[j]] {
			return r[whats[i]] > r[whats[j]]
		}
		return whats[i] < whats[j]
	})
	for i, w := range whats {
		whats[i] = fmt.Sprintf("%d %s", r[w], w)
	}
	return strings.Join(whats, ", ")
}

// outcome names how a round failed, in the words of the log.
func outcome(err error) string {
	if err == nil {
		return "none"
	}
	var ne net.Error
	switch pe := asPgError(err); {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case pe != nil:
		return "SQLSTATE " + pe.Code
	case strings.Contains(err.Error(), "read only connection"): // pgconn's words for target_session_attrs
		return "read-only"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable"
	}
	return "failed"
}

// serviceWait is how long the Upstreams have to answer before the pods
// are asked too: a login through the Service takes milliseconds, while
// a route kube-proxy has not yet rewritten may lead to a deleted pod's
// address, where a connection hangs until its timeout.
const serviceWait = 250 * time.Millisecond

// podWait bounds one round of asking every pod.
const podWait = time.Second

// podGrace is how long the other pods have to answer once a server has:
// a live server answers a login in milliseconds, while the address of a
// pod deleted a moment ago (still in DNS) may not answer at all, and would
// hold every round for podWait.
const podGrace = 150 * time.Millisecond

// podsAgain is the pause between rounds of asking the pods while the
// Service's attempt lasts.
const podsAgain = 100 * time.Millisecond

// connectOnce is one round: the Upstreams (the primary Service), and the
// pods themselves when the Service's route fails or is slow.
func (p *Proxy) connectOnce(ctx context.Context, r rounds, user, database string, params map[string]string) (*upstream, error) {
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
		if a.err == nil {
			return a.up, nil
		}
		if up := p.viaPods(ctx, r, user, database, params); up != nil {
			r.add(outcome(a.err))
			return up, nil
		}
		return nil, a.err
	case <-time.After(serviceWait):
		r.add("Service slow")
	}
	// The pods are asked again while the Service's attempt lasts: a
	// standby promoted meanwhile serves at once, not when the attempt
	// ends (up to its 3 s timeout on a route that drops connections).
	up := p.viaPods(ctx, r, user, database, params)
	for up == nil {
		select {
		case a := <-service:
			return a.up, a.err
		case <-time.After(podsAgain):
		}
		up = p.viaPods(ctx, r, user, database, params)
	}
	cancel()
	go func() {
		if a := <-service; a.up != nil {
			a.up.close()
		}
	}()
	return up, nil
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

// viaPods returns a connection to the one pod that takes writes, when
// exactly one does, as the current round of asking the pods says.
func (p *Proxy) viaPods(ctx context.Context, r rounds, user, database string, params map[string]string) *upstream {
	round := p.podRound(user, database, params)
	select {
	case <-round.done:
	case <-ctx.Done():
		return nil
	}
	if round.addr == "" {
		r.add(round.none)
		return nil
	}
	up, err := p.connectTo(ctx, round.addr, user, database, params)
	if err != nil {
		r.add("the writable pod " + outcome(err))
		return nil
	}
	return up
}

// podRound is one round of asking every pod, shared by the sessions of a
// user and database that wait meanwhile: a failover with a hundred
// connections waiting would otherwise have each of them log in to every
// pod several times a second, on a new primary that is just starting.
type podRound struct {
	done  chan struct{} // closed when the round is over
	ended time.Time
	addr  string // the one pod that took writes; "" for none
	none  string // why none: "pods asked, 0 of 2 writable"
}

// podRound returns the round in flight for user and database, or the
// last one if it ended less than podsAgain ago, or starts a new one.
func (p *Proxy) podRound(user, database string, params map[string]string) *podRound {
	key := user + "\x00" + database
	p.mu.Lock()
	defer p.mu.Unlock()
	if last := p.podRounds[key]; last != nil {
		select {
		case <-last.done:
			if time.Since(last.ended) < podsAgain {
				return last
			}
		default:
			return last
		}
	}
	round := &podRound{done: make(chan struct{})}
	p.podRounds[key] = round
	go p.askPods(round, user, database, params)
	return round
}

// askPods asks every pod at once (up to podWait) whether it takes writes:
// the round's own connections, closed once it is over.
func (p *Proxy) askPods(round *podRound, user, database string, params map[string]string) {
	ctx, cancel := context.WithTimeout(context.Background(), podWait)
	defer cancel()
	addrs := p.podAddrs(ctx)
	answers := make(chan podAnswer, len(addrs))
	for _, addr := range addrs {
		go func() {
			up, err := p.connectTo(ctx, addr, user, database, params)
			answers <- podAnswer{up, err}
		}()
	}
	var writable []string
	var grace <-chan time.Time
	for pending := len(addrs); pending > 0; {
		select {
		case a := <-answers:
			pending--
			if a.up != nil {
				writable = append(writable, a.up.addr)
				a.up.close()
			}
			if grace == nil && a.live() {
				grace = time.After(podGrace)
			}
		case <-grace:
			cancel()
			go closeAll(answers, pending)
			pending = 0
		}
	}
	if len(writable) == 1 {
		round.addr = writable[0]
	} else {
		round.none = fmt.Sprintf("pods asked, %d of %d writable", len(writable), len(addrs))
	}
	if len(writable) > 1 && p.firstInASecond() {
		sort.Strings(writable)
		p.cfg.Log.Printf("%d database pods take writes (%s): following the Service alone", len(writable), strings.Join(writable, ", "))
	}
	p.mu.Lock()
	round.ended = time.Now()
	p.mu.Unlock()
	close(round.done)
}

// podAnswer is how asking one pod went.
type podAnswer struct {
	up  *upstream
	err error
}

// live tells a server answered: it took writes, or logged the proxy in
// read-only, or said an error of its own.
func (a podAnswer) live() bool {
	return a.up != nil || asPgError(a.err) != nil || outcome(a.err) == "read-only"
}

// closeAll closes the server connections of the n answers still to come.
func closeAll(answers <-chan podAnswer, n int) {
	for range n {
		if a := <-answers; a.up != nil {
			a.up.close()
		}
	}
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
	cfg.DialFunc = dial
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

// synWait is how long a connection's first SYN has to be answered before
// a new connection is tried (each time twice as long). The kernel sends
// its own again only after 1 s, then 2 s: a SYN left unanswered while
// kube-proxy's rules still lead to a pod that is gone (they are rewritten
// at most once a second) would cost a second each time. A server in the cluster
// answers a SYN in a millisecond; one far away still gets through on a
// later try.
const synWait = 250 * time.Millisecond

// dial connects to addr with keepalives that tell a vanished server
// within seconds, trying a new connection after synWait, 2×synWait, ...
// until ctx ends.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	for wait := synWait; ; wait *= 2 {
		d := net.Dialer{Timeout: wait, KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3}}
		c, err := d.DialContext(ctx, network, addr)
		var ne net.Error
		if err == nil || ctx.Err() != nil || !errors.As(err, &ne) || !ne.Timeout() {
			return c, err
		}
	}
}

// close ends a server connection politely (Terminate), so the server
// logs no lost client.
func (u *upstream) close() {
	u.conn.SetWriteDeadline(time.Now().Add(time.Second))
	u.conn.Write([]byte{'X', 0, 0, 0, 4})
	u.conn.Close()
}

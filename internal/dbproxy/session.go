package dbproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgconn"
)

// maxHeld is how much of an answer the proxy keeps back until it is
// complete: within it, a request in flight can be sent again to a new
// server without the client seeing twice; a bigger answer goes through as
// it comes and its request is not sent again.
const maxHeld = 1 << 20

// session is one client connection and the server connection behind it.
// One goroutine (run) owns all of its state; two readers feed it.
type session struct {
	p      *Proxy
	client net.Conn
	cr     *bufio.Reader
	cw     *bufio.Writer
	params map[string]string
	key    uint64

	mu     sync.Mutex // guards server for cancel requests
	server *upstream
	gen    int

	// requests are the client's messages the server has not finished
	// answering, each ending with the message that asks for a
	// ReadyForQuery (Sync, Query, FunctionCall); the last may be open.
	requests [][]frame
	// held is the answer so far to the first request, kept back; passed
	// tells that some of it already went to the client.
	held     []frame
	heldSize int
	passed   bool
	// status is the transaction status of the last ReadyForQuery.
	status byte
	// fatal is the FATAL error the server sent before it went, if any.
	fatal serverError
	// pinned tells that the session holds server state the proxy cannot
	// rebuild (a SET, a session lock, LISTEN, a cursor, temporary tables).
	pinned bool
	// prepared are the named statements the server has, by name, in the
	// order they were prepared.
	prepared map[string]frame
	order    []string
}

type clientMsg struct {
	f   frame
	err error
}

type serverMsg struct {
	gen int
	f   frame
	err error
}

func (s *session) serverKey() (addr string, pid, secret uint32, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server == nil {
		return "", 0, 0, false
	}
	return s.server.addr, s.server.pid, s.server.secret, true
}

func (s *session) setServer(up *upstream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.server != nil {
		s.server.conn.Close()
	}
	s.server = up
	s.gen++
}

func (s *session) run(ctx context.Context) {
	user, database := s.params["user"], s.params["database"]
	if database == "" {
		database = user
	}
	s.params["user"], s.params["database"] = user, database
	start := time.Now()
	up, r, err := s.p.connect(ctx, user, database, s.params)
	if err != nil {
		s.p.cfg.Log.Printf("session %016x: no server for the client (rounds: %v): %v", s.key, r, err)
		s.refuse(err)
		return
	}
	if len(r) > 0 {
		s.p.cfg.Log.Printf("session %016x: new; on %s after %.2f s (rounds: %v)", s.key, up.addr, time.Since(start).Seconds(), r)
	}
	s.setServer(up)
	defer func() { s.setServer(nil) }()
	s.status = 'I'
	for _, f := range handshake(up.params, uint32(s.key>>32), uint32(s.key)) {
		writeFrame(s.cw, f)
	}
	if s.cw.Flush() != nil {
		return
	}

	done := make(chan struct{})
	defer close(done)
	fromClient := make(chan clientMsg, 64)
	fromServer := make(chan serverMsg, 64)
	go func() {
		for {
			f, err := readFrame(s.cr)
			select {
			case fromClient <- clientMsg{f, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	s.readServer(up, fromServer, done)

	for {
		// What is written waits in the buffers while more is queued to
		// follow it, and goes out before the loop waits: whichever message
		// was the last (an answer's ReadyForQuery, or a FATAL after it, or
		// a former server's leftovers), nothing is left behind.
		if s.cw.Buffered() > 0 && len(fromServer) == 0 && s.cw.Flush() != nil {
			return
		}
		if s.server.w.Buffered() > 0 && len(fromClient) == 0 && s.server.w.Flush() != nil {
			halfClose(s.server.conn)
		}
		select {
		case <-ctx.Done():
			return
		case m := <-fromClient:
			if m.err != nil {
				return
			}
			if m.f.typ == 'X' {
				writeFrame(s.server.w, m.f)
				s.server.w.Flush()
				return
			}
			if !s.fromClient(m.f) {
				// The server's reader ends with its last words (a FATAL
				// saying why, then the close): serverLost runs then.
				halfClose(s.server.conn)
			}
		case m := <-fromServer:
			if m.gen != s.gen {
				continue // a former server's last words
			}
			if m.err == nil {
				if s.fromServer(m.f) {
					continue
				}
				return // the client is gone
			}
			if !s.serverLost(ctx, fromServer, done) {
				return
			}
		}
	}
}

// readServer feeds a server connection's messages, tagged with its
// generation, until it ends.
func (s *session) readServer(up *upstream, out chan<- serverMsg, done <-chan struct{}) {
	gen := s.gen
	go func() {
		for {
			f, err := readFrame(up.r)
			select {
			case out <- serverMsg{gen, f, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
}

// fromClient passes a client message on; false when the server is gone.
func (s *session) fromClient(f frame) bool {
	if len(s.requests) == 0 || endsRequest(last(s.requests)) {
		s.requests = append(s.requests, nil)
	}
	s.requests[len(s.requests)-1] = append(s.requests[len(s.requests)-1], f)
	switch f.typ {
	case 'Q':
		s.pinned = s.pinned || pins(cstrings(f.body, 1))
	case 'P':
		if q := cstrings(f.body, 2); len(q) == 2 {
			s.pinned = s.pinned || pins(q[1:])
		}
	case 'H':
		// Flush: the client waits for what the server has answered so far
		// without a ReadyForQuery, so nothing can be kept back.
		s.release()
	}
	return writeFrame(s.server.w, f) == nil
}

// fromServer passes a server message on, or keeps it back while its
// request may still be sent again; false when the client is gone.
func (s *session) fromServer(f frame) bool {
	switch {
	case f.typ == 'E' && parseError(f.body).fatal():
		// The server is ending the session: what comes next is its close.
		s.fatal = parseError(f.body)
		if len(s.requests) == 0 {
			return true
		}
		s.hold(f)
	case len(s.requests) == 0 || !endsRequest(s.requests[0]):
		// Between requests (a notice, a parameter's new value) or an answer
		// to a Flush: straight through.
		s.passed = s.passed || len(s.requests) > 0
		if writeFrame(s.cw, f) != nil {
			return false
		}
	case f.typ == 'G' || f.typ == 'H' || f.typ == 'W':
		// COPY: the client answers before any ReadyForQuery.
		s.hold(f)
		s.release()
	case f.typ == 'Z':
		s.hold(f)
		s.status = f.body[0]
		s.complete()
	default:
		s.hold(f)
		if s.heldSize > maxHeld {
			s.release()
		}
	}
	return true
}

func (s *session) hold(f frame) {
	s.held = append(s.held, f)
	s.heldSize += f.size()
}

// release passes what is held to the client: the request in flight can
// no longer be sent again.
func (s *session) release() {
	for _, f := range s.held {
		writeFrame(s.cw, f)
	}
	s.passed = s.passed || len(s.held) > 0
	s.held, s.heldSize = nil, 0
}

// complete ends the first request: its answer goes to the client, and the
// statements it prepared or closed are now the server's.
func (s *session) complete() {
	parsed, closed := 0, 0
	for _, f := range s.held {
		switch f.typ {
		case '1':
			parsed++
		case '3':
			closed++
		}
	}
	for _, f := range s.requests[0] {
		switch {
		case f.typ == 'P' && parsed > 0:
			parsed--
			if name := cstrings(f.body, 1); len(name) == 1 && name[0] != "" {
				if _, ok := s.prepared[name[0]]; !ok {
					s.order = append(s.order, name[0])
				}
				s.prepared[name[0]] = f
			}
		case f.typ == 'C' && closed > 0:
			closed--
			if len(f.body) > 1 && f.body[0] == 'S' {
				if name := cstrings(f.body[1:], 1); len(name) == 1 {
					delete(s.prepared, name[0])
				}
			}
		}
	}
	s.release()
	s.passed = false
	s.requests = s.requests[1:]
}

// serverLost handles the end of the server connection: a new one takes
// its place when the client cannot tell; otherwise the client's connection
// ends too (false).
func (s *session) serverLost(ctx context.Context, fromServer chan serverMsg, done chan struct{}) bool {
	lost, fatal := s.server.addr, s.fatal
	inFlight := 0
	for _, r := range s.requests {
		if endsRequest(r) {
			inFlight++
		}
	}
	why := "the connection ended"
	if fatal.code != "" {
		why = fatal.code + " " + fatal.message
	}
	reason := ""
	switch {
	case s.pinned:
		reason = "the session holds server state (SET, a lock, LISTEN, a cursor)"
	case s.status != 'I':
		reason = "a transaction was open"
	case s.passed:
		reason = "part of an answer had reached the client"
	case inFlight > 0 && fatal.code != "57P01" && fatal.code != "57P02":
		reason = "a request was in flight and the server did not say it was cancelled"
	}
	if reason != "" {
		s.p.cfg.Log.Printf("session %016x: %s lost (%s); client connection closed: %s", s.key, lost, why, reason)
		told := heldError(s.held)
		s.release()
		if fatal.code != "" && !told {
			writeFrame(s.cw, errorFrame(fatal.code, fatal.message))
		}
		s.cw.Flush()
		return false
	}
	start := time.Now()
	up, r, err := s.p.connect(ctx, s.params["user"], s.params["database"], s.params)
	if err != nil {
		s.p.cfg.Log.Printf("session %016x: %s lost (%s); rounds: %v; %v", s.key, lost, why, r, err)
		s.refuse(err)
		return false
	}
	if err := s.prepareAgain(up); err != nil {
		s.p.cfg.Log.Printf("session %016x: preparing statements again on %s: %v", s.key, up.addr, err)
		up.conn.Close()
		return false
	}
	s.setServer(up)
	s.fatal, s.held, s.heldSize = serverError{}, nil, 0
	for _, r := range s.requests {
		for _, f := range r {
			writeFrame(up.w, f)
		}
	}
	if up.w.Flush() != nil {
		return false
	}
	s.readServer(up, fromServer, done)
	s.p.cfg.Log.Printf("session %016x: %s lost (%s); on %s after %.2f s (rounds: %v), %d statement(s) prepared again, %d request(s) sent again",
		s.key, lost, why, up.addr, time.Since(start).Seconds(), r, len(s.order), inFlight)
	return true
}

// heldError tells that the answer held has an error in it.
func heldError(held []frame) bool {
	for _, f := range held {
		if f.typ == 'E' {
			return true
		}
	}
	return false
}

// prepareAgain prepares the session's named statements on a new server,
// each with its own Sync so that one failing does not skip the others; a
// statement that fails is forgotten (the client will hear of it when it
// uses it).
func (s *session) prepareAgain(up *upstream) error {
	var order []string
	for _, name := range s.order {
		if f, ok := s.prepared[name]; ok {
			order = append(order, name)
			writeFrame(up.w, f)
			writeFrame(up.w, frame{typ: 'S'})
		}
	}
	s.order = order
	if len(order) == 0 {
		return nil
	}
	if err := up.w.Flush(); err != nil {
		return err
	}
	up.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer up.conn.SetReadDeadline(time.Time{})
	for i := 0; i < len(order); {
		f, err := readFrame(up.r)
		if err != nil {
			return err
		}
		switch f.typ {
		case 'E':
			e := parseError(f.body)
			s.p.cfg.Log.Printf("session %016x: statement %s not prepared again: %s %s", s.key, order[i], e.code, e.message)
			delete(s.prepared, order[i])
		case 'Z':
			i++
		}
	}
	kept := s.order[:0]
	for _, name := range s.order {
		if _, ok := s.prepared[name]; ok {
			kept = append(kept, name)
		}
	}
	s.order = kept
	return nil
}

// refuse tells the client why no server takes its connection.
func (s *session) refuse(err error) {
	code := "08006"
	if fe := asPgError(err); fe != nil {
		code = fe.Code
	}
	writeFrame(s.cw, errorFrame(code, "harborha-dbproxy: "+err.Error()))
	s.cw.Flush()
}

// endsRequest tells a request complete: its last message asks for a
// ReadyForQuery.
func endsRequest(r []frame) bool {
	if len(r) == 0 {
		return false
	}
	switch r[len(r)-1].typ {
	case 'S', 'Q', 'F':
		return true
	}
	return false
}

func last(r [][]frame) []frame { return r[len(r)-1] }

// pins tells statements that leave state in the server session which a
// new connection would not have: the proxy then never replaces it.
func pins(queries []string) bool {
	for _, q := range queries {
		q = strings.ToLower(strings.TrimSpace(q))
		for _, p := range []string{"set ", "reset ", "listen", "declare", "prepare ", "create temp", "lock ", "load "} {
			if strings.HasPrefix(q, p) {
				return true
			}
		}
		if strings.Contains(q, "advisory_lock") || strings.Contains(q, "set_config") {
			return true
		}
	}
	return false
}

// halfClose ends what the proxy sends a server, so that its reader still
// gets what the server said before it went.
func halfClose(c net.Conn) {
	if hc, ok := c.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
		return
	}
	c.Close()
}

func asPgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

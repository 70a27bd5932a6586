package dbproxy

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgproto3/v2"
)

// A scripted server plays what a real one does too rarely to be caught in
// a test: the proxy must get each message order right, not only the ones
// a real server happens to send under a test's load.

// scriptServer accepts connections on a loopback port; each gets a trust
// login (and pgconn's read-write check answered "off"), then answer runs
// with the connection's number (0, 1, ...) on the client's queries.
func scriptServer(t *testing.T, answer func(n int, c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(n int) {
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := readStartup(r); err != nil {
					return
				}
				send(c, &pgproto3.AuthenticationOk{}, &pgproto3.BackendKeyData{ProcessID: uint32(n + 1), SecretKey: 7}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
				// pgconn's check, by the extended protocol: Parse, Bind,
				// Describe, Execute, Sync.
				for {
					f, err := readFrame(r)
					if err != nil {
						return
					}
					if f.typ == 'S' {
						break
					}
				}
				send(c, append([]pgproto3.BackendMessage{&pgproto3.ParseComplete{}, &pgproto3.BindComplete{}}, rowMsgs("transaction_read_only", "off")...)...)
				answer(n, c, r)
			}(n)
		}
	}()
	return l.Addr().String()
}

func send(c net.Conn, msgs ...pgproto3.BackendMessage) {
	var b []byte
	for _, m := range msgs {
		b, _ = m.Encode(b)
	}
	c.Write(b)
}

// rowMsgs are a one-column, one-row answer to a simple query.
func rowMsgs(column, value string) []pgproto3.BackendMessage {
	return []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte(column), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte(value)}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
}

func scriptProxy(t *testing.T, upstream string) (string, *syncLog) {
	t.Helper()
	logs := &syncLog{t: t}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go New(Config{Upstreams: []string{upstream}, Password: "p", SSLMode: "disable", Hold: 5 * time.Second, Log: newLog(logs)}).Serve(ctx, l)
	return l.Addr().String(), logs
}

func query(t *testing.T, c *pgconn.PgConn, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Exec(ctx, sql).ReadAll()
	if err != nil {
		return "", err
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		return "", nil
	}
	return string(res[0].Rows[0][0]), nil
}

// TestAnswerThenFatal: the server answers a query in full and ends the
// session in the same breath (a fast shutdown right after a query). The
// answer reaches the client at once, not when something else happens to
// flush it, and the session goes on, on a new server connection.
func TestAnswerThenFatal(t *testing.T) {
	up := scriptServer(t, func(n int, c net.Conn, r *bufio.Reader) {
		for {
			f, err := readFrame(r)
			if err != nil || f.typ != 'Q' {
				return
			}
			msgs := rowMsgs("v", "server "+string(rune('0'+n)))
			if n == 0 {
				msgs = append(msgs, &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})
				send(c, msgs...)
				return
			}
			send(c, msgs...)
		}
	})
	addr, logs := scriptProxy(t, up)
	conn, err := pgconn.Connect(context.Background(), "postgres://harbor@"+addr+"/registry?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for i, want := range []string{"server 0", "server 1", "server 1"} {
		got, err := query(t, conn, "SELECT v")
		if err != nil || got != want {
			t.Fatalf("query %d: %q, %v; want %q", i, got, err, want)
		}
	}
	if logs.count("lost (57P01") != 1 {
		t.Errorf("the proxy did not log the session carried over once: %v", logs.lines)
	}
}

// TestFatalMidAnswerEndsClient: a session ended after part of an answer
// reached the client cannot be carried over: the client hears the
// server's FATAL and its connection ends.
func TestFatalMidAnswerEndsClient(t *testing.T) {
	big := strings.Repeat("x", maxHeld+1)
	up := scriptServer(t, func(n int, c net.Conn, r *bufio.Reader) {
		if f, err := readFrame(r); err != nil || f.typ != 'Q' {
			return
		}
		msgs := rowMsgs("v", big)
		send(c, append(msgs[:2], &pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"})...)
	})
	addr, logs := scriptProxy(t, up)
	conn, err := pgconn.Connect(context.Background(), "postgres://harbor@"+addr+"/registry?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := query(t, conn, "SELECT v"); err == nil || !strings.Contains(err.Error(), "57P01") {
		t.Fatalf("query cut mid-answer: %v, want the server's 57P01", err)
	}
	if logs.count("part of an answer had reached the client") != 1 {
		t.Errorf("the proxy did not log why it ended the client's connection: %v", logs.lines)
	}
}

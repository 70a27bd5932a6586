package bootstrap

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A minimal Redis client for the tests (RESP2 and the RESP3 types HELLO 3
// brings): enough to send Harbor's commands as a user and read the replies,
// without adding a Redis module to go.mod.

type respConn struct {
	c net.Conn
	r *bufio.Reader
}

// respError is an error reply ("NOPERM ...", "ERR ...").
type respError string

func (e respError) Error() string { return string(e) }

func dialRedis(t *testing.T, addr string) *respConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{c: c, r: bufio.NewReader(c)}
}

// login opens a connection authenticated as user.
func login(t *testing.T, addr, user, password string) *respConn {
	t.Helper()
	c := dialRedis(t, addr)
	if _, err := c.do("AUTH", user, password); err != nil {
		t.Fatalf("AUTH %s at %s: %v", user, addr, err)
	}
	return c
}

// do sends one command and reads its reply; an error reply is a respError.
func (c *respConn) do(args ...string) (any, error) {
	if err := c.send(args...); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *respConn) send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c.c, b.String())
	return err
}

func (c *respConn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+', '(', ',', '#':
		return body, nil
	case '-', '!':
		if line[0] == '!' { // RESP3 blob error
			b, err := c.bulk(body)
			if err != nil {
				return nil, err
			}
			return nil, respError(b.(string))
		}
		return nil, respError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '_':
		return nil, nil
	case '$', '=':
		return c.bulk(body)
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		if line[0] == '%' {
			n *= 2
		}
		items := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, err := c.read()
			if _, isErr := err.(respError); err != nil && !isErr {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

func (c *respConn) bulk(lenText string) (any, error) {
	n, err := strconv.Atoi(lenText)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, nil
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return string(buf[:n]), nil
}

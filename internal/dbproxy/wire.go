package dbproxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
)

// The PostgreSQL frontend/backend protocol, version 3.0, as far as the
// proxy reads it: frames are passed through as bytes, and only the few
// messages whose meaning decides a reconnection are decoded.
const (
	protocolVersion3 = 196608
	sslRequestCode   = 80877103
	gssEncCode       = 80877104
	cancelCode       = 80877102

	// maxFrame is PostgreSQL's own limit on a message (1 GiB).
	maxFrame = 1 << 30
	// maxStartup bounds a startup packet (PostgreSQL allows 10000 bytes).
	maxStartup = 10000
)

// frame is one message: its type byte and its body (length not included).
type frame struct {
	typ  byte
	body []byte
}

func (f frame) size() int { return 5 + len(f.body) }

func readFrame(r *bufio.Reader) (frame, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return frame{}, err
	}
	n := int(binary.BigEndian.Uint32(h[1:])) - 4
	if n < 0 || n > maxFrame {
		return frame{}, fmt.Errorf("message %q of %d bytes is out of the protocol's bounds", h[0], n)
	}
	// Grown as bytes come, not allocated at the length a peer claims.
	body, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return frame{}, err
	}
	if len(body) < n {
		return frame{}, io.ErrUnexpectedEOF
	}
	return frame{typ: h[0], body: body}, nil
}

func writeFrame(w *bufio.Writer, f frame) error {
	var h [5]byte
	h[0] = f.typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(f.body)+4))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(f.body)
	return err
}

// startup is the first packet of a connection: a protocol 3.0 startup
// message (params set), an SSL or GSS encryption request, or a cancel
// request (pid and secret set).
type startup struct {
	code        uint32
	params      map[string]string
	pid, secret uint32
}

func readStartup(r *bufio.Reader) (startup, error) {
	var h [8]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return startup{}, err
	}
	n := int(binary.BigEndian.Uint32(h[:4])) - 8
	if n < 0 || n > maxStartup {
		return startup{}, fmt.Errorf("startup packet of %d bytes is out of the protocol's bounds", n)
	}
	s := startup{code: binary.BigEndian.Uint32(h[4:])}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return startup{}, err
	}
	switch s.code {
	case cancelCode:
		if len(body) != 8 {
			return startup{}, errors.New("cancel request of the wrong length")
		}
		s.pid, s.secret = binary.BigEndian.Uint32(body[:4]), binary.BigEndian.Uint32(body[4:])
	case protocolVersion3:
		s.params = map[string]string{}
		rest := body
		for {
			i := bytes.IndexByte(rest, 0)
			if i < 0 {
				return startup{}, errors.New("startup message not terminated")
			}
			name := string(rest[:i])
			rest = rest[i+1:]
			if name == "" {
				break // the list's end
			}
			j := bytes.IndexByte(rest, 0)
			if j < 0 {
				return startup{}, fmt.Errorf("startup parameter %q has no value", name)
			}
			s.params[name] = string(rest[:j])
			rest = rest[j+1:]
		}
	case sslRequestCode, gssEncCode:
	default:
		return startup{}, fmt.Errorf("unsupported protocol %d.%d (the proxy speaks 3.0)", s.code>>16, s.code&0xffff)
	}
	return s, nil
}

// cancelPacket is a CancelRequest for a server's backend.
func cancelPacket(pid, secret uint32) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint32(b[0:], 16)
	binary.BigEndian.PutUint32(b[4:], cancelCode)
	binary.BigEndian.PutUint32(b[8:], pid)
	binary.BigEndian.PutUint32(b[12:], secret)
	return b
}

// handshake are the messages that end a client's startup: trust (the
// proxy listens on the pod's loopback only and authenticates upstream with
// its own password), the server's parameters in a stable order, the
// proxy's own key for cancel requests, and ready.
func handshake(params map[string]string, pid, secret uint32) []frame {
	out := []frame{{typ: 'R', body: []byte{0, 0, 0, 0}}}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		out = append(out, frame{typ: 'S', body: append(append(append([]byte(k), 0), params[k]...), 0)})
	}
	key := make([]byte, 8)
	binary.BigEndian.PutUint32(key, pid)
	binary.BigEndian.PutUint32(key[4:], secret)
	return append(out, frame{typ: 'K', body: key}, frame{typ: 'Z', body: []byte{'I'}})
}

// serverError is what an ErrorResponse says: its severity (not localized)
// and SQLSTATE code.
type serverError struct{ severity, code, message string }

func parseError(body []byte) serverError {
	var e serverError
	for len(body) > 1 {
		field := body[0]
		end := bytes.IndexByte(body[1:], 0)
		if end < 0 {
			break
		}
		v := string(body[1 : 1+end])
		switch field {
		case 'V':
			e.severity = v
		case 'S':
			if e.severity == "" {
				e.severity = v
			}
		case 'C':
			e.code = v
		case 'M':
			e.message = v
		}
		body = body[2+end:]
	}
	return e
}

func (e serverError) fatal() bool { return e.severity == "FATAL" || e.severity == "PANIC" }

// errorFrame is an ErrorResponse the proxy itself sends.
func errorFrame(code, message string) frame {
	var b []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', code}, {'M', message}} {
		b = append(append(append(b, f.k), f.v...), 0)
	}
	return frame{typ: 'E', body: append(b, 0)}
}

// cstrings are the first n zero-terminated strings of a body.
func cstrings(body []byte, n int) []string {
	var out []string
	for len(out) < n {
		end := bytes.IndexByte(body, 0)
		if end < 0 {
			break
		}
		out = append(out, string(body[:end]))
		body = body[end+1:]
	}
	return out
}

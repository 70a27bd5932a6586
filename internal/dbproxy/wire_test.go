package dbproxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/dbproxy/contract"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{contract.EnvUpstream: "pg-postgresql:5432", contract.EnvPassword: "p"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{name: "defaults", env: base, want: Config{Listen: contract.Listen, Upstreams: []string{"pg-postgresql:5432"}, Password: "p", SSLMode: "disable", Hold: DefaultHold}},
		{name: "a list and settings", env: with(contract.EnvUpstream, "a:5432, b:5433", contract.EnvListen, "127.0.0.1:7000", contract.EnvSSLMode, "require", contract.EnvHold, "5s"),
			want: Config{Listen: "127.0.0.1:7000", Upstreams: []string{"a:5432", "b:5433"}, Password: "p", SSLMode: "require", Hold: 5 * time.Second}},
		{name: "the pods", env: with(contract.EnvPods, "pg-postgresql-headless.harbor.svc:5432"),
			want: Config{Listen: contract.Listen, Upstreams: []string{"pg-postgresql:5432"}, Pods: []string{"pg-postgresql-headless.harbor.svc:5432"}, Password: "p", SSLMode: "disable", Hold: DefaultHold}},
		{name: "pods without port", env: with(contract.EnvPods, "pg-postgresql-headless"), wantErr: `DBPROXY_PODS: "pg-postgresql-headless" is not host:port`},
		{name: "no upstream", env: with(contract.EnvUpstream, ""), wantErr: "DBPROXY_UPSTREAM is not set"},
		{name: "upstream without port", env: with(contract.EnvUpstream, "pg"), wantErr: `DBPROXY_UPSTREAM: "pg" is not host:port`},
		{name: "no password", env: with(contract.EnvPassword, ""), wantErr: "DBPROXY_PASSWORD is not set"},
		{name: "bad sslmode", env: with(contract.EnvSSLMode, "on"), wantErr: `DBPROXY_SSLMODE "on" is not an sslmode`},
		{name: "bad hold", env: with(contract.EnvHold, "-1s"), wantErr: `DBPROXY_HOLD "-1s" is not a positive duration`},
		{name: "bad listen", env: with(contract.EnvListen, "6432"), wantErr: `DBPROXY_LISTEN "6432" is not host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), tc.env[contract.EnvPassword]+"\"") {
					t.Errorf("error is not one line without the password: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Listen != tc.want.Listen || strings.Join(got.Upstreams, ",") != strings.Join(tc.want.Upstreams, ",") ||
				strings.Join(got.Pods, ",") != strings.Join(tc.want.Pods, ",") ||
				got.Password != tc.want.Password || got.SSLMode != tc.want.SSLMode || got.Hold != tc.want.Hold {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPins(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT * FROM artifact WHERE id = $1":          false,
		"UPDATE artifact SET digest = $1 WHERE id = $2": false,
		"  set application_name = 'x'":                  true,
		"SELECT pg_advisory_lock(1)":                    true,
		"select set_config('search_path', 'x', false)":  true,
		"LISTEN jobs": true,
		"DECLARE c CURSOR WITH HOLD FOR SELECT 1":           true,
		"CREATE TEMPORARY TABLE t (i int)":                  true,
		"INSERT INTO audit_log (operation) VALUES ('set ')": false,
	} {
		if got := pins([]string{q}); got != want {
			t.Errorf("pins(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestHandshakeIsStable: the same server parameters give the same bytes.
func TestHandshakeIsStable(t *testing.T) {
	params := map[string]string{"server_version": "15.10", "client_encoding": "UTF8", "DateStyle": "ISO, MDY"}
	enc := func() []byte {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		for _, f := range handshake(params, 7, 9) {
			writeFrame(w, f)
		}
		w.Flush()
		return b.Bytes()
	}
	first := enc()
	for i := 0; i < 20; i++ {
		if !bytes.Equal(first, enc()) {
			t.Fatal("handshake bytes differ between two runs")
		}
	}
	r := bufio.NewReader(bytes.NewReader(first))
	var types []byte
	for {
		f, err := readFrame(r)
		if err != nil {
			break
		}
		types = append(types, f.typ)
	}
	if string(types) != "RSSSKZ" {
		t.Errorf("handshake messages %q, want RSSSKZ", types)
	}
}

func startupPacket(code uint32, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(8+len(body)))
	binary.BigEndian.PutUint32(b[4:], code)
	return append(b, body...)
}

// FuzzWire: whatever a client sends, the parsers return an error or a
// message that says the same when written back and read again, and an
// error the proxy writes reads back as itself.
func FuzzWire(f *testing.F) {
	f.Add(startupPacket(protocolVersion3, []byte("user\x00harbor\x00database\x00registry\x00\x00")), "57P01", "terminating")
	f.Add(startupPacket(cancelCode, []byte{0, 0, 0, 1, 0, 0, 0, 2}), "08006", "x")
	f.Add(startupPacket(sslRequestCode, nil), "28P01", "")
	f.Add([]byte{'Q', 0, 0, 0, 9, 'S', 'E', 'L', 0, 0}, "", "m")
	f.Fuzz(func(t *testing.T, in []byte, code, msg string) {
		if st, err := readStartup(bufio.NewReader(bytes.NewReader(in))); err == nil && st.code == protocolVersion3 {
			var body []byte
			for k, v := range st.params {
				body = append(append(append(append(body, k...), 0), v...), 0)
			}
			again, err := readStartup(bufio.NewReader(bytes.NewReader(startupPacket(protocolVersion3, append(body, 0)))))
			if err != nil {
				t.Fatalf("a startup message read back fails: %v", err)
			}
			if len(again.params) != len(st.params) {
				t.Fatalf("startup parameters %v read back as %v", st.params, again.params)
			}
			for k, v := range st.params {
				if again.params[k] != v {
					t.Fatalf("startup parameter %q = %q read back as %q", k, v, again.params[k])
				}
			}
		}
		if fr, err := readFrame(bufio.NewReader(bytes.NewReader(in))); err == nil {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			writeFrame(w, fr)
			w.Flush()
			if !bytes.Equal(b.Bytes(), in[:fr.size()]) {
				t.Fatalf("frame %q written back as %q", in[:fr.size()], b.Bytes())
			}
			parseError(fr.body)
			cstrings(fr.body, 3)
		}
		if strings.ContainsRune(code, 0) || strings.ContainsRune(msg, 0) {
			return
		}
		e := parseError(errorFrame(code, msg).body)
		if e.code != code || e.message != msg || !e.fatal() {
			t.Fatalf("error %q %q read back as %+v", code, msg, e)
		}
	})
}

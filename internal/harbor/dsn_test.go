package harbor

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgconn"
)

func TestCheckDatabasePassword(t *testing.T) {
	tests := []struct {
		password string
		want     string // a part of the error, "" for none
	}{
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ""},
		{"Pa55w0rd!@#$%^&*()-_=+[]{};:,.<>/?|`~\"", ""},
		{"inner'quote-is-fine", ""},
		{"two words-of-sixteen", "whitespace"},
		{"tab\there-sixteen-chars", "whitespace"},
		{"newline-at-the-end\n", "whitespace"},
		{`back\slash-sixteen`, ""},
		{`double\\backslash-sixteen`, "backslash"},
		{`escaped\'quote-sixteen`, "backslash"},
		{`escaped\ space-sixteen`, ""},
		{`trailing-backslash\`, "backslash"},
		{"'quoted-sixteen-chars", "starts with a quote"},
	}
	for _, tc := range tests {
		err := CheckDatabasePassword("the password in Secret harbor/x key password", tc.password)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want nil", tc.password, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want an error about %s", tc.password, err, tc.want)
		case err != nil && strings.Contains(err.Error(), tc.password):
			t.Errorf("%q: the error shows the password: %v", tc.password, err)
		}
	}
}

// TestCheckDatabasePasswordAgreesWithPgx: a password passes exactly when
// the pgx Harbor 2.15.1 links (pgconn v1.14.3) reads it back unchanged
// from Harbor's own connection string (src/common/dao/pgsql.go L95).
func TestCheckDatabasePasswordAgreesWithPgx(t *testing.T) {
	for _, pw := range []string{
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "Pa55w0rd!@#$%^&*()-_=+[]{};:,.<>/?|`~\"", "inner'quote-is-fine",
		"two words-of-sixteen", "tab\there-sixteen-chars", "newline-at-the-end\n", `back\slash-sixteen`,
		`double\\backslash-sixteen`, `escaped\'quote-sixteen`, `trailing-backslash\`, "'quoted-sixteen-chars",
		"'fully-quoted-sixteen'", "key=value-sixteen-x",
	} {
		agreesWithPgx(t, pw)
	}
	// And passwords drawn from the characters that matter, with letters.
	rng := rand.New(rand.NewPCG(1, 2))
	const chars = `ab9=\' ` + "\t"
	for range 5000 {
		b := make([]byte, 1+rng.IntN(6))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		agreesWithPgx(t, string(b))
	}
}

func agreesWithPgx(t *testing.T, pw string) {
	t.Helper()
	dsn := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=%s timezone=UTC",
		"mypg-postgresql-postgresql", "5432", "harbor", pw, "registry", "disable")
	cfg, err := pgconn.ParseConfig(dsn)
	readBack := err == nil && cfg.Password == pw && cfg.Database == "registry"
	if ok := CheckDatabasePassword("the password", pw) == nil; ok != readBack {
		t.Errorf("%q: CheckDatabasePassword says usable %v, pgx reads it back %v (err %v)", pw, ok, readBack, err)
	}
}

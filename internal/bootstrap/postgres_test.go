package bootstrap

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/harborha/helm-harborha/internal/output"
)

// The SQL script against a real PostgreSQL server, run exactly as the Job
// runs it: the Job's own command and environment (postgres.sh piping
// postgres.sql into psql), with its secretKeyRef variables resolved.

const harborPassword = "HarborRolePassword0123456789AB"

func pgOptions(s *pgServer) Spec {
	return Spec{Release: "myharbor", Namespace: "harbor", Postgres: &PostgresTarget{Endpoint: s.endpoint("harbor")}}.withDefaults()
}

// runPostgresJob runs the Job built for o, with the cluster's superuser
// password super and Harbor's role password rolePassword.
func runPostgresJob(t *testing.T, o Spec, super, rolePassword string) (log string, exitCode int) {
	t.Helper()
	job := postgresJob(o, passwordRef{secret: DatabaseSecretName(o.Release), key: DatabasePasswordKey})
	return runJobWith(t, job, map[string]map[string]string{
		o.Postgres.Secret.Name:        {"username": "postgres", "password": super},
		DatabaseSecretName(o.Release): {DatabasePasswordKey: rolePassword},
	})
}

// catalog is what the server knows about roles (with password hashes) and
// databases: two runs that change nothing leave it identical.
func catalog(t *testing.T, s *pgServer) []string {
	t.Helper()
	roles := s.super(t, `SELECT 'role '||rolname||' super='||rolsuper||' createrole='||rolcreaterole||' createdb='||rolcreatedb||
		' login='||rolcanlogin||' replication='||rolreplication||' bypassrls='||rolbypassrls||' password='||coalesce(rolpassword,'')
		FROM pg_authid ORDER BY rolname`)
	dbs := s.super(t, `SELECT 'database '||datname||' owner='||pg_get_userbyid(datdba)||' encoding='||pg_encoding_to_char(encoding)||
		' acl='||coalesce(datacl::text,'') FROM pg_database ORDER BY datname`)
	settings := s.super(t, `SELECT 'setting '||setdatabase||'/'||setrole||' '||array_to_string(setconfig, ',') FROM pg_db_role_setting ORDER BY 1`)
	return lines(roles + "\n" + dbs + "\n" + settings)
}

// added is what after has that before lacks; it fails if anything of
// before is gone or changed.
func added(t *testing.T, before, after []string) []string {
	t.Helper()
	had := map[string]bool{}
	for _, l := range after {
		had[l] = true
	}
	for _, l := range before {
		if !had[l] {
			t.Errorf("catalog line changed or removed: %s", l)
		}
		delete(had, l)
	}
	var out []string
	for _, l := range after {
		if had[l] {
			out = append(out, l)
		}
	}
	return out
}

// foreignDatabase creates the role other_app and a database it owns.
func (s *pgServer) foreignDatabase(t *testing.T, name string) {
	t.Helper()
	s.super(t, `CREATE ROLE other_app LOGIN PASSWORD 'other-app-password-1234'`)
	s.super(t, `CREATE DATABASE `+name+` OWNER other_app`)
}

// assertLogin checks whether role logs in to registry with password.
func (s *pgServer) assertLogin(t *testing.T, role, password string, want bool) {
	t.Helper()
	if _, err := s.psql(role, password, "registry", "SELECT 1"); (err == nil) != want {
		t.Errorf("role %s logging in to registry: %v, want success %v", role, err, want)
	}
}

// otherTenant is a role and a database with data that are not Harbor's.
func otherTenant(t *testing.T, s *pgServer) {
	t.Helper()
	s.foreignDatabase(t, "other_db")
	if _, err := s.psql("other_app", "other-app-password-1234", "other_db", `CREATE TABLE orders(id int); INSERT INTO orders VALUES (1)`); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresScriptTwiceCreatesRoleAndDatabaseOnceAndNothingElse(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	otherTenant(t, s)
	o := pgOptions(s)
	before := catalog(t, s)

	log, code := runPostgresJob(t, o, superPassword, harborPassword)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, log)
	}
	for _, want := range []string{`harborha: role "harbor" created`, `harborha: database "registry" created, owned by role "harbor"`, `harborha: role "harbor" logs in to database "registry"`, `harborha: max_connections ` + strings.TrimSpace(mustPsql(t, s, "postgres", superPassword, "postgres", "SHOW max_connections"))} {
		if !strings.Contains(log, want) {
			t.Errorf("first run: log lacks %q:\n%s", want, log)
		}
	}
	afterFirst := catalog(t, s)
	extra := added(t, before, afterFirst)
	if len(extra) != 2 || !strings.HasPrefix(extra[0], "role harbor super=false createrole=false createdb=false login=true replication=false bypassrls=false password=SCRAM-SHA-256$") ||
		!strings.HasPrefix(extra[1], "database registry owner=harbor ") {
		t.Errorf("first run should add exactly the role harbor (login, no other privilege) and the database registry it owns; added:\n%s", strings.Join(extra, "\n"))
	}

	log, code = runPostgresJob(t, o, superPassword, harborPassword)
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, log)
	}
	if !strings.Contains(log, `role "harbor" exists; password unchanged`) || !strings.Contains(log, `database "registry" exists, owned by role "harbor"`) {
		t.Errorf("second run should find both and change nothing:\n%s", log)
	}
	if extra := added(t, afterFirst, catalog(t, s)); len(extra) != 0 {
		t.Errorf("second run changed the catalog: %v", extra)
	}

	// Harbor's role logs in with the generated password, owns its database
	// and can create tables there (Harbor's migrations do).
	out, err := s.psql("harbor", harborPassword, "registry", `CREATE TABLE artifact(id serial PRIMARY KEY, digest text); INSERT INTO artifact(digest) VALUES ('sha256:x'); SELECT current_user||' '||count(*) FROM artifact`)
	if err != nil || out != "harbor 1" {
		t.Errorf("Harbor's role in its database: got %q, %v", out, err)
	}
	// The other tenant's data is untouched and not Harbor's to read.
	if out := strings.TrimSpace(mustPsql(t, s, "other_app", "other-app-password-1234", "other_db", `SELECT count(*) FROM orders`)); out != "1" {
		t.Errorf("other_db.orders: got %q rows, want 1", out)
	}
	if _, err := s.psql("harbor", harborPassword, "other_db", `SELECT count(*) FROM orders`); err == nil {
		t.Error("Harbor's role can read another tenant's table")
	}
}

func mustPsql(t *testing.T, s *pgServer, user, password, db, sql string) string {
	t.Helper()
	out, err := s.psql(user, password, db, sql)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPostgresRotateChangesOnlyTheRolePassword(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	o := pgOptions(s)
	if log, code := runPostgresJob(t, o, superPassword, harborPassword); code != 0 {
		t.Fatalf("setup: exit %d\n%s", code, log)
	}
	before := catalog(t, s)

	o.Rotate = true
	const rotated = "RotatedPasswordZYXWVUTSRQPONM"
	log, code := runPostgresJob(t, o, superPassword, rotated)
	if code != 0 || !strings.Contains(log, `role "harbor" exists; password rotated`) {
		t.Fatalf("rotate: exit %d\n%s", code, log)
	}
	after := catalog(t, s)
	if len(before) != len(after) {
		t.Fatalf("rotation added or removed catalog entries:\nbefore %v\nafter  %v", before, after)
	}
	var changed []string
	for i := range before {
		if before[i] != after[i] {
			changed = append(changed, after[i])
		}
	}
	if len(changed) != 1 || !strings.HasPrefix(changed[0], "role harbor ") {
		t.Errorf("rotation should change only the role's password; changed lines: %v", changed)
	}
	s.assertLogin(t, "harbor", harborPassword, false)
	s.assertLogin(t, "harbor", rotated, true)
}

func TestPostgresScriptFailures(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	s.foreignDatabase(t, "taken")
	s.super(t, `CREATE ROLE preexisting LOGIN PASSWORD 'not-the-secret-password-0'`)

	tests := []struct {
		name          string
		role, db      string
		super, rolePW string
		wantLog       string // in the Job's log
		wantError     string // in the one-line error explainFailure makes of it
		wantNoRole    string // a role that must not exist afterwards: nothing half-done
	}{
		{
			name: "database owned by another role", role: "harbor", db: "taken", super: superPassword, rolePW: harborPassword,
			wantLog:    `ERROR:  harborha: database "taken" already exists and is owned by role "other_app", not by "harbor"`,
			wantError:  `database "taken" already exists and is owned by role "other_app", not by "harbor"; Harbor needs a database of its own: choose another name (--database), or, if this database is Harbor's, hand it over first with ALTER DATABASE taken OWNER TO harbor`,
			wantNoRole: "harbor",
		},
		{
			name: "wrong superuser password", role: "harbor", db: "registry", super: "not-the-superuser-password", rolePW: harborPassword,
			wantLog:    `password authentication failed for user "postgres"`,
			wantError:  `PostgreSQL at 127.0.0.1:%d refused the superuser's password from Secret harbor/mypg-conn-credential (keys "username", "password"): password authentication failed for user "postgres"`,
			wantNoRole: "harbor",
		},
		{
			name: "role exists with another password", role: "preexisting", db: "registry2", super: superPassword, rolePW: harborPassword,
			wantLog:   `harborha-error: role "preexisting" cannot log in to database "registry2"`,
			wantError: `role "preexisting" cannot log in to database "registry2" with the password of its Secret: psql: error: connection to server at "127.0.0.1", port %d failed: FATAL: password authentication failed for user "preexisting"; when the role existed before its Secret was created, run bootstrap once with --rotate to give the role the Secret's password`,
		},
		{
			name: "password missing", role: "harbor", db: "registry", super: superPassword, rolePW: "",
			wantLog:    `harborha: the password for role "harbor" is missing or shorter than 16 characters`,
			wantError:  `the password for role "harbor" is missing or shorter than 16 characters (environment variable HARBOR_DB_PASSWORD)`,
			wantNoRole: "harbor",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := pgOptions(s)
			o.Postgres.Role, o.Postgres.Database = tc.role, tc.db
			log, code := runPostgresJob(t, o, tc.super, tc.rolePW)
			if code == 0 {
				t.Fatalf("exit 0, want a failure:\n%s", log)
			}
			if !strings.Contains(log, tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, log)
			}
			j := postgresRun(o)
			j.job = postgresJob(o, passwordRef{})
			want := tc.wantError
			if strings.Contains(want, "%d") {
				want = fmt.Sprintf(want, s.port)
			}
			if got := output.OneLine(newRunner(nil, o).explainFailure(j, failureLines(log), outcome{})); got != want {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if tc.wantNoRole != "" {
				if n := s.super(t, fmt.Sprintf(`SELECT count(*) FROM pg_roles WHERE rolname = '%s'`, tc.wantNoRole)); n != "0" {
					t.Errorf("role %s was created although the run failed", tc.wantNoRole)
				}
			}
		})
	}
}

// The role's password never reaches the server log, even with every
// statement logged (the server runs with log_statement=all), nor the Job's.
func TestPostgresPasswordStaysOutOfLogs(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	o := pgOptions(s)
	log1, code := runPostgresJob(t, o, superPassword, harborPassword)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, log1)
	}
	o.Rotate = true
	const rotated = "RotatedPasswordForLogCheck0001"
	log2, code := runPostgresJob(t, o, superPassword, rotated)
	if code != 0 {
		t.Fatalf("rotate: exit %d\n%s", code, log2)
	}
	server, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(server), "statement: SELECT rolsuper") {
		t.Fatalf("the server log does not show statements, so this test proves nothing:\n%s", server)
	}
	for _, pw := range []string{harborPassword, rotated, superPassword} {
		for name, text := range map[string]string{"server log": string(server), "Job log": log1 + log2} {
			if strings.Contains(text, pw) {
				t.Errorf("a password appears in the %s", name)
			}
		}
	}
}

// The PostgreSQL Job in an image with busybox's sh and no printenv: psql
// 15+ reads the password itself, an older psql through the shell's
// printf, and an image without what the script needs is named in one
// line. (It once read the password with printenv: busybox's sh said "sh:
// printenv: not found" and the Job reported the password missing.)
func TestPostgresJobImageTools(t *testing.T) {
	t.Parallel()
	s := startPostgres(t)
	tests := []struct {
		name     string
		tools    []string
		wantCode int
		wantLog  string
	}{
		{"psql 15, busybox without printenv", []string{"psql"}, 0, `harborha: role "harbor" logs in to database "registry"`},
		{"psql 14 reads through printf", []string{"psql=psql (PostgreSQL) 14.11 (Debian 14.11-1.pgdg120+2)"}, 0, `harborha: role "harbor" logs in to database "registry"`},
		{"psql 9.6 is too old", []string{"psql=psql (PostgreSQL) 9.6.24"}, 1, `harborha-error: the --psql-image's psql is too old or unknown ("psql (PostgreSQL) 9.6.24"): bootstrap needs psql 10 or later`},
		{"no psql", nil, 1, "harborha-error: the --psql-image has no psql on its PATH"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := pgOptions(s)
			o.Postgres.Role, o.Postgres.Database = fmt.Sprintf("harbor%d", i), fmt.Sprintf("registry%d", i)
			job := postgresJob(o, passwordRef{secret: DatabaseSecretName(o.Release), key: DatabasePasswordKey})
			log, code := runInImage(t, job, imageTools(t, tc.tools...), map[string]map[string]string{
				o.Postgres.Secret.Name:        {"username": "postgres", "password": superPassword},
				DatabaseSecretName(o.Release): {DatabasePasswordKey: harborPassword},
			})
			want := strings.ReplaceAll(strings.ReplaceAll(tc.wantLog, `"harbor"`, fmt.Sprintf(`"harbor%d"`, i)), `"registry"`, fmt.Sprintf(`"registry%d"`, i))
			if code != tc.wantCode || !strings.Contains(log, want) {
				t.Fatalf("exit %d, want %d and a log with %q:\n%s", code, tc.wantCode, want, log)
			}
			if tc.wantCode != 0 {
				j := postgresRun(o)
				j.job = job
				if got := newRunner(nil, o).explainFailure(j, failureLines(log), outcome{}); !strings.HasPrefix(got, strings.TrimPrefix(want, "harborha-error: ")) {
					t.Errorf("the command's error line %q is not the script's %q", got, want)
				}
				return
			}
			if _, err := s.psql(o.Postgres.Role, harborPassword, o.Postgres.Database, "SELECT 1"); err != nil {
				t.Errorf("role %s cannot log in with its password: %v", o.Postgres.Role, err)
			}
		})
	}
}

-- harborha bootstrap, PostgreSQL part: Harbor's role and database.
--
-- Safe to run any number of times. psql runs it as the cluster's superuser
-- (PGUSER/PGPASSWORD), with -v role=... -v database=... -v rotate=on|off;
-- the role's password comes from the environment (HARBOR_DB_PASSWORD),
-- read by psql itself, and never appears on a command line.
--
-- * the role is created only when missing; an existing role's password is
--   changed only when rotate is on;
-- * the database is created, owned by the role, only when missing
--   (CREATE DATABASE cannot run inside a transaction or a DO block, hence
--   psql's \gexec);
-- * a database that exists but belongs to another role is an error: it is
--   never taken over silently;
-- * nothing else is touched.

\set ON_ERROR_STOP on
\set QUIET on

-- Keep statements of this session out of the server log: the password
-- travels in one of them. Only a superuser may change these settings.
SELECT rolsuper AS harborha_superuser FROM pg_roles WHERE rolname = current_user \gset
\if :harborha_superuser
SET log_statement = 'none';
SET log_min_duration_statement = -1;
\endif

-- The password is in :password already: postgres.sh puts the line that
-- reads it from the environment before this script (\getenv on psql 15+,
-- the shell's printf on older psql), as psql before 15 stops at an unknown
-- \getenv even in a branch it skips. Unset variable: empty, refused below.
\if :{?password}
\else
\set password ''
\endif

-- psql does not substitute variables inside the DO block's dollar quotes:
-- hand them over as session settings.
SELECT set_config('harborha.role', :'role', false) AS harborha_r,
       set_config('harborha.database', :'database', false) AS harborha_d,
       set_config('harborha.password', :'password', false) AS harborha_p,
       set_config('harborha.rotate', :'rotate', false) AS harborha_o \gset
\unset password
\unset harborha_p

DO $harborha$
DECLARE
  r     text := current_setting('harborha.role');
  d     text := current_setting('harborha.database');
  pw    text := current_setting('harborha.password');
  owner text;
BEGIN
  IF length(pw) < 16 THEN
    RAISE EXCEPTION 'harborha: the password for role "%" is missing or shorter than 16 characters (environment variable HARBOR_DB_PASSWORD)', r;
  END IF;

  SELECT pg_get_userbyid(datdba) INTO owner FROM pg_database WHERE datname = d;
  IF owner IS NOT NULL AND owner <> r THEN
    RAISE EXCEPTION 'harborha: database "%" already exists and is owned by role "%", not by "%"', d, owner, r
      USING HINT = format('Harbor needs a database of its own: choose another name (--database), or, if this database is Harbor''s, hand it over first with ALTER DATABASE %I OWNER TO %I', d, r);
  END IF;

  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
    EXECUTE format('CREATE ROLE %I LOGIN PASSWORD %L', r, pw);
    RAISE NOTICE 'harborha: role "%" created', r;
  ELSIF current_setting('harborha.rotate') = 'on' THEN
    EXECUTE format('ALTER ROLE %I PASSWORD %L', r, pw);
    RAISE NOTICE 'harborha: role "%" exists; password rotated', r;
  ELSE
    RAISE NOTICE 'harborha: role "%" exists; password unchanged', r;
  END IF;
END
$harborha$;

RESET harborha.password;

SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = :'database') AS harborha_create_db \gset
\if :harborha_create_db
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role') \gexec
\echo harborha: database :"database" created, owned by role :"role"
\else
\echo harborha: database :"database" exists, owned by role :"role"
\endif

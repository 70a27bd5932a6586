# harborha bootstrap, PostgreSQL part (run by /bin/sh -c in the Job's
# container). The superuser comes from PGUSER/PGPASSWORD, Harbor's role
# password from HARBOR_DB_PASSWORD: all three are secretKeyRef variables.
set -eu

# The image's tools first, each missing one named (the script's own
# failures would otherwise show as a missing password).
command -v psql >/dev/null 2>&1 ||
    { echo "harborha-error: the --psql-image has no psql on its PATH ($PATH): use an image with psql 10 or later"; exit 1; }
version=$(psql -X --version) # "psql (PostgreSQL) 15.18 (Debian ...)"
major=${version#*) }
major=${major%%[!0-9]*}
# psql reads the role's password from the environment itself: \getenv
# (psql 15+) needs nothing else; an older psql runs a backquote through
# /bin/sh, whose printf (a builtin of dash, bash and busybox) prints it.
# Either way the value is never an argument of a process.
if [ -z "$major" ] || [ "$major" -lt 10 ]; then
    echo "harborha-error: the --psql-image's psql is too old or unknown (\"$version\"): bootstrap needs psql 10 or later"
    exit 1
elif [ "$major" -ge 15 ]; then
    read_password='\getenv password HARBOR_DB_PASSWORD'
elif command -v printf >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # psql expands it, in its own shell
    read_password='\set password `printf %s "$HARBOR_DB_PASSWORD"`'
else
    echo "harborha-error: the --psql-image has psql $major and a /bin/sh without printf: psql before 15 reads the password through printf; use an image with psql 15 or later, or with printf"
    exit 1
fi

printf '%s\n%s\n' "$read_password" "$HARBORHA_SQL" |
    psql -X -q -v ON_ERROR_STOP=1 -v role="$HARBOR_DB_ROLE" -v database="$HARBOR_DB_NAME" -v rotate="$HARBORHA_ROTATE" -f -

# Log in as Harbor will: its role, its password, its database.
if ! out=$(PGUSER="$HARBOR_DB_ROLE" PGPASSWORD="$HARBOR_DB_PASSWORD" PGDATABASE="$HARBOR_DB_NAME" \
    psql -X -q -v ON_ERROR_STOP=1 -c 'SELECT 1' 2>&1 >/dev/null); then
    echo "harborha-error: role \"$HARBOR_DB_ROLE\" cannot log in to database \"$HARBOR_DB_NAME\" with the password of its Secret: $out"
    echo "harborha-hint: when the role existed before its Secret was created, run bootstrap once with --rotate to give the role the Secret's password"
    exit 1
fi
echo "harborha: role \"$HARBOR_DB_ROLE\" logs in to database \"$HARBOR_DB_NAME\""

# The cluster's max_connections, as the server has it (KubeBlocks derives it
# from the memory, a user may have set it): the budget Harbor's connection
# pools are sized to (post-render --database-max-connections). Not knowing
# it is no failure: the budget then assumes PostgreSQL's default.
if max=$(psql -X -A -t -c 'SHOW max_connections' 2>/dev/null) && [ -n "$max" ]; then
    echo "harborha: max_connections $max"
fi

# harborha bootstrap, PostgreSQL part (run by /bin/sh -c in the Job's
# container). The superuser comes from PGUSER/PGPASSWORD, Harbor's role
# password from HARBOR_DB_PASSWORD: all three are secretKeyRef variables.
set -eu
printf '%s\n' "$HARBORHA_SQL" |
    psql -X -q -v ON_ERROR_STOP=1 -v role="$HARBOR_DB_ROLE" -v database="$HARBOR_DB_NAME" -v rotate="$HARBORHA_ROTATE" -f -

# Log in as Harbor will: its role, its password, its database.
if ! out=$(PGUSER="$HARBOR_DB_ROLE" PGPASSWORD="$HARBOR_DB_PASSWORD" PGDATABASE="$HARBOR_DB_NAME" \
    psql -X -q -v ON_ERROR_STOP=1 -c 'SELECT 1' 2>&1 >/dev/null); then
    echo "harborha-error: role \"$HARBOR_DB_ROLE\" cannot log in to database \"$HARBOR_DB_NAME\" with the password of its Secret: $out"
    echo "harborha-hint: when the role existed before its Secret was created, run bootstrap once with --rotate to give the role the Secret's password"
    exit 1
fi
echo "harborha: role \"$HARBOR_DB_ROLE\" logs in to database \"$HARBOR_DB_NAME\""

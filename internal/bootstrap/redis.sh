# harborha bootstrap, Redis part (run by /bin/sh -c in the Job's container).
# On every data node of the cluster (REDIS_NODES, "host:port" words):
# create Harbor's ACL user or re-apply its permissions, persist the ACL,
# and log in as Harbor will. ACLs are per node and not replicated, so a
# replica that lacks the user would break Harbor after a failover.
#
# The superuser comes from REDIS_ADMIN_USER/REDISCLI_AUTH, Harbor's password
# from HARBOR_REDIS_PASSWORD (secretKeyRef variables). Passwords reach
# redis-cli through its environment or its standard input (-x), never as an
# argument.
set -eu
set -f # the ACL rules hold ~* and &*: no file name expansion

say() { echo "harborha: $*"; }
die() {
    echo "harborha-error: $*"
    exit 1
}

# admin NODE ARGS...: one command on NODE as the superuser. redis-cli
# reports server errors as text with exit status 0 (and connection errors
# with 1), so callers read the reply rather than the status.
admin() {
    n=$1
    shift
    redis-cli -h "${n%:*}" -p "${n##*:}" --user "$REDIS_ADMIN_USER" --no-auth-warning "$@" 2>&1 || true
}

# unreachable NODE REPLY: stop on replies no later step can fix.
unreachable() {
    case $2 in
    *WRONGPASS* | *NOAUTH*)
        die "Redis at $1 refused the superuser \"$REDIS_ADMIN_USER\": wrong password (WRONGPASS); check the cluster's credential Secret" ;;
    *"Could not connect"* | *"Connection refused"* | *"timed out"* | *"Name does not resolve"* | *"not known"*)
        die "cannot reach Redis at $1: $2" ;;
    esac
}

# The image's tools first, each missing one named (a missing redis-cli
# would otherwise show as a failed ACL command).
command -v redis-cli >/dev/null 2>&1 ||
    die "the --redis-image has no redis-cli on its PATH ($PATH): use an image with redis-cli 6 or later"
version=$(redis-cli --version) # "redis-cli 7.0.15"
major=${version#redis-cli }
major=${major%%[!0-9]*}
if [ -z "$major" ] || [ "$major" -lt 6 ]; then
    die "the --redis-image's redis-cli is too old or unknown (\"$version\"): bootstrap needs redis-cli 6 or later (--user)"
fi
command -v grep >/dev/null 2>&1 || die "the --redis-image has no grep on its PATH ($PATH)"

for node in $REDIS_NODES; do
    users=$(admin "$node" ACL USERS)
    unreachable "$node" "$users"
    case $users in
    ERR* | NOPERM* | *"unknown command"*)
        die "Redis at $node cannot list ACL users ($users): an ACL user needs Redis 6.2 or later and a superuser allowed to run ACL commands" ;;
    esac

    if printf '%s\n' "$users" | grep -qxF "$HARBOR_REDIS_USER"; then
        if [ "$HARBORHA_ROTATE" = on ]; then
            reply=$(printf '>%s' "$HARBOR_REDIS_PASSWORD" | admin "$node" -x ACL SETUSER "$HARBOR_REDIS_USER" $HARBORHA_REDIS_ACL resetpass)
            what="exists; password rotated"
        else
            reply=$(admin "$node" ACL SETUSER "$HARBOR_REDIS_USER" $HARBORHA_REDIS_ACL)
            what="exists; permissions applied, password unchanged"
        fi
    else
        reply=$(printf '>%s' "$HARBOR_REDIS_PASSWORD" | admin "$node" -x ACL SETUSER "$HARBOR_REDIS_USER" reset $HARBORHA_REDIS_ACL)
        what="created"
    fi
    [ "$reply" = OK ] || die "ACL SETUSER $HARBOR_REDIS_USER on Redis at $node failed: $reply"

    # Persist: KubeBlocks keeps users in an ACL file; without one, CONFIG
    # REWRITE stores them in redis.conf when the server has one.
    saved=$(admin "$node" ACL SAVE)
    case $saved in
    OK) how="saved with ACL SAVE" ;;
    *"not configured to use an ACL file"*)
        rewritten=$(admin "$node" CONFIG REWRITE)
        if [ "$rewritten" = OK ]; then
            how="saved with CONFIG REWRITE"
        else
            how="NOT persisted"
            echo "harborha-warning: Redis at $node has no ACL file and CONFIG REWRITE failed ($rewritten): the user \"$HARBOR_REDIS_USER\" is lost when this node restarts; run bootstrap again after a restart"
        fi
        ;;
    *) die "ACL SAVE on Redis at $node failed: $saved" ;;
    esac

    # Log in as Harbor will: its user, its password.
    pong=$(REDISCLI_AUTH="$HARBOR_REDIS_PASSWORD" redis-cli -h "${node%:*}" -p "${node##*:}" --user "$HARBOR_REDIS_USER" --no-auth-warning PING 2>&1 || true)
    if [ "$pong" != PONG ]; then
        echo "harborha-error: user \"$HARBOR_REDIS_USER\" cannot log in to Redis at $node with the password of its Secret: $pong"
        echo "harborha-hint: when the user existed before its Secret was created, run bootstrap once with --rotate to give the user the Secret's password"
        exit 1
    fi
    say "Redis at $node: user \"$HARBOR_REDIS_USER\" $what; $how; it logs in"
done

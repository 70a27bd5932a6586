#!/usr/bin/env bash
# Installs the PostgreSQL and Redis server binaries that the bootstrap tests
# run on loopback (Debian's `postgresql` and `redis-server` packages), only
# when they are missing. It starts nothing: each test starts its own
# throwaway server in a temporary directory on a free port and stops it.
set -euo pipefail

need=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || need+=(redis-server)
if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "test-services: need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "test-services: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# The tests never use a system service the packages may start.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

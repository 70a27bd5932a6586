#!/bin/sh
# Helm plugin install/update hook: build bin/harborha from this checkout with
# Go when it is not already there (make install builds it first).
set -eu
cd "${HELM_PLUGIN_DIR:-$(dirname "$0")/..}"
if [ -x bin/harborha ] && [ -z "${HARBORHA_REBUILD:-}" ]; then
	exit 0
fi
if ! command -v go >/dev/null 2>&1; then
	echo "helm-harborha: bin/harborha is missing and Go is not installed; install Go 1.26+ and run 'helm plugin update harborha'" >&2
	exit 1
fi
version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' plugin.yaml)
echo "helm-harborha: building bin/harborha $version from source" >&2
go build -trimpath -ldflags "-s -w -X main.version=$version" -o bin/harborha ./cmd/harborha

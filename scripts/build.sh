#!/bin/sh
# The one build of bin/harborha and bin/harborha-post-render: `make build`,
# `make dist` (per platform, GOOS/GOARCH from the environment) and the
# install hook's build from source all run this, so a plugin built from a
# checkout is the binary a release ships, byte for byte.
#
#   sh scripts/build.sh OUTDIR      both binaries into OUTDIR (.exe on Windows)
#   sh scripts/build.sh OUTDIR CMD   ./cmd/CMD alone (make images: harborha-dbproxy)
#
# GO names the go command (default go). The flags, and why:
#   CGO_ENABLED=0       a static binary: a dynamically linked one dirties
#                       relocated pages at every start, and the post-renderer
#                       starts on every render;
#   -trimpath, -buildvcs=false, -buildid=, fixed GOFLAGS/GOAMD64/GOARM64
#                       the same bytes from the same commit and Go, wherever
#                       the checkout is, with or without git;
#   -s -w               no symbol table or DWARF: half the size;
#   -X main.version     plugin.yaml's version (`harborha version`, which the
#                       install hook checks).
# POSIX sh: the install hook runs it with busybox's sh on alpine too.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	echo "usage: sh scripts/build.sh OUTDIR [CMD]" >&2
	exit 2
fi
out=$1
pkgs="./cmd/harborha ./cmd/harborha-post-render"
if [ $# -eq 2 ]; then
	pkgs=./cmd/$2
fi
case $out in
/* | [A-Za-z]:*) ;;
*) out=$(pwd)/$out ;;
esac
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' plugin.yaml)
if [ -z "$version" ]; then
	echo "scripts/build.sh: plugin.yaml has no version line" >&2
	exit 1
fi
mkdir -p "$out"
# shellcheck disable=SC2086 # $pkgs is a list of packages
CGO_ENABLED=0 GOFLAGS=-mod=readonly GOAMD64=v1 GOARM64=v8.0 \
	"${GO:-go}" build -trimpath -buildvcs=false -ldflags "-s -w -buildid= -X main.version=$version" \
	-o "$out/" $pkgs

#!/usr/bin/env bash
# Builds the real Harbor 2.15.1 from the source tarballs in $HARBOR_SRC
# (../shared/harbor-src: nothing is copied into the repository) into $HB
# (bin/harbor), one step per call so that make's stamps make each step
# incremental. The steps follow Harbor's own build (its Makefile and
# make/photon/*/Dockerfile), with the differences this machine needs:
#  - go.pinniped.dev is not on the module proxy here: a local module holding
#    the one package Harbor imports replaces it;
#  - static binaries (CGO_ENABLED=0) for every component, so that no image
#    needs a C library; -trimpath so that the same sources give the same bytes
#    in every checkout (the image tags are content hashes).
# Usage: harbor-build.sh <step> [args]   (steps: see the case at the end)
set -euo pipefail

: "${HARBOR_SRC:?HARBOR_SRC (the harbor-src directory) is not set}"
: "${HB:?HB (the build directory, bin/harbor) is not set}"
GO=${GO:-go}
HARBOR_VERSION=v2.15.1
HARBOR_COMMIT=335c05f2 # tag v2.15.1, short as Harbor's Makefile writes it
SWAGGER_VERSION=v0.33.1
export GOFLAGS=-buildvcs=false

log() { printf '%s harbor-build: %s\n' "$(date +%T)" "$*" >&2; }

# $HB lies inside helm-harborha's module (bin/ is in its tree): a go.mod of
# its own keeps the unpacked Go sources (the registry's GOPATH tree has no
# go.mod) out of `go test ./...`, `go vet ./...` and `go mod tidy` there.
mkdir -p "$HB"
[ -f "$HB/go.mod" ] || printf '// Only keeps the Harbor sources unpacked here out of helm-harborha'"'"'s module.\nmodule harborha.local/harbor-build\n' >"$HB/go.mod"

# unpack <tarball> <dir>: the tarball's single top directory becomes <dir>,
# replacing what was there (a changed tarball never mixes with old files).
unpack() {
	local tgz=$1 dir=$2
	[ -f "$tgz" ] || { echo "harbor-build: source tarball $tgz is missing (set HARBORHA_SHARED)" >&2; exit 1; }
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	tar -xzf "$tgz" -C "$dir.tmp" --strip-components=1 --no-same-owner
	mv "$dir.tmp" "$dir"
}

# The Harbor tree, with the pinniped replace and the generated API server.
prepare_harbor() {
	unpack "$HARBOR_SRC/harbor-v2.15.1.tar.gz" "$HB/src/harbor"
	unpack "$HARBOR_SRC/pinniped-v0.37.0-pkce.tar.gz" "$HB/src/pinniped"
	printf 'module go.pinniped.dev\n\ngo 1.24\n' >"$HB/src/pinniped/go.mod"
	# Relative: the binaries record the replacement's path (same bytes anywhere).
	(cd "$HB/src/harbor/src" && $GO mod edit -replace "go.pinniped.dev=../../pinniped")
	local swagger=$HB/tools/swagger-$SWAGGER_VERSION
	if [ ! -x "$swagger" ]; then
		log "go-swagger $SWAGGER_VERSION"
		mkdir -p "$HB/tools/gobin"
		GOBIN=$HB/tools/gobin CGO_ENABLED=0 $GO install -trimpath github.com/go-swagger/go-swagger/cmd/swagger@$SWAGGER_VERSION
		mv "$HB/tools/gobin/swagger" "$swagger"
	fi
	log "swagger generate server"
	# Harbor's Makefile (gen_apis), run from the tree's root.
	(cd "$HB/src/harbor" && "$swagger" generate server --quiet --template-dir=tools/swagger/templates --exclude-main \
		--additional-initialism=CVE --additional-initialism=GC --additional-initialism=OIDC \
		-f api/v2.0/swagger.yaml -A harbor --target src/server/v2.0)
}

harbor_ldflags="-w -s -X github.com/goharbor/harbor/src/pkg/version.GitCommit=$HARBOR_COMMIT -X github.com/goharbor/harbor/src/pkg/version.ReleaseVersion=$HARBOR_VERSION"

# go_harbor <name> <package dir under src/>: one Harbor binary.
go_harbor() {
	local name=$1 pkg=$2
	log "$name"
	mkdir -p "$HB/out"
	(cd "$HB/src/harbor/src/$pkg" && CGO_ENABLED=0 $GO build -trimpath -ldflags "$harbor_ldflags" -o "$HB/out/$name.tmp" .)
	mv "$HB/out/$name.tmp" "$HB/out/$name"
}

# The registry: goharbor/distribution has no go.mod (a GOPATH tree with
# vendor/), built as its Dockerfile.binary does (make binaries, CGO off).
registry() {
	local gopath=$HB/gopath dir=$HB/gopath/src/github.com/docker/distribution
	mkdir -p "$(dirname "$dir")" "$HB/out"
	unpack "$HARBOR_SRC/distribution-goharbor-release-2.8-ea065fef.tar.gz" "$dir"
	log "registry"
	local pkg=github.com/docker/distribution
	(cd "$dir" && GOPATH=$gopath GO111MODULE=off CGO_ENABLED=0 $GO build -trimpath -tags "include_oss include_gcs" \
		-ldflags "-s -w -X $pkg/version.Version=v2.8.3-goharbor-release-2.8-ea065fef -X $pkg/version.Package=$pkg" \
		-o "$HB/out/registry.tmp" ./cmd/registry)
	mv "$HB/out/registry.tmp" "$HB/out/registry"
}

# The trivy adapter (harbor-scanner-trivy), as its Dockerfile.binary builds it.
trivy_adapter() {
	unpack "$HARBOR_SRC/harbor-scanner-trivy-v0.36.0.tar.gz" "$HB/src/harbor-scanner-trivy"
	log "scanner-trivy"
	mkdir -p "$HB/out"
	(cd "$HB/src/harbor-scanner-trivy" && CGO_ENABLED=0 $GO build -trimpath -ldflags "-s -w -X main.version=v0.36.0" \
		-o "$HB/out/scanner-trivy.tmp" ./cmd/scanner-trivy)
	mv "$HB/out/scanner-trivy.tmp" "$HB/out/scanner-trivy"
}

step=${1:-}
shift || true
case $step in
prepare) prepare_harbor ;;
core) go_harbor harbor_core core ;;
jobservice) go_harbor harbor_jobservice jobservice ;;
registryctl) go_harbor harbor_registryctl registryctl ;;
exporter) go_harbor harbor_exporter cmd/exporter ;;
registry) registry ;;
trivy-adapter) trivy_adapter ;;
*)
	echo "usage: harbor-build.sh prepare|core|jobservice|registryctl|exporter|registry|trivy-adapter" >&2
	exit 2
	;;
esac

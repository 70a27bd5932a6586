#!/bin/sh
# Helm plugin install/update hook: puts bin/harborha into the plugin
# directory, without Go on the machine:
#
#   1. a bin/harborha that runs here and has plugin.yaml's version: done
#      (the post-renderer plugin inside the CLI plugin's directory links to
#      the CLI plugin's);
#   2. else the release archive for this platform from the project's GitHub
#      release (HARBORHA_RELEASE_URL: another directory URL, or a local
#      directory, holding the release files: mirrors, air-gapped networks),
#      checked against checksums.txt (the signed copy inside a Helm 4 plugin
#      archive when there is one), and only bin/harborha unpacked from it;
#   3. else, in a git checkout with Go on PATH, a build from source;
#   4. else one line on stderr (what was tried, how to install by hand), no
#      bin/harborha left behind, exit status 1.
#
# POSIX sh (alpine's busybox too): curl or wget, tar, and sha256sum (or
# shasum -a 256 on macOS); nothing else beyond the basic utilities.
set -eu

project=https://github.com/harborha/helm-harborha
releases=$project/releases/download
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
tmp=
reason=

main() {
	cd "${HELM_PLUGIN_DIR:-$(dirname "$0")/..}"
	plugin_dir=$(pwd)
	version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' plugin.yaml)
	detect_platform
	base=${HARBORHA_RELEASE_URL:-$releases/v$version}
	base=${base%/}
	target=bin/harborha$exe
	if works "$target"; then
		exit 0
	fi
	if use_enclosing_binary; then
		exit 0
	fi
	if [ -z "$version" ]; then
		reason="plugin.yaml in $plugin_dir has no version"
	elif supported; then
		install_release && exit 0
	else
		reason="no release archive is built for $os/$arch (only for $platforms)"
	fi
	build_from_source && exit 0
	fail
}

fail() {
	rm -f "$target" "bin/.harborha$exe.new"
	howto="download $archive and checksums.txt from $base/, check the archive's sha256 against checksums.txt and unpack bin/harborha$exe from it into $plugin_dir"
	if ! supported; then
		howto="install Go 1.26+ and install the plugin from a git checkout of $project, which builds bin/harborha from source"
	fi
	echo "helm-harborha: cannot install bin/harborha $version for $os/$arch: $reason; to install by hand, $howto" >&2
	exit 1
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# works FILE: FILE runs on this machine and is harborha $version.
works() {
	[ -f "$1" ] && [ "$("$1" version 2>/dev/null || true)" = "harborha $version" ]
}

detect_platform() {
	os=$(uname -s | tr '[:upper:]' '[:lower:]')
	case $os in
	mingw* | msys* | cygwin*) os=windows ;;
	esac
	arch=$(uname -m)
	case $arch in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	esac
	exe=
	if [ "$os" = windows ]; then
		exe=.exe
	fi
	archive=harborha_${version}_${os}_${arch}.tar.gz
}

# use_enclosing_binary: the post-renderer plugin inside the CLI plugin's
# directory (plugins/harborha-post-renderer of a checkout or of an unpacked
# platform archive) uses the CLI plugin's binary, as a checkout's link does.
use_enclosing_binary() {
	[ ! -e bin ] && [ ! -L bin ] && [ -f ../../plugin.yaml ] && works "../../$target" &&
		ln -s ../../bin bin && works "$target"
}

supported() {
	case " $platforms " in
	*" $os/$arch "*) return 0 ;;
	esac
	return 1
}

install_release() {
	if ! tmp=$(mktemp -d "${TMPDIR:-/tmp}/harborha-install.XXXXXX"); then
		reason="cannot create a temporary directory"
		return 1
	fi
	fetch "$archive" "$tmp/$archive" && verify && unpack
}

# fetch NAME DEST: NAME from the release directory (a URL or a local path).
fetch() {
	case $base in
	http://* | https://* | file://*) download "$base/$1" "$2" ;;
	*)
		if ! cp "$base/$1" "$2" 2>/dev/null; then
			reason="cannot read $base/$1"
			return 1
		fi
		;;
	esac
}

download() {
	if command -v curl >/dev/null 2>&1; then
		err=$(curl -fsSL --retry 2 -o "$2" "$1" 2>&1) && return 0
	elif command -v wget >/dev/null 2>&1; then
		err=$(wget -q -O "$2" "$1" 2>&1) && return 0
	else
		reason="neither curl nor wget is installed (tried to download $1)"
		return 1
	fi
	reason="download of $1 failed: $(printf '%s' "$err" | tr '\n' ' ')"
	return 1
}

# verify: the archive's sha256 is the one checksums.txt lists for it. A
# Helm 4 plugin archive carries checksums.txt, covered by its signature.
verify() {
	sums=checksums.txt
	sums_from="$plugin_dir/checksums.txt (signed with the plugin)"
	if [ ! -f "$sums" ]; then
		sums=$tmp/checksums.txt
		sums_from=$base/checksums.txt
		fetch checksums.txt "$sums" || return 1
	fi
	want=$(awk -v n="$archive" '$2 == n || $2 == "*" n { print $1; exit }' "$sums")
	if [ -z "$want" ]; then
		reason="$archive is not listed in $sums_from"
		return 1
	fi
	got=$(sha256 "$tmp/$archive")
	if [ "$got" != "$want" ]; then
		reason="checksum mismatch for $base/$archive: sha256 $got, $sums_from says $want"
		return 1
	fi
}

sha256() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d ' ' -f 1
	else
		shasum -a 256 "$1" | cut -d ' ' -f 1
	fi
}

# unpack: only bin/harborha, into a temporary directory first; it must run
# before it replaces anything.
unpack() {
	new=$tmp/x/bin/harborha$exe
	mkdir "$tmp/x"
	if ! tar -xzf "$tmp/$archive" -C "$tmp/x" "bin/harborha$exe" 2>/dev/null || [ -L "$new" ] || ! works "$new"; then
		reason="$base/$archive holds no bin/harborha$exe $version that runs here"
		return 1
	fi
	# A checkout's post-renderer plugin links bin to ../../bin.
	if [ -L bin ] && [ ! -e bin ]; then
		mkdir -p "$(readlink bin)"
	fi
	if ! { mkdir -p bin && cp "$new" "bin/.harborha$exe.new" && chmod 755 "bin/.harborha$exe.new" && mv -f "bin/.harborha$exe.new" "$target"; }; then
		reason="cannot write $plugin_dir/$target"
		return 1
	fi
}

build_from_source() {
	if [ ! -f go.mod ] || [ ! -d cmd/harborha ] || ! command -v go >/dev/null 2>&1; then
		return 1
	fi
	echo "helm-harborha: $reason; building bin/harborha $version from source with Go" >&2
	if ! go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$target" ./cmd/harborha || ! works "$target"; then
		reason="$reason, and the build from source failed"
		return 1
	fi
}

main "$@"

#!/bin/sh
# Helm plugin install/update hook: puts bin/harborha and
# bin/harborha-post-render (the post-renderer Helm runs on every render)
# into the plugin directory, both or neither, without Go on the machine:
#
#   1. both there and running here, bin/harborha of plugin.yaml's version:
#      done (the post-renderer plugin inside the CLI plugin's directory
#      links to the CLI plugin's);
#   2. else the release archive for this platform from the project's GitHub
#      release (HARBORHA_RELEASE_URL: another directory URL, or a local
#      directory, holding the release files: mirrors, air-gapped networks),
#      checked against checksums.txt (the signed copy inside a Helm 4 plugin
#      archive when there is one), and only the two binaries unpacked;
#   3. else, in a git checkout with Go on PATH, a build of both from source
#      with scripts/build.sh (the build of make build and make dist);
#   4. else one line on stderr (what was tried, how to install by hand),
#      neither binary left behind, exit status 1.
#
# Unpacked or built, both go to a temporary directory first and must run
# there (bin/harborha version and bin/harborha-post-render --version must
# print the plugin's version); only then do they replace the plugin's,
# bin/harborha last.
#
# POSIX sh (alpine's busybox too): curl or wget, tar, and sha256sum (or
# shasum -a 256 on macOS); nothing else beyond the basic utilities.
set -eu

project=https://github.com/harborha/helm-harborha
releases=$project/releases/download
platforms="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
tmp=
reason=
broken=
placing=

main() {
	cd "${HELM_PLUGIN_DIR:-$(dirname "$0")/..}"
	plugin_dir=$(pwd)
	version=$(sed -n 's/^version: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' plugin.yaml)
	detect_platform
	base=${HARBORHA_RELEASE_URL:-$releases/v$version}
	base=${base%/}
	cli=bin/harborha$exe
	post=bin/harborha-post-render$exe
	if runs .; then
		exit 0
	fi
	if use_enclosing_binaries; then
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
	remove_binaries
	howto="download $archive and checksums.txt from $base/, check the archive's sha256 against checksums.txt and unpack $cli and $post from it into $plugin_dir"
	if ! supported; then
		howto="install Go 1.26+ and install the plugin from a git checkout of $project, which builds $cli and $post from source"
	fi
	echo "helm-harborha: cannot install $cli and $post $version for $os/$arch: $reason; to install by hand, $howto" >&2
	exit 1
}

# remove_binaries: neither binary, nor a copy on its way into place; one
# without the other is no plugin.
remove_binaries() {
	rm -f "$cli" "$post" "$(staged "$cli")" "$(staged "$post")"
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	if [ -n "$placing" ]; then
		remove_binaries
	fi
	if [ -n "$tmp" ]; then
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# runs DIR: both binaries under DIR are files that run on this machine and
# say they are $version; else broken says which does not.
runs() {
	if ! [ -f "$1/$cli" ] || [ "$("$1/$cli" version </dev/null 2>/dev/null || true)" != "harborha $version" ]; then
		broken="$cli does not run here or is not harborha $version"
	elif ! [ -f "$1/$post" ] || [ "$("$1/$post" --version </dev/null 2>/dev/null || true)" != "harborha-post-render $version" ]; then
		broken="$post does not run here or is not harborha-post-render $version"
	else
		return 0
	fi
	return 1
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

# use_enclosing_binaries: the post-renderer plugin inside the CLI plugin's
# directory (plugins/harborha-post-renderer of a checkout or of an unpacked
# platform archive) uses the CLI plugin's binaries, as a checkout's link
# does.
use_enclosing_binaries() {
	[ ! -e bin ] && [ ! -L bin ] && [ -f ../../plugin.yaml ] && runs ../.. &&
		ln -s ../../bin bin && runs .
}

supported() {
	case " $platforms " in
	*" $os/$arch "*) return 0 ;;
	esac
	return 1
}

install_release() {
	make_tmp && fetch "$archive" "$tmp/$archive" && verify && unpack && place "$tmp/x"
}

make_tmp() {
	if [ -n "$tmp" ]; then
		return 0
	fi
	if ! tmp=$(mktemp -d "${TMPDIR:-/tmp}/harborha-install.XXXXXX"); then
		tmp=
		reason="cannot create a temporary directory"
		return 1
	fi
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

# unpack: only the two binaries, into $tmp/x; both must run there.
unpack() {
	mkdir "$tmp/x"
	what="$base/$archive holds no $cli and $post $version that run here"
	if ! tar -xzf "$tmp/$archive" -C "$tmp/x" "$cli" "$post" 2>/dev/null; then
		reason="$what: tar cannot unpack them"
		return 1
	fi
	if [ -L "$tmp/x/$cli" ] || [ -L "$tmp/x/$post" ]; then
		reason="$what: the archive holds links"
		return 1
	fi
	if ! runs "$tmp/x"; then
		reason="$what: $broken"
		return 1
	fi
}

# staged FILE: where FILE waits, in its own directory, to be renamed into
# place.
staged() {
	printf '%s\n' "bin/.${1#bin/}.new"
}

# place DIR: both binaries from DIR (checked by runs) copied next to their
# targets, then renamed into place, bin/harborha last. A failed step, or a
# signal on the way, leaves neither (fail and the EXIT trap remove both).
place() {
	# A checkout's post-renderer plugin links bin to ../../bin.
	if [ -L bin ] && [ ! -e bin ]; then
		mkdir -p "$(readlink bin)"
	fi
	placing=1
	if ! { mkdir -p bin && stage "$1" "$post" && stage "$1" "$cli" &&
		mv -f "$(staged "$post")" "$post" && mv -f "$(staged "$cli")" "$cli"; }; then
		reason="cannot write $plugin_dir/$cli and $plugin_dir/$post"
		return 1
	fi
	placing=
}

stage() {
	cp "$1/$2" "$(staged "$2")" && chmod 755 "$(staged "$2")"
}

# build_from_source: both binaries, built into $tmp/src by scripts/build.sh
# (the build make build and make dist run), checked and put in place as a
# release's are.
build_from_source() {
	if [ ! -f go.mod ] || [ ! -f scripts/build.sh ] || ! command -v go >/dev/null 2>&1; then
		return 1
	fi
	echo "helm-harborha: $reason; building $cli and $post $version from source with Go" >&2
	if ! make_tmp; then
		return 1
	fi
	broken=
	if ! { sh ./scripts/build.sh "$tmp/src/bin" && runs "$tmp/src"; }; then
		reason="$reason, and the build from source failed${broken:+ ($broken)}"
		return 1
	fi
	place "$tmp/src"
}

main "$@"

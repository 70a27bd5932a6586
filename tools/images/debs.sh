#!/bin/sh
# debs.sh CACHE OUT PKG...: Debian packages unpacked into OUT without
# installing them (apt-get download + dpkg-deb -x), so the host stays as it
# is. Downloads go to CACHE once; `apt-get update` runs only when a package
# cannot be found. OUT is replaced whole, never left half-written.
set -eu
cache=$1 out=$2
shift 2
mkdir -p "$cache"
missing=
for p in "$@"; do
	ls "$cache/${p}"_*.deb >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086 # a list of package names
	(cd "$cache" && apt-get download -q $missing) ||
		{ apt-get update -qq && (cd "$cache" && apt-get download -q $missing); }
fi
rm -rf "$out.tmp"
mkdir -p "$out.tmp"
for p in "$@"; do
	deb=$(ls "$cache/${p}"_*.deb | tail -n 1)
	[ -f "$deb" ] || { echo "debs.sh: package $p was not downloaded" >&2; exit 1; }
	dpkg-deb -x "$deb" "$out.tmp"
done
rm -rf "$out"
mv "$out.tmp" "$out"

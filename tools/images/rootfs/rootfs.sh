#!/bin/sh
# rootfs.sh IMAGE OUT DEBROOT: the image directory OUT (rootfs/ +
# config.json, see tools/images/pack) of one of the real node's images
# built from Debian's binaries, unpacked in DEBROOT (debs.sh):
#   postgres  PostgreSQL 15 server (primary, or streaming standby; pg-entrypoint)
#   redis     Redis 7 server and redis-cli (primary or replica; redis-entrypoint)
#   tools     /bin/sh (busybox), psql 15 and redis-cli 7: bootstrap's Jobs
# Every dynamically linked binary comes with the shared libraries ldd finds
# for it (DEBROOT first, then the host's); a library ldd cannot find stops
# the build, naming it. Files keep their names; busybox gives /bin/sh and
# its applets. OUT is replaced whole.
set -eu
image=$1 out=$2 debroot=$(cd "$3" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
root=$out.tmp/rootfs
rm -rf "$out.tmp"
# Debian's merged /usr: /bin, /lib, /lib64 and /sbin are links into /usr.
mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64"
for d in bin sbin lib lib64; do ln -s "usr/$d" "$root/$d"; done
libpath=$debroot/lib/x86_64-linux-gnu:$debroot/usr/lib/x86_64-linux-gnu:$debroot/usr/lib/x86_64-linux-gnu/pulseaudio

# copy SRC DEST: one file into the rootfs, links resolved.
copy() {
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2"
}

# libs FILE: the shared libraries FILE needs, at their paths in the image.
libs() {
	LD_LIBRARY_PATH=$libpath ldd "$1" 2>/dev/null | while read -r a b c _; do
		case "$a $b $c" in
		*"not found"*) echo "rootfs.sh: $image: $1 needs $a, which neither $debroot nor the host has (add its Debian package)" >&2; exit 1 ;;
		*"=> /"*) lib=$c ;;
		/*) lib=$a ;;
		*) continue ;;
		esac
		dest=${lib#"$debroot"}
		[ -e "$root$dest" ] || copy "$lib" "$dest"
	done
}

# bin SRC [DEST]: a binary from DEBROOT (path inside it) with its libraries.
bin() {
	src=$debroot$1
	[ -f "$src" ] || { echo "rootfs.sh: $image: $src missing (is its Debian package in the list?)" >&2; exit 1; }
	copy "$src" "${2:-$1}"
	libs "$src"
}

# busybox: /bin/sh and busybox's other applets (Debian's busybox has no
# printenv applet; env is there).
busybox() {
	bin /bin/busybox
	for a in $("$debroot/bin/busybox" --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
}

# base UID NAME: /etc/passwd and /etc/group with root and NAME, /tmp.
base() {
	mkdir -p "$root/etc" "$root/tmp"
	chmod 1777 "$root/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:%s:%s:%s:/home/%s:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' "$2" "$1" "$1" "$2" "$2" >"$root/etc/passwd"
	printf 'root:x:0:\n%s:x:%s:\nnogroup:x:65534:\n' "$2" "$1" >"$root/etc/group"
	echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
	busybox
}

case $image in
postgres)
	base 999 postgres
	pg=/usr/lib/postgresql/15
	for b in postgres initdb pg_ctl pg_basebackup pg_isready pg_controldata psql; do bin $pg/bin/$b; done
	# Server modules, without the JIT (it needs LLVM, off by default anyway).
	for so in "$debroot$pg"/lib/*.so; do
		case $so in */llvmjit.so) continue ;; esac
		bin "${so#"$debroot"}"
	done
	mkdir -p "$root/usr/share/postgresql"
	cp -a "$debroot/usr/share/postgresql/15" "$root/usr/share/postgresql/"
	# Debian builds PostgreSQL with the system's time zone data.
	mkdir -p "$root/usr/share/zoneinfo/Etc"
	cp -L "$debroot/usr/share/zoneinfo/Etc/UTC" "$root/usr/share/zoneinfo/Etc/UTC"
	cp -L "$debroot/usr/share/zoneinfo/Etc/UTC" "$root/usr/share/zoneinfo/UTC"
	mkdir -m 1777 -p "$root/var/run/postgresql" "$root/data"
	copy "$here/pg-entrypoint" /usr/local/bin/pg-entrypoint
	cat >"$out.tmp/config.json" <<-'JSON'
	{"ref": "harborha.local/postgres",
	 "entrypoint": ["/usr/local/bin/pg-entrypoint"],
	 "env": ["PATH=/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin", "PGDATA=/data/pgdata", "TZ=UTC"],
	 "user": "999:999", "exposedPorts": ["5432/tcp"],
	 "labels": {"org.opencontainers.image.description": "PostgreSQL 15 (Debian), primary or streaming standby"}}
	JSON
	;;
redis)
	base 999 redis
	bin /usr/bin/redis-server
	bin /usr/bin/redis-cli
	mkdir -m 1777 -p "$root/data"
	copy "$here/redis-entrypoint" /usr/local/bin/redis-entrypoint
	cat >"$out.tmp/config.json" <<-'JSON'
	{"ref": "harborha.local/redis",
	 "entrypoint": ["/usr/local/bin/redis-entrypoint"],
	 "env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
	 "user": "999:999", "exposedPorts": ["6379/tcp"],
	 "labels": {"org.opencontainers.image.description": "Redis 7 (Debian), primary or replica"}}
	JSON
	;;
tools)
	base 1000 tools
	bin /usr/lib/postgresql/15/bin/psql /usr/bin/psql
	bin /usr/bin/redis-cli
	cat >"$out.tmp/config.json" <<-'JSON'
	{"ref": "harborha.local/tools",
	 "cmd": ["/bin/sh"],
	 "env": ["PATH=/usr/bin:/bin"],
	 "user": "1000:1000",
	 "labels": {"org.opencontainers.image.description": "busybox sh (no printenv applet), psql 15, redis-cli 7: bootstrap's Jobs"}}
	JSON
	;;
*)
	echo "rootfs.sh: unknown image $image (postgres, redis, tools)" >&2
	exit 2
	;;
esac
rm -rf "$out"
mv "$out.tmp" "$out"

#!/usr/bin/env bash
# Lays out the Harbor images as directories $IMAGES/<name>/{rootfs,config.json}
# (IMAGES-CONTRACT.md: another step packs each into an OCI tarball), as
# Harbor 2.15.1's make/photon/<component>/Dockerfile lays them out: the same
# paths, users (harbor / scanner / nginx, uid and gid 10000), working
# directories, entrypoint scripts and data files. Instead of Photon OS each
# image gets: Debian's busybox-static as /bin/sh and the tools the entrypoint
# scripts call, the host's CA bundle at Photon's /etc/pki/tls/certs/ca-bundle.crt,
# /etc/passwd and /etc/group, /tmp; nginx and portal get Debian's nginx with
# the shared libraries ldd names.
# The tag of each image is a content hash of its rootfs (paths, types, modes,
# link targets, file contents) and of its config: same inputs, same reference.
# Usage: harbor-images.sh debs | <image name> | values
set -euo pipefail
umask 022 # modes are part of the content hash

: "${HB:?HB (bin/harbor) is not set}"
: "${IMAGES:?IMAGES (bin/images) is not set}"
REPO=harborha.local
HARBOR=$HB/src/harbor # the unpacked Harbor tree (harbor-build.sh prepare)
OUT=$HB/out           # the binaries (harbor-build.sh)
DEBS=$HB/debs         # Debian packages, unpacked (step debs)
PATH_ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The chart's image tags are Harbor's release; trivy's version is the one
# Harbor 2.15.1 pins, reported by the adapter's metadata (the CLI is not in
# the image: docs/harbor-from-source.md).
TRIVY_VERSION=v0.70.0

log() { printf '%s harbor-images: %s\n' "$(date +%T)" "$*" >&2; }

# debs: Debian's nginx and busybox-static, downloaded (not installed: no
# service starts on the host) and unpacked under $DEBS.
debs() {
	rm -rf "$DEBS" && mkdir -p "$DEBS/download" "$DEBS/root"
	# apt-get warns when its _apt user cannot write here; only a failure
	# counts. Package lists that were never fetched are fetched once.
	local download=(apt-get download nginx nginx-common busybox-static)
	(cd "$DEBS/download" && "${download[@]}" >"$DEBS/apt-get.log" 2>&1) || {
		local sudo=()
		[ "$(id -u)" -eq 0 ] || sudo=(sudo)
		"${sudo[@]}" apt-get update -qq >>"$DEBS/apt-get.log" 2>&1
		(cd "$DEBS/download" && "${download[@]}" >>"$DEBS/apt-get.log" 2>&1)
	} || {
		cat "$DEBS/apt-get.log" >&2
		echo "harbor-images: ${download[*]} failed (output above)" >&2
		exit 1
	}
	local deb
	for deb in "$DEBS"/download/*.deb; do
		dpkg-deb -x "$deb" "$DEBS/root"
	done
	(cd "$DEBS/download" && ls) >"$DEBS/packages"
}

R= # the rootfs being built
OWNERS=() # paths inside the rootfs owned by the image's user

# own <path>...: the paths (recursively, as they are now) belong to uid:gid
# 10000; a path named twice is listed once.
own() {
	local p
	for p in "$@"; do
		while IFS= read -r f; do OWNERS+=("$f"); done < <(cd "$R" && find "${p#/}" | LC_ALL=C sort)
	done
}

# base <user> <home>: what every image has from its Photon base.
base() {
	local user=$1 home=$2
	mkdir -p "$R"/{bin,etc,tmp,root,"${home#/}"} "$R/etc/pki/tls/certs" "$R/etc/ssl"
	chmod 1777 "$R/tmp"
	chmod 700 "$R/root"
	printf 'root:x:0:0:root:/root:/bin/sh\n%s:x:10000:10000::%s:/bin/sh\n' "$user" "$home" >"$R/etc/passwd"
	printf 'root:x:0:\n%s:x:10000:\n' "$user" >"$R/etc/group"
	printf 'hosts: files dns\n' >"$R/etc/nsswitch.conf"
	# install_cert.sh greps it for Photon (and appends CAs only there).
	printf 'DISTRIB_ID=harborha\nDISTRIB_DESCRIPTION="helm-harborha test image: busybox and Debian packages"\n' >"$R/etc/lsb-release"
	cp /etc/ssl/certs/ca-certificates.crt "$R/etc/pki/tls/certs/ca-bundle.crt"
	ln -s ../pki/tls/certs "$R/etc/ssl/certs" # Photon's layout
	cp "$DEBS/root/bin/busybox" "$R/bin/busybox"
	local applet
	for applet in $("$R/bin/busybox" --list); do
		[ "$applet" = busybox ] || ln -s busybox "$R/bin/$applet"
	done
	own "$home"
}

# tzdata: core, jobservice and exporter install Photon's tzdata.
tzdata() {
	mkdir -p "$R/usr/share"
	cp -a /usr/share/zoneinfo "$R/usr/share/zoneinfo"
}

# install <src> <dest> <mode>: one file into the rootfs.
install_file() {
	mkdir -p "$(dirname "$R$2")"
	cp "$1" "$R$2"
	chmod "$3" "$R$2"
}

script() { install_file "$HARBOR/make/photon/$1" "$2" 0755; }

# nginx_base: Photon's nginx base (nginx as user nginx, uid 10000, logs to
# stdout/stderr), with Debian's nginx binary and its shared libraries.
nginx_base() {
	base nginx /home/nginx
	install_file "$DEBS/root/usr/sbin/nginx" /usr/sbin/nginx 0755
	local lib
	for lib in $(ldd "$DEBS/root/usr/sbin/nginx" | grep -o '/[^ ]*'); do
		install_file "$lib" "$lib" 0755
	done
	cp -a "$DEBS/root/etc/nginx" "$R/etc/nginx"
	# Photon's nginx.conf would be replaced by the chart's in any case; this
	# one runs unprivileged on 8080 as Harbor's images do.
	cat >"$R/etc/nginx/nginx.conf" <<-'EOF'
		worker_processes auto;
		pid /tmp/nginx.pid;
		events { worker_connections 1024; }
		http {
		    client_body_temp_path /tmp/client_body_temp;
		    proxy_temp_path /tmp/proxy_temp;
		    fastcgi_temp_path /tmp/fastcgi_temp;
		    uwsgi_temp_path /tmp/uwsgi_temp;
		    scgi_temp_path /tmp/scgi_temp;
		    include /etc/nginx/mime.types;
		    server { listen 8080; root /usr/share/nginx/html; }
		}
	EOF
	mkdir -p "$R"/var/{log/nginx,cache/nginx,lib/nginx} "$R/run" "$R/usr/share/nginx/html"
	ln -s /dev/stdout "$R/var/log/nginx/access.log"
	ln -s /dev/stderr "$R/var/log/nginx/error.log"
	own /var/cache/nginx /var/lib/nginx /run
}

# in_harbor <component> <binary>: core, jobservice and the exporter: a base
# with tzdata, the binary and the entrypoint scripts in /harbor, started there.
in_harbor() {
	base harbor /home/harbor
	tzdata
	script common/install_cert.sh /harbor/install_cert.sh
	script "$1/entrypoint.sh" /harbor/entrypoint.sh
	install_file "$OUT/$2" "/harbor/$2" 0755
	ENTRYPOINT='"/harbor/entrypoint.sh"' WORKDIR=/harbor PORTS='"8080/tcp"'
}

# with_registry <script> <volume>: the registry and registryctl images: the
# registry binary (registryctl runs it for GC), /etc/registry, the volume's
# directory, the entrypoint scripts in /home/harbor.
with_registry() {
	local entrypoint
	entrypoint=/home/harbor/$(basename "$1")
	base harbor /home/harbor
	mkdir -p "$R/etc/registry" "$R$2"
	script common/install_cert.sh /home/harbor/install_cert.sh
	script "$1" "$entrypoint"
	install_file "$OUT/registry" /usr/bin/registry_DO_NOT_USE_GC 0755
	own /home/harbor /etc/pki/tls/certs /usr/bin/registry_DO_NOT_USE_GC "$2"
	ENTRYPOINT="\"$entrypoint\""
}

# layout <name>: the rootfs of one image and its config fields.
layout() {
	ENTRYPOINT='' CMD='' WORKDIR='/' PORTS='' STOPSIGNAL='' ENV=("$PATH_ENV")
	case $1 in
	harbor-core)
		in_harbor core harbor_core
		cp -r "$HARBOR/src/core/views" "$R/harbor/views"
		cp -r "$HARBOR/make/migrations" "$R/harbor/migrations"
		cp -r "$HARBOR/icons" "$R/harbor/icons"
		# Harbor's Makefile writes make/photon/prepare/versions (VERSIONS_FOR_PREPARE).
		printf 'VERSION_TAG: v2.15.1\nREGISTRY_VERSION: v2.8.3-patch-redis\nTRIVY_VERSION: %s\nTRIVY_ADAPTER_VERSION: v0.36.0\n' \
			"$TRIVY_VERSION" >"$R/harbor/versions"
		own /harbor /etc/pki/tls/certs
		;;
	harbor-jobservice)
		in_harbor jobservice harbor_jobservice
		mkdir -p "$R/var/log/jobs"
		own /harbor /etc/pki/tls/certs /var/log/jobs
		;;
	registry-photon)
		with_registry registry/entrypoint.sh /storage
		PORTS='"5000/tcp"'
		;;
	harbor-registryctl)
		with_registry registryctl/start.sh /var/lib/registry
		install_file "$OUT/harbor_registryctl" /home/harbor/harbor_registryctl 0755
		own /home/harbor
		PORTS='"8080/tcp"'
		;;
	harbor-exporter)
		in_harbor exporter harbor_exporter
		own /harbor /etc/pki/tls/certs
		;;
	trivy-adapter-photon)
		base scanner /home/scanner
		script common/install_cert.sh /home/scanner/install_cert.sh
		script trivy-adapter/entrypoint.sh /home/scanner/entrypoint.sh
		install_file "$OUT/scanner-trivy" /home/scanner/bin/scanner-trivy 0755
		mkdir -p "$R/home/scanner/.cache"
		own /home/scanner /etc/pki/tls/certs
		ENTRYPOINT='"/home/scanner/entrypoint.sh"' PORTS='"8080/tcp"'
		ENV+=("TRIVY_VERSION=$TRIVY_VERSION")
		;;
	nginx-photon)
		nginx_base
		# STOPSIGNAL SIGQUIT as Harbor's Dockerfile: nginx stops gracefully.
		CMD='"nginx", "-g", "daemon off;"' PORTS='"8080/tcp"' STOPSIGNAL=SIGQUIT
		;;
	harbor-portal)
		nginx_base
		# A placeholder page instead of the Angular UI (docs/harbor-from-source.md:
		# the npm build would cost CI ~6 minutes and no test reads the UI).
		cat >"$R/usr/share/nginx/html/index.html" <<-'EOF'
			<!doctype html>
			<html><head><meta charset="utf-8"><title>Harbor</title></head>
			<body><p>Harbor 2.15.1 portal placeholder: helm-harborha's test image serves this page instead of the UI.</p></body></html>
		EOF
		own /etc/nginx
		CMD='"nginx", "-g", "daemon off;"' PORTS='"8080/tcp"' STOPSIGNAL=SIGQUIT
		;;
	*)
		echo "harbor-images: unknown image $1" >&2
		exit 2
		;;
	esac
}

json_list() { # json_list a b c -> "a", "b", "c"
	local out='' x
	for x in "$@"; do out+="${out:+, }\"$x\""; done
	printf '%s' "$out"
}

# config <ref>: config.json (IMAGES-CONTRACT), with the reference given.
config() {
	local owners='' p
	while IFS= read -r p; do
		owners+="${owners:+,}"$'\n'"    \"$p\": \"10000:10000\""
	done < <(printf '%s\n' "${OWNERS[@]}" | LC_ALL=C sort -u)
	local stop=''
	[ -z "$STOPSIGNAL" ] || stop=$'\n'"  \"stopSignal\": \"$STOPSIGNAL\","
	cat <<-EOF
		{
		  "ref": "$1",
		  "entrypoint": [${ENTRYPOINT}],
		  "cmd": [${CMD}],
		  "workingDir": "$WORKDIR",
		  "env": [$(json_list "${ENV[@]}")],
		  "user": "10000:10000",
		  "exposedPorts": [${PORTS}],${stop}
		  "owners": {${owners}
		  }
		}
	EOF
}

# content_hash: the first 16 hex digits of a sha256 over the rootfs and the
# config (without its reference).
content_hash() {
	{
		(cd "$R" && find . -printf '%P\t%y\t%m\t%l\n' | LC_ALL=C sort)
		(cd "$R" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
		config ''
	} | sha256sum | cut -c1-16
}

image() {
	local name=$1 dir=$IMAGES/$1
	log "$name"
	rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/rootfs"
	R=$dir.tmp/rootfs
	layout "$name"
	config "$REPO/$name:$(content_hash)" >"$dir.tmp/config.json"
	rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# values: the chart 1.19.1 image values for the images built, as YAML.
values() {
	local key name ref
	echo "# Chart 1.19.1 image values for the images in $IMAGES (scripts/harbor-images.sh values)."
	echo "imagePullPolicy: IfNotPresent"
	while read -r key name; do
		ref=$(sed -n 's/^  "ref": "\(.*\)",$/\1/p' "$IMAGES/$name/config.json")
		[ -n "$ref" ] || { echo "harbor-images: no ref in $IMAGES/$name/config.json" >&2; exit 1; }
		printf '%s:\n  image:\n    repository: %s\n    tag: "%s"\n' "$key" "${ref%:*}" "${ref##*:}"
	done <<-EOF
		nginx nginx-photon
		portal harbor-portal
		core harbor-core
		jobservice harbor-jobservice
		trivy trivy-adapter-photon
		exporter harbor-exporter
	EOF
	# The registry's two containers nest one level deeper.
	printf 'registry:\n'
	while read -r key name; do
		ref=$(sed -n 's/^  "ref": "\(.*\)",$/\1/p' "$IMAGES/$name/config.json")
		printf '  %s:\n    image:\n      repository: %s\n      tag: "%s"\n' "$key" "${ref%:*}" "${ref##*:}"
	done <<-EOF
		registry registry-photon
		controller harbor-registryctl
	EOF
}

case ${1:-} in
debs) debs ;;
values) values ;;
"") echo "usage: harbor-images.sh debs | values | <image name>" >&2 && exit 2 ;;
*) image "$1" ;;
esac

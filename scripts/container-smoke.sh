#!/usr/bin/env bash
# scripts/container-smoke.sh: build the real Dockerfile, run docker-compose.yml,
# and run deploy/nginx.conf in front of two lined, for real, on one machine.
#
# Run as root from the repository (CI: .ci/run). It needs Go and, if missing,
# installs docker.io, docker-compose, nginx and curl with apt-get. Nothing
# needs a registry:
#   - Docker: a daemon that answers (DOCKER_HOST or the default socket) is used
#     as is; otherwise the script starts its own dockerd (vfs storage, no
#     bridge, no iptables, everything under a temporary directory).
#   - The builder image named in the Dockerfile (golang:1.26-bookworm): if the
#     daemon lacks it, the script makes a stand-in from this machine's Go
#     toolchain, a shell and libc from the host, and a module proxy directory
#     filled by "go mod download" (GOPROXY=file://..., so the build needs no
#     network), and docker-imports it under that name.
#   - The image is built by docker-compose build with no BuildKit variable
#     set: the classic builder, which docker-compose 1.29 uses and Docker 23+
#     falls back to when the buildx plugin is missing.
#   - nginx, for the scale profile: if the daemon lacks the image compose
#     names, a stand-in made from this machine's nginx (and wget, for its health
#     check) is imported under a private tag and passed as NGINX_IMAGE.
# Checks: compose config (default and scale profiles); image metadata (non-root
# numeric USER, HEALTHCHECK, ENTRYPOINT, size); compose up with an unreadable
# file: fails, and docker-compose logs mkindex says why; compose up: mkindex exits 0
# before lined starts, lined uses its index, becomes healthy, runs as uid 65532,
# serves /lines/N byte-exact against sed (hostile bytes included), 413 past the
# end, exits 0 on stop; compose --profile scale: 3 replicas and nginx healthy,
# misses spread over the replicas, repeats cached; deploy/nginx.conf passes the
# host's nginx -t and, run natively in front of two bin/lined on 127.0.0.1,
# balances (each lined's /metrics), caches (HIT, 304 on If-None-Match, errors
# not cached) and fails over when one lined stops.
# Tears down all it made, and only that, on success, failure or interrupt.
# (With a daemon it did not start, BuildKit's build cache of this build stays.)
# Environment: SMOKE_TIMEOUT (seconds, default 900) bounds the whole run;
# SMOKE_NETWORK=host forces the host-network fallback for compose.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
# The report goes to the original stdout/stderr (fds 3, 4), even when a signal
# arrives while a step's output is redirected to its log.
exec 3>&1 4>&2
started=$SECONDS
budget=${SMOKE_TIMEOUT:-900}
id=$$
project=linedsmoke$id
image=lined-smoke:$id
tmp=$(mktemp -d /tmp/lined-smoke.XXXXXX) # short: it holds unix sockets
chmod 755 "$tmp"

docker=docker
compose_files=(-f docker-compose.yml)
# What this run made, for cleanup.
own_dockerd_pid=
own_containerd_pid=
imported_base=
imported_nginx=
host_network=
built_image=
compose_up=
policy_rc_made=
native_pids=()
watchdog_pid=
bg_pid=

results=()
failures=0
note() { printf '   %s\n' "$*"; }
pass() {
	printf 'PASS %s\n' "$*" >&3
	results+=("PASS $*")
}
fail() {
	printf 'FAIL %s\n' "$*" >&3
	results+=("FAIL $*")
	failures=$((failures + 1))
}
phase_t0=$SECONDS
phase() {
	phase_t0=$SECONDS
	printf '\n== %s (t=%ds)\n' "$*" $((SECONDS - started))
}
took() { echo "$((SECONDS - phase_t0)) s"; }
tailf() { [ -f "$1" ] && tail -n "${2:-25}" "$1" | sed 's/^/   | /' || true; }
die() {
	fail "$*"
	exit 1
}

# bg CMD...: run CMD in the background and wait for it, so that a signal
# (Ctrl-C, the time budget) is handled at once instead of after CMD; cleanup
# stops it.
bg() {
	local rc=0
	"$@" &
	bg_pid=$!
	wait "$bg_pid" || rc=$?
	bg_pid=
	return $rc
}

compose() {
	bg timeout 300 docker-compose -p "$project" "${compose_files[@]}" "$@"
}

cleanup() {
	local rc=$? p i
	trap - EXIT INT TERM
	set +e
	exec 1>&3 2>&4
	printf '\n== cleanup (t=%ds)\n' $((SECONDS - started))
	[ -z "$watchdog_pid" ] || kill "$watchdog_pid" 2>/dev/null
	if [ -n "$bg_pid" ]; then
		kill -TERM "$bg_pid" 2>/dev/null && note "stopped the interrupted step ($bg_pid)"
		for i in $(seq 1 20); do kill -0 "$bg_pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$bg_pid" 2>/dev/null
	fi
	for p in "${native_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && note "stopped native process $p"
	done
	for p in "${native_pids[@]}"; do
		for i in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$p" 2>/dev/null
	done
	if [ -n "$compose_up" ]; then
		compose --profile scale down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 &&
			note "compose project $project down, its volume and network removed" ||
			{ note "compose down failed:"; tailf "$tmp/down.log"; }
	fi
	if [ -z "$own_dockerd_pid" ]; then
		# A daemon we did not start: remove exactly the images we made.
		for p in "$built_image" "$imported_base" "$imported_nginx"; do
			[ -n "$p" ] || continue
			if $docker rmi -f "$p" >/dev/null 2>&1; then
				note "removed image $p"
			else
				note "could not remove image $p"
			fi
		done
	else
		kill -TERM "$own_dockerd_pid" 2>/dev/null
		for i in $(seq 1 60); do kill -0 "$own_dockerd_pid" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$own_dockerd_pid" 2>/dev/null && note "dockerd $own_dockerd_pid had to be killed"
		if [ -n "$own_containerd_pid" ]; then
			for i in $(seq 1 20); do kill -0 "$own_containerd_pid" 2>/dev/null || break; sleep 0.5; done
			kill -KILL "$own_containerd_pid" 2>/dev/null && note "containerd $own_containerd_pid had to be killed"
		fi
		note "stopped our dockerd ($own_dockerd_pid) and its containerd; its images and data go with $tmp"
	fi
	# Mounts left under our directory (container shm, netns) would block rm.
	awk -v t="$tmp/" 'index($2, t) == 1 {print $2}' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null; done
	[ -z "$policy_rc_made" ] || rm -f /usr/sbin/policy-rc.d
	rm -rf "$tmp"
	note "removed $tmp"

	printf '\n== summary (%d s in all)\n' $((SECONDS - started))
	printf '%s\n' "${results[@]}"
	if [ "$failures" = 0 ] && [ "$rc" = 0 ]; then
		echo "container-smoke: PASS"
		exit 0
	fi
	echo "container-smoke: FAIL ($failures failed check(s), exit status $rc)"
	exit 1
}
trap cleanup EXIT
trap 'fail "interrupted (SIGINT)"; exit 1' INT
trap 'fail "stopped (SIGTERM, or the time budget)"; exit 1' TERM

# The whole run is bounded: after $budget seconds, stop and clean up.
(
	trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
	sleep "$budget" &
	sleeper=$!
	wait "$sleeper"
	echo "container-smoke: time budget of $budget s exceeded" >&4
	kill -TERM $$
) &
watchdog_pid=$!

free_port() {
	local p i
	for i in $(seq 1 100); do
		# Below the ephemeral range (32768-60999 here): a client polling a
		# port in that range before the server listens can connect to itself
		# and take the port.
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || continue
		(exec 5<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		echo "$p"
		return
	done
	return 1
}

# wait_for SECONDS CMD...: retry CMD every 0.5 s.
wait_for() {
	local n=$(($1 * 2))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
		n=$((n - 1))
	done
	return 1
}

# host_files ROOT FILE...: copy host executables into the root file system
# ROOT, at the same paths, with the shared libraries they load.
host_files() {
	local root=$1 b r l
	shift
	for b in "$@"; do
		[ -e "$b" ] || continue
		r=$(readlink -f "$b")
		mkdir -p "$root$(dirname "$b")" "$root$(dirname "$r")"
		cp -L "$r" "$root$r"
		[ "$b" = "$r" ] || cp -L "$r" "$root$b"
		{ ldd "$r" 2>/dev/null || true; } | awk '/=>/ {print $3} /^\t\// {print $1}' | while read -r l; do
			[ -e "$l" ] || continue
			mkdir -p "$root$(dirname "$l")"
			cp -L "$l" "$root$l"
		done
	done
}

# check_lines URL_PREFIX FILE N...: each URL_PREFIX/N body equals sed -n Np.
check_lines() {
	local url=$1 file=$2 n bad=
	shift 2
	for n in "$@"; do
		sed -n "${n}p" "$file" >"$tmp/want"
		if ! curl -fsS -m 5 -o "$tmp/got" "$url/$n" 2>"$tmp/curl.err"; then
			bad="$bad $n($(cat "$tmp/curl.err"))"
		elif ! cmp -s "$tmp/got" "$tmp/want"; then
			bad="$bad $n(differs)"
		fi
	done
	[ -z "$bad" ] || { note "bad lines:$bad"; return 1; }
}

# metric_requests URL: lined_http_requests_total summed over codes.
metric_requests() {
	curl -fsS -m 5 "$1/metrics" | awk '/^lined_http_requests_total/ {s += $NF} END {printf "%d\n", s}'
}

###############################################################################
phase "Dockerfile's cached packages"
# The Dockerfile compiles a list of dependency packages into a layer of its
# own; a package there that no binary imports any more (a dependency removed
# from go.mod) fails the build inside docker, so say which one, at once.
cached=$(sed -n '/go build -trimpath \\$/,/^COPY \. \.$/p' Dockerfile | awk '$1 ~ /\./ {print $1}')
[ -n "$cached" ] || die "no cached package list found in Dockerfile"
imported=$(go list -deps ./cmd/...)
stale=
for pkg in $cached; do
	grep -qxF "$pkg" <<<"$imported" || stale="$stale $pkg"
done
[ -z "$stale" ] || die "Dockerfile caches packages the binaries no longer import:$stale"
pass "Dockerfile caches $(wc -w <<<"$cached") packages, all imported ($(took))"

###############################################################################
phase "tools"
[ "$(id -u)" = 0 ] || die "run as root (it may install packages and start dockerd)"
command -v go >/dev/null || die "go is needed"
need=()
for c in dockerd docker-compose nginx curl ss; do command -v "$c" >/dev/null || need+=("$c"); done
if [ ${#need[@]} -gt 0 ]; then
	note "missing: ${need[*]}; installing docker.io docker-compose nginx curl"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		# Keep the packages from starting services (nginx on :80, a system
		# dockerd): this test starts only what it needs, where it wants.
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		policy_rc_made=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	bg timeout 300 apt-get update -q >"$tmp/apt.log" 2>&1 &&
		bg timeout 600 apt-get install -y -q docker.io docker-compose nginx curl iproute2 >>"$tmp/apt.log" 2>&1 ||
		{ tailf "$tmp/apt.log"; die "apt-get install failed"; }
	[ -z "$policy_rc_made" ] || { rm -f /usr/sbin/policy-rc.d; policy_rc_made=; }
fi
# Debian's client (20.10) runs BuildKit builds without buildx; a newer client
# earlier in PATH may insist on buildx.
docker=docker
[ -x /usr/bin/docker ] && docker=/usr/bin/docker
note "$($docker --version), $(docker-compose version --short 2>/dev/null || docker-compose --version), $(nginx -v 2>&1), $(go version)"
pass "tools present ($(took))"

###############################################################################
phase "docker daemon"
if [ -z "${SMOKE_OWN_DOCKERD:-}" ] && timeout 10 $docker info >/dev/null 2>&1; then
	note "using the daemon that answers at ${DOCKER_HOST:-the default socket}; only what this run makes is removed"
else
	mkdir -p "$tmp/docker"
	export DOCKER_HOST=unix://$tmp/docker/docker.sock
	dockerd --storage-driver vfs --iptables=false --ip6tables=false --bridge=none \
		--data-root "$tmp/docker/root" --exec-root "$tmp/docker/exec" \
		--host "$DOCKER_HOST" --pidfile "$tmp/docker/docker.pid" \
		>"$tmp/dockerd.log" 2>&1 &
	own_dockerd_pid=$!
	if ! wait_for 60 $docker info; then
		tailf "$tmp/dockerd.log"
		die "our dockerd did not answer within 60 s"
	fi
	own_containerd_pid=$(pgrep -f -- "--config $tmp/docker/exec/containerd/containerd.toml" | head -n 1 || true)
	note "started dockerd $own_dockerd_pid (containerd ${own_containerd_pid:-?}) at $DOCKER_HOST"
fi
note "engine $($docker version --format '{{.Server.Version}}'), storage $($docker info --format '{{.Driver}}')"
pass "docker daemon answers ($(took))"

###############################################################################
phase "builder base image"
base=$(awk 'toupper($1) == "FROM" && toupper($3) == "AS" && $4 == "build" {print $2; exit}' Dockerfile)
[ -n "$base" ] || die "no 'FROM IMAGE AS build' line in Dockerfile"
if $docker image inspect "$base" >/dev/null 2>&1; then
	note "$base is present in the daemon; using it"
else
	want=${base#golang:}
	want=go${want%%-*}
	have=$(go env GOVERSION)
	case $have in "$want" | "$want".*) ;; *) die "$base wanted, but this machine has $have" ;; esac
	note "making $base from this machine's $have (no registry)"
	root=$tmp/rootfs
	mkdir -p "$root/usr/local" "$root/tmp" "$root/go/bin" "$root/root" "$root/etc" "$root/opt"
	chmod 1777 "$root/tmp"
	mkdir -p "$root/usr/local/go"
	tar -C "$(go env GOROOT)" --exclude=./test -cf - . | tar -C "$root/usr/local/go" -xf -
	# A shell and the few tools a Dockerfile RUN uses, with their libraries.
	host_files "$root" /bin/sh /bin/mkdir /bin/ls /bin/cat /bin/cp /bin/rm /usr/bin/env /usr/bin/id
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	# The modules of go.mod, as a file:// module proxy: what go mod download
	# puts in a fresh module cache's cache/download is exactly that layout.
	# (-modfile: copies of go.mod and go.sum, so the repository's stay untouched.)
	hostmod=$(go env GOMODCACHE)
	mkdir -p "$tmp/gomod"
	cp go.mod "$tmp/gomod/go.mod"
	cp go.sum "$tmp/gomod/go.sum"
	GOFLAGS=-mod=readonly timeout 300 go mod download -modfile="$tmp/gomod/go.mod" >"$tmp/gomod.log" 2>&1 ||
		{ tailf "$tmp/gomod.log"; die "go mod download failed on the host"; }
	GOFLAGS=-mod=readonly GOMODCACHE=$tmp/modcache GOPROXY=file://$hostmod/cache/download GOSUMDB=off \
		timeout 300 go mod download -modfile="$tmp/gomod/go.mod" >>"$tmp/gomod.log" 2>&1 ||
		{ tailf "$tmp/gomod.log"; die "go mod download into the stand-in's proxy failed"; }
	cp -a "$tmp/modcache/cache/download" "$root/opt/goproxy"
	chmod -R u+w "$tmp/modcache" && rm -rf "$tmp/modcache"
	# The official image's environment, plus offline module settings.
	import_base() {
		tar -C "$root" -cf - . | timeout 300 $docker import \
			-c "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			-c "ENV GOLANG_VERSION=${have#go}" -c "ENV GOPATH=/go" -c "ENV GOTOOLCHAIN=local" \
			-c "ENV GOFLAGS=-mod=mod" -c "ENV GOPROXY=file:///opt/goproxy" -c "ENV GOSUMDB=off" \
			-c "WORKDIR /go" -c 'CMD ["/bin/sh"]' - "$base" >/dev/null
	}
	imported_base=$base
	bg import_base || die "docker import failed"
	rm -rf "$root"
	note "imported $base ($($docker image inspect -f '{{.Size}}' "$base" | awk '{printf "%.0f MB", $1/1e6}'))"
fi
pass "builder image $base ($(took))"

###############################################################################
phase "docker build"
t0=$SECONDS
built_image=$image
# As a user builds it: docker-compose build, with no BuildKit variable set,
# which is the classic builder for Debian's docker-compose 1.29 (and what
# Docker 23+ falls back to without buildx). The builder image is local and
# its module proxy a directory: the build needs no network.
if (unset DOCKER_BUILDKIT COMPOSE_DOCKER_CLI_BUILD && LINED_IMAGE=$image bg timeout 900 docker-compose -p "$project" -f docker-compose.yml build mkindex) >"$tmp/build.log" 2>&1; then
	size=$($docker image inspect -f '{{.Size}}' "$image")
	pass "docker-compose build (the classic builder, no BuildKit variable set): $image, $((size / 1000000)) MB ($((SECONDS - t0)) s)"
else
	tailf "$tmp/build.log" 40
	die "docker-compose build failed ($((SECONDS - t0)) s)"
fi
cfg() { $docker image inspect -f "$1" "$image"; }
user=$(cfg '{{.Config.User}}')
hc=$(cfg '{{json .Config.Healthcheck.Test}}')
ep=$(cfg '{{json .Config.Entrypoint}}')
ports=$(cfg '{{json .Config.ExposedPorts}}')
env=$(cfg '{{json .Config.Env}}')
note "USER=$user ENTRYPOINT=$ep HEALTHCHECK=$hc EXPOSE=$ports"
case $user in
[1-9]*:[0-9]* | [1-9]*) [ "${user%%:*}" != 0 ] ;;
*) false ;;
esac && [ "$hc" = '["CMD","/usr/local/bin/lined","--probe"]' ] &&
	[ "$ep" = '["/usr/local/bin/lined"]' ] && [[ $ports == *'"8000/tcp"'* ]] &&
	[[ $env == *XDG_CACHE_HOME=/var/lib/lined\"* ]] && [[ $env != *LINED_INDEX* ]] &&
	pass "image: numeric non-root USER $user, HEALTHCHECK lined --probe, exec-form ENTRYPOINT, EXPOSE 8000, indexes in the cache directory /var/lib/lined" ||
	fail "image metadata not as documented"
if $docker run --rm --network none --entrypoint /usr/local/bin/mkindex "$image" --version >"$tmp/v.log" 2>&1 &&
	$docker run --rm --network none --entrypoint /usr/local/bin/getline "$image" --version >>"$tmp/v.log" 2>&1 &&
	$docker run --rm --network none "$image" --version >>"$tmp/v.log" 2>&1; then
	pass "the three static binaries run in the scratch image: $(tr '\n' ' ' <"$tmp/v.log")"
else
	tailf "$tmp/v.log"
	fail "binaries do not run in the image"
fi

###############################################################################
phase "docker-compose"
# Data: 32 MiB of generated lines, then hostile ones (CRLF, NUL, invalid
# UTF-8, an empty line, no final newline).
mkdir -p "$tmp/data"
bg go run ./bench/gendata -size 33554432 -seed 7 >"$tmp/data/lines.txt"
printf 'crlf line\r\n\000NUL\000 and \377\376 invalid UTF-8\n\nlast line, no newline' >>"$tmp/data/lines.txt"
chmod 644 "$tmp/data/lines.txt"
m=$(awk 'END {print NR}' "$tmp/data/lines.txt")
app_port=$(free_port)
export LINED_IMAGE=$image LINED_DATA_FILE=$tmp/data/lines.txt APP_PORT=$app_port LINED_PUBLISH_IP=127.0.0.1
compose_files=(-f docker-compose.yml)
if compose config -q && compose --profile scale config -q; then
	pass "docker-compose config -q, default and --profile scale"
else
	fail "docker-compose config"
fi
# Without Docker's default bridge (our dockerd runs with --bridge=none),
# compose still creates its own bridge network; if that fails here, fall back
# to the host network through an override used only by this test.
# (An override file cannot drop "ports", which docker-compose 1.29 refuses
# with network_mode: host, so the fallback is the resolved configuration of
# docker-compose.yml with just that changed, written under $tmp.)
# host_compose writes that copy, resolved with the variables set now.
host_compose() {
	compose_files=(-f docker-compose.yml)
	compose config >"$tmp/compose.resolved.yml" || return 1
	python3 - "$tmp/compose.resolved.yml" "$tmp/compose.host.yml" "$app_port" <<'PY'
import sys, yaml
src, dst, port = sys.argv[1:]
c = yaml.safe_load(open(src))
lined = c["services"]["lined"]
lined.pop("ports", None)
lined["network_mode"] = "host"
lined.setdefault("environment", {})["LINED_ADDR"] = "127.0.0.1:" + port
yaml.safe_dump(c, open(dst, "w"))
PY
	compose_files=(-f "$tmp/compose.host.yml" --project-directory "$repo")
}
if [ "${SMOKE_NETWORK:-}" = host ] || ! $docker network create "${project}probe" >/dev/null 2>&1; then
	host_compose || die "docker-compose config"
	host_network=1
	note "compose with network_mode: host for lined (a modified copy in $tmp)"
else
	$docker network rm "${project}probe" >/dev/null
	note "compose with its own bridge network; port published on 127.0.0.1:$app_port"
fi
# An unreadable data file: up fails, and the one place that says why,
# docker-compose logs mkindex, says it.
secret=$tmp/data/secret.txt
printf 'a\nb\n' >"$secret"
chmod 600 "$secret"
compose_up=1
if LINED_DATA_FILE=$secret compose up -d --no-build >"$tmp/up-fail.log" 2>&1; then
	fail "docker-compose up with an unreadable file succeeded"
else
	compose logs --no-color mkindex >"$tmp/mkindex-fail.log" 2>&1
	if grep -q 'mkindex: /data/lines.txt: permission denied (reading as uid 65532)' "$tmp/mkindex-fail.log"; then
		pass "unreadable file: docker-compose up fails, and docker-compose logs mkindex says why: $(grep -o 'mkindex: .*' "$tmp/mkindex-fail.log" | head -n 1)"
	else
		tailf "$tmp/up-fail.log"
		tailf "$tmp/mkindex-fail.log"
		fail "unreadable file: docker-compose logs mkindex does not say why"
	fi
fi
compose down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 || { tailf "$tmp/down.log"; fail "docker-compose down after the failure"; }
t0=$SECONDS
compose_up=1
if compose up -d --no-build >"$tmp/up.log" 2>&1; then
	pass "docker-compose up ($((SECONDS - t0)) s)"
else
	tailf "$tmp/up.log"
	compose logs --no-color >"$tmp/logs.log" 2>&1
	tailf "$tmp/logs.log"
	die "docker-compose up failed"
fi
ctr_mk=$(compose ps -q mkindex)
ctr=$(compose ps -q lined)
mk_rc=$($docker inspect -f '{{.State.ExitCode}}' "$ctr_mk")
mk_end=$($docker inspect -f '{{.State.FinishedAt}}' "$ctr_mk")
lined_start=$($docker inspect -f '{{.State.StartedAt}}' "$ctr")
[[ $mk_end < $lined_start ]] && note "mkindex finished at $mk_end, lined started at $lined_start" ||
	fail "lined started ($lined_start) before mkindex finished ($mk_end)"
compose logs --no-color mkindex >"$tmp/mkindex.log" 2>&1
[ "$mk_rc" = 0 ] && pass "mkindex service exited 0: $(grep -o 'indexed.*' "$tmp/mkindex.log" | head -n 1)" ||
	{ tailf "$tmp/mkindex.log"; fail "mkindex exit status $mk_rc"; }
base_url=http://127.0.0.1:$app_port
if wait_for 60 curl -fsS -m 2 "$base_url/readyz"; then
	pass "lined answers /readyz on 127.0.0.1:$app_port"
else
	compose logs --no-color >"$tmp/logs.log" 2>&1
	tailf "$tmp/logs.log"
	die "lined not ready within 60 s"
fi
if check_lines "$base_url/lines" "$tmp/data/lines.txt" 1 2 1000 $((m / 2)) $((m - 3)) $((m - 2)) $((m - 1)) "$m"; then
	pass "/lines/N byte-exact against sed -n Np (N = 1, 2, 1000, $((m / 2)), and the last 4 of $m: CRLF, NUL, invalid UTF-8, empty, no final newline)"
else
	fail "/lines/N differs from sed"
fi
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$base_url/lines/$((m + 1))")
[ "$code" = 413 ] && pass "/lines/$((m + 1)) (past the end): 413" || fail "/lines/$((m + 1)): $code, want 413"
compose logs --no-color lined >"$tmp/lined.log" 2>&1
if grep -q 'msg=serving' "$tmp/lined.log" && ! grep -q 'msg=indexing' "$tmp/lined.log"; then
	pass "lined loaded the index mkindex wrote on the volume (no re-indexing)"
else
	tailf "$tmp/lined.log"
	fail "lined did not use mkindex's index"
fi
t0=$SECONDS
health=
for i in $(seq 1 120); do
	health=$($docker inspect -f '{{.State.Health.Status}}' "$ctr")
	[ "$health" = healthy ] && break
	[ "$health" = unhealthy ] && break
	sleep 0.5
done
[ "$health" = healthy ] && pass "container health status: healthy (after $((SECONDS - t0)) s more)" ||
	{ $docker inspect -f '{{json .State.Health}}' "$ctr" | head -c 1000; echo; fail "health status: $health"; }
pid=$($docker inspect -f '{{.State.Pid}}' "$ctr")
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status" 2>/dev/null ||
	$docker top "$ctr" -o uid | tail -n 1)
[ -n "$uids" ] && [[ " $uids " != *" 0 "* ]] && pass "the lined process runs as uid $uids (not root)" ||
	fail "lined process uids: '$uids'"
compose stop -t 20 lined >"$tmp/stop.log" 2>&1
rc=$($docker inspect -f '{{.State.ExitCode}}' "$ctr")
[ "$rc" = 0 ] && pass "docker-compose stop: lined exited 0 on SIGTERM" ||
	{ compose logs --no-color lined | tail -n 5; fail "lined exit status $rc after stop"; }
compose down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 &&
	compose_up= && pass "docker-compose down -v ($(took) for compose in all)" ||
	{ tailf "$tmp/down.log"; fail "docker-compose down"; }

###############################################################################
phase "docker-compose with several files (LINED_DATA_DIR, LINED_DATA_FILES)"
many=$tmp/many
mkdir -p "$many"
head -n 5000 "$tmp/data/lines.txt" >"$many/a.txt"
printf 'b one\nb two\r\n\nb last, no newline' >"$many/b.txt"
chmod 755 "$many" && chmod 644 "$many"/*
export LINED_DATA_DIR=$many LINED_DATA_FILES=a.txt,b.txt
[ -z "$host_network" ] || host_compose || die "docker-compose config with several files"
compose_up=1
t0=$SECONDS
if compose up -d --no-build >"$tmp/up-many.log" 2>&1 && wait_for 60 curl -fsS -m 2 "$base_url/readyz"; then
	pass "docker-compose up with LINED_DATA_FILES=a.txt,b.txt: ready ($((SECONDS - t0)) s)"
else
	tailf "$tmp/up-many.log"
	compose logs --no-color >"$tmp/logs-many.log" 2>&1
	tailf "$tmp/logs-many.log"
	die "docker-compose up with several files"
fi
compose logs --no-color mkindex >"$tmp/mkindex-many.log" 2>&1
listing=$(curl -fsS -m 5 "$base_url/files/")
if grep -q 'mkindex: a.txt: indexed' "$tmp/mkindex-many.log" && grep -q 'mkindex: b.txt: indexed' "$tmp/mkindex-many.log" &&
	[[ $listing == *$'a.txt\t5000 lines'* ]] && [[ $listing == *$'b.txt\t4 lines'* ]] &&
	check_lines "$base_url/files/a.txt/lines" "$many/a.txt" 1 2500 5000 &&
	check_lines "$base_url/files/b.txt/lines" "$many/b.txt" 1 2 3 4; then
	pass "the one-shot mkindex indexed both; /files/ lists them; /files/NAME/lines/N byte-exact against sed"
else
	tailf "$tmp/mkindex-many.log"
	printf '%s\n' "$listing" | head -n 5
	fail "several files through compose"
fi
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$base_url/lines/1")
[ "$code" = 404 ] && pass "/lines/1 with several files: 404 (pointing to /files/)" || fail "/lines/1 with several files: $code, want 404"
compose down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 &&
	compose_up= && pass "docker-compose down -v ($(took) for this phase)" ||
	{ tailf "$tmp/down.log"; fail "docker-compose down"; }
unset LINED_DATA_DIR LINED_DATA_FILES
[ -z "$host_network" ] || host_compose || die "docker-compose config"

###############################################################################
phase "docker-compose --profile scale: 3 lined behind nginx"
if [ -n "$host_network" ]; then
	note "skipped: needs compose's own network (service names as host names); see the native test below"
else
	nginx_image=${NGINX_IMAGE:-$(sed -n 's/^ *image: \${NGINX_IMAGE:-\(.*\)}$/\1/p' docker-compose.yml)}
	if ! $docker image inspect "$nginx_image" >/dev/null 2>&1; then
		# No registry: a stand-in with this machine's nginx, under our own tag,
		# laid out as the official image (conf, logs, cache, user nginx, wget).
		ngroot=$tmp/ngroot
		mkdir -p "$ngroot/etc/nginx" "$ngroot/var/log/nginx" "$ngroot/var/lib/nginx" \
			"$ngroot/var/cache/nginx" "$ngroot/var/run" "$ngroot/run" "$ngroot/tmp"
		chmod 1777 "$ngroot/tmp"
		host_files "$ngroot" "$(command -v nginx)" "$(command -v wget || echo /usr/bin/wget)"
		[ -x "$ngroot/usr/bin/wget" ] || note "no wget on this machine: the nginx health check will fail"
		for l in /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libnss_dns.so.2; do
			[ ! -e "$l" ] || host_files "$ngroot" "$l"
		done
		printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ngroot/etc/nsswitch.conf"
		printf 'root:x:0:0:root:/root:/sbin/nologin\nnginx:x:101:101:nginx:/nonexistent:/sbin/nologin\n' >"$ngroot/etc/passwd"
		printf 'root:x:0:\nnginx:x:101:\n' >"$ngroot/etc/group"
		nginx_image=lined-smoke-nginx:$id
		import_nginx() {
			tar -C "$ngroot" -cf - . | timeout 300 $docker import \
				-c 'CMD ["nginx", "-g", "daemon off;"]' -c 'EXPOSE 80' \
				-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
				- "$nginx_image" >/dev/null
		}
		imported_nginx=$nginx_image
		bg import_nginx || die "docker import of the nginx stand-in failed"
		rm -rf "$ngroot"
		note "no $(sed -n 's/^ *image: \${NGINX_IMAGE:-\(.*\)}$/\1/p' docker-compose.yml) image: made $nginx_image from this machine's $(nginx -v 2>&1 | sed 's/.*: //')"
	fi
	lb_port=$(free_port)
	export NGINX_IMAGE=$nginx_image LB_PORT=$lb_port
	compose_up=1
	t0=$SECONDS
	if compose --profile scale up -d --no-build >"$tmp/up-scale.log" 2>&1; then
		pass "docker-compose --profile scale up: lined, lined-2, lined-3, nginx ($((SECONDS - t0)) s)"
	else
		tailf "$tmp/up-scale.log"
		die "docker-compose --profile scale up failed"
	fi
	svc_ids=()
	for svc in lined lined-2 lined-3 nginx; do svc_ids+=("$(compose --profile scale ps -q "$svc")"); done
	all_healthy() {
		local c
		for c in "${svc_ids[@]}"; do
			[ "$($docker inspect -f '{{.State.Health.Status}}' "$c")" = healthy ] || return 1
		done
	}
	t0=$SECONDS
	if wait_for 90 all_healthy; then
		pass "all four containers healthy ($((SECONDS - t0)) s)"
	else
		for c in "${svc_ids[@]}"; do note "$($docker inspect -f '{{.Name}} {{.State.Health.Status}}' "$c")"; done
		fail "not all healthy within 90 s"
	fi
	# Requests per replica, as each counts them, asked from inside nginx's
	# container (the replicas publish no port).
	replica_counts() {
		local r
		for r in lined lined-2 lined-3; do
			$docker exec "${svc_ids[3]}" wget -q -O - "http://$r:8000/metrics" |
				awk '/^lined_http_requests_total/ {s += $NF} END {printf "%d ", s}'
		done
	}
	read -r c1 c2 c3 <<<"$(replica_counts)"
	lb_url=http://127.0.0.1:$lb_port
	check_lines "$lb_url/lines" "$tmp/data/lines.txt" $(seq 301 330) &&
		pass "through the compose nginx: 30 distinct lines byte-exact" ||
		fail "through the compose nginx: lines differ"
	read -r d1 d2 d3 <<<"$(replica_counts)"
	# Each replica also answered one /metrics since, and health checks.
	n1=$((d1 - c1)) n2=$((d2 - c2)) n3=$((d3 - c3))
	[ "$n1" -ge 5 ] && [ "$n2" -ge 5 ] && [ "$n3" -ge 5 ] &&
		pass "nginx spread the 30 cache misses over the 3 replicas (requests counted: $n1, $n2, $n3)" ||
		fail "replicas counted $n1, $n2, $n3 requests for 30 misses"
	st=$(curl -sS -m 5 -D - -o /dev/null "$lb_url/lines/301" | tr -d '\r' | sed -n 's/^X-Cache-Status: //Ip')
	[ "$st" = HIT ] && pass "a repeated /lines/301: X-Cache-Status HIT" || fail "repeated /lines/301: X-Cache-Status '$st'"
	compose --profile scale down -v --remove-orphans --timeout 20 >"$tmp/down.log" 2>&1 &&
		compose_up= && pass "docker-compose --profile scale down -v ($(took) for this phase)" ||
		{ tailf "$tmp/down.log"; fail "docker-compose --profile scale down"; }
fi

###############################################################################
phase "deploy/nginx.conf natively (Debian nginx) in front of two bin/lined"
bg go build -o "$tmp/bin/" ./cmd/lined ./cmd/mkindex
data=$tmp/data/lines.txt
"$tmp/bin/mkindex" --index "$tmp/data/lines.idx" "$data" 2>"$tmp/mkindex-native.log"
pa=$(free_port)
pb=$(free_port)
while [ "$pb" = "$pa" ]; do pb=$(free_port); done
lb=$(free_port)
for port in "$pa" "$pb"; do
	LINED_INDEX=$tmp/data/lines.idx "$tmp/bin/lined" --file "$data" --addr "127.0.0.1:$port" \
		--access-log >"$tmp/lined-$port.log" 2>&1 &
	native_pids+=($!)
done
lined_a=${native_pids[0]}
# The test copy: same file with only the upstream servers, the listen port,
# the worker user and the paths changed; each change must hit, or the test
# would silently test something else.
ng=$tmp/nginx
mkdir -p "$ng/log" "$ng/cache"
sed -e "s|^user .*;|user root;|" \
	-e "s|/var/run/nginx.pid|$ng/nginx.pid|" \
	-e "s|/var/log/nginx|$ng/log|g" \
	-e "s|/var/cache/nginx|$ng/cache|g" \
	-e "s|listen 80 |listen 127.0.0.1:$lb |" \
	-e '/^ *server lined[-0-9]*:8000 /d' \
	-e "/^ *upstream lined {/a\\        server 127.0.0.1:$pa max_fails=3 fail_timeout=10s;\\n        server 127.0.0.1:$pb max_fails=3 fail_timeout=10s;" \
	deploy/nginx.conf >"$ng/nginx.conf"
changed=$(diff deploy/nginx.conf "$ng/nginx.conf" | grep -c '^>' || true)
removed=$(diff deploy/nginx.conf "$ng/nginx.conf" | grep -c '^<.*server lined' || true)
note "test copy: $changed lines changed or added, $removed upstream servers replaced"
[ "$changed" -ge 9 ] && [ "$removed" -ge 2 ] || fail "deploy/nginx.conf no longer has the lines the test rewrites"
if nginx -t -q -c "$ng/nginx.conf" -e "$ng/log/error.log" -p "$ng/" >"$tmp/nginx-t.log" 2>&1; then
	pass "nginx -t accepts deploy/nginx.conf ($(nginx -v 2>&1 | sed 's/.*: //'), test copy)"
else
	tailf "$tmp/nginx-t.log"
	die "nginx -t rejects deploy/nginx.conf"
fi
nginx -c "$ng/nginx.conf" -e "$ng/log/error.log" -p "$ng/" -g 'daemon off;' >"$tmp/nginx.log" 2>&1 &
native_pids+=($!)
lb_url=http://127.0.0.1:$lb
wait_for 20 curl -fsS -m 2 "http://127.0.0.1:$pa/readyz" && wait_for 20 curl -fsS -m 2 "http://127.0.0.1:$pb/readyz" &&
	wait_for 20 curl -fsS -m 2 "$lb_url/readyz" || {
	tailf "$ng/log/error.log"
	die "nginx or lined not answering"
}
ra0=$(metric_requests "http://127.0.0.1:$pa")
rb0=$(metric_requests "http://127.0.0.1:$pb")
if check_lines "$lb_url/lines" "$data" $(seq 101 120) "$m"; then
	pass "through nginx: 21 distinct lines byte-exact"
else
	fail "through nginx: lines differ"
fi
ra=$(($(metric_requests "http://127.0.0.1:$pa") - ra0 - 1)) # minus this /metrics
rb=$(($(metric_requests "http://127.0.0.1:$pb") - rb0 - 1))
[ "$ra" -ge 5 ] && [ "$rb" -ge 5 ] && pass "balancing: the 21 cache misses went to both lined ($ra and $rb, by their /metrics)" ||
	fail "balancing: lined A got $ra, lined B $rb of 21 requests"
h1=$(curl -sS -m 5 -D - -o "$tmp/c1" "$lb_url/lines/555" | tr -d '\r')
h2=$(curl -sS -m 5 -D - -o "$tmp/c2" "$lb_url/lines/555" | tr -d '\r')
s1=$(sed -n 's/^X-Cache-Status: //Ip' <<<"$h1")
s2=$(sed -n 's/^X-Cache-Status: //Ip' <<<"$h2")
etag=$(sed -n 's/^ETag: //Ip' <<<"$h2")
sed -n 555p "$data" >"$tmp/want"
[ "$s1" = MISS ] && [ "$s2" = HIT ] && cmp -s "$tmp/c2" "$tmp/want" &&
	pass "caching: GET /lines/555 twice: X-Cache-Status $s1 then $s2, same bytes" ||
	fail "caching: X-Cache-Status '$s1' then '$s2'"
code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$lb_url/lines/555")
[ -n "$etag" ] && [ "$code" = 304 ] && pass "If-None-Match: $etag through nginx: 304" ||
	fail "If-None-Match through nginx: $code (ETag '$etag')"
s1=$(curl -sS -m 5 -D - -o /dev/null "$lb_url/lines/$((m + 1))" | tr -d '\r' | sed -n 's/^X-Cache-Status: //Ip')
s2=$(curl -sS -m 5 -D - -o /dev/null "$lb_url/lines/$((m + 1))" | tr -d '\r' | sed -n 's/^X-Cache-Status: //Ip')
[ "$s2" != HIT ] && pass "errors are not cached (413 twice: $s1, $s2)" || fail "a 413 was served from the cache"
# A replica going away: SIGTERM lined A (it must exit 0); nginx keeps answering.
kill -TERM "$lined_a"
rc=0
wait "$lined_a" || rc=$? # bounded: lined's shutdown timeout is 10 s
native_pids=("${native_pids[@]:1}")
ok=0
for n in $(seq 201 210); do
	c=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' "$lb_url/lines/$n")
	[ "$c" = 200 ] && ok=$((ok + 1))
done
[ "$rc" = 0 ] && [ "$ok" = 10 ] && pass "lined A stopped by SIGTERM (exit 0); nginx served 10/10 new lines from lined B" ||
	fail "after stopping lined A (exit $rc): $ok/10 answered 200"
note "$(took)"

exit 0

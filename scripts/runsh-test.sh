#!/usr/bin/env bash
# scripts/runsh-test.sh [--worktree]: test ./run.sh as a new user meets it, in a
# fresh clone of this repository (git clone into a temporary directory):
#   1. ./run.sh serves the demo: /lines/N byte-exact against sed, on APP_PORT
#      from .env; Ctrl-C (SIGINT) stops it with exit status 0;
#   2. ./run.sh missing.txt (and a directory) exits 1 with one clear line;
#   3. APP_PORT from the environment wins over .env, with the user's own file;
#   4. LINED_FILE names the file when no FILE is given.
# --worktree copies the working tree's tracked and untracked, not ignored files
# instead of cloning (to try uncommitted changes as a clone would see them).
# Needs git, go, curl. Uses free ports, talks to 127.0.0.1 only, bounded in time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/runsh-test.XXXXXX")
clone=$tmp/clone
pids=()
failures=0
started=$SECONDS

cleanup() {
	local p
	for p in "${pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
			sleep 1
			kill -KILL "$p" 2>/dev/null || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*"; }
pass() { log "PASS: $*"; }
fail() {
	log "FAIL: $*"
	failures=$((failures + 1))
}

# free_port prints a TCP port nothing listens on (on any address).
free_port() {
	local p i
	for i in $(seq 1 100); do
		# Below the ephemeral range (32768-60999 here): a client polling a
		# port in that range before the server listens can connect to itself
		# and take the port.
		p=$((20000 + RANDOM % 12000))
		if command -v ss >/dev/null; then
			[ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || continue
		fi
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# start NAME CMD...: run CMD in the clone in the background; sets $pid.
start() {
	local name=$1
	shift
	(cd "$clone" && exec "$@") >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	pids+=("$pid")
}

# wait_serving PID PORT: wait (at most 300 s: the first run builds) until
# /readyz answers 200 on PORT, or PID has died.
wait_serving() {
	local pid=$1 port=$2 i
	for i in $(seq 1 600); do
		if curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}

# check_lines PORT FILE N...: /lines/N on PORT equals sed -n Np FILE. With
# PREFIX set, PREFIX/lines/N instead (/files/NAME of several files).
check_lines() {
	local port=$1 file=$2 n ok=0
	shift 2
	for n in "$@"; do
		sed -n "${n}p" "$file" >"$tmp/want"
		if ! curl -fsS -m 5 -o "$tmp/got" "http://127.0.0.1:$port${PREFIX-}/lines/$n"; then
			log "  GET ${PREFIX-}/lines/$n failed"
			ok=1
		elif ! cmp -s "$tmp/got" "$tmp/want"; then
			log "  /lines/$n differs from sed -n ${n}p"
			ok=1
		fi
	done
	return $ok
}

# stop_int PID: SIGINT, as Ctrl-C; wait at most 20 s; sets $rc to the exit
# status (not in a subshell: only this shell can wait for PID).
stop_int() {
	local pid=$1 i
	kill -INT "$pid"
	for i in $(seq 1 40); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		rc="still running 20 s after SIGINT"
		return
	fi
	rc=0
	wait "$pid" || rc=$?
}

show() { sed 's/^/  | /' "$@" | tail -n 20; }

# Only what the user sets: nothing inherited that run.sh or lined would read.
unset APP_PORT NUM_OF_WORKERS LINED_ADDR LINED_FILE LINED_INDEX LINED_WORKERS LINED_SETTLE \
	LINED_CACHE_CONTROL LINED_MAX_RANGE LINED_SHUTDOWN_TIMEOUT LINED_DRAIN LINED_LOG_FORMAT LINED_ACCESS_LOG \
	LINED_BLOCK_CACHE

if [ "${1-}" = --worktree ]; then
	log "copying the working tree of $repo (tracked and untracked, not ignored files)"
	mkdir "$clone"
	(cd "$repo" && git ls-files -z -co --exclude-standard |
		while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
		tar --null -T - -cf -) | tar -C "$clone" -xf -
	# A repository of it, so that git can tell which new files are ignored.
	git -C "$clone" init -q && git -C "$clone" add -A
else
	log "cloning $repo"
	git clone --quiet --no-hardlinks "$repo" "$clone"
fi

for f in run.sh .env; do
	[ -e "$clone/$f" ] || fail "$f is not in the clone (not committed? --worktree tests the working tree)"
done
if [ "$failures" != 0 ]; then
	log "runsh-test: FAIL"
	exit 1
fi

# 1. ./run.sh with no argument: the demo, on APP_PORT from .env.
p1=$(free_port)
sed -i "s/^APP_PORT=.*/APP_PORT=$p1/" "$clone/.env"
grep -qx "APP_PORT=$p1" "$clone/.env" || fail ".env has no APP_PORT= line to set"
t0=$SECONDS
start demo ./run.sh
if wait_serving "$pid" "$p1"; then
	demo=$clone/demo/demo.txt
	m=$(wc -l <"$demo")
	if check_lines "$p1" "$demo" 1 2 $((m / 2)) "$m"; then
		pass "./run.sh serves the demo ($m lines) on APP_PORT=$p1 from .env, byte-exact (ready after $((SECONDS - t0)) s)"
	else
		fail "./run.sh: lines of the demo differ from sed"
	fi
	grep -q "curl localhost:$p1/lines/1" "$tmp/demo.out" &&
		pass "./run.sh prints what to try (curl localhost:$p1/lines/1)" ||
		fail "./run.sh does not print 'curl localhost:$p1/lines/1'"
	# .env was edited by this test; anything else is a file run.sh made that
	# git does not ignore.
	{ git -C "$clone" ls-files -o --exclude-standard && git -C "$clone" diff --name-only; } |
		grep -vx '\.env' >"$tmp/dirty" || true
	[ ! -s "$tmp/dirty" ] && pass "what run.sh made (bin/, demo/demo.txt, the index) is git-ignored" ||
		{ fail "run.sh left files that git does not ignore:"; show "$tmp/dirty"; }
	stop_int "$pid"
	[ "$rc" = 0 ] && pass "SIGINT (Ctrl-C) stops it with exit status 0" ||
		{ fail "SIGINT: exit status $rc, expected 0"; show "$tmp/demo.err"; }
else
	fail "./run.sh did not serve on port $p1"
	show "$tmp/demo.out" "$tmp/demo.err"
fi

# 2. A missing file, a directory: one line on stderr, exit 1, quickly.
for arg in missing.txt demo; do
	rc=0
	(cd "$clone" && timeout 60 ./run.sh "$arg") >"$tmp/bad.out" 2>"$tmp/bad.err" || rc=$?
	lines=$(wc -l <"$tmp/bad.err")
	if [ "$rc" = 1 ] && [ "$lines" = 1 ] && grep -q "$arg" "$tmp/bad.err" && [ ! -s "$tmp/bad.out" ]; then
		pass "./run.sh $arg: exit 1, \"$(cat "$tmp/bad.err")\""
	else
		fail "./run.sh $arg: exit $rc, $lines lines on stderr (want exit 1 and one line naming it)"
		show "$tmp/bad.out" "$tmp/bad.err"
	fi
done

# 3. APP_PORT from the environment wins over .env (which still says $p1);
#    the user's own file, with CRLF, an empty line and no final newline.
p2=$(free_port)
own="$tmp/own file.txt"
printf 'first\r\n\nthird \xff\x00 bytes\nlast, no newline' >"$own"
start own env APP_PORT="$p2" ./run.sh "$own"
if wait_serving "$pid" "$p2"; then
	if check_lines "$p2" "$own" 1 2 3 4 && grep -qxF "Serving $own on port $p2. Try:" "$tmp/own.out"; then
		pass "APP_PORT=$p2 in the environment wins over .env; own file served byte-exact, and named once"
	else
		fail "own file: lines differ from sed, or the banner does not name it once"
		show "$tmp/own.out"
	fi
	curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$p1/healthz" 2>/dev/null &&
		fail "something answers on the .env port $p1 too" || true
	stop_int "$pid"
	[ "$rc" = 0 ] || fail "SIGINT: exit status $rc, expected 0"
else
	fail "APP_PORT=$p2 ./run.sh FILE did not serve on port $p2"
	show "$tmp/own.out" "$tmp/own.err"
fi

# 4. LINED_FILE in the environment names the file when no FILE is given; a
#    missing one is refused like a missing FILE.
p3=$(free_port)
start envfile env APP_PORT="$p3" LINED_FILE="$own" ./run.sh
if wait_serving "$pid" "$p3"; then
	check_lines "$p3" "$own" 1 4 && pass "LINED_FILE=\"$own\" ./run.sh serves that file, not the demo" ||
		fail "LINED_FILE: lines differ from the file's"
	stop_int "$pid"
else
	fail "LINED_FILE=... ./run.sh did not serve on port $p3"
	show "$tmp/envfile.out" "$tmp/envfile.err"
fi
rc=0
(cd "$clone" && LINED_FILE=missing.txt timeout 60 ./run.sh) >"$tmp/bad.out" 2>"$tmp/bad.err" || rc=$?
[ "$rc" = 1 ] && grep -q 'LINED_FILE=missing.txt: no such file' "$tmp/bad.err" &&
	pass "LINED_FILE=missing.txt ./run.sh: exit 1, \"$(cat "$tmp/bad.err")\"" ||
	{ fail "LINED_FILE=missing.txt: exit $rc"; show "$tmp/bad.err"; }

# 5. Several files: ./run.sh A B serves each at /files/NAME/lines/N; the
#    demo is not served.
p4=$(free_port)
second="$tmp/second, file.txt"
printf 'one\ntwo\n' >"$second"
start two env APP_PORT="$p4" ./run.sh "$own" "$second"
if wait_serving "$pid" "$p4"; then
	if PREFIX="/files/own%20file.txt" check_lines "$p4" "$own" 1 4 &&
		PREFIX="/files/second,%20file.txt" check_lines "$p4" "$second" 1 2 &&
		grep -qxF "Serving 2 files ($own, $second) on port $p4. Try:" "$tmp/two.out"; then
		pass "./run.sh FILE FILE serves both, at /files/NAME/lines/N, and names each once"
	else
		fail "./run.sh FILE FILE: lines differ from the files', or the banner does not name each once"
		show "$tmp/two.out"
	fi
	stop_int "$pid"
else
	fail "./run.sh FILE FILE did not serve on port $p4"
	show "$tmp/two.out" "$tmp/two.err"
fi

echo
if [ "$failures" = 0 ]; then
	log "runsh-test: PASS ($((SECONDS - started)) s)"
else
	log "runsh-test: FAIL, $failures failure(s) ($((SECONDS - started)) s)"
	exit 1
fi

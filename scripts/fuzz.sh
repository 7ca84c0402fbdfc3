#!/usr/bin/env bash
# scripts/fuzz.sh [FUZZTIME] [REGEXP]: runs every fuzz target of the module
# (every func Fuzz* in every package, found with go test -list) for FUZZTIME
# each (default 60s), with -fuzzminimizetime 5s, FUZZ_LANES targets at a
# time, and prints one summary line per target. REGEXP, if given, picks the
# targets by name. Exit status 1 if any target failed: go test wrote the
# failing input to the package's testdata/fuzz/FuzzNAME/, where it stays as a
# seed that every go test run replays; fix the bug and keep the file.
#
# One failure is not counted: Go before 1.27 may fail a target with a bare
# "context deadline exceeded" at the end of FUZZTIME when a worker is still
# inside an input (its coordinator's race, go.dev/issue/75804). A target whose
# only error is that, and which wrote no failing input, is reported as
# "ok (deadline race)"; a crash, a hang or any other error still fails it.
#
#   scripts/fuzz.sh              # every target, 60 s each (R8 of docs/reliability.md)
#   scripts/fuzz.sh 10s          # a quick pass
#   scripts/fuzz.sh 5m FuzzDecode
#   FUZZ_LANES=1 scripts/fuzz.sh # one target after another, on every CPU
#
# Lanes: each target still gets the whole FUZZTIME, but FUZZ_LANES of them
# run side by side, each with the CPUs divided among the lanes: on 2 CPUs,
# two lanes of one worker fuzz 7 targets in 4 rounds of FUZZTIME, where one
# target after another with two workers took 7. Each target's output goes to a log of its own,
# printed whole when the target ends, so lanes never interleave; the
# summary keeps the targets' order. The fuzzing builds (instrumented, so
# not the ones go test ./... left in the cache) are made first, one package
# after another, so that two lanes never compile the same package at once.
#
# Environment: FUZZ_LANES (targets fuzzed at once; default 2), FUZZ_PARALLEL
# (fuzzing workers of each target, go test -parallel; default the CPUs
# divided by the lanes, at least 1), FUZZ_MINIMIZE_TIME (default 5s).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

fuzztime=${1:-60s}
pick=${2:-.}
minimize=${FUZZ_MINIMIZE_TIME:-5s}
lanes=${FUZZ_LANES:-2}
if ! [[ $lanes =~ ^[1-9][0-9]*$ ]]; then
	echo "FUZZ_LANES must be a whole number of 1 or more, not '$lanes'" >&2
	exit 2
fi
cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
parallel=${FUZZ_PARALLEL:-$((cpus / lanes > 0 ? cpus / lanes : 1))}

# The targets, as pkg[i] fn[i]. Only packages whose tests declare a fuzz
# function are asked (go test -list links a test binary per package).
pkg=() fn=() corpus=()
while read -r p dir; do
	grep -q '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
	for f in $(go test -list '^Fuzz' "$p" | grep '^Fuzz' | grep -E -- "$pick" || true); do
		pkg+=("$p") fn+=("$f") corpus+=("$dir/testdata/fuzz/$f")
	done
done < <(go list -f '{{.ImportPath}} {{.Dir}}' ./...)
n=${#fn[@]}
if [ "$n" -eq 0 ]; then
	echo "no fuzz target matches $pick" >&2
	exit 2
fi

# The instrumented test binary of each package, built once into the build
# cache; a build that fails here fails its targets below, with the errors.
built=" "
for ((i = 0; i < n; i++)); do
	case $built in *" ${pkg[i]} "*) continue ;; esac
	built+="${pkg[i]} "
	printf '== %s: building for fuzzing (%s)\n' "${pkg[i]}" "$(date +%T)"
	go test -c -o /dev/null -fuzz "^${fn[i]}\$" "${pkg[i]}" || true
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# Ctrl-C reaches every go test of the process group, which stop by
# themselves; a signal to this script alone leaves them to end at FUZZTIME,
# as a go test in the foreground would.
trap 'echo "fuzz.sh: interrupted" >&2; exit 130' INT
trap 'echo "fuzz.sh: terminated" >&2; exit 143' TERM

# inputs DIR: the names of the files in DIR, a target's seed corpus.
inputs() { ls -A "$1" 2>/dev/null || true; }

# deadline_race LOG: whether the only failure in LOG is the coordinator's
# deadline race (see the top): one --- FAIL whose one message line is
# "context deadline exceeded", and no input written.
deadline_race() {
	! grep -q 'Failing input written to' "$1" &&
		awk '/^--- FAIL: /{fails++; inside=1; next}
			inside && /^FAIL$/ {inside=0; next}
			inside {if ($0 == "    context deadline exceeded") race++; else other++}
			END {exit !(fails == 1 && race == 1 && other == 0)}' "$1"
}

# start runs target $1 in the background; it leaves its output in $1.log and,
# once go test has ended, its exit status in $1.rc.
start() {
	inputs "${corpus[$1]}" >"$logs/$1.before"
	printf '\n== %s %s: fuzzing for %s, -parallel %s (%s, started)\n' \
		"${pkg[$1]}" "${fn[$1]}" "$fuzztime" "$parallel" "$(date +%T)"
	(
		rc=0
		go test -run '^$' -fuzz "^${fn[$1]}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
			-parallel "$parallel" -timeout 0 "${pkg[$1]}" >"$logs/$1.log" 2>&1 || rc=$?
		{ echo "$rc" >"$logs/$1.rc"; } 2>/dev/null # gone after an interrupt
	) &
}

summary=() state=()
failed=0 next=0 running=0
# finish prints target $1's log and records its summary line.
finish() {
	local status=ok rc
	rc=$(cat "$logs/$1.rc" 2>/dev/null || echo "none")
	if [ "$rc" = 1 ] && deadline_race "$logs/$1.log" &&
		[ "$(inputs "${corpus[$1]}")" = "$(cat "$logs/$1.before")" ]; then
		status="ok (deadline race)"
	elif [ "$rc" != 0 ]; then
		status=FAILED
		failed=1
	fi
	printf '\n== %s %s: %s (%s, ended)\n' "${pkg[$1]}" "${fn[$1]}" "$status" "$(date +%T)"
	cat "$logs/$1.log" 2>/dev/null || true
	last=$(grep -E '^fuzz: elapsed: ' "$logs/$1.log" 2>/dev/null | tail -1 | sed -E 's/^fuzz: //; s/ \([0-9]+\/sec\)//' || true)
	summary[$1]="$status  ${fn[$1]} (${pkg[$1]}): ${last:-no progress line}"
	state[$1]=done
	running=$((running - 1))
}
# collect finishes every running target that has ended; with none left
# running as a process, also those that ended without a status.
collect() {
	local i alive
	alive=$(jobs -pr)
	for ((i = 0; i < next; i++)); do
		if [ "${state[i]}" = running ] && { [ -e "$logs/$i.rc" ] || [ -z "$alive" ]; }; then
			finish "$i"
		fi
	done
}

while [ "$next" -lt "$n" ] || [ "$running" -gt 0 ]; do
	while [ "$next" -lt "$n" ] && [ "$running" -lt "$lanes" ]; do
		start "$next"
		state[next]=running
		next=$((next + 1))
		running=$((running + 1))
	done
	wait -n 2>/dev/null || true
	collect
done

printf '\n== fuzz summary (%s each, %s lanes)\n' "$fuzztime" "$lanes"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
	echo "a target failed: its input is in the package's testdata/fuzz/; keep it as a seed once fixed" >&2
	exit 1
fi

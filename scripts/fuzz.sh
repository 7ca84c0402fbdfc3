#!/usr/bin/env bash
# scripts/fuzz.sh [FUZZTIME] [REGEXP]: runs every fuzz target of the module
# (every func Fuzz* in every package, found with go test -list), one after
# another, for FUZZTIME each (default 60s), with -fuzzminimizetime 5s, and
# prints one summary line per target. REGEXP, if given, picks the targets by
# name. Exit status 1 if any target failed: go test wrote the failing input
# to the package's testdata/fuzz/FuzzNAME/, where it stays as a seed that
# every go test run replays; fix the bug and keep the file.
#
#   scripts/fuzz.sh              # every target, 60 s each (R8 of docs/reliability.md)
#   scripts/fuzz.sh 10s          # a quick pass
#   scripts/fuzz.sh 5m FuzzDecode
#
# Environment: FUZZ_MINIMIZE_TIME (default 5s), FUZZ_PARALLEL (fuzzing
# workers; default GOMAXPROCS).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

fuzztime=${1:-60s}
pick=${2:-.}
minimize=${FUZZ_MINIMIZE_TIME:-5s}
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then parallel=(-parallel "$FUZZ_PARALLEL"); fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary=()
failed=0
for pkg in $(go list ./...); do
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' | grep -E -- "$pick" || true)
	for fn in $targets; do
		printf '\n== %s %s: fuzzing for %s (%s)\n' "$pkg" "$fn" "$fuzztime" "$(date +%T)"
		status=ok
		if ! go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
			"${parallel[@]}" -timeout 0 "$pkg" 2>&1 | tee "$log"; then
			status=FAILED
			failed=1
		fi
		last=$(grep -E '^fuzz: elapsed: ' "$log" | tail -1 | sed -E 's/^fuzz: //; s/ \([0-9]+\/sec\)//')
		summary+=("$status  $fn ($pkg): ${last:-no progress line}")
	done
done
if [ ${#summary[@]} -eq 0 ]; then
	echo "no fuzz target matches $pick" >&2
	exit 2
fi
printf '\n== fuzz summary (%s each)\n' "$fuzztime"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
	echo "a target failed: its input is in the package's testdata/fuzz/; keep it as a seed once fixed" >&2
	exit 1
fi

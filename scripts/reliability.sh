#!/usr/bin/env bash
# scripts/reliability.sh [quick|ci|full] [REGEXP]: the reliability suite,
# R1–R7 and R9–R12 of docs/reliability.md (package ./reliability; R8's fuzzing is
# scripts/fuzz.sh). Prints each test's result and its figure, and at the
# end the figures again as a table; the whole go test log is kept in a
# temporary file whose path is printed on failure.
#
#   scripts/reliability.sh ci      # the targets' sizes where cheap (CI)
#   scripts/reliability.sh full    # everything at full size
#   scripts/reliability.sh quick   # what go test ./... runs
#   scripts/reliability.sh ci R4   # one test
#
# Run as root for every part: R6 mounts a tmpfs and sets chattr +i (and
# skips those parts, saying why, when it cannot). Everything listens on
# 127.0.0.1; every process, mount and flag it makes is undone at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

tier=${1:-ci}
case $tier in
quick) export LINED_RELIABILITY= ;;
ci | full) export LINED_RELIABILITY=$tier ;;
*)
	echo "usage: $0 [quick|ci|full] [REGEXP]" >&2
	exit 2
	;;
esac
run=${2:-.}
timeout=10m
[ "$tier" = full ] && timeout=30m

log=$(mktemp /tmp/lined-reliability.XXXXXX)
echo "== reliability suite, $tier form ($(date +%T)); log: $log"
start=$(date +%s)
set +e
go test -count=1 -v -timeout "$timeout" -run "$run" ./reliability/ >"$log" 2>&1
status=$?
set -e
grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|panic:)|FIGURE R[0-9]+|    [a-z0-9_]+_test\.go:[0-9]+: .*(skip|Skip)' "$log" | grep -v 'level=' || true
echo
echo "== figures ($tier form, $(($(date +%s) - start)) s)"
grep -Eo 'FIGURE R[0-9]+: .*' "$log" | sed 's/^FIGURE //' || true
if [ $status -ne 0 ]; then
	echo
	echo "FAILED (go test exit $status); the failures, then the whole log in $log:" >&2
	grep -E '^\s+[a-z0-9_]+_test\.go:[0-9]+: ' "$log" | grep -v FIGURE | head -40 >&2 || true
	exit 1
fi
rm -f "$log"

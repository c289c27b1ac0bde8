#!/usr/bin/env bash
# Runs each fuzz target in turn, one core each (-parallel=1), and prints
# per target the executions done, the new interesting inputs and the wall
# time. Usage:
#   scripts/fuzz.sh [SECONDS] [TARGET...]     each target for SECONDS (default 10)
#   FUZZTIME=1000000x scripts/fuzz.sh         each target for 10^6 executions
# TARGET is a name such as FuzzVerify (default: every target below).
# FUZZ_MINIMIZE (default 0: off) is go test's -fuzzminimizetime: minimizing
# a large input (the signed PDF) would take most of a short run.
# A failing input is written to the package's testdata/fuzz/<Target>/: keep
# it there as a seed once the code is fixed. Exit 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh

seconds=${1:-10}
[ $# -gt 0 ] && shift
fuzztime=${FUZZTIME:-${seconds}s}
minimize=${FUZZ_MINIMIZE:-0}

# package target: every fuzz target Steward has.
all="
./internal/config FuzzConfig
./internal/config FuzzSchedule
./internal/config FuzzDuration
./internal/config FuzzSecretRef
./internal/audit FuzzCheckExport
./internal/audit FuzzVerifyMirror
./certs FuzzVerify
./certs FuzzDecodeEvidence
./internal/resticx FuzzParseMessage
./internal/resticx FuzzResticOutput
./internal/resticx FuzzSnapshots
./internal/manifest FuzzManifest
./internal/manifest FuzzComparePaths
"
# Every Fuzz function in the tree must be listed above.
listed=$(echo "$all" | awk 'NF {print $2}' | sort)
found=$(grep -rhoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' --include='*_test.go' . | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' | sort)
if [ "$listed" != "$found" ]; then
  echo "scripts/fuzz.sh does not list every fuzz target: listed vs found:"
  diff <(echo "$listed") <(echo "$found") || true
  exit 1
fi

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
failed=0
printf '%-20s %-20s %12s %12s %9s  %s\n' package target executions interesting seconds result
while read -r pkg target; do
  [ -z "$pkg" ] && continue
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$target"; then
    continue
  fi
  start=$(date +%s)
  result=ok
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
      -parallel=1 -timeout 0 "$pkg" >"$log/$target" 2>&1; then
    result=FAILED
  fi
  took=$(( $(date +%s) - start ))
  last=$(grep -E '^fuzz: elapsed: .*execs: ' "$log/$target" | tail -1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
  interesting=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
  if [ -z "$last" ]; then
    # The time ran out while the inputs already in the corpus (seeds and
    # the local cache of earlier runs) were being run: no fuzzing was
    # done. That is not a failure unless an input failed; a hang while
    # fuzzing shows execs.
    baseline=$(grep -oE 'gathering baseline coverage: [0-9]+/[0-9]+' "$log/$target" | tail -1 | sed 's/.*: //' || true)
    execs="baseline ${baseline:-?}"
    if [ "$result" = FAILED ] && grep -q 'context deadline exceeded' "$log/$target" && ! grep -q 'Failing input' "$log/$target"; then
      result="ok (corpus only: give more SECONDS)"
    fi
  fi
  [ "$result" = FAILED ] && failed=1
  printf '%-20s %-20s %12s %12s %9s  %s\n' "$pkg" "$target" "${execs:-?}" "${interesting:-?}" "$took" "$result"
  if [ "$result" != ok ]; then
    grep -vE '^fuzz: elapsed: ' "$log/$target" | sed 's/^/    /'
  fi
done <<<"$all"
exit $failed

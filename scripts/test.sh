#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up (idempotent), gofmt, go vet,
# staticcheck, govulncheck against an offline copy of the Go vulnerability
# database, go test -race over every package (integration tests start
# real restic, versitygw and PostgreSQL themselves), then each fuzz target
# briefly (scripts/fuzz.sh).
#
# scripts/test.sh --heavy also runs the heavier variants of the reliability
# suite (STEWARD_HEAVY=1: each outage during every capability, where CI
# runs one capability per outage; docs/reliability.md). Other arguments go
# to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--heavy" ]; then
  export STEWARD_HEAVY=1
  shift
fi
. scripts/versions.sh
./scripts/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './bin/*' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change these files (run gofmt -w):"
  echo "$unformatted"
  exit 1
fi

echo "== go mod tidy (nothing to change)"
if ! go mod tidy -diff; then
  echo "go.mod/go.sum are not tidy: run go mod tidy and commit the result"
  exit 1
fi

echo "== no build outputs in git"
if [ -d .git ]; then
  big=$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$1 > 1048576 {print $2}')
  if [ -n "$big" ]; then
    echo "tracked files over 1 MiB (build outputs belong in .gitignore): $big"
    exit 1
  fi
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
./bin/staticcheck ./...

echo "== govulncheck (req 16, 21)"
./bin/govulncheck -db "file://$PWD/bin/vulndb" ./...

echo "== crash points: vet and staticcheck with -tags crashpoints"
go vet -tags crashpoints ./internal/crash/ ./cmd/steward/
./bin/staticcheck -tags crashpoints ./internal/crash/ ./cmd/steward/

echo "== go test -race, and beside it the crash points suite and cmd/steward's longest tests"
# The machine has two cores and the integration tests mostly wait on
# restic, servers and subprocesses, so two lanes run at once:
# - the main lane: go test -race over every package, -p 2;
# - the second lane: the crash points suite (docs/reliability.md: Steward
#   killed at every crash point in turn, each command run again, the end
#   state checked with restic, psql and pdfsig), then cmd/steward's longest
#   tests (the daemon, the outages, the console in a browser, secret
#   hygiene, two daemons), which the main lane skips. Otherwise cmd/steward
#   alone is a serial tail of a quarter of an hour.
# The second lane's output is shown once it ends.
lane2='^(TestOutage.*|TestResticStopsAnswering|TestRepositoryDiskFull|TestStateDiskFullDuringRuns|TestServe|TestServeFrozenContract|TestServeSIGTERMDuringBackup|TestServeAlertsAndAPI|TestServeOnce|TestTwoDaemonsShareACatalog|TestConsoleInBrowser|TestSecretHygiene)$'
lane2log=$(mktemp)
(
  go test -race -count=1 -tags crashpoints -run TestPointKills ./internal/crash/ &&
    go test -race -count=1 -tags crashpoints -timeout 20m -run 'TestCrash|TestEraseResumesAfterKill' "$@" ./cmd/steward/ &&
    go test -race -count=1 -timeout 30m -run "$lane2" "$@" ./cmd/steward/
) >"$lane2log" 2>&1 &
lane2pid=$!
mainrc=0
go test -race -count=1 -p 2 -timeout 45m -skip "$lane2" "$@" ./... || mainrc=$?
lane2rc=0
wait "$lane2pid" || lane2rc=$?
echo "== the second lane: crash points suite (-tags crashpoints), then cmd/steward -run \"$lane2\""
cat "$lane2log"
rm -f "$lane2log"
if [ "$mainrc" != 0 ] || [ "$lane2rc" != 0 ]; then
  echo "go test failed (main lane exit $mainrc, second lane exit $lane2rc)"
  exit 1
fi

echo "== fuzz (each target for ${FUZZ_SECONDS:-4} s, one at a time; seeds already ran above)"
# 13 targets x 4 s: about a minute of fuzzing, under two with the builds.
# FUZZ_SECONDS=0 skips it; scripts/fuzz.sh alone runs longer campaigns.
if [ "${FUZZ_SECONDS:-4}" != 0 ]; then
  ./scripts/fuzz.sh "${FUZZ_SECONDS:-4}"
fi

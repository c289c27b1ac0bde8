#!/usr/bin/env bash
# Steward's main job on the embedded default config: the daemon. It
# initialises the state dir (./steward-state: SQLite catalog, master key,
# signing certificate) and the local repository, prints the API's token,
# then runs `steward serve`, which takes the first backup of ./demo-data,
# checks the repository and runs the first restore drill at once, and then
# keeps to the schedules (a nightly backup, a quarterly drill) until Ctrl-C.
#
# When standard input is not a terminal (CI, a pipe), or with DEMO_ONCE=1,
# serve runs with --once: what is due now, then it stops, and the script
# shows the status. scripts/tour.sh walks through the CLI commands instead.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
./scripts/setup.sh
go build -o bin/steward ./cmd/steward
export PATH="$PWD/bin:$PATH"

if [ ! -d demo-data ]; then
  mkdir -p demo-data/cases
  for i in $(seq 1 20); do
    printf 'case %03d: demo record, no real data\n' "$i" > "demo-data/cases/case-$i.txt"
  done
fi

step() { printf '\n$ %s\n' "$*"; "$@"; }
if [ ! -f steward-state/catalog.db ]; then
  step steward init
fi
step steward config check
step steward repo init
printf '\nAPI token (for curl -H "Authorization: Bearer TOKEN" URL/api/v1/status; also `steward token show`):\n'
steward token show

once=()
if [ "${DEMO_ONCE:-}" = 1 ] || [ ! -t 0 ]; then
  once=(--once)
  printf '\nstandard input is not a terminal: serve runs what is due now, then stops\n'
else
  printf '\nThe daemon runs until Ctrl-C. In another terminal: curl http://127.0.0.1:8420/healthz, steward status\n'
fi
step steward serve "${once[@]}"

# What the daemon did, as any monitoring would read it. status exits 4
# ("attention needed") where this machine's clock is not synchronised: the
# demo goes on, the warning stays on screen.
step steward status || [ $? -eq 4 ]
step steward drill list

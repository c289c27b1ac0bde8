#!/usr/bin/env bash
# Issue 11 item 9: Steward's memory and catalog growth against the number
# of files of a path source. Builds the CLI, writes FILES small files (1,000
# per directory) and runs, as a user would, `steward backup run` (first),
# `steward backup run` again (no change) and `steward drill run`, printing
# for each Steward's own peak RSS (VmHWM of the steward process, sampled
# every 0.1 s; restic, its child, is not counted) and the catalog's size
# after it.
#
#   scripts/bench-scale.sh [FILES=1000000]
#
# BASELINE=<a steward binary of another build> runs the same steps with it
# too, in a state dir of its own, on the same files (e.g. the build before
# streaming manifests: `git worktree add /tmp/old <commit> && (cd /tmp/old
# && go build -o /tmp/steward-old ./cmd/steward)`). BENCH_DIR=<dir> keeps
# the work there (default: a new dir under /var/tmp, removed at the end).
# Targets: peak RSS under 150 MB in backup and drill at 1,000,000 files; a
# no-change run adds under 1 MB to the catalog.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
files=${1:-1000000}
work=${BENCH_DIR:-$(mktemp -d /var/tmp/steward-scale.XXXXXX)}
[ -n "${BENCH_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
go build -o "$work/steward" ./cmd/steward
restic=$PWD/bin/restic
[ -x "$restic" ] || { echo "bench-scale: $restic missing: run scripts/setup.sh" >&2; exit 1; }

if [ ! -f "$work/data/.done-$files" ]; then
  rm -rf "$work/data"
  python3 - "$work/data" "$files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%07d.txt" % i), "w") as f:
        f.write("record %d of the scale benchmark\n" % i)
PY
  touch "$work/data/.done-$files"
fi
echo "bench-scale: $files files in $(find "$work/data" -type d | wc -l) directories under $work/data"

# peak LOG CMD...: runs CMD, its output to LOG; prints Steward's peak RSS in
# kB (the last VmHWM read before it exited).
peak() {
  local log=$1 hwm=0 v rc
  shift
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    v=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$v" ] && hwm=$v
    sleep 0.1
  done
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "bench-scale: $* failed (exit $rc):" >&2
    tail -20 "$log" >&2
    exit 1
  fi
  echo "$hwm"
}

size() { stat -c %s "$1"; }

run() {
  local name=$1 bin=$2 dir="$work/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  cat >"$dir/steward.yaml" <<YAML
contract: {id: BENCH-1, customer: Bench City, service: bench, end_date: 2099-03-31}
state_dir: $dir/state
restic: {path: $restic}
residency: {allowed_regions: [ap-northeast-1]}
repositories:
  - {name: local, local: {}}
sources:
  - {name: data, path: {path: $work/data}}
jobs:
  - {name: j, sources: [data], repository: local}
drills:
  scratch: {dir: $dir/scratch}
YAML
  export STEWARD_CONFIG=$dir/steward.yaml
  "$bin" init >/dev/null
  "$bin" repo init >/dev/null
  local t0 rss1 rss2 rss3 c1 c2 c3
  t0=$(date +%s)
  rss1=$(peak "$dir/backup1.log" "$bin" backup run)
  c1=$(size "$dir/state/catalog.db")
  echo "$name: first backup      $(( $(date +%s) - t0 )) s, peak RSS $((rss1 / 1024)) MB, catalog $((c1 / 1024)) KiB"
  t0=$(date +%s)
  rss2=$(peak "$dir/backup2.log" "$bin" backup run)
  c2=$(size "$dir/state/catalog.db")
  echo "$name: no-change backup  $(( $(date +%s) - t0 )) s, peak RSS $((rss2 / 1024)) MB, catalog $((c2 / 1024)) KiB (+$(( (c2 - c1) / 1024 )) KiB)"
  t0=$(date +%s)
  rss3=$(peak "$dir/drill.log" "$bin" drill run --participant bench)
  c3=$(size "$dir/state/catalog.db")
  grep -E '^data: (files: |drill )' "$dir/drill.log" | sed "s/^/$name: /"
  echo "$name: drill             $(( $(date +%s) - t0 )) s, peak RSS $((rss3 / 1024)) MB, catalog $((c3 / 1024)) KiB"
  unset STEWARD_CONFIG
  rm -rf "$dir/state/repositories" "$dir/scratch"
}

run new "$work/steward"
if [ -n "${BASELINE:-}" ]; then
  run baseline "$BASELINE"
fi

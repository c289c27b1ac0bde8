#!/usr/bin/env bash
# P7 (issue 14): the idle daemon's memory and CPU. Builds steward and a
# baseline (scripts/bench/idlebase: the smallest Go daemon that listens on
# loopback and waits), starts `steward serve` on a demo contract (a local
# repository, a path source of 200 small files, a nightly backup and a
# quarterly drill), waits until its start-up runs (first backup, check,
# first drill) are done, then samples both processes side by side for
# SECONDS (default 60):
#
#   - RSS: VmRSS every second (max and last), and the ratio steward/baseline;
#   - CPU: user+system time used over the window, from /proc/PID/stat, as
#     seconds and as % of one core.
#
#   scripts/bench-idle.sh [SECONDS=60]
#
# Targets: steward's idle RSS under 40 MB and its CPU ~0 (under 0.5 % of a
# core) over a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
secs=${1:-60}
work=$(mktemp -d /var/tmp/steward-idle.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/steward" ./cmd/steward
go build -o "$work/idlebase" ./scripts/bench/idlebase
restic=$PWD/bin/restic
[ -x "$restic" ] || { echo "bench-idle: $restic missing: run scripts/setup.sh" >&2; exit 1; }

mkdir -p "$work/data"
for i in $(seq 1 200); do printf 'record %d of the idle benchmark\n' "$i" > "$work/data/f$i.txt"; done
cat > "$work/steward.yaml" <<YAML
contract: {id: BENCH-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: $restic}
repositories:
  - {name: local, local: {}}
sources:
  - {name: data, path: {path: $work/data}}
jobs:
  - {name: nightly, sources: [data], repository: local, schedule: "0 2 * * *"}
drills:
  schedule: "0 3 1 1,4,7,10 *"
YAML
st() { (cd "$work" && ./steward --config steward.yaml "$@"); }
st init >/dev/null
st repo init >/dev/null
(cd "$work" && exec ./steward --config steward.yaml serve --listen 127.0.0.1:0 >"$work/serve.log" 2>&1) &
spid=$!
pids+=("$spid")
"$work/idlebase" >"$work/base.log" 2>&1 &
bpid=$!
pids+=("$bpid")

# The start-up runs end with the hourly watch job (it runs at every start).
for _ in $(seq 1 300); do
  grep -q 'msg="run finished".*job=watch' "$work/serve.log" && break
  kill -0 "$spid" 2>/dev/null || { echo "bench-idle: serve exited:" >&2; cat "$work/serve.log" >&2; exit 1; }
  sleep 1
done
grep -q 'msg="run finished".*job=watch' "$work/serve.log" || { echo "bench-idle: start-up runs not done within 300 s" >&2; cat "$work/serve.log" >&2; exit 1; }
for job in backup:nightly check drill; do
  grep -q "msg=\"run finished\".*job=$job" "$work/serve.log" || { echo "bench-idle: start-up run $job did not finish:" >&2; cat "$work/serve.log" >&2; exit 1; }
done
sleep 2

tck=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in ticks
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; } # KiB
runs() { grep -c 'msg="run started"' "$work/serve.log" || true; }
r0=$(runs)
s0=$(cpu "$spid"); b0=$(cpu "$bpid")
smax=0; bmax=0
for _ in $(seq 1 "$secs"); do
  s=$(rss "$spid"); b=$(rss "$bpid")
  [ "$s" -gt "$smax" ] && smax=$s
  [ "$b" -gt "$bmax" ] && bmax=$b
  sleep 1
done
s1=$(cpu "$spid"); b1=$(cpu "$bpid")
slast=$(rss "$spid"); blast=$(rss "$bpid")
# Where steward's RSS is: the Go heap and stacks (anonymous) or the
# binary's pages (file-backed).
sanon=$(awk '/^RssAnon:/ {print $2}' "/proc/$spid/status"); sfile=$(awk '/^RssFile:/ {print $2}' "/proc/$spid/status")
[ "$(runs)" = "$r0" ] || echo "note: a scheduled run started during the window: this was not idle" >&2

awk -v secs="$secs" -v tck="$tck" -v smax="$smax" -v slast="$slast" -v bmax="$bmax" -v blast="$blast" \
    -v sanon="$sanon" -v sfile="$sfile" -v scpu=$((s1 - s0)) -v bcpu=$((b1 - b0)) 'BEGIN {
  printf "idle window: %d s (after the start-up backup, check and drill)\n", secs
  printf "%-22s %12s %12s %14s %12s\n", "process", "max RSS MB", "last RSS MB", "CPU s/window", "% of a core"
  printf "%-22s %12.1f %12.1f %14.2f %12.3f\n", "steward serve", smax/1024, slast/1024, scpu/tck, 100*scpu/tck/secs
  printf "%-22s %12.1f %12.1f %14.2f %12.3f\n", "baseline (idlebase)", bmax/1024, blast/1024, bcpu/tck, 100*bcpu/tck/secs
  printf "steward RSS at the end: %.1f MB anonymous (heap, stacks), %.1f MB file-backed (the binary)\n", sanon/1024, sfile/1024
  printf "RSS ratio steward/baseline: %.2f\n", smax/bmax
  ok = (smax/1024 < 40) && (100*scpu/tck/secs < 0.5)
  printf "target (RSS < 40 MB, CPU < 0.5%% of a core): %s\n", (ok ? "met" : "NOT MET")
  exit ok ? 0 : 1
}'

#!/usr/bin/env bash
# P1-P3 of the backup issue: Steward against a plain-restic baseline run in
# the same invocation, on the same data. Prints each benchmark's ratios and
# Steward's own peak RSS (VmHWM of the Steward process; restic excluded),
# plus /usr/bin/time's view of the whole run.
#
#   scripts/bench-backup.sh [MB=1024] [FILES=10000] [DB_MB=1000] [OBJECTS=10000]
#
# ITER=5 (default) runs each benchmark's baseline(s) and Steward that many
# times and reports the median ratio (and its range); each iteration's
# figures, with the CPU time of restic, of Steward and (P3) of the S3
# server, are printed as "bench:" lines. BENCH=BenchmarkP1 runs one
# benchmark. P2 has two baselines in each iteration: `pg_dump -Fc | restic
# backup --stdin` (what a user does by default: pg_dump gzips) and
# `pg_dump -Fc -Z0 | restic backup --stdin` (like for like: the
# uncompressed archive Steward stores). STEWARD_BENCH_OTHER=<path> adds
# another build's Steward to each P2 iteration (build it with
# `go test -c -o <path> ./backup` in a checkout of that commit).
# BENCH_RCLONE=<path to rclone> adds, to each P3 iteration, what a user
# would do instead of streaming the bucket: `rclone copy` it to disk, then
# `restic backup` the copy; reported as vs-rclone-then-restic (their time
# over Steward's: above 1, Steward is faster) and the staging disk it
# needed. rclone is built for the benchmark only, never in CI:
# `GOBIN=/tmp/rclone go install github.com/rclone/rclone@v1.76.0`.
#
# Targets: P1 first and no-change ratio <= 1.05; P2 ratio-vs-Z0 <= 1.10, no
# temp files, RSS < 100 MB; P3 throughput ratio >= 0.8, RSS independent of
# size.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
export BENCH_MB=${1:-1024} BENCH_FILES=${2:-10000} BENCH_DB_MB=${3:-1000} BENCH_OBJECTS=${4:-10000}
export STEWARD_BENCH_CPU=1
bin=$(mktemp -d)/backup.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./backup
cd backup
echo "sizes: ${BENCH_MB} MiB in ${BENCH_FILES} files; database ~${BENCH_DB_MB} MB; ${BENCH_OBJECTS} objects"
/usr/bin/time -v "$bin" -test.run '^$' -test.bench "${BENCH:-BenchmarkP[123]}" -test.benchtime "${ITER:-5}x" -test.timeout 2h 2>&1 |
  grep -E '^Benchmark|^bench:|Maximum resident set size|Elapsed \(wall'

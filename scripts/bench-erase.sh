#!/usr/bin/env bash
# P4 of the erase issue: deleting object versions on versitygw, Steward's
# objstore Purge (writing the evidence's object list to disk as erase
# does) against `rclone purge --s3-versions` on an identical
# bucket in the same iteration, at two sizes, so that Steward's peak RSS
# (VmHWM of the Steward process) can be seen not to grow with the number
# of versions.
#
#   scripts/bench-erase.sh [VERSIONS=100000] [SMALL=20000]
#
# ITER=3 (default) runs each size that many times and reports the median
# throughput ratio (rclone's time over Steward's: above 1, Steward is
# faster) and its range; every iteration's figures are printed as "bench:"
# lines. SMALL=0 runs one size only. Each bucket holds VERSIONS versions
# of 64 bytes, BENCH_PER_KEY (default 1) of each key; both are copies of
# one template bucket filled once through the S3 API (see clone in
# internal/objstore/bench_test.go).
#
# rclone purge fails on versitygw v1.8.0: it deletes while it lists, and
# the listing misses versions (DeleteBucket then answers 409, not empty);
# with BENCH_PER_KEY=2 its 8 concurrent single deletes also race on the
# versions of one key ("Invalid version id specified"). As a user would,
# the benchmark runs it again until the bucket is gone (at most 30 runs)
# and counts every run's time.
#
# The S3 server's directories go to TMPDIR, by default a dir under
# /dev/shm: on a shared machine the disk's latency would otherwise decide
# both tools' times. Set TMPDIR to measure on disk.
#
# rclone is built for the benchmark only, never in CI:
#   GOBIN=/tmp/rclone-bin go install github.com/rclone/rclone@v1.76.0
# BENCH_RCLONE names another binary.
#
# Target: throughput ratio >= 1; Steward's RSS < 100 MB at both sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
versions=${1:-100000} small=${2:-20000}
export BENCH_VERSIONS=$versions
if [ "$small" != 0 ]; then BENCH_VERSIONS=$small,$versions; fi
export BENCH_RCLONE=${BENCH_RCLONE:-/tmp/rclone-bin/rclone}
if [ ! -x "$BENCH_RCLONE" ]; then
  echo "no rclone at $BENCH_RCLONE: GOBIN=/tmp/rclone-bin go install github.com/rclone/rclone@v1.76.0" >&2
  exit 2
fi
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ]; then
  export TMPDIR=/dev/shm/steward-bench-erase.$$
fi
mkdir -p "${TMPDIR:-/tmp}"
bin=$(mktemp -d)/objstore.test
trap 'rm -rf "$(dirname "$bin")"; case "${TMPDIR:-}" in /dev/shm/steward-bench-erase.*) rm -rf "$TMPDIR";; esac' EXIT
go test -c -o "$bin" ./internal/objstore
cd internal/objstore
echo "sizes: $BENCH_VERSIONS versions; rclone $("$BENCH_RCLONE" version | head -1); server dirs under ${TMPDIR:-/tmp}"
"$bin" -test.run '^$' -test.bench BenchmarkP4Purge -test.benchtime "${ITER:-3}x" -test.timeout 3h 2>&1 |
  grep -E '^Benchmark|^bench:|^--- FAIL|FAIL|error'

#!/usr/bin/env bash
# P6: a deletion certificate whose evidence lists 1,000,000 objects is
# rendered, its evidence embedded and signed; prints the time per run and
# the process's peak RSS (target: < 5 s, < 256 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
bin=$(mktemp -d)/certs.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./certs
/usr/bin/time -v "$bin" -test.run '^$' -test.bench BenchmarkCertificateMillionObjects -test.benchtime 1x 2>&1 |
  grep -E 'BenchmarkCertificateMillionObjects|Maximum resident set size|Elapsed'

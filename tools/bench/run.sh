#!/usr/bin/env bash
# run.sh - `make bench`: each row measured against its baseline in the same run.
# Rows present so far: the XDP fast path against the parse-and-pass floor.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
runs=200000
[ -n "${BENCH_QUICK:-}" ] && runs=100000
echo "== XDP fast path (BPF_PROG_TEST_RUN, repeat=1, $runs runs each)"
"$BUILD/tests/bpf/test_xdp_steer" --bench "$runs"

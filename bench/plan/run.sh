#!/usr/bin/env bash
# The epoch permutation's cost per position, Philox-drawn rounds against
# round tables in the same run (bench/plan/perm_bench.c). Builds it against
# $BUILD/lib/libbiofeed.a and writes the table to stdout and
# bench/plan/results.md. env: BUILD (default build), ROUNDS (default 5).
set -euo pipefail

BUILD=${BUILD:-build}
ROUNDS=${ROUNDS:-5}
cd "$(dirname "$0")/../.."
OUT=$BUILD/bench/plan
mkdir -p "$OUT"

make -j2 BUILD="$BUILD" lib >&2
PKG_LIBS=$(sed -n 's/^PKG_LIBS := //p' "$BUILD/config.mk")
# shellcheck disable=SC2086
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Iloader -Ikernels -Wall -Wextra -Werror \
  bench/plan/perm_bench.c "$BUILD/lib/libbiofeed.a" $PKG_LIBS -fopenmp -o "$OUT/perm_bench"
{
  echo "# bench/plan results"
  echo
  echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), one thread," \
    "best of $ROUNDS; load average $(cut -d' ' -f1-3 /proc/loadavg) at the start. ns per position;" \
    "batched: 256 positions in runs of 32 (the sampler's walk of a rank's next batches)."
  echo
  "$OUT/perm_bench" "$ROUNDS"
} | tee bench/plan/results.md

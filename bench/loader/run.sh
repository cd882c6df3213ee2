#!/usr/bin/env bash
# Runs bench_loader on every configs/*.yaml (or the configs given as
# arguments): time to first batch, the pipelined rate, and the rate of the
# slowest stage measured alone on the same batches. Writes the table to
# stdout and to bench/loader/results.md. See bench/loader/README.md.
#
# env: BUILD (default build), BATCHES (default 100: batches per measurement
#      at least), MIN_SECONDS (default 0.5: a config with quicker batches takes as
#      many as last that long), ROUNDS (default 3: alone + pipelined rounds;
#      the row is the median one).
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
BATCHES=${BATCHES:-100}
ROUNDS=${ROUNDS:-3}
MIN_SECONDS=${MIN_SECONDS:-0.5}
BIN=$BUILD/bench/bench_loader
RESULTS=bench/loader/results.md

make -j2 BUILD="$BUILD" "$BUILD/lib/libbiofeed.a" >&2
if [[ ! -x $BIN || $BIN -ot bench/loader/bench_loader.c || $BIN -ot $BUILD/lib/libbiofeed.a ]]; then
  echo "bench/loader: building $BIN" >&2
  mkdir -p "$(dirname "$BIN")"
  LIBS=$(make -s BUILD="$BUILD" --eval='print-ldlibs: ; @echo $(LDLIBS)' print-ldlibs)
  CFLAGS_PKG=$(sed -n 's/^PKG_CFLAGS := //p' "$BUILD/config.mk")
  CUDA_DEF=$(make -s BUILD="$BUILD" --eval='print-cuda: ; @echo $(CUDA)' print-cuda)
  # shellcheck disable=SC2086
  cc -O2 -g -std=c11 -D_GNU_SOURCE -DBFD_CUDA="$CUDA_DEF" -Wall -Wextra -Iinclude -Iloader -Ikernels \
    -I/usr/include/nifti $CFLAGS_PKG bench/loader/bench_loader.c "$BUILD/lib/libbiofeed.a" $LIBS -o "$BIN"
fi

if [[ $# -gt 0 ]]; then CONFIGS=("$@"); else CONFIGS=(configs/*.yaml); fi
{
  echo "# bench/loader results"
  echo
  echo "$(date -u +%Y-%m-%d), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs," \
    "$(free -g | awk '/Mem:/ {print $2}') GiB; at least $BATCHES batches and ${MIN_SECONDS} s per run, median of $ROUNDS rounds, page cache warm;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
  echo
  "$BIN" -n "$BATCHES" -s "$MIN_SECONDS" -r "$ROUNDS" "${CONFIGS[@]}"
} | tee "$RESULTS"

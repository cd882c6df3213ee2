#!/usr/bin/env bash
# Exchange throughput in MB/s per rank with Open MPI on this machine: the
# all-to-all of batch-sized buffers that `exchange` mode runs every step,
# with 2 and 4 ranks, against plain MPI_Alltoallv moving the same bytes.
# Writes the table to stdout and to bench/dist/results.md. See
# bench/dist/README.md.
#
# Then the same through the loader: `exchange` mode against `shard` mode on
# the same job and data (loader_bench.c; needs $BUILD/lib/libbiofeed.a).
#
# env: BUILD (default build), SIZES (default "1 8 32": MB of records each
#      rank consumes per step), RANKS (default "2 4").
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SIZES=${SIZES:-1 8 32}
RANKS=${RANKS:-2 4}
BIN=$BUILD/bench/exchange_bench
RESULTS=bench/dist/results.md

# The driver needs only the comm layer and the error helpers: built here,
# optimized and unsanitized, with the mpi backend on.
mkdir -p "$(dirname "$BIN")"
mpicc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Iloader -DBFD_MPI=1 -DBFD_NCCL=0 \
  bench/dist/exchange_bench.c loader/dist/comm.c loader/dist/comm_local.c loader/dist/comm_mpi.c \
  loader/dist/watchdog.c loader/dist/launcher.c loader/dist/xplan.c loader/core/error.c -lpthread -o "$BIN"

export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none
# More threads than cores (each rank runs its pipeline's stages): ranks that
# wait in MPI yield the core instead of spinning on it.
export OMPI_MCA_mpi_yield_when_idle=1
MPIRUN=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && MPIRUN+=(--allow-run-as-root)

LOADER_BIN=$BUILD/bench/loader_bench
[[ -f $BUILD/lib/libbiofeed.a ]] || { echo "bench/dist/run.sh: $BUILD/lib/libbiofeed.a is missing: run make lib" >&2; exit 2; }
# shellcheck disable=SC2046
mpicc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude bench/dist/loader_bench.c "$BUILD/lib/libbiofeed.a" \
  $(cat "$BUILD/lib/biofeed-link.txt") -o "$LOADER_BIN"
DATA=$BUILD/bench/dist-data
mkdir -p "$DATA"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
{
  echo "# bench/dist: exchange throughput per rank"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($cpu), $(mpirun --version | head -1),"
  echo "shared memory (btl self,vader, no single-copy), one machine. Records of 64 KiB, owners at random;"
  echo "MB = 10^6 bytes a rank receives per step (its own share included), median of 5 rounds, mean over ranks."
  echo
  echo "| ranks | MB per rank per step | MPI_Alltoallv MB/s | bfdi_comm_alltoallv MB/s | ratio | exchange step MB/s | ratio |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  for np in $RANKS; do
    # shellcheck disable=SC2086
    timeout -k 5 600 "${MPIRUN[@]}" -np "$np" "$BIN" $SIZES
  done
  echo
  echo "Ratios are against MPI_Alltoallv in the same run. bfdi_comm_alltoallv exchanges the sizes first"
  echo "(MPI_Alltoall) and agrees on the path (MPI_Allreduce) every call; the exchange step adds the plan,"
  echo "framing the records into the send buffer and copying them out into batch slots."
  echo
  echo "## Through the loader: exchange against shard mode"
  echo
  echo "The same job (\`device: cpu\`, \`io.workers: 1\`, prefetch 4) in \`dist.mode: shard\` and \`exchange\`,"
  echo "alternated over 5 rounds, median; 100 batches after 3 of warm-up, each from a fresh loader. MB/s per rank ="
  echo "decoded record bytes in a rank's batches per second, mean over ranks; ratio = exchange / shard."
  echo
  echo "| ranks | workload | shard MB/s | exchange MB/s | ratio |"
  echo "|---:|---|---:|---:|---:|"
  for np in $RANKS; do
    timeout -k 5 900 "${MPIRUN[@]}" -np "$np" "$LOADER_BIN" "$DATA"
  done
  echo
  echo "In exchange mode each step also plans every rank's batch, frames the owned records, runs the"
  echo "all-to-all in lock-step with the consumer (at most one step ahead of it) and copies"
  echo "the records into their rows; shard mode reads the same bytes without talking. The consumer here does"
  echo "no work, so nothing hides the all-to-all and the ops of each step: the ratio is the worst case; a"
  echo "training step longer than both hides them. One shared 2-core machine, more threads than cores: the"
  echo "MB/s move a lot between runs."
} | tee "$RESULTS"

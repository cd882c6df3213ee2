#!/usr/bin/env bash
# Exchange throughput in MB/s per rank with Open MPI on this machine: the
# all-to-all of batch-sized buffers that `exchange` mode runs every step,
# with 2 and 4 ranks, against plain MPI_Alltoallv moving the same bytes.
# Writes the table to stdout and to bench/dist/results.md. See
# bench/dist/README.md.
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
MPIRUN=(mpirun --oversubscribe)
[[ $(id -u) -eq 0 ]] && MPIRUN+=(--allow-run-as-root)

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
} | tee "$RESULTS"

#!/usr/bin/env bash
# Multi-rank tests of loader/dist: builds tests/dist/*.c with mpicc and ASan
# + UBSan (loader/dist/*.c compiled in, with the mpi backend on; the rest of
# the library from $BUILD/san/libbiofeed.a), then runs them:
#   collectives   mpirun -np 4: broadcast, allgather, all-to-all (uneven,
#                 zeros, in pieces), exchange plans, split and broadcast groups
#   shard         mpirun -np 4: the loader in shard mode; the samples of an
#                 epoch over all ranks are the dataset exactly once (plus the
#                 stated padding), step counts equal
#   modes         mpirun -np 4: the loader in exchange and broadcast modes
#                 (dist_modes.c): exchange = shard byte for byte (also with
#                 io.cache, each rank holding only its own shards), every sample
#                 once, broadcast groups identical and disjoint (with io.cache
#                 too, members holding nothing); elastic
#                 resume from 4 ranks (mpirun -np 4) to 2 (mpirun -np 2)
#   failure       mpirun -np 4 where rank 1 aborts, exits, is killed or hangs,
#                 and through the loader in exchange mode, where rank 1's
#                 staged shard is missing or damaged or rank 1 is killed: every rank
#                 must exit non-zero, within a bounded time, with the
#                 documented exit code where there is one
#   rendezvous    4 processes with torchrun-style variables on 127.0.0.1
#   nccl          the nccl backend with one rank on one GPU, and broadcast
#                 and all-to-all throughput; skipped without a GPU and NCCL
#                 (built unsanitized against the CUDA runtime)
# Every run is under timeout(1), so nothing can hang CI. Prints cmocka-style
# lines and "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)." like the
# unit tests; exits non-zero if any failed.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/../.." || exit 2

BUILD=${BUILD:-build}
OUT=$BUILD/tests/dist
SAN_A=$BUILD/san/libbiofeed.a
NP=4
LIMIT=120        # hard cap on any one run, seconds
FAIL_BOUND=45    # a failing job must be over within this many seconds

if [[ ! -f $SAN_A || ! -f $BUILD/config.mk ]]; then
  echo "tests/dist/run.sh: $SAN_A is missing: run 'make BUILD=$BUILD $SAN_A' first" >&2
  exit 2
fi
for tool in mpicc mpirun timeout; do
  command -v "$tool" >/dev/null || { echo "tests/dist/run.sh: $tool not found (scripts/install-deps.sh installs Open MPI)" >&2; exit 2; }
done

# Open MPI keeps its own allocations to the end of the process: the slow
# unwinder names its libraries in leak stacks, so lsan.supp can match them.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}:fast_unwind_on_malloc=0"
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS="suppressions=$PWD/tests/dist/lsan.supp:print_suppressions=0"
# One machine, more ranks than cores, shared memory only; CMA (ptrace) is
# often not allowed in containers.
export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_hwloc_base_binding_policy=none
MPIRUN=(mpirun -np "$NP" --oversubscribe)
[[ $(id -u) -eq 0 ]] && MPIRUN+=(--allow-run-as-root)

passed=0 failed=0 skipped=0
ok() { echo "[       OK ] $1"; passed=$((passed + 1)); }
bad() { echo "[  FAILED  ] $1: $2"; failed=$((failed + 1)); }

# --- build -------------------------------------------------------------------
mkdir -p "$OUT"
PKG_CFLAGS=$(sed -n 's/^PKG_CFLAGS := //p' "$BUILD/config.mk")
PKG_LIBS=$(sed -n 's/^PKG_LIBS := //p' "$BUILD/config.mk")
read -ra pkg_cflags <<<"$PKG_CFLAGS"
CFLAGS=(-std=c11 -D_GNU_SOURCE -Iinclude -Iloader -Itests/dist "${pkg_cflags[@]}" -DBFD_MPI=1 -DBFD_NCCL=0
        -O1 -g -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Werror
        "-fsanitize=address,undefined" -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
objs=()
mkdir -p "$OUT/obj"
for src in loader/dist/*.c; do
  o=$OUT/obj/$(basename "${src%.c}").o
  mpicc "${CFLAGS[@]}" -c "$src" -o "$o" || { echo "tests/dist/run.sh: cannot compile $src" >&2; exit 2; }
  objs+=("$o")
done
for prog in dist_collectives dist_fail dist_rdzv dist_shard dist_modes; do
  # shellcheck disable=SC2086
  mpicc "${CFLAGS[@]}" -o "$OUT/$prog" "tests/dist/$prog.c" "${objs[@]}" "$SAN_A" $PKG_LIBS -fopenmp -lstdc++ \
    || { echo "tests/dist/run.sh: cannot build $prog" >&2; exit 2; }
done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- collectives --------------------------------------------------------------
echo "[ RUN      ] collectives ($NP ranks)"
log=$OUT/collectives.log
timeout -k 5 "$LIMIT" "${MPIRUN[@]}" "$OUT/dist_collectives" >"$log" 2>&1
rc=$?
sed 's/^/    /' "$log"
if [[ $rc -eq 0 ]] && [[ $(grep -c '^\[       OK \]' "$log") -eq 6 ]]; then ok "collectives"; else bad "collectives" "exit $rc"; fi

# --- the loader in shard mode --------------------------------------------------
echo "[ RUN      ] loader, shard mode ($NP ranks)"
sdir=$OUT/shard
rm -rf "$sdir" && mkdir -p "$sdir/data"
timeout -k 5 "$LIMIT" "${MPIRUN[@]}" "$OUT/dist_shard" "$sdir/data" >"$sdir/log" 2>&1
rc=$?
sed 's/^/    /' "$sdir/log"
if [[ $rc -eq 0 ]] && [[ $(grep -c '^\[       OK \]' "$sdir/log") -eq 2 ]]; then ok "loader, shard mode"; else bad "loader, shard mode" "exit $rc"; fi

# --- the loader in exchange and broadcast modes -----------------------------------
# modes_case NAME NP CHECKS: dist_modes NAME under mpirun -np NP, CHECKS "[ OK ]" lines
mdir=$OUT/modes
rm -rf "$mdir" && mkdir -p "$mdir"
modes_case() {
  local name=$1 np=$2 want=$3
  echo "[ RUN      ] loader, $name ($np ranks)"
  local run=("${MPIRUN[@]}")
  run[2]=$np
  timeout -k 5 "$LIMIT" "${run[@]}" "$OUT/dist_modes" "$name" "$mdir" >"$mdir/$name.log" 2>&1
  local rc=$?
  sed 's/^/    /' "$mdir/$name.log"
  if [[ $rc -eq 0 ]] && [[ $(grep -c '^\[       OK \]' "$mdir/$name.log") -eq $want ]]; then
    ok "loader, $name"
  else
    bad "loader, $name" "exit $rc"
  fi
}
modes_case modes "$NP" 8
modes_case save "$NP" 1
modes_case resume 2 1

# --- one rank fails -----------------------------------------------------------
# fail_case MODE EXPECTED_RC [PROG [MUST_LOG]] ("any" for any non-zero; 0 for
# the control run); MUST_LOG: an extended regexp the job's output must match
fail_case() {
  local mode=$1 want=$2 prog=${3:-dist_fail} must=${4:-} dir=$OUT/fail-$1
  rm -rf "$dir" && mkdir -p "$dir"
  echo "[ RUN      ] failure: rank 1 $mode"
  local t0 t1 rc
  t0=$(now)
  timeout -k 5 "$LIMIT" "${MPIRUN[@]}" "$OUT/$prog" "$mode" "$dir" >"$dir/log" 2>&1
  rc=$?
  t1=$(now)
  local took why=""
  took=$(elapsed "$t0" "$t1")
  grep -E 'biofeed|dist_fail|MPI_ABORT|exited|signal' "$dir/log" | head -6 | sed 's/^/    /'
  local started completed alive=()
  local pidfiles=("$dir"/pid.*) rcfiles=("$dir"/rc.*)
  started=${#pidfiles[@]}
  completed=0
  ((${#rcfiles[@]})) && completed=$(grep -lx 0 "${rcfiles[@]}" | wc -l)
  # mpirun may return while the ranks it killed are still going away: give
  # them a few seconds (a zombie counts as gone), then kill what is left.
  for _ in $(seq 50); do
    alive=()
    for p in "$dir"/pid.*; do
      [[ -f $p ]] || continue
      local pid state
      pid=$(cat "$p")
      state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
      [[ -n $state && $state != Z ]] && alive+=("$pid")
    done
    ((${#alive[@]})) || break
    sleep 0.2
  done
  for pid in "${alive[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [[ $started -eq $NP ]] || why+="only $started of $NP ranks started; "
  [[ -z $must ]] || grep -qE "$must" "$dir/log" || why+="no line matching '$must' in the output; "
  ((${#alive[@]})) && why+="ranks still running after mpirun returned (pids ${alive[*]}); "
  if [[ $want == 0 ]]; then
    [[ $rc -eq 0 ]] || why+="mpirun exit $rc, expected 0; "
    [[ $completed -eq $NP ]] || why+="$completed of $NP ranks completed; "
  else
    [[ $rc -ne 0 ]] || why+="mpirun exit 0; "
    [[ $rc -eq 124 && $want != 124 ]] && why+="hit the ${LIMIT} s cap; "
    [[ $want == any || $rc -eq $want ]] || why+="mpirun exit $rc, expected $want; "
    [[ $completed -eq 0 ]] || why+="$completed ranks exited 0; "
    awk -v t="$took" -v b="$FAIL_BOUND" 'BEGIN { exit !(t <= b) }' || why+="took $took s (bound $FAIL_BOUND s); "
  fi
  if [[ -z $why ]]; then ok "failure: rank 1 $mode (exit $rc after $took s)"; else bad "failure: rank 1 $mode" "$why"; fi
}
fail_case none 0
fail_case abort 106   # 100 + BFD_ERR_CORRUPT
fail_case hang 124    # the others' 5 s timeout
fail_case exit any
fail_case crash any
# through the loader: 102 = 100 + BFD_ERR_IO, from the rank whose staged copy is missing
fail_case fail-missing 102 dist_modes 'rank 1 of 4 failed.*dist.stage_dir: rank 1 owns shard seq-[0-9]+\.h5.*biofeed stage'
# 106 = 100 + BFD_ERR_CORRUPT, from the rank that reads its damaged copy
fail_case fail-corrupt 106 dist_modes 'rank 1 of 4 failed \(BFD_ERR_CORRUPT\).*/stage/seq-[0-9]+\.h5: record 0 .*CRC32C mismatch'
fail_case fail-kill any dist_modes

# --- TCP rendezvous, torchrun style --------------------------------------------
echo "[ RUN      ] rendezvous ($NP processes on 127.0.0.1)"
port=$("$OUT/dist_rdzv" port)
rdir=$OUT/rdzv
rm -rf "$rdir" && mkdir -p "$rdir"
pids=()
# Rank 0 starts last: the others retry until it listens.
for r in $(seq $((NP - 1)) -1 0); do
  [[ $r -eq 0 ]] && sleep 1
  RANK=$r WORLD_SIZE=$NP LOCAL_RANK=$r LOCAL_WORLD_SIZE=$NP MASTER_ADDR=127.0.0.1 BIOFEED_RDZV_PORT=$port \
    timeout -k 5 60 "$OUT/dist_rdzv" "$rdir/blob" 2>>"$rdir/log" &
  pids+=($!)
done
rcs=()
for p in "${pids[@]}"; do wait "$p"; rcs+=($?); done
sed 's/^/    /' "$rdir/log"
blobs=("$rdir"/blob.*)
files=${#blobs[@]}
distinct=0
((files)) && distinct=$(sort -u "${blobs[@]}" | wc -l)
if [[ ${rcs[*]} == "0 0 0 0" && $files -eq $NP && $distinct -eq 1 ]] && ! grep -qxE '0+' "$rdir/blob.0"; then
  ok "rendezvous: $NP processes got rank 0's 128 bytes"
else
  bad "rendezvous" "exit codes ${rcs[*]}, $files files, $distinct distinct"
fi

# --- nccl on one GPU -------------------------------------------------------------
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [[ -f $CUDA_HOME/include/nccl.h ]] && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "[ RUN      ] nccl (one rank, one GPU)"
  # shellcheck disable=SC2046
  if gcc -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Iloader -isystem "$CUDA_HOME/include" $(pkg-config --cflags ompi-c) \
       -DBFD_MPI=1 -DBFD_NCCL=1 -DBFD_CUDA=1 -Wall -Wextra -Werror tests/dist/dist_nccl.c loader/dist/comm.c \
       loader/dist/comm_local.c loader/dist/comm_mpi.c loader/dist/comm_nccl.c loader/dist/watchdog.c \
       loader/dist/launcher.c loader/dist/rdzv.c loader/core/error.c $(pkg-config --libs ompi-c) \
       -L"$CUDA_HOME/lib64" -lnccl -lcudart_static -ldl -lrt -lpthread -o "$OUT/dist_nccl"; then
    env -u RANK -u WORLD_SIZE timeout -k 5 300 "$OUT/dist_nccl" >"$OUT/nccl.log" 2>&1
    rc=$?
    sed 's/^/    /' "$OUT/nccl.log"
    if [[ $rc -eq 0 ]]; then ok "nccl"; else bad "nccl" "exit $rc"; fi
  else
    bad "nccl" "cannot build tests/dist/dist_nccl.c"
  fi
else
  echo "[  SKIPPED ] nccl: no GPU or no NCCL here (the GPU check runs it)"
  skipped=$((skipped + 1))
fi

echo "[==========] $((passed + failed)) test(s) run."
echo "[  PASSED  ] $passed test(s)."
((skipped)) && echo "[  SKIPPED ] $skipped test(s)."
if ((failed)); then
  echo "[  FAILED  ] $failed test(s)."
  exit 1
fi

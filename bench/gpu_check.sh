#!/usr/bin/env bash
# The GPU check: one command for a machine with an NVIDIA GPU, under 8
# minutes. It builds the library for sm_90 (the default nvcc targets: sm_80,
# sm_90 and PTX), generates and packs small inputs (standard library Python,
# no network), then:
#   1. parity      every op, CPU vs CUDA through the loader API, byte for byte
#                  (bench/gpu/parity.c on configs/*.yaml and the bench workloads)
#   2. memcheck    compute-sanitizer --tool memcheck on short `biofeed run`s
#   3. kernels     each kernel's GB/s against a device-to-device cudaMemcpy and
#                  H2D from pinned memory, measured in the same run
#                  (bench/gpu/kernels_bench.cu; sequence kernels from
#                  bench/seq/seq_bench.c)
#   4. e2e         `biofeed run` samples/s per workload, device cuda and cpu,
#                  with the stage that limits it
#   5. nccl        NCCL with one rank: AllReduce and Broadcast, values checked;
#                  biofeed's nccl comm (tests/dist/dist_nccl.c: every call,
#                  broadcast and all-to-all GB/s) and the loader's exchange
#                  and broadcast modes over it, equal to shard mode
#                  (tests/dist/nccl_loader.c)
# and prints a short table last. Full results and logs go to $OUT/gpu_check
# when OUT is set, else to bench/results/gpu_check.
#
# env: BUILD (default build/gpu), OUT, JOBS (make -j, default nproc),
#      E2E_STEPS (default 40), PARITY_BATCHES (default 6).
# Exit: 0 all checks passed; 1 a check failed; 2 no GPU or the build failed.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build/gpu}
RES=${OUT:-$ROOT/bench/results}/gpu_check
LOGS=$RES/logs
DATA=$BUILD/gpu-check-data
CFG=$BUILD/gpu-check-configs
BIN=$BUILD/bin/biofeed
JOBS=${JOBS:-$(nproc)}
E2E_STEPS=${E2E_STEPS:-40}
PARITY_BATCHES=${PARITY_BATCHES:-6}
START=$SECONDS
mkdir -p "$LOGS" "$DATA" "$CFG" "$BUILD/gpu"
: >"$RES/summary.tsv"

say() { printf 'gpu_check [%3ds] %s\n' $((SECONDS - START)) "$*" >&2; }
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RES/summary.tsv"; }
FAILED=0
# run NAME SECONDS CMD...: logs to $LOGS/NAME.log; 0 passed, else failed (124: timed out).
run() {
  local name=$1 limit=$2
  shift 2
  local rc=0
  timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1 || rc=$?
  if ((rc == 124 || rc == 137)); then say "$name: timed out after ${limit}s (log: $LOGS/$name.log)"; fi
  if ((rc != 0 && rc != 124 && rc != 137)); then say "$name: failed with status $rc (log: $LOGS/$name.log)"; fi
  return $rc
}

if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >"$LOGS/nvidia-smi.log" 2>&1; then
  say "no NVIDIA GPU visible (nvidia-smi -L failed); this script needs one"
  exit 2
fi
GPU=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -1)
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CUDA_HOME=${CUDA_HOME:-${NVCC%/bin/nvcc}}
say "GPU: $GPU; nvcc: $NVCC"

# --- build -----------------------------------------------------------------
say "building $BUILD (CUDA=1, sm_80 + sm_90 + PTX)"
if ! run build 300 make -j"$JOBS" BUILD="$BUILD" CUDA=1 NVCC="$NVCC" "$BUILD/lib/libbiofeed.a" "$BIN"; then
  say "the build failed; see $LOGS/build.log"
  exit 2
fi
LIBS=$(cat "$BUILD/lib/biofeed-link.txt")
# shellcheck disable=SC2086
if ! run build-tools 180 bash -c "
  cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -isystem '$CUDA_HOME/include' bench/gpu/parity.c \
     '$BUILD/lib/libbiofeed.a' $LIBS -o '$BUILD/gpu/parity' &&
  '$NVCC' -O2 -std=c++17 -arch=sm_90 -DBFD_CUDA=1 -D_GNU_SOURCE -Iinclude -Iloader -Ikernels \
     -c bench/gpu/kernels_bench.cu -o '$BUILD/gpu/kernels_bench.o' &&
  cc '$BUILD/gpu/kernels_bench.o' '$BUILD/lib/libbiofeed.a' $LIBS -o '$BUILD/gpu/kernels_bench' &&
  cc -O2 -std=c11 -Wall -Wextra -isystem '$CUDA_HOME/include' bench/gpu/nccl_check.c -L'$CUDA_HOME/lib64' \
     -lnccl -lcudart_static -ldl -lrt -lpthread -o '$BUILD/gpu/nccl_check' &&
  cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Iloader -isystem '$CUDA_HOME/include' \
     tests/dist/dist_nccl.c '$BUILD/lib/libbiofeed.a' $LIBS -o '$BUILD/gpu/dist_nccl' &&
  cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -isystem '$CUDA_HOME/include' \
     tests/dist/nccl_loader.c '$BUILD/lib/libbiofeed.a' $LIBS -o '$BUILD/gpu/nccl_loader' &&
  cc -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Iinclude -Iloader -Ikernels -DBFD_CUDA=1 -Wall -Wextra \
     bench/seq/seq_bench.c '$BUILD/lib/libbiofeed.a' $LIBS -o '$BUILD/gpu/seq_bench'"; then
  say "building the check programs failed; see $LOGS/build-tools.log"
  exit 2
fi
export LD_LIBRARY_PATH=$CUDA_HOME/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# --- data and configs ------------------------------------------------------
say "generating and packing inputs under $DATA"
# shellcheck disable=SC2317  # pack runs inside the timed `bash -c` below, through declare -f
pack() { # name, then pack arguments
  local name=$1
  shift
  [[ -f $DATA/packed/$name/manifest.json ]] || "$BIN" pack -q -o "$DATA/packed/$name" "$@"
}
if ! run data 240 bash -c "$(declare -f pack); BIN='$BIN' DATA='$DATA';
  python3 bench/gpu/gen_inputs.py '$DATA' &&
  pack dna --alphabet dna '$DATA/genome.fna' &&
  pack protein --alphabet protein '$DATA/proteins.fasta' &&
  pack microscopy --labels '$DATA/microscopy/masks' '$DATA/microscopy/images' &&
  pack volumes --labels '$DATA/volumes/labels' '$DATA/volumes/images'"; then
  say "making the inputs failed; see $LOGS/data.log"
  exit 2
fi
P=$ROOT/$DATA/packed
for f in configs/*.yaml; do
  sed -e "s|\.\./build/demo/ecoli|$P/dna|; s|\.\./build/demo/uniprot|$P/protein|" \
    -e "s|\.\./build/demo/microscopy|$P/microscopy|; s|\.\./build/demo/volumes|$P/volumes|" "$f" >"$CFG/$(basename "$f")"
done
# the workloads of `make bench` (bench/e2e/workloads.py), on this check's data
for w in dna-1kb:dna dna-32kb:dna protein-mlm:protein img-2d:microscopy vol-3d:volumes; do
  name=${w%%:*}
  python3 bench/e2e/workloads.py "$name" "$P/${w#*:}" auto 8G >"$CFG/e2e_${name//-/_}.yaml"
done
with_device() { sed "s/^device: .*/device: $2/" "$1" >"${1%.yaml}.$2.yml"; echo "${1%.yaml}.$2.yml"; }

# --- 1. parity ---------------------------------------------------------------
say "parity: CPU vs CUDA, $PARITY_BATCHES batches per config"
if run parity 240 "$BUILD/gpu/parity" -n "$PARITY_BATCHES" "$CFG"/*.yaml; then
  row parity PASS "$(grep -c identical "$LOGS/parity.log") configs identical"
else
  FAILED=1
  row parity FAIL "$(grep -c "FAIL" "$LOGS/parity.log" || true) configs differ or failed; $(tail -1 "$LOGS/parity.log")"
fi

# --- 2. memcheck -------------------------------------------------------------
SAN=$(command -v compute-sanitizer || true)
[[ -n $SAN ]] || for c in "$CUDA_HOME/bin/compute-sanitizer" "$CUDA_HOME/compute-sanitizer/compute-sanitizer"; do
  [[ -x $c ]] && SAN=$c && break
done
if [[ -z $SAN ]]; then
  FAILED=1
  row memcheck MISSING "compute-sanitizer not found in PATH or $CUDA_HOME; install the CUDA toolkit's sanitizer"
else
  for c in e2e_img_2d e2e_protein_mlm; do
    cfg=$(with_device "$CFG/$c.yaml" cuda)
    if run "memcheck-$c" 150 "$SAN" --tool memcheck --error-exitcode 99 --leak-check full "$BIN" run "$cfg" --steps 3; then
      row "memcheck $c" PASS "$(grep -m1 'ERROR SUMMARY' "$LOGS/memcheck-$c.log" || echo 'no errors')"
    else
      FAILED=1
      row "memcheck $c" FAIL "$(grep -m1 'ERROR SUMMARY' "$LOGS/memcheck-$c.log" || echo "see $LOGS/memcheck-$c.log")"
    fi
  done
fi

# --- 3. kernels vs copy --------------------------------------------------------
say "kernels: GB/s against device-to-device cudaMemcpy"
if run kernels 120 "$BUILD/gpu/kernels_bench"; then
  COPY=$(awk -F'\t' '$1 == "copy d2d" {print $2}' "$LOGS/kernels.log")
  while IFS=$'\t' read -r name gbs detail; do
    [[ $name == \#* || -z $name ]] && continue
    if [[ $name == img* ]]; then
      pct=$(awk -v a="$gbs" -v b="$COPY" 'BEGIN {printf "%.0f", 100 * a / b}')
      verdict=$([[ $pct -ge 50 ]] && echo PASS || echo BELOW)
      row "kernel $name" "$verdict" "$gbs GB/s = $pct% of copy ($COPY GB/s); $detail"
    else
      row "$name" INFO "$gbs GB/s; $detail"
    fi
  done <"$LOGS/kernels.log"
else
  FAILED=1
  row kernels FAIL "see $LOGS/kernels.log"
fi
# seq_bench: sequence kernels on the GPU (input already on the device), bit
# checked against the CPU; traffic counted as the input bytes plus 8 bytes
# (an int64 id) per token written.
mkdir -p "$BUILD/gpu/seq"
if OMP_NUM_THREADS=$JOBS run seq-kernels 200 "$BUILD/gpu/seq_bench" "$BUILD/gpu/seq" 1; then
  awk -F'\t' -v copy="${COPY:-0}" '$2 == "biofeed-cuda" {
      gbs = ($4 + 8 * $3) / $5 / 1e9
      printf "kernel seq %s\t%s\t%.1f GB/s = %.0f%% of copy; %.0f Mtok/s\n", $1, (copy && gbs >= copy / 2) ? "PASS" : "BELOW",
        gbs, copy ? 100 * gbs / copy : 0, $3 / $5 / 1e6 }' "$LOGS/seq-kernels.log" >>"$RES/summary.tsv"
else
  FAILED=1
  row "kernel seq" FAIL "seq_bench failed or a CPU/GPU mismatch; see $LOGS/seq-kernels.log"
fi

# --- 4. end to end -------------------------------------------------------------
say "e2e: biofeed run, $E2E_STEPS batches per workload, cuda then cpu"
for c in e2e_dna_1kb e2e_dna_32kb e2e_protein_mlm e2e_img_2d e2e_vol_3d; do
  for dev in cuda cpu; do
    cfg=$(with_device "$CFG/$c.yaml" $dev)
    if run "e2e-$c-$dev" 90 "$BIN" run "$cfg" --steps "$E2E_STEPS"; then
      sps=$(sed -n 's/^throughput: \([^ ]*\) samples\/s.*/\1/p' "$LOGS/e2e-$c-$dev.log")
      neck=$(sed -n 's/^bottleneck: //p' "$LOGS/e2e-$c-$dev.log")
      row "e2e ${c#e2e_} $dev" INFO "$sps samples/s; bottleneck: $neck"
    else
      FAILED=1
      row "e2e ${c#e2e_} $dev" FAIL "see $LOGS/e2e-$c-$dev.log"
    fi
  done
done

# --- 5. NCCL -------------------------------------------------------------------
if run nccl 90 "$BUILD/gpu/nccl_check"; then
  while IFS=$'\t' read -r name gbs detail; do row "$name" PASS "$gbs GB/s; $detail"; done <"$LOGS/nccl.log"
else
  FAILED=1
  row nccl FAIL "$(tail -1 "$LOGS/nccl.log")"
fi
# biofeed's own comm and the loader over it: one rank (no launcher variables),
# so the NCCL id needs no rendezvous.
if run nccl-comm 120 env -u RANK -u WORLD_SIZE "$BUILD/gpu/dist_nccl"; then
  row "nccl comm (biofeed)" PASS "$(grep -c '^\[       OK \]' "$LOGS/nccl-comm.log") checks; $(awk -F'|' '$2 + 0 == 32 { printf "32 MB: broadcast%s GB/s, all-to-all%s GB/s", $3, $4 }' "$LOGS/nccl-comm.log")"
else
  FAILED=1
  row "nccl comm (biofeed)" FAIL "$(tail -1 "$LOGS/nccl-comm.log")"
fi
mkdir -p "$DATA/nccl-loader"
if run nccl-loader 180 env -u RANK -u WORLD_SIZE "$BUILD/gpu/nccl_loader" "$DATA/nccl-loader"; then
  while IFS=$'\t' read -r name res detail; do row "$name" "$res" "$detail"; done <"$LOGS/nccl-loader.log"
else
  FAILED=1
  row "nccl loader" FAIL "$(tail -1 "$LOGS/nccl-loader.log")"
fi

# --- table ---------------------------------------------------------------------
{
  echo "# GPU check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $GPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) CPUs; $((SECONDS - START)) s"
  echo
  echo "| check | result | detail |"
  echo "|---|---|---|"
  awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $3}' "$RES/summary.tsv"
  echo
  echo "Logs: $LOGS"
} >"$RES/results.md"
cat "$RES/results.md"
exit $FAILED

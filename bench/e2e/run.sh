#!/usr/bin/env bash
# `make bench`: the end-to-end CPU benchmark. Builds the library and the
# command, makes the bench venv (torch, h5py, scipy, tokenizers, matplotlib,
# DALI and the biofeed module), generates and packs the inputs once, then runs
# bench/e2e/bench.py: biofeed against the torch DataLoader baseline on five
# workloads (and a DALI CPU pipeline on img-2d) and the DLIO-style AU test.
# Table: bench/results/e2e.md, chart: bench/results/e2e.png. See
# bench/README.md.
#
# env: BUILD (default build), BENCH_VENV (default $BUILD/bench-venv),
#      RUNS (3), GENOME_MBP (8), PROTEINS (20000), IMAGES (256), VOLUMES (4),
#      WORKLOADS (all), STEPS_DNA1K STEPS_DNA32K STEPS_PROT STEPS_2D STEPS_3D,
#      AU_STEPS (4), AU_STEP_S (0.323 * 14 / CPUs), RESULTS (bench/results).
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
VENV=${BENCH_VENV:-$BUILD/bench-venv}
DATA=$BUILD/bench/e2e
RESULTS=${RESULTS:-bench/results}
GENOME_MBP=${GENOME_MBP:-8} PROTEINS=${PROTEINS:-20000} IMAGES=${IMAGES:-256} VOLUMES=${VOLUMES:-4}

make -j2 BUILD="$BUILD" "$BUILD/lib/libbiofeed.a" "$BUILD/bin/biofeed" >&2
BIOFEED=$BUILD/bin/biofeed

if [[ ! -x $VENV/bin/python ]]; then
  echo "bench: creating $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import h5py, scipy, tokenizers, matplotlib, wheel' 2>/dev/null; then
  "$VENV/bin/pip" install -q numpy h5py scipy tokenizers matplotlib wheel
fi
# PyPI's torch wheel brings the CUDA libraries (several GB); when it cannot be
# installed in 10 minutes, bench.py says so and uses its process-pool stand-in.
if ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  echo "bench: installing torch into $VENV (up to 10 minutes)" >&2
  timeout 600 "$VENV/bin/pip" install -q torch || echo "bench: torch could not be installed; the baseline is the process-pool stand-in" >&2
fi
# DALI's CPU pipeline (the img-2d rows) comes in NVIDIA's wheel (about 430 MB);
# when it cannot be installed in 10 minutes the table has no DALI rows and says so.
if ! "$VENV/bin/python" -c 'import nvidia.dali' 2>/dev/null; then
  echo "bench: installing DALI into $VENV (up to 10 minutes)" >&2
  timeout 600 "$VENV/bin/pip" install -q --extra-index-url https://pypi.nvidia.com nvidia-dali-cuda120 ||
    echo "bench: DALI could not be installed; the table has no DALI rows" >&2
fi
# The module is rebuilt when the library is newer than the installed copy.
MOD=$("$VENV/bin/python" -c 'import biofeed, os; print(os.path.dirname(biofeed.__file__))' 2>/dev/null || true)
if [[ -z $MOD || -n $(find "$BUILD/lib/libbiofeed.a" -newer "$MOD/__init__.py" 2>/dev/null) ]]; then
  echo "bench: installing the biofeed module into $VENV" >&2
  BIOFEED_BUILD=$BUILD "$VENV/bin/pip" install -q --no-build-isolation --force-reinstall --no-deps ./python >&2
fi

mkdir -p "$DATA/src"
"$VENV/bin/python" bench/e2e/gen_data.py "$DATA/src" "$GENOME_MBP" "$PROTEINS" "$IMAGES" "$VOLUMES"
pack() { # name, pack options and input; repacked when the input changed
  local name=$1
  shift
  local stamp="$DATA/$name.args"
  if [[ ! -f $DATA/$name/manifest.json || $(cat "$stamp" 2>/dev/null) != "$*" ]]; then
    echo "bench: packing $DATA/$name" >&2
    rm -rf "${DATA:?}/$name"
    "$BIOFEED" pack -q -o "$DATA/$name" "$@"
    echo "$*" >"$stamp"
  fi
}
pack dna --alphabet dna "$DATA/src/genome-${GENOME_MBP}M.fna"
pack protein --alphabet protein "$DATA/src/proteins-$PROTEINS.fasta"
pack img --h5-dataset /images "$DATA/src/images-$IMAGES.h5"
pack vol --h5-dataset /images "$DATA/src/volumes-$VOLUMES.h5"

[[ ${BENCH_PREPARE_ONLY:-0} == 1 ]] && exit 0
OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)} "$VENV/bin/python" bench/e2e/bench.py run "$DATA" "$RESULTS"

#!/usr/bin/env bash
# Image ops throughput on the CPU: the two standard jobs (bench/img/README.md)
# through biofeed's CPU backend (img_bench.c, 1 and 2 OpenMP threads) and
# through numpy/scipy (img_baseline.py, one thread), in the same rounds;
# median of RUNS rounds. Writes a Markdown table to stdout and to
# bench/results/img_ops.md.
#
# env: BUILD (default build/bench-img: a CUDA=0 build of the library made
#      here), PY (default build/venv/bin/python, made with `make venv`),
#      RUNS (default 3), N2D / N3D (calls of img_bench: 32 images / 2
#      volumes each; defaults 20 / 4), B2D / B3D (numpy/scipy samples;
#      defaults 150 / 3).
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/bench-img}
PY=${PY:-build/venv/bin/python}
RUNS=${RUNS:-3}
N2D=${N2D:-20}
N3D=${N3D:-4}
B2D=${B2D:-150}
B3D=${B3D:-3}
RESULTS=bench/results/img_ops.md
log() { echo "img_ops: $*" >&2; }

log "building the CPU library in $BUILD"
make -s -j"$(nproc)" BUILD="$BUILD" CUDA=0 lib >&2
PKG_LIBS=$(sed -n 's/^PKG_LIBS := //p' "$BUILD/config.mk")
BENCH=$BUILD/img_bench
# shellcheck disable=SC2086
cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Iloader -Ikernels -DBFD_CUDA=0 -fopenmp bench/img/img_bench.c \
  "$BUILD/lib/libbiofeed.a" $PKG_LIBS -fopenmp -o "$BENCH"

if [[ ! -x $PY ]]; then
  log "creating build/venv"
  make venv >&2
fi
if ! "$PY" -c 'import numpy, scipy' 2>/dev/null; then
  log "installing numpy and scipy into $(dirname "$(dirname "$PY")")"
  "$PY" -m pip install -q numpy scipy >&2
fi
ALT=()
for mod in torchvision monai; do
  if "$PY" -c "import $mod" 2>/dev/null; then ALT+=("$mod"); fi
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# rate "JOB SAMPLES SECONDS ..." -> samples per second
rate() { awk '{ printf "%.3f", $2 / $3 }' <<<"$1"; }

declare -A R
for ((r = 0; r < RUNS; r++)); do
  for job in 2d 3d; do
    n=$([[ $job == 2d ]] && echo "$N2D" || echo "$N3D")
    b=$([[ $job == 2d ]] && echo "$B2D" || echo "$B3D")
    for t in 1 2; do
      out=$(OMP_NUM_THREADS=$t OMP_PROC_BIND=false "$BENCH" "$job" "$n")
      R[$job,bf$t]+=" $(rate "$out")"
      log "round $r $job biofeed ${t}T: $out"
    done
    out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 "$PY" bench/img/img_baseline.py "$job" "$b")
    R[$job,np]+=" $(rate "$out")"
    log "round $r $job numpy/scipy: $out"
  done
done

rows=()
for job in 2d 3d; do
  # shellcheck disable=SC2086
  np=$(median ${R[$job,np]})
  name=$([[ $job == 2d ]] && echo "2D: uint16 512x512 -> 256x256 crop, flips, rot90, percentile norm, noise -> f32" ||
    echo "3D: uint16 256x512x512 -> 128^3 patch, affine + elastic, labels nearest -> f32 + int64")
  rows+=("| $name | numpy/scipy | 1 | $(printf '%.1f' "$np") | $(printf '%.1f' "$np") | 1.0 |")
  for t in 1 2; do
    # shellcheck disable=SC2086
    v=$(median ${R[$job,bf$t]})
    rows+=("| | biofeed CPU | $t | $(printf '%.1f' "$v") | $(awk -v v="$v" -v t="$t" 'BEGIN { printf "%.1f", v / t }') | $(awk -v v="$v" -v t="$t" -v n="$np" 'BEGIN { printf "%.1f", v / t / n }') |")
  done
done

mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
nv=$("$PY" -c 'import numpy, scipy; print(f"numpy {numpy.__version__}, scipy {scipy.__version__}")')
report=$(
  echo "# biofeed image ops throughput (CPU)"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) CPUs ($cpu), ${mem_gib} GiB memory; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- median of $RUNS rounds; samples/s excludes making the test data; per core = samples/s / threads;"
  echo "  ratio = per core / numpy/scipy per core (numpy/scipy is single-threaded: OMP/BLAS threads 1)"
  echo "- $nv; 2D: $((N2D * 32)) images per biofeed run, $B2D per numpy run; 3D: 2 volumes in memory, $((N3D * 2))"
  echo "  patches per biofeed run, $B3D per scipy run"
  if [[ ${#ALT[@]} -eq 0 ]]; then
    echo "- torchvision and MONAI: not in the venv (PyPI's torch wheel brings the CUDA stack, gigabytes), not measured"
  else
    echo "- installed but without a same-ops implementation here: ${ALT[*]}"
  fi
  echo
  echo "| job | implementation | threads | samples/s | per core | ratio per core |"
  echo "|---|---|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
)
mkdir -p "$(dirname "$RESULTS")"
echo "$report" >"$RESULTS"
echo "$report"
log "written to $RESULTS"

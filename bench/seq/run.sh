#!/usr/bin/env bash
# Sequence ops throughput on one CPU core: biofeed's CPU backend beside plain
# Python and Hugging Face `tokenizers` doing the same job, in the same run.
# Builds bench/seq/seq_bench.c against $BUILD/lib/libbiofeed.a, runs it and
# bench/seq/seq_bench.py (in $BUILD/venv, with `tokenizers` installed into it
# if missing), and writes the table to stdout and bench/seq/results.md.
set -euo pipefail

BUILD=${BUILD:-build}
RUNS=${RUNS:-5}
cd "$(dirname "$0")/../.."
OUT=$BUILD/bench/seq
mkdir -p "$OUT"

make -j2 BUILD="$BUILD" lib >&2
PKG_LIBS=$(sed -n 's/^PKG_LIBS := //p' "$BUILD/config.mk")
CUDA_LIBS=()
CUDA_DEF=0
if ar t "$BUILD/lib/libbiofeed.a" | grep -q '\.cu\.o$'; then
  NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
  CUDA_LIBS=(-L"${NVCC%/bin/nvcc}/lib64" -lcudart_static -ldl -lrt -lstdc++)
  CUDA_DEF=1
fi
# shellcheck disable=SC2086
${CC:-cc} -O2 -std=c11 -fopenmp -D_GNU_SOURCE -Iinclude -Iloader -Ikernels -DBFD_CUDA=$CUDA_DEF \
  -Wall -Wextra -Werror bench/seq/seq_bench.c "$BUILD/lib/libbiofeed.a" $PKG_LIBS "${CUDA_LIBS[@]}" \
  -o "$OUT/seq_bench"

[[ -x $BUILD/venv/bin/python ]] || make BUILD="$BUILD" venv >&2
"$BUILD/venv/bin/python" -c 'import tokenizers' 2>/dev/null ||
  "$BUILD/venv/bin/pip" install -q tokenizers >&2 ||
  echo "note: tokenizers could not be installed; its column stays empty" >&2

# One core for everyone: OpenMP, and the Rust thread pool inside tokenizers.
export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 RAYON_RS_NUM_CPUS=1 TOKENIZERS_PARALLELISM=false
# A CPU/GPU mismatch makes seq_bench exit 1 after the table's data is out.
status=0
"$OUT/seq_bench" "$OUT" "$RUNS" >"$OUT/c.tsv" || status=$?
"$BUILD/venv/bin/python" bench/seq/seq_bench.py "$OUT" "$RUNS" >"$OUT/py.tsv"

{
  echo "# Sequence ops on one CPU core"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) CPUs," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg), best of $RUNS runs."
  echo
  echo "| op | biofeed Mtok/s | biofeed MB/s | Python Mtok/s | × Python | HF tokenizers Mtok/s | × HF | biofeed GPU Mtok/s |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' '
    function fmt(x, f) { return x ? sprintf(f, x) : "—" }
    $1 ~ /^#/ { notes[++m] = $0; next }
    FNR == NR { if ($2 == "biofeed") { order[++n] = $1; mb[$1] = $4 / $5 }; rate[$1, $2] = $3 / $5; next }
    { rate[$1, $2] = $3 / $5 }
    END {
      for (i = 1; i <= n; i++) {
        op = order[i]; b = rate[op, "biofeed"]; py = rate[op, "python"]; hf = rate[op, "hf-tokenizers"]
        printf "| %s | %.1f | %.0f | %s | %s | %s | %s | %s |\n", op, b / 1e6, mb[op] / 1e6, fmt(py / 1e6, "%.2f"),
          fmt(py ? b / py : 0, "%.0f"), fmt(hf / 1e6, "%.2f"), fmt(hf ? b / hf : 0, "%.0f"), fmt(rate[op, "biofeed-cuda"] / 1e6, "%.0f")
      }
      print ""
      for (i = 1; i <= m; i++) { sub(/^#/, "", notes[i]); gsub(/\t/, ": ", notes[i]); print "- " notes[i] }
    }' "$OUT/c.tsv" "$OUT/py.tsv"
} | tee bench/seq/results.md
exit $status

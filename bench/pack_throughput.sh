#!/usr/bin/env bash
# Measures `biofeed pack` throughput on real and generated data: for each
# input, the median wall time of 3 runs of `biofeed pack`, next to a baseline
# that only reads the same input (`zcat FILE > /dev/null` for .gz,
# `cat FILES > /dev/null` for the TIFFs), timed in the same rounds with the
# page cache warm for both. Inputs: the E. coli genome, the UniProt proteins
# and the Illumina reads from scripts/fetch-sample-data.sh, and 1000 generated
# 512x512 uint16 TIFFs (524 MB; made once with tifffile from $BUILD/venv),
# packed uncompressed and with --compress deflate. Writes a Markdown table to
# stdout and to bench/results/pack_throughput.md. See bench/README.md.
#
# env: BUILD (default build), BIOFEED (default $BUILD/bin/biofeed),
#      BIOFEED_DATA (default $BUILD/data), RUNS (default 3),
#      N_TIFF (default 1000).
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIOFEED=${BIOFEED:-$BUILD/bin/biofeed}
DATA=${BIOFEED_DATA:-$BUILD/data}
RUNS=${RUNS:-3}
N_TIFF=${N_TIFF:-1000}
WORK=$BUILD/bench
TIFF_DIR=$WORK/tiff16-$N_TIFF
RESULTS=bench/results/pack_throughput.md
PY=$BUILD/venv/bin/python

log() { echo "pack_throughput: $*" >&2; }

if [[ ! -x $BIOFEED ]]; then
  log "$BIOFEED missing; building it"
  make -j"$(nproc)" "$BIOFEED" >&2
fi
scripts/fetch-sample-data.sh "$DATA" >&2

# The TIFF generator needs numpy and tifffile in the build venv.
if [[ ! -x $PY ]]; then
  log "creating $BUILD/venv"
  make venv BUILD="$BUILD" >&2
fi
if ! "$PY" -c 'import numpy, tifffile' 2>/dev/null; then
  log "installing numpy and tifffile into $BUILD/venv"
  "$PY" -m pip install -q numpy tifffile >&2
fi

# 1000 x 512x512 uint16: smooth gradients and blobs plus 6 bits of noise, so
# that deflate has something to gain but not everything. Made once; the
# .complete marker guards against a half-written set.
if [[ ! -f $TIFF_DIR/.complete ]]; then
  log "generating $N_TIFF 512x512 uint16 TIFFs in $TIFF_DIR"
  rm -rf "$TIFF_DIR"
  mkdir -p "$TIFF_DIR"
  "$PY" - "$TIFF_DIR" "$N_TIFF" <<'EOF'
import sys
import numpy as np
import tifffile

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(20240601)
y, x = np.mgrid[0:512, 0:512].astype(np.float32) / 512.0
for i in range(n):
    a, b, c = rng.uniform(0.2, 1.0, 3)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    base = 8000 * a * x + 6000 * b * y + 20000 * c * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.02)
    img = base.astype(np.uint16) + rng.integers(0, 64, size=(512, 512), dtype=np.uint16)
    tifffile.imwrite(f"{out}/img-{i:04d}.tif", img, photometric="minisblack")
EOF
  touch "$TIFF_DIR/.complete"
fi

now() { echo "${EPOCHREALTIME/,/.}"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ROWS=()
SKIPPED=()
OUTDIR=$WORK/out

# bench LABEL BASELINE(zcat|cat) PACK_OPTIONS... -- FILES...
bench() {
  local label=$1 base=$2
  shift 2
  local opts=()
  while [[ $1 != -- ]]; do opts+=("$1"); shift; done
  shift
  local files=("$@") f
  for f in "${files[@]}"; do
    if [[ ! -s $f ]]; then
      log "skipping $label: $f absent (no network when fetching?)"
      SKIPPED+=("$label ($f absent)")
      return 0
    fi
  done
  local bytes
  bytes=$(cat "${files[@]}" | wc -c) # also warms the page cache
  local tb=() tp=() r t0 t1
  log "$label: ${#files[@]} file(s), $((bytes / 1000000)) MB, $RUNS runs"
  for ((r = 0; r < RUNS; r++)); do
    t0=$(now)
    if [[ $base == zcat ]]; then zcat "${files[@]}" >/dev/null; else cat "${files[@]}" >/dev/null; fi
    t1=$(now)
    tb+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    rm -rf "$OUTDIR"
    sync
    t0=$(now)
    "$BIOFEED" pack -q -o "$OUTDIR" "${opts[@]}" "${files[@]}"
    t1=$(now)
    tp+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
  done
  local records written
  records=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["totals"]["records"])' "$OUTDIR/manifest.json")
  written=$(du -sb "$OUTDIR" | cut -f1)
  rm -rf "$OUTDIR"
  local mp mb
  mp=$(median "${tp[@]}")
  mb=$(median "${tb[@]}")
  ROWS+=("$(awk -v l="$label" -v by="$bytes" -v n="$records" -v p="$mp" -v b="$mb" -v w="$written" 'BEGIN {
    mb = by / 1e6
    printf "| %s | %.1f | %d | %.3f | %.1f | %.3f | %.1f | %.2f | %.1f |", l, mb, n, p, mb / p, b, mb / b, p / b, w / 1e6 }')")
  log "$label: pack ${tp[*]} s; $base ${tb[*]} s"
}

ECOLI=$DATA/ecoli/NC_008253.fna.gz
UNIPROT=$DATA/uniprot/DB.fasta.gz
READS=$DATA/reads/SRR059298_subset.fastq.gz
TIFFS=("$TIFF_DIR"/img-*.tif)

bench "E. coli genome (.fna.gz)" zcat --alphabet dna -- "$ECOLI"
bench "UniProt proteins (.fasta.gz)" zcat --alphabet protein -- "$UNIPROT"
bench "Illumina reads (.fastq.gz)" zcat --alphabet dna -- "$READS"
bench "${#TIFFS[@]} uint16 TIFFs, uncompressed" cat --compress none -- "${TIFFS[@]}"
bench "${#TIFFS[@]} uint16 TIFFs, --compress deflate" cat --compress deflate -- "${TIFFS[@]}"

mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
report=$(
  echo "# biofeed pack throughput"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) CPUs ($cpu), ${mem_gib} GiB memory"
  echo "- biofeed: $("$BIOFEED" version | head -n 1)"
  echo "- median of $RUNS runs each; MB = 10^6 bytes of input as stored (compressed size for .gz);"
  echo "  baseline = \`zcat FILE > /dev/null\` (.gz) or \`cat FILES > /dev/null\` (TIFFs), page cache warm;"
  echo "  ratio = biofeed s / baseline s"
  echo
  echo "| input | size MB | records | biofeed s | MB/s | baseline s | baseline MB/s | ratio | written MB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  if [[ ${#SKIPPED[@]} -gt 0 ]]; then
    echo
    echo "Not measured: ${SKIPPED[*]}"
  fi
)
mkdir -p "$(dirname "$RESULTS")"
echo "$report" >"$RESULTS"
echo "$report"
log "written to $RESULTS"

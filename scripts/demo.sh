#!/usr/bin/env bash
# `make demo`: fetches the sample data (scripts/fetch-sample-data.sh), packs
# the E. coli genome, the UniProt proteins, the Illumina reads and the
# scikit-image PNGs each into $BUILD/demo/<name>, runs `biofeed inspect` and
# `biofeed verify` on each and prints a summary. Where the real data could not
# be fetched, small synthetic FASTA/FASTQ inputs stand in (and it says so);
# the raw PNGs have no synthetic stand-in and are skipped.
#
# Then the image datasets of the image job configs: $BUILD/demo/microscopy
# (2D tiles of the real scikit-image PNGs with masks from an Otsu threshold,
# or synthetic cell images with ellipse masks when the PNGs are missing) and
# $BUILD/demo/volumes (synthetic 3D volumes with sphere labels), both made by
# scripts/demo_images.py with the venv's numpy/Pillow/tifffile (`make venv`
# is run when the venv is missing) and packed with `biofeed pack --labels`.
#
# Finally `biofeed run` on every configs/*.yaml (DEMO_STEPS batches each), a
# table of samples/s, MB/s, tokens/s and time to first batch, and a preview of
# the 2D microscopy config's first batch in $BUILD/demo/preview.png.
# The configs name ../build/demo/...; with another BUILD, copies pointing at
# $BUILD/demo are run instead (from $BUILD/demo/configs).
#
# Exits non-zero if any pack, inspect, verify or run fails.
#
# env: BUILD (default build), BIOFEED (default $BUILD/bin/biofeed),
#      BIOFEED_DATA (default $BUILD/data), DEMO_STEPS (default 200)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIOFEED=${BIOFEED:-$BUILD/bin/biofeed}
DATA=${BIOFEED_DATA:-$BUILD/data}
OUT=$BUILD/demo
STEPS=${DEMO_STEPS:-200}

if [[ ! -x $BIOFEED ]]; then
  echo "demo: $BIOFEED not found; run 'make' first" >&2
  exit 1
fi

scripts/fetch-sample-data.sh "$DATA"
mkdir -p "$OUT"

# Synthetic stand-ins, deterministic (fixed awk seeds).
synth_genome() { # 1 record, 500 kb of ACGT in 80-column lines
  awk 'BEGIN { srand(1); print ">synthetic_genome random ACGT, 500000 bp";
    for (i = 0; i < 6250; i++) { s = ""; for (j = 0; j < 80; j++) s = s substr("ACGT", int(rand() * 4) + 1, 1); print s } }'
}
synth_proteins() { # 2000 records, 50..549 residues, 60-column lines
  awk 'BEGIN { srand(2); aa = "ACDEFGHIKLMNPQRSTVWY";
    for (r = 1; r <= 2000; r++) { printf ">synthetic_protein_%d random residues\n", r; n = 50 + int(rand() * 500); s = "";
      for (j = 1; j <= n; j++) { s = s substr(aa, int(rand() * 20) + 1, 1); if (j % 60 == 0 || j == n) { print s; s = "" } } } }'
}
synth_reads() { # 20000 reads of 100 bp with Phred+33 qualities
  awk 'BEGIN { srand(3); q = "#+5?ABCDEFGHIJ";
    for (r = 1; r <= 20000; r++) { s = ""; t = "";
      for (j = 0; j < 100; j++) { s = s substr("ACGT", int(rand() * 4) + 1, 1); t = t substr(q, int(rand() * 14) + 1, 1) }
      printf "@synthetic_read_%d\n%s\n+\n%s\n", r, s, t } }'
}

# Picks the real file when present, else writes the synthetic one; prints the path.
input_for() { # NAME REAL_FILE SYNTH_FUNC SYNTH_FILE
  if [[ -s $2 ]]; then
    echo "$2"
  else
    mkdir -p "$OUT/synthetic"
    "$3" | gzip -c >"$4"
    echo "$4"
  fi
}

SUMMARY=()
failed=0

# demo NAME SOURCE_LABEL PACK_ARGS... -- INPUTS...
demo() {
  local name=$1 label=$2
  shift 2
  local args=()
  while [[ $1 != -- ]]; do args+=("$1"); shift; done
  shift
  local dir=$OUT/$name line status=ok
  echo
  echo "=== $name ($label) ==="
  rm -rf "$dir"
  if line=$("$BIOFEED" pack -o "$dir" "${args[@]}" "$@" 2>&1); then
    echo "$line"
    "$BIOFEED" inspect "$dir" || status=FAIL:inspect
    if [[ $status == ok ]]; then "$BIOFEED" verify "$dir" || status=FAIL:verify; fi
  else
    echo "$line" >&2
    status=FAIL:pack
  fi
  [[ $status == ok ]] || failed=$((failed + 1))
  # "packed N records into S shard(s) in DIR: ..." -> "N records, S shard(s), ..."
  local what=${line##*$'\n'}
  what=${what#packed }
  what=${what/ in $dir:/,}
  SUMMARY+=("$(printf '%-10s %-10s %-12s %s' "$name" "$label" "$status" "$what")")
}

label_of() { if [[ $1 == "$OUT"/synthetic/* ]]; then echo synthetic; else echo real; fi; }

ecoli=$(input_for ecoli "$DATA/ecoli/NC_008253.fna.gz" synth_genome "$OUT/synthetic/genome.fna.gz")
proteins=$(input_for uniprot "$DATA/uniprot/DB.fasta.gz" synth_proteins "$OUT/synthetic/proteins.fasta.gz")
reads=$(input_for reads "$DATA/reads/SRR059298_subset.fastq.gz" synth_reads "$OUT/synthetic/reads.fastq.gz")
for f in "$ecoli" "$proteins" "$reads"; do
  if [[ $(label_of "$f") == synthetic ]]; then
    echo "demo: real data missing (no network?); using synthetic $(basename "$f") instead"
  fi
done

demo ecoli "$(label_of "$ecoli")" --alphabet dna -- "$ecoli"
demo uniprot "$(label_of "$proteins")" --alphabet protein -- "$proteins"
demo reads "$(label_of "$reads")" --alphabet dna -- "$reads"

shopt -s nullglob
pngs=("$DATA"/images/*.png)
if [[ ${#pngs[@]} -gt 0 ]]; then
  demo images real --compress deflate -- "${pngs[@]}"
else
  echo
  echo "demo: no sample images in $DATA/images (no network?); skipping the image demo"
  SUMMARY+=("$(printf '%-10s %-10s %-12s %s' images - skipped "no real images and no synthetic stand-in")")
fi

# Image datasets for the image configs.
PY=$BUILD/venv/bin/python
has_py_deps() { [[ -x $PY ]] && "$PY" -c 'import numpy, PIL, tifffile' 2>/dev/null; }
if ! has_py_deps; then
  echo
  echo "demo: making the Python venv $BUILD/venv (numpy, Pillow, tifffile) for the image datasets"
  make -s BUILD="$BUILD" venv || true
fi
echo
if has_py_deps && gen=$("$PY" scripts/demo_images.py --out "$OUT" --images "$DATA/images"); then
  echo "$gen"
  mic_label=synthetic
  if grep -q '^microscopy: real' <<<"$gen"; then mic_label=real; fi
  demo microscopy "$mic_label" --compress deflate --labels "$OUT/microscopy-src/masks" -- "$OUT/microscopy-src/images"
  demo volumes synthetic --compress deflate --labels "$OUT/volumes-src/labels" -- "$OUT/volumes-src/images"
else
  echo "demo: cannot make the image datasets (no venv with numpy, Pillow and tifffile: run 'make venv'); skipping them"
  for name in microscopy volumes; do
    SUMMARY+=("$(printf '%-10s %-10s %-12s %s' "$name" - skipped "no venv to generate the inputs")")
  done
  failed=$((failed + 1))
fi

echo
echo "=== summary (output in $OUT) ==="
printf '%-10s %-10s %-12s %s\n' dataset source status result
printf '%s\n' "${SUMMARY[@]}"

# Every job config, through the loader.
configs=(configs/*.yaml)
RUNS=()
preview_cfg=
for cfg in "${configs[@]}"; do
  if [[ $(basename "$cfg") == microscopy_2d.yaml ]]; then preview_cfg=$cfg; fi
done
if [[ -z $preview_cfg ]]; then
  for cfg in "${configs[@]}"; do
    if grep -q '^image:' "$cfg"; then preview_cfg=$cfg; break; fi
  done
fi
abs_out=$(realpath "$OUT")
same_build=0
if [[ $(realpath -m "$BUILD") == $(realpath -m build) ]]; then same_build=1; fi
for cfg in "${configs[@]}"; do
  name=$(basename "$cfg" .yaml)
  run_cfg=$cfg
  if [[ $same_build == 0 ]]; then
    mkdir -p "$OUT/configs"
    run_cfg=$OUT/configs/$name.yaml
    sed "s#\.\./build/demo/#$abs_out/#g" "$cfg" >"$run_cfg"
  fi
  extra=()
  if [[ $cfg == "$preview_cfg" ]]; then extra=(--preview "$OUT/preview.png"); fi
  echo
  echo "=== run $cfg ($STEPS batches) ==="
  if log=$("$BIOFEED" run "$run_cfg" --steps "$STEPS" -q "${extra[@]}" 2>&1); then
    echo "$log"
    # "throughput: 1.2k samples/s, 34.5 MB/s, 6.78M tokens/s" -> 3 columns (GPU: "(padded)" marks dropped)
    read -r sps mbs tps < <(sed -n 's/^throughput: \([^ ]*\) samples\/s[^,]*, \([^ ]*\) MB\/s, \([^ ]*\) tokens\/s.*/\1 \2 \3/p' <<<"$log")
    ttfb=$(sed -n 's/^time to first batch: \([0-9.]*\) s$/\1/p' <<<"$log")
    RUNS+=("$(printf '%-16s %-6s %12s %10s %12s %10s' "$name" ok "$sps" "$mbs" "$tps" "${ttfb}s")")
  else
    echo "$log" >&2
    RUNS+=("$(printf '%-16s %-6s %s' "$name" FAIL "${log##*$'\n'}")")
    failed=$((failed + 1))
  fi
done

echo
if [[ ${#configs[@]} -eq 0 ]]; then
  echo "demo: no job configs in configs/; nothing to run"
else
  echo "=== job configs ($STEPS batches each; rates after the first batch) ==="
  printf '%-16s %-6s %12s %10s %12s %10s\n' config status samples/s MB/s tokens/s "1st batch"
  printf '%s\n' "${RUNS[@]}"
  if [[ -n $preview_cfg && -s $OUT/preview.png ]]; then
    echo "preview of $(basename "$preview_cfg")'s first batch: $OUT/preview.png"
  fi
fi
if [[ $failed -gt 0 ]]; then
  echo "demo: $failed step(s) FAILED" >&2
  exit 1
fi
echo "demo: all datasets packed, inspected and verified; ${#configs[@]} job config(s) ran"

#!/usr/bin/env bash
# `make demo`: fetches the sample data (scripts/fetch-sample-data.sh), packs
# the E. coli genome, the UniProt proteins, the Illumina reads and the
# scikit-image PNGs each into $BUILD/demo/<name>, runs `biofeed inspect` and
# `biofeed verify` on each and prints a summary. Where the real data could not
# be fetched, small synthetic FASTA/FASTQ inputs stand in (and it says so);
# images have no synthetic stand-in and are skipped. Exits non-zero if any
# pack, inspect or verify fails.
#
# env: BUILD (default build), BIOFEED (default $BUILD/bin/biofeed),
#      BIOFEED_DATA (default $BUILD/data)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIOFEED=${BIOFEED:-$BUILD/bin/biofeed}
DATA=${BIOFEED_DATA:-$BUILD/data}
OUT=$BUILD/demo

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
  SUMMARY+=("$(printf '%-9s %-10s %-12s %s' "$name" "$label" "$status" "$what")")
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
  SUMMARY+=("$(printf '%-9s %-10s %-12s %s' images - skipped "no real images and no synthetic stand-in")")
fi

echo
echo "=== summary (output in $OUT) ==="
printf '%-9s %-10s %-12s %s\n' dataset source status result
printf '%s\n' "${SUMMARY[@]}"
if [[ $failed -gt 0 ]]; then
  echo "demo: $failed dataset(s) FAILED" >&2
  exit 1
fi
echo "demo: all datasets packed, inspected and verified"

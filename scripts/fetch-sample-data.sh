#!/usr/bin/env bash
# Fetches real sample data into DEST from Debian packages, without installing
# them: `apt-get download` into a temporary directory, `dpkg-deb -x`, then the
# files below are copied out. Idempotent: a package whose files are all in
# DEST already is skipped. Without network it says so and exits 0, leaving
# whatever it has (the tests that need the data skip).
#
#   DEST/ecoli/NC_008253.fna.gz              E. coli 536 genome (bowtie-examples)
#   DEST/uniprot/DB.fasta.gz                 20,000 UniProt proteins (mmseqs2-examples)
#   DEST/reads/SRR059298_subset.fastq.gz     100,000 Illumina reads (gasic-examples)
#   DEST/images/*.png                        microscopy/biomedical images (python3-skimage)
#
# usage: scripts/fetch-sample-data.sh DEST
set -euo pipefail

if [[ $# -ne 1 || $1 == -h || $1 == --help ]]; then
  echo "usage: $0 DEST" >&2
  exit 2
fi
DEST=$1
SKIMAGE_DATA=usr/lib/python3/dist-packages/skimage/data

# package  path inside the .deb  destination (relative to DEST), one per line.
MANIFEST="
bowtie-examples  usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz    ecoli/NC_008253.fna.gz
mmseqs2-examples usr/share/doc/mmseqs2/example-data/DB.fasta.gz            uniprot/DB.fasta.gz
gasic-examples   usr/share/doc/gasic/examples/reads/SRR059298_subset.fastq.gz reads/SRR059298_subset.fastq.gz
python3-skimage  $SKIMAGE_DATA/cell.png            images/cell.png
python3-skimage  $SKIMAGE_DATA/ihc.png             images/ihc.png
python3-skimage  $SKIMAGE_DATA/microaneurysms.png  images/microaneurysms.png
python3-skimage  $SKIMAGE_DATA/phantom.png         images/phantom.png
"

log() { echo "fetch-sample-data: $*"; }

# Packages with at least one destination file missing, in manifest order.
missing_packages() {
  local pkg src dst seen=" "
  while read -r pkg src dst; do
    [[ -n $pkg ]] || continue
    if [[ ! -s $DEST/$dst && $seen != *" $pkg "* ]]; then
      seen+="$pkg "
      echo "$pkg"
    fi
  done <<<"$MANIFEST"
}

mapfile -t PKGS < <(missing_packages)
if [[ ${#PKGS[@]} -eq 0 ]]; then
  log "all sample data already in $DEST"
  exit 0
fi

if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  log "apt-get/dpkg-deb not found: cannot fetch ${PKGS[*]}; tests that need them will skip"
  exit 0
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# As root, apt's download sandbox user (_apt) cannot write to our private
# temporary directory; download as root instead of warning about it.
APT_OPTS=(-q -o Acquire::Retries=0 -o Acquire::http::Timeout=20)
if [[ $(id -u) -eq 0 ]]; then APT_OPTS+=(-o APT::Sandbox::User=root); fi

download() {
  (cd "$TMP" && apt-get "${APT_OPTS[@]}" download "$@") >"$TMP/apt.log" 2>&1
}

apt_update() {
  if [[ $(id -u) -eq 0 ]]; then
    apt-get -q update
  elif command -v sudo >/dev/null; then
    sudo -n apt-get -q update
  else
    return 1
  fi
}

log "downloading ${PKGS[*]}"
if ! download "${PKGS[@]}"; then
  log "apt-get download failed; running apt-get update once and retrying"
  if apt_update >/dev/null 2>&1; then
    # One package at a time, so that one missing from the apt sources does
    # not cost the others.
    for pkg in "${PKGS[@]}"; do
      download "$pkg" || log "cannot download $pkg: $(tail -n 1 "$TMP/apt.log")"
    done
  elif ! download "${PKGS[@]}"; then
    log "apt-get update failed and the retry too (no network?): $(tail -n 1 "$TMP/apt.log")"
  fi
fi

got=0 miss=0
for pkg in "${PKGS[@]}"; do
  debs=("$TMP/${pkg}"_*.deb)
  [[ -f ${debs[0]} ]] || continue
  mkdir -p "$TMP/x/$pkg"
  dpkg-deb -x "${debs[0]}" "$TMP/x/$pkg"
done

while read -r pkg src dst; do
  [[ -n $pkg ]] || continue
  [[ -s $DEST/$dst ]] && continue
  [[ -d $TMP/x/$pkg ]] || { miss=$((miss + 1)); continue; }
  file=$TMP/x/$pkg/$src
  if [[ ! -f $file ]]; then
    # The path moved in another package version: look for the name.
    file=$(find "$TMP/x/$pkg" -type f -name "$(basename "$src")" -print -quit)
  fi
  if [[ -z $file || ! -f $file ]]; then
    log "$pkg has no $(basename "$src"); skipping $dst"
    miss=$((miss + 1))
    continue
  fi
  mkdir -p "$(dirname "$DEST/$dst")"
  cp "$file" "$DEST/$dst.part"
  mv "$DEST/$dst.part" "$DEST/$dst"
  got=$((got + 1))
done <<<"$MANIFEST"

if [[ $miss -gt 0 ]]; then
  log "fetched $got file(s); $miss file(s) unavailable (no network?); tests that need them will skip"
else
  log "fetched $got file(s) into $DEST"
fi
exit 0

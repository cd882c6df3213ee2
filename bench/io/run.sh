#!/usr/bin/env bash
# Reads one shard set with biofeed's I/O engine and with fio
# (--ioengine=io_uring, registered files and buffers) at the same block size
# and queue depth, one thread each: sequential 4 MiB reads of the shard files
# and random whole-record reads (64 KiB records; fio: random 64 KiB blocks),
# with the page cache warm (buffered) and cold (O_DIRECT). Prints MB/s
# (10^6 bytes per second) and the ratio biofeed/fio for the io_uring engine
# and for the pread fallback, plus the full read path (plans + CRC32C check)
# for the random records. Writes the table to stdout and to
# bench/io/results.md. See bench/io/README.md.
#
# env: BUILD (default build), DATA_DIR (default $BUILD/bench/io-data; put it
#      on the filesystem you want to measure: O_DIRECT needs a real one, not
#      tmpfs), SIZE_MIB (default 1024: the shard set), SHARDS (default 4),
#      QD (default 64), SECS (default 4: seconds per measurement).
set -euo pipefail

cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
DATA=${DATA_DIR:-$BUILD/bench/io-data}
SIZE_MIB=${SIZE_MIB:-1024}
SHARDS=${SHARDS:-4}
QD=${QD:-64}
SECS=${SECS:-4}
REC=65536
BIN=$BUILD/bench/bfd_io_bench
RESULTS=bench/io/results.md

log() { echo "bench/io: $*" >&2; }

make -j2 BUILD="$BUILD" "$BUILD/lib/libbiofeed.a" >&2
if [[ ! -x $BIN || $BIN -ot bench/io/bfd_io_bench.c || $BIN -ot $BUILD/lib/libbiofeed.a ]]; then
  log "building $BIN"
  mkdir -p "$(dirname "$BIN")"
  LIBS=$(make -s BUILD="$BUILD" --eval='print-ldlibs: ; @echo $(LDLIBS)' print-ldlibs)
  CFLAGS_PKG=$(sed -n 's/^PKG_CFLAGS := //p' "$BUILD/config.mk")
  # shellcheck disable=SC2086
  cc -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Iinclude -Iloader $CFLAGS_PKG bench/io/bfd_io_bench.c \
    "$BUILD/lib/libbiofeed.a" $LIBS -o "$BIN"
fi

if ! command -v fio >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing fio"
    apt-get install -y -qq fio >/dev/null || { apt-get update -qq && apt-get install -y -qq fio >/dev/null; }
  else
    log "fio is missing: install it (apt-get install fio) and run again"
    exit 1
  fi
fi

per=$((SIZE_MIB / SHARDS))
if [[ ! -f $DATA/.complete-$SHARDS-$per ]]; then
  log "writing $SHARDS shards of $per MiB ($REC-byte records) to $DATA"
  rm -rf "$DATA"
  mkdir -p "$DATA"
  "$BIN" gen "$DATA" "$SHARDS" "$per" "$REC"
  touch "$DATA/.complete-$SHARDS-$per"
fi
FILES=("$DATA"/seq-*.h5)
FIO_FILES=$(IFS=:; echo "${FILES[*]}")
BYTES=$(cat "${FILES[@]}" | wc -c)

fio_mbps() { # rw bs direct
  local json
  json=$(fio --name=io --ioengine=io_uring --fixedbufs=1 --registerfiles=1 --rw="$1" --bs="$2" \
    --iodepth="$QD" --direct="$3" --invalidate=0 --norandommap --filename="$FIO_FILES" --time_based \
    --runtime="$SECS" --output-format=json 2>/dev/null)
  python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["jobs"][0]["read"]["bw_bytes"] / 1e6))' <<<"$json"
}

bfd_mbps() { # mode engine direct bs
  "$BIN" run "$1" "$2" "$3" "$QD" "$4" "$SECS" "${FILES[@]}" | awk '{print $2}'
}

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }

{
  echo "# bench/io: biofeed's I/O engine vs fio"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),"
  echo "kernel $(uname -r), $(findmnt -no FSTYPE -T "$DATA") on $(findmnt -no SOURCE -T "$DATA"), $(fio --version)."
  echo "Shard set: $SHARDS sequence shards, $((BYTES / 1048576)) MiB, records of $REC bytes."
  echo "One thread each, queue depth $QD, $SECS s per cell; MB = 10^6 bytes."
  echo
  echo "| reads | page cache | fio io_uring MB/s | biofeed uring MB/s | ratio | biofeed pread MB/s | ratio |"
  echo "|---|---|---:|---:|---:|---:|---:|"
} | tee "$RESULTS"

declare -A reader
for cache in warm cold; do
  direct=$([[ $cache == cold ]] && echo 1 || echo 0)
  label=$([[ $cache == cold ]] && echo "cold (O_DIRECT)" || echo "warm")
  [[ $cache == warm ]] && cat "${FILES[@]}" >/dev/null
  for mode in seq rand; do
    if [[ $mode == seq ]]; then bs=4194304 rw=read fbs=4m what="sequential 4 MiB"; else
      bs=$REC rw=randread fbs=64k what="random 64 KiB records"; fi
    f=$(fio_mbps "$rw" "$fbs" "$direct")
    u=$(bfd_mbps "$mode" uring "$direct" "$bs")
    p=$(bfd_mbps "$mode" pread "$direct" "$bs")
    echo "| $what | $label | $f | $u | $(ratio "$u" "$f") | $p | $(ratio "$p" "$f") |" | tee -a "$RESULTS"
    if [[ $mode == rand ]]; then
      reader[$cache]="| random 64 KiB records, full read path (plan + CRC32C) | $label | $f | $(bfd_mbps reader uring "$direct" "$bs") | | $(bfd_mbps reader pread "$direct" "$bs") | |"
    fi
  done
done
{
  echo
  echo "Full read path (bfdi_reader: plan, read, CRC32C of every record; batches of $QD records), same fio baseline:"
  echo
  echo "| reads | page cache | fio io_uring MB/s | biofeed uring MB/s | | biofeed pread MB/s | |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  echo "${reader[warm]}"
  echo "${reader[cold]}"
  echo
  echo "biofeed's random records sit at their HDF5 offsets, not 4 KiB aligned: with O_DIRECT each 64 KiB"
  echo "record is one aligned read of 68 KiB; the MB/s count only the record bytes. fio reads aligned blocks."
} | tee -a "$RESULTS"

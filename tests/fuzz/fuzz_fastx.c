/* libFuzzer harness: the FASTA/FASTQ reader (loader/ingest/fastx.c).
 *
 * Input: one control byte, then the file. The control byte picks the
 * alphabet (bits 0-1), the invalid-character policy (bits 2-3, mod 3) and
 * how the file is stored (bits 4-5: plain, plain, gzip, BGZF), so the
 * decompressing paths see well-formed streams of arbitrary content as well
 * as whatever raw bytes the fuzzer makes. Every record is read to the end,
 * and a failing reader is asked once more (its error is sticky). */
#include <stdint.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <zlib.h>

#include "fuzzutil.h"
#include "ingest/fastx.h"

static void write_gzip(const char *path, const uint8_t *p, size_t n) {
  gzFile g = gzopen(path, "wb");
  if (!g) fz_die("gzopen");
  if (n && gzwrite(g, p, (unsigned)n) != (int)n) fz_die("gzwrite");
  if (gzclose(g) != Z_OK) fz_die("gzclose");
}

static void write_bgzf(const char *path, const uint8_t *p, size_t n) {
  BGZF *b = bgzf_open(path, "w");
  if (!b) fz_die("bgzf_open");
  if (n && bgzf_write(b, p, n) != (ssize_t)n) fz_die("bgzf_write");
  if (bgzf_close(b) != 0) fz_die("bgzf_close");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  uint8_t ctl = data[0];
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  bfd_alphabet alphabet = (bfd_alphabet)(ctl & 3);
  bfd_invalid_policy policy = (bfd_invalid_policy)(((ctl >> 2) & 3) % 3);
  const char *path = fz_path("in.fa");
  switch ((ctl >> 4) & 3) {
    case 2: write_gzip(path, body, n); break;
    case 3: write_bgzf(path, body, n); break;
    default: fz_write("in.fa", body, n); break;
  }

  bfdi_fastx *f = NULL;
  fz_quiet_begin();
  bfd_status st = bfdi_fastx_open(path, alphabet, policy, &f);
  fz_check(st, "bfdi_fastx_open");
  if (st == BFD_OK) {
    bfdi_seqrec rec;
    int got = 1;
    uint64_t sum = 0;
    while (st == BFD_OK && got) {
      st = bfdi_fastx_next(f, &rec, &got);
      if (st == BFD_OK && got) {
        /* Touch every byte the reader hands out, so ASan checks the lengths. */
        sum += strlen(rec.name) + rec.name_len;
        for (size_t i = 0; i < rec.seq_len; i++) sum += rec.seq[i] + (rec.qual ? rec.qual[i] : 0);
      }
    }
    fz_check(st, "bfdi_fastx_next");
    if (st != BFD_OK && bfdi_fastx_next(f, &rec, &got) != st) {
      fz_bug("bfdi_fastx_next: the error is not sticky");
    }
    sum += bfdi_fastx_bytes_in(f) + bfdi_fastx_dropped(f) + bfdi_fastx_replaced(f) + (uint64_t)bfdi_fastx_is_fastq(f);
    fz_sink = sum;
    bfdi_fastx_close(f);
  }
  fz_quiet_end("the FASTA/FASTQ reader");
  fz_remove("in.fa");
  return 0;
}

/* FASTA/FASTQ reader. Lines come from htslib's BGZF layer, which reads plain,
 * gzip and BGZF files alike; each record's sequence (and quality) lines are
 * checked against a 256-entry alphabet table and appended to buffers owned
 * by the reader and reused across records. Every malformed input ends in a
 * BFD_ERR_FORMAT that names the file and the line (and column or record
 * where there is one); the first error is sticky, so later calls repeat it. */
#include "ingest/fastx.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <htslib/bgzf.h>
#include <htslib/hfile.h>
#include <htslib/hts_log.h>
#include <htslib/kstring.h>

#include "core/error.h"

/* Longest record name quoted in a message: headers can be kilobytes long. */
#define FX_ID_MAX 200

typedef struct fxbuf {
  uint8_t *p;
  size_t len, cap;
} fxbuf;

enum { FX_FASTA = '>', FX_FASTQ = '@' };

struct bfdi_fastx {
  BGZF *fp;
  char *path;
  kstring_t line;
  int pending;          /* `line` holds a line read ahead and not yet consumed */
  int eof;
  uint64_t line_no;     /* number of the line now in `line` */
  int format;           /* FX_FASTA or FX_FASTQ */
  bfd_alphabet alphabet;
  bfd_invalid_policy on_invalid;
  uint8_t ok[256];      /* 1 where the byte belongs to the alphabet */
  uint8_t qual_ok[256];
  fxbuf name, seq, qual;
  uint64_t rec_line;
  uint64_t dropped, replaced;
  bfd_status err;
  char msg[2048];
};

static pthread_once_t hts_quiet_once = PTHREAD_ONCE_INIT;

/* htslib logs decompression errors to stderr; the library must not print,
 * and the same failure reaches the caller through bfd_last_error. */
static void hts_quiet(void) { hts_set_log_level(HTS_LOG_OFF); }

static bfd_status sticky(bfdi_fastx *f, bfd_status s) {
  f->err = s;
  snprintf(f->msg, sizeof f->msg, "%s", bfd_last_error());
  return s;
}

static int buf_reserve(fxbuf *b, size_t extra) {
  if (extra <= b->cap - b->len) return 0;
  if (extra > SIZE_MAX - b->len) return -1;
  size_t need = b->len + extra, cap = b->cap ? b->cap : 4096;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}

static void set_chars(uint8_t *t, const char *chars) {
  for (const char *c = chars; *c; c++) {
    t[(uint8_t)*c] = 1;
    if (*c >= 'A' && *c <= 'Z') t[(uint8_t)(*c - 'A' + 'a')] = 1;
  }
}

static void build_tables(bfdi_fastx *f) {
  for (int c = 0x21; c <= 0x7e; c++) f->qual_ok[c] = 1;
  switch (f->alphabet) {
    case BFD_ALPHABET_DNA: set_chars(f->ok, "ACGTNRYSWKMBDHV-"); break;
    case BFD_ALPHABET_RNA: set_chars(f->ok, "ACGUNRYSWKMBDHV-"); break;
    case BFD_ALPHABET_PROTEIN: set_chars(f->ok, "ABCDEFGHIJKLMNOPQRSTUVWXYZ*-"); break;
    case BFD_ALPHABET_ANY: memcpy(f->ok, f->qual_ok, sizeof f->ok); break;
  }
}

/* Index of the first byte of p[0..n) not in table t, or n. The inner loop
 * only ANDs table entries so that valid input (the common case) runs
 * without a branch per byte. */
static size_t first_bad(const uint8_t *t, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i += 64) {
    size_t end = n - i > 64 ? i + 64 : n;
    unsigned acc = 1;
    for (size_t j = i; j < end; j++) acc &= t[p[j]];
    if (!acc)
      for (size_t j = i; j < end; j++)
        if (!t[p[j]]) return j;
  }
  return n;
}

static uint8_t replacement(const bfdi_fastx *f, uint8_t c) {
  int lower = c >= 'a' && c <= 'z';
  if (f->alphabet == BFD_ALPHABET_PROTEIN) return lower ? 'x' : 'X';
  if (f->alphabet == BFD_ALPHABET_ANY) return 'N';
  return lower ? 'n' : 'N';
}

/* "'J' (0x4a)" for printable bytes, "0x09" for the rest. */
static void describe_byte(char *out, size_t cap, uint8_t c) {
  if (c >= 0x20 && c <= 0x7e)
    snprintf(out, cap, "'%c' (0x%02x)", c, c);
  else
    snprintf(out, cap, "0x%02x", c);
}

/* The record's first word, as users know it from the header. */
static int id_len(const bfdi_fastx *f) {
  size_t n = 0;
  while (n < f->name.len && n < FX_ID_MAX && f->name.p[n] != ' ' && f->name.p[n] != '\t') n++;
  return (int)n;
}

static unsigned long long ull(uint64_t v) { return (unsigned long long)v; }

/* Reads the next line into f->line (or hands back the pending one). *got is
 * 0 at the end of the file. */
static bfd_status read_line(bfdi_fastx *f, int *got) {
  if (f->pending) {
    f->pending = 0;
    *got = 1;
    return BFD_OK;
  }
  *got = 0;
  int r = bgzf_getline(f->fp, '\n', &f->line);
  unsigned long long at = ull(f->line_no + 1);
  if (r < -1 || f->fp->errcode) {
    int err = f->fp->fp ? f->fp->fp->has_errno : 0;
    if (err) return sticky(f, bfdi_fail_errno(err, "%s: line %llu: read failed", f->path, at));
    if (f->fp->is_compressed)
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: line %llu: gzip stream is truncated or corrupt; "
                                 "re-download or re-compress the file",
                                 f->path, at));
    if (f->fp->errcode) return sticky(f, bfdi_fail(BFD_ERR_IO, "%s: line %llu: read failed", f->path, at));
    return sticky(f, bfdi_fail(BFD_ERR_NOMEM, "%s: line %llu: line too long to hold in memory",
                               f->path, at));
  }
  if (r == -1) return BFD_OK;
  f->line_no++;
  /* htslib versions differ in whether they drop the '\r' of CRLF line ends;
   * dropping it here keeps records identical whichever one is linked. */
  if (f->line.l && f->line.s[f->line.l - 1] == '\r') f->line.s[--f->line.l] = '\0';
  *got = 1;
  return BFD_OK;
}

static bfd_status oom(bfdi_fastx *f, const char *what) {
  return sticky(f, bfdi_fail(BFD_ERR_NOMEM, "%s: record '%.*s' (line %llu): %s does not fit in memory",
                             f->path, id_len(f), (const char *)f->name.p, ull(f->rec_line), what));
}

static bfd_status take_header(bfdi_fastx *f) {
  const char *s = f->line.s + 1;
  size_t n = f->line.l - 1;
  if (memchr(s, '\0', n))
    return sticky(f, bfdi_fail(BFD_ERR_FORMAT, "%s: line %llu: record header contains a NUL byte",
                               f->path, ull(f->line_no)));
  f->name.len = 0;
  if (buf_reserve(&f->name, n + 1)) return oom(f, "the header");
  memcpy(f->name.p, s, n);
  f->name.p[n] = '\0';
  f->name.len = n;
  f->rec_line = f->line_no;
  return BFD_OK;
}

/* Validates the current line as sequence and appends it. *dropped is set
 * when the record is to be skipped; then the bytes are no longer checked. */
static bfd_status append_seq(bfdi_fastx *f, int *dropped) {
  const uint8_t *p = (const uint8_t *)f->line.s;
  size_t n = f->line.l;
  if (buf_reserve(&f->seq, n)) return oom(f, "the sequence");
  uint8_t *dst = f->seq.p + f->seq.len;
  memcpy(dst, p, n);
  f->seq.len += n;
  if (*dropped) return BFD_OK;
  size_t bad = first_bad(f->ok, p, n);
  if (bad == n) return BFD_OK;
  switch (f->on_invalid) {
    case BFD_INVALID_DROP: *dropped = 1; return BFD_OK;
    case BFD_INVALID_REPLACE:
      for (size_t j = bad; j < n; j++)
        if (!f->ok[p[j]]) {
          dst[j] = replacement(f, p[j]);
          f->replaced++;
        }
      return BFD_OK;
    case BFD_INVALID_ERROR: break;
  }
  char what[32], hint[16];
  describe_byte(what, sizeof what, p[bad]);
  if (p[bad] >= 0x20 && p[bad] <= 0x7e)
    snprintf(hint, sizeof hint, "%c", p[bad]);
  else
    snprintf(hint, sizeof hint, "0x%02x", p[bad]);
  return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                             "%s: line %llu, column %llu: invalid character %s for alphabet %s in "
                             "record '%.*s'; use --invalid replace (%s\xe2\x86\x92%c) or --invalid drop",
                             f->path, ull(f->line_no), ull(bad + 1), what, bfd_alphabet_name(f->alphabet),
                             id_len(f), (const char *)f->name.p, hint, replacement(f, p[bad])));
}

static bfd_status read_fasta(bfdi_fastx *f, int *dropped) {
  for (;;) {
    int got;
    BFD_TRY(read_line(f, &got));
    if (!got) return BFD_OK;
    if (f->line.l == 0) continue;
    if (f->line.s[0] == '>') {
      f->pending = 1;
      return BFD_OK;
    }
    if (f->line.s[0] == '@')
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: line %llu: a FASTQ record ('@') in a FASTA file; mixed "
                                 "FASTA/FASTQ files are not supported",
                                 f->path, ull(f->line_no)));
    BFD_TRY(append_seq(f, dropped));
  }
}

static bfd_status quality_mismatch(bfdi_fastx *f, const char *why) {
  return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                             "%s: record '%.*s' (line %llu): quality has %zu characters, sequence has %zu%s",
                             f->path, id_len(f), (const char *)f->name.p, ull(f->rec_line), f->qual.len,
                             f->seq.len, why));
}

static bfd_status read_fastq(bfdi_fastx *f, int *dropped) {
  int got;
  uint64_t seq_lines = 0, qual_lines = 0;
  for (;;) {
    BFD_TRY(read_line(f, &got));
    if (!got)
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: record '%.*s' (line %llu): file ends before the '+' line",
                                 f->path, id_len(f), (const char *)f->name.p, ull(f->rec_line)));
    if (f->line.l == 0) continue;
    char c = f->line.s[0];
    if (c == '+') break;
    if (c == '@' || c == '>')
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: record '%.*s' (line %llu): line %llu: expected the '+' line, found "
                                 "a new record header",
                                 f->path, id_len(f), (const char *)f->name.p, ull(f->rec_line),
                                 ull(f->line_no)));
    BFD_TRY(append_seq(f, dropped));
    seq_lines++;
  }
  /* Quality lines are counted, not recognised: '@' is a valid quality
   * character, so a line can only be taken for the next header once the
   * quality has had as many lines as the sequence. */
  f->qual.len = 0;
  while (f->qual.len < f->seq.len) {
    BFD_TRY(read_line(f, &got));
    if (!got) {
      if (qual_lines == 0)
        return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                   "%s: record '%.*s' (line %llu): file ends after the '+' line; "
                                   "the quality is missing",
                                   f->path, id_len(f), (const char *)f->name.p, ull(f->rec_line)));
      return quality_mismatch(f, " (the file ends)");
    }
    if (qual_lines >= seq_lines && f->line.l && f->line.s[0] == '@') return quality_mismatch(f, "");
    const uint8_t *p = (const uint8_t *)f->line.s;
    size_t n = f->line.l, bad = first_bad(f->qual_ok, p, n);
    if (bad < n) {
      char what[32];
      describe_byte(what, sizeof what, p[bad]);
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: line %llu, column %llu: invalid quality character %s in record "
                                 "'%.*s'; quality must be '!'..'~'",
                                 f->path, ull(f->line_no), ull(bad + 1), what, id_len(f),
                                 (const char *)f->name.p));
    }
    if (buf_reserve(&f->qual, n)) return oom(f, "the quality");
    memcpy(f->qual.p + f->qual.len, p, n);
    f->qual.len += n;
    qual_lines++;
  }
  if (f->qual.len != f->seq.len) return quality_mismatch(f, "");
  return BFD_OK;
}

/* Finds the first record header, which fixes the format. */
static bfd_status detect(bfdi_fastx *f) {
  int got;
  for (;;) {
    BFD_TRY(read_line(f, &got));
    if (!got)
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT, "%s: empty file: no FASTA/FASTQ records", f->path));
    if (f->line.l) break;
  }
  uint8_t c = (uint8_t)f->line.s[0];
  if (c != '>' && c != '@') {
    char what[32];
    if (c >= 0x20 && c <= 0x7e)
      snprintf(what, sizeof what, "0x%02x ('%c')", c, c);
    else
      snprintf(what, sizeof what, "0x%02x", c);
    return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                               "%s: line %llu: not FASTA or FASTQ: expected '>' or '@' at the start, found %s",
                               f->path, ull(f->line_no), what));
  }
  f->format = c;
  f->pending = 1;
  return BFD_OK;
}

bfd_status bfdi_fastx_open(const char *path, bfd_alphabet alphabet, bfd_invalid_policy on_invalid,
                           bfdi_fastx **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_fastx_open: out is NULL");
  *out = NULL;
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_fastx_open: path is NULL");
  if ((unsigned)alphabet > BFD_ALPHABET_PROTEIN)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: alphabet %d is not a bfd_alphabet", path, (int)alphabet);
  if ((unsigned)on_invalid > BFD_INVALID_DROP)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: invalid-character policy %d is not a bfd_invalid_policy",
                     path, (int)on_invalid);
  pthread_once(&hts_quiet_once, hts_quiet);

  bfdi_fastx *f = calloc(1, sizeof *f);
  if (!f) return bfdi_fail_errno(ENOMEM, "%s: opening", path);
  f->alphabet = alphabet;
  f->on_invalid = on_invalid;
  build_tables(f);
  bfd_status st = BFD_OK;
  f->path = strdup(path);
  /* Reserved up front so that an empty record still has non-NULL buffers. */
  if (!f->path || buf_reserve(&f->name, 1) || buf_reserve(&f->seq, 1) || buf_reserve(&f->qual, 1)) {
    st = bfdi_fail_errno(ENOMEM, "%s: opening", path);
    goto fail;
  }
  f->name.p[0] = '\0';
  errno = 0;
  f->fp = bgzf_open(path, "r");
  if (!f->fp) {
    st = bfdi_fail_errno(errno ? errno : EIO, "%s: cannot open", path);
    goto fail;
  }
  /* A BGZF file cut at a block boundary reads as a clean, shorter file; only
   * the missing end-of-file block gives the truncation away. */
  if (f->fp->is_compressed && !f->fp->is_gzip && bgzf_check_EOF(f->fp) == 0) {
    st = bfdi_fail(BFD_ERR_FORMAT,
                   "%s: BGZF end-of-file marker is missing: the file is truncated; re-download or "
                   "re-compress the file",
                   path);
    goto fail;
  }
  st = detect(f);
  if (st != BFD_OK) goto fail;
  *out = f;
  return BFD_OK;
fail:
  bfdi_fastx_close(f);
  return st;
}

bfd_status bfdi_fastx_next(bfdi_fastx *f, bfdi_seqrec *rec, int *got) {
  if (!f || !rec || !got) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_fastx_next: NULL argument");
  *got = 0;
  if (f->err) return bfdi_fail(f->err, "%s", f->msg);
  while (!f->eof) {
    int have;
    BFD_TRY(read_line(f, &have));
    if (!have) {
      f->eof = 1;
      break;
    }
    if (f->line.l == 0) continue;
    uint8_t c = (uint8_t)f->line.s[0];
    if (c != f->format) {
      char what[32];
      describe_byte(what, sizeof what, c);
      return sticky(f, bfdi_fail(BFD_ERR_FORMAT,
                                 "%s: line %llu: expected '%c' at the start of a %s record, found %s%s",
                                 f->path, ull(f->line_no), f->format,
                                 f->format == FX_FASTA ? "FASTA" : "FASTQ", what,
                                 c == '>' || c == '@' ? "; mixed FASTA/FASTQ files are not supported" : ""));
    }
    BFD_TRY(take_header(f));
    f->seq.len = 0;
    int dropped = 0;
    BFD_TRY(f->format == FX_FASTA ? read_fasta(f, &dropped) : read_fastq(f, &dropped));
    if (dropped) {
      f->dropped++;
      continue;
    }
    rec->name = (const char *)f->name.p;
    rec->name_len = f->name.len;
    rec->seq = f->seq.p;
    rec->seq_len = f->seq.len;
    rec->qual = f->format == FX_FASTQ ? f->qual.p : NULL;
    rec->line = f->rec_line;
    *got = 1;
    return BFD_OK;
  }
  return BFD_OK;
}

int bfdi_fastx_is_fastq(const bfdi_fastx *f) { return f && f->format == FX_FASTQ; }

uint64_t bfdi_fastx_bytes_in(const bfdi_fastx *f) {
  if (!f || !f->fp || !f->fp->fp) return 0;
  off_t pos = htell(f->fp->fp);
  return pos > 0 ? (uint64_t)pos : 0;
}

uint64_t bfdi_fastx_dropped(const bfdi_fastx *f) { return f ? f->dropped : 0; }

uint64_t bfdi_fastx_replaced(const bfdi_fastx *f) { return f ? f->replaced : 0; }

void bfdi_fastx_close(bfdi_fastx *f) {
  if (!f) return;
  if (f->fp) bgzf_close(f->fp);
  free(f->line.s);
  free(f->name.p);
  free(f->seq.p);
  free(f->qual.p);
  free(f->path);
  free(f);
}

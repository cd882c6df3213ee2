/* Unit tests for the FASTA/FASTQ reader (loader/ingest/fastx.c): exact
 * records from plain, gzip and BGZF inputs, the four alphabets byte by byte,
 * the replace and drop policies, and the error messages for malformed input,
 * which must name the file and the line, column or record at fault. Inputs
 * are written to a fresh directory under /tmp that is removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <htslib/bgzf.h>
#include <zlib.h>

#include "ingest/fastx.h"
#include "support/testutil.h"

static char tmpdir[64];

static int make_dir(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "/tmp/bfd_fastx_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  tu_rmtree(tmpdir);
  return 0;
}

/* Paths live in a small ring so that a test can hold a few at once. */
static const char *path_of(const char *name) {
  static char ring[8][512];
  static int next;
  char *p = ring[next++ % 8];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

static const char *write_plain(const char *name, const void *data, size_t n) {
  const char *p = path_of(name);
  FILE *fp = fopen(p, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, n, fp), n);
  assert_int_equal(fclose(fp), 0);
  return p;
}

static const char *write_str(const char *name, const char *s) { return write_plain(name, s, strlen(s)); }

static const char *write_gzip(const char *name, const void *data, size_t n) {
  const char *p = path_of(name);
  gzFile gz = gzopen(p, "wb");
  assert_non_null(gz);
  assert_int_equal(gzwrite(gz, data, (unsigned)n), (int)n);
  assert_int_equal(gzclose(gz), Z_OK);
  return p;
}

static const char *write_bgzf(const char *name, const void *data, size_t n) {
  const char *p = path_of(name);
  BGZF *fp = bgzf_open(p, "w");
  assert_non_null(fp);
  assert_int_equal(bgzf_write(fp, data, n), (ssize_t)n);
  assert_int_equal(bgzf_close(fp), 0);
  return p;
}

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  assert_int_equal(fseek(fp, 0, SEEK_END), 0);
  long len = ftell(fp);
  assert_true(len >= 0);
  rewind(fp);
  uint8_t *b = malloc((size_t)len + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)len, fp), (size_t)len);
  fclose(fp);
  *n = (size_t)len;
  return b;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("expected \"%s\" in \"%s\"", needle, hay);
}

typedef struct rec_copy {
  char *name;
  uint8_t *seq;
  size_t len;
  char *qual; /* NUL-terminated copy, NULL for FASTA */
  uint64_t line;
} rec_copy;

typedef struct result {
  bfd_status st;
  char err[2048];
  rec_copy *r;
  size_t n;
  int fastq;
  uint64_t dropped, replaced, bytes_in;
} result;

static void *xdup(const void *p, size_t n) {
  uint8_t *d = malloc(n + 1);
  assert_non_null(d);
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

/* Reads the whole file; on a failure also checks that the error sticks. */
static void read_all(const char *path, bfd_alphabet a, bfd_invalid_policy pol, result *out) {
  memset(out, 0, sizeof *out);
  bfdi_fastx *f = (bfdi_fastx *)1;
  out->st = bfdi_fastx_open(path, a, pol, &f);
  if (out->st != BFD_OK) {
    assert_null(f);
    snprintf(out->err, sizeof out->err, "%s", bfd_last_error());
    return;
  }
  out->fastq = bfdi_fastx_is_fastq(f);
  size_t cap = 0;
  for (;;) {
    bfdi_seqrec rec;
    int got = -1;
    out->st = bfdi_fastx_next(f, &rec, &got);
    if (out->st != BFD_OK) {
      assert_int_equal(got, 0);
      snprintf(out->err, sizeof out->err, "%s", bfd_last_error());
      assert_int_equal(bfdi_fastx_next(f, &rec, &got), out->st);
      assert_int_equal(got, 0);
      assert_string_equal(bfd_last_error(), out->err);
      break;
    }
    if (!got) {
      assert_int_equal(bfdi_fastx_next(f, &rec, &got), BFD_OK);
      assert_int_equal(got, 0);
      break;
    }
    if (out->n == cap) {
      cap = cap ? cap * 2 : 8;
      out->r = realloc(out->r, cap * sizeof *out->r);
      assert_non_null(out->r);
    }
    rec_copy *c = &out->r[out->n++];
    assert_int_equal(strlen(rec.name), rec.name_len);
    assert_non_null(rec.seq);
    c->name = xdup(rec.name, rec.name_len);
    c->seq = xdup(rec.seq, rec.seq_len);
    c->len = rec.seq_len;
    c->qual = rec.qual ? xdup(rec.qual, rec.seq_len) : NULL;
    c->line = rec.line;
  }
  out->dropped = bfdi_fastx_dropped(f);
  out->replaced = bfdi_fastx_replaced(f);
  out->bytes_in = bfdi_fastx_bytes_in(f);
  bfdi_fastx_close(f);
}

static void free_result(result *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->r[i].name);
    free(r->r[i].seq);
    free(r->r[i].qual);
  }
  free(r->r);
  memset(r, 0, sizeof *r);
}

static void assert_rec(const result *r, size_t i, const char *name, const char *seq, const char *qual,
                       uint64_t line) {
  assert_true(i < r->n);
  const rec_copy *c = &r->r[i];
  assert_string_equal(c->name, name);
  assert_int_equal(c->len, strlen(seq));
  assert_memory_equal(c->seq, seq, c->len);
  if (qual)
    assert_string_equal(c->qual, qual);
  else
    assert_null(c->qual);
  assert_int_equal(c->line, line);
}

static void assert_same_records(const result *a, const result *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    assert_string_equal(a->r[i].name, b->r[i].name);
    assert_int_equal(a->r[i].len, b->r[i].len);
    assert_memory_equal(a->r[i].seq, b->r[i].seq, a->r[i].len);
    assert_int_equal(a->r[i].line, b->r[i].line);
    assert_int_equal(a->r[i].qual == NULL, b->r[i].qual == NULL);
    if (a->r[i].qual) assert_string_equal(a->r[i].qual, b->r[i].qual);
  }
}

/* A reproducible FASTA text of n_rec records of up to max_len bases in
 * 60-column lines, mixing case. */
static char *gen_fasta(unsigned seed, int n_rec, size_t max_len, size_t *n_out) {
  size_t cap = (size_t)n_rec * (max_len + max_len / 60 + 64) + 1, n = 0;
  char *s = malloc(cap);
  assert_non_null(s);
  uint32_t x = seed;
  for (int r = 0; r < n_rec; r++) {
    x = x * 1664525u + 1013904223u;
    size_t len = (x >> 8) % (max_len + 1);
    n += (size_t)snprintf(s + n, cap - n, ">seq%d len=%zu\n", r, len);
    for (size_t i = 0; i < len; i++) {
      x = x * 1664525u + 1013904223u;
      s[n++] = "ACGTACGTacgtN"[(x >> 16) % 13];
      if (i % 60 == 59 || i == len - 1) s[n++] = '\n';
    }
  }
  s[n] = 0;
  *n_out = n;
  return s;
}

static void test_fasta_multiline_lowercase_crlf(void **state) {
  (void)state;
  const char *p = write_str("a.fa",
                            "\n\r\n>chr1 first record\r\nACGTacgtNN\r\nnnACGT\r\n\r\nGGcc\r\n"
                            ">chr2\r\n>chr3\nTTTT");
  result r;
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.fastq, 0);
  assert_int_equal(r.n, 3);
  assert_rec(&r, 0, "chr1 first record", "ACGTacgtNNnnACGTGGcc", NULL, 3);
  assert_rec(&r, 1, "chr2", "", NULL, 8);
  assert_rec(&r, 2, "chr3", "TTTT", NULL, 9);
  assert_int_equal(r.dropped, 0);
  assert_int_equal(r.replaced, 0);
  free_result(&r);
}

static void test_fastq_records(void **state) {
  (void)state;
  const char *p = write_str("a.fq",
                            "@r1 desc\nACGT\n+\nIIII\n\n"
                            "@r2\nAC\nGT\n+r2\n!!\n~~\n"
                            "@r3\nACG\n+\n@@@\n"
                            "@r4\n\n+\n\n");
  result r;
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.fastq, 1);
  assert_int_equal(r.n, 4);
  assert_rec(&r, 0, "r1 desc", "ACGT", "IIII", 1);
  assert_rec(&r, 1, "r2", "ACGT", "!!~~", 6);
  assert_rec(&r, 2, "r3", "ACG", "@@@", 12);
  assert_rec(&r, 3, "r4", "", "", 16);
  free_result(&r);
}

static void test_gzip_and_bgzf_match_plain(void **state) {
  (void)state;
  size_t n;
  /* Records up to 300 kB so that BGZF blocks (64 kB) split lines. */
  char *text = gen_fasta(7, 40, 300000, &n);
  const char *plain = write_plain("c.fa", text, n);
  const char *gz = write_gzip("c.fa.gz", text, n);
  const char *bgz = write_bgzf("c.fa.bgz", text, n);
  result a, b, c;
  read_all(plain, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &a);
  read_all(gz, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &b);
  read_all(bgz, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &c);
  assert_int_equal(a.st, BFD_OK);
  assert_int_equal(b.st, BFD_OK);
  assert_int_equal(c.st, BFD_OK);
  assert_int_equal(a.n, 40);
  assert_same_records(&a, &b);
  assert_same_records(&a, &c);

  size_t gz_size, bgz_size;
  free(slurp(gz, &gz_size));
  free(slurp(bgz, &bgz_size));
  assert_int_equal(a.bytes_in, n);
  assert_int_equal(b.bytes_in, gz_size);
  assert_int_equal(c.bytes_in, bgz_size);
  assert_true(gz_size < n);
  free_result(&a);
  free_result(&b);
  free_result(&c);
  free(text);

  const char *fq = "@q1\nACGT\n+\nABCD\n@q2\nacgtn\n+\n!!!!~\n";
  read_all(write_str("d.fq", fq), BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &a);
  read_all(write_gzip("d.fq.gz", fq, strlen(fq)), BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &b);
  read_all(write_bgzf("d.fq.bgz", fq, strlen(fq)), BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &c);
  assert_int_equal(b.st, BFD_OK);
  assert_int_equal(c.st, BFD_OK);
  assert_int_equal(b.fastq, 1);
  assert_rec(&b, 1, "q2", "acgtn", "!!!!~", 5);
  assert_same_records(&a, &b);
  assert_same_records(&a, &c);
  free_result(&a);
  free_result(&b);
  free_result(&c);
}

static void test_long_record_exact(void **state) {
  (void)state;
  const size_t len = 5u << 20;
  uint8_t *seq = malloc(len);
  char *text = malloc(len + len / 60 + 64);
  assert_non_null(seq);
  assert_non_null(text);
  uint32_t x = 12345;
  size_t n = (size_t)sprintf(text, ">big chromosome\n");
  for (size_t i = 0; i < len; i++) {
    x = x * 1664525u + 1013904223u;
    seq[i] = (uint8_t)"ACGTacgtNRYn-"[(x >> 16) % 13];
    text[n++] = (char)seq[i];
    if (i % 60 == 59) text[n++] = '\n';
  }
  text[n++] = '\n';
  text[n++] = '>';
  text[n++] = 's';
  text[n++] = '\n';
  text[n++] = 'A';
  const char *paths[2] = {write_plain("big.fa", text, n), write_bgzf("big.fa.bgz", text, n)};
  for (int k = 0; k < 2; k++) {
    result r;
    read_all(paths[k], BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
    assert_int_equal(r.st, BFD_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.r[0].name, "big chromosome");
    assert_int_equal(r.r[0].len, len);
    assert_memory_equal(r.r[0].seq, seq, len);
    assert_int_equal(r.r[0].line, 1);
    assert_rec(&r, 1, "s", "A", NULL, 2 + (len + 59) / 60);
    free_result(&r);
  }
  free(seq);
  free(text);
}

/* Independent statement of each alphabet, checked against the reader for
 * every byte value. */
static int expect_valid(bfd_alphabet a, int b) {
  switch (a) {
    case BFD_ALPHABET_ANY: return b >= 0x21 && b <= 0x7e;
    case BFD_ALPHABET_DNA: return b && memchr("ACGTNRYSWKMBDHV-acgtnryswkmbdhv", b, 31) != NULL;
    case BFD_ALPHABET_RNA: return b && memchr("ACGUNRYSWKMBDHV-acgunryswkmbdhv", b, 31) != NULL;
    case BFD_ALPHABET_PROTEIN: return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b == '*' || b == '-';
  }
  return 0;
}

static void test_alphabets_every_byte(void **state) {
  (void)state;
  static const char *names[] = {"any", "dna", "rna", "protein"};
  int accepted[4] = {0, 0, 0, 0};
  for (int a = BFD_ALPHABET_ANY; a <= BFD_ALPHABET_PROTEIN; a++) {
    for (int b = 0; b < 256; b++) {
      if (b == '\n') continue;
      char text[16] = ">r\nA?A\n";
      text[4] = (char)b;
      const char *p = write_plain("alpha.fa", text, 7);
      result r;
      read_all(p, (bfd_alphabet)a, BFD_INVALID_ERROR, &r);
      if (expect_valid((bfd_alphabet)a, b)) {
        if (r.st != BFD_OK) fail_msg("alphabet %s rejected 0x%02x: %s", names[a], b, r.err);
        assert_int_equal(r.n, 1);
        assert_int_equal(r.r[0].len, 3);
        assert_int_equal(r.r[0].seq[1], b);
        accepted[a]++;
      } else {
        if (r.st != BFD_ERR_FORMAT) fail_msg("alphabet %s accepted 0x%02x", names[a], b);
        assert_contains(r.err, "line 2, column 2: invalid character");
        char want[64];
        snprintf(want, sizeof want, "for alphabet %s in record 'r'", names[a]);
        assert_contains(r.err, want);
      }
      free_result(&r);
    }
  }
  assert_int_equal(accepted[BFD_ALPHABET_ANY], 94);
  assert_int_equal(accepted[BFD_ALPHABET_DNA], 31);
  assert_int_equal(accepted[BFD_ALPHABET_RNA], 31);
  assert_int_equal(accepted[BFD_ALPHABET_PROTEIN], 54);
}

static void test_replace_policy(void **state) {
  (void)state;
  result r;
  read_all(write_str("rep.fa", ">r1\nACJTxu\nAC.T\n>r2\nACGT\n"), BFD_ALPHABET_DNA, BFD_INVALID_REPLACE, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.n, 2);
  assert_rec(&r, 0, "r1", "ACNTnnACNT", NULL, 1);
  assert_rec(&r, 1, "r2", "ACGT", NULL, 4);
  assert_int_equal(r.replaced, 4);
  assert_int_equal(r.dropped, 0);
  free_result(&r);

  read_all(write_str("rep_rna.fq", "@r\nACGTt\n+\nIIIII\n"), BFD_ALPHABET_RNA, BFD_INVALID_REPLACE, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_rec(&r, 0, "r", "ACGNn", "IIIII", 1);
  assert_int_equal(r.replaced, 2);
  free_result(&r);

  read_all(write_str("rep.faa", ">p\nMK1*.-\n"), BFD_ALPHABET_PROTEIN, BFD_INVALID_REPLACE, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_rec(&r, 0, "p", "MKX*X-", NULL, 1);
  assert_int_equal(r.replaced, 2);
  free_result(&r);

  read_all(write_str("rep_any.fa", ">a\nA\x7f\x80z B\n"), BFD_ALPHABET_ANY, BFD_INVALID_REPLACE, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_rec(&r, 0, "a", "ANNzNB", NULL, 1);
  assert_int_equal(r.replaced, 3);
  free_result(&r);
}

static void test_drop_policy(void **state) {
  (void)state;
  result r;
  read_all(write_str("drop.fa", ">ok1\nACGT\n>bad1 x\nACGT\nAJ\nAC\n>ok2\nGG\n>bad2\nU\n"), BFD_ALPHABET_DNA,
           BFD_INVALID_DROP, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.n, 2);
  assert_rec(&r, 0, "ok1", "ACGT", NULL, 1);
  assert_rec(&r, 1, "ok2", "GG", NULL, 7);
  assert_int_equal(r.dropped, 2);
  assert_int_equal(r.replaced, 0);
  free_result(&r);

  /* The dropped record's quality begins with '@': it must still be consumed
   * as quality, not taken for the next header. */
  read_all(write_str("drop.fq", "@a\nACGT\n+\nIIII\n@b\nAXGT\n+\n@III\n@c\nGG\n+\nII\n"), BFD_ALPHABET_DNA,
           BFD_INVALID_DROP, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.n, 2);
  assert_rec(&r, 0, "a", "ACGT", "IIII", 1);
  assert_rec(&r, 1, "c", "GG", "II", 9);
  assert_int_equal(r.dropped, 1);
  free_result(&r);

  read_all(write_str("drop_all.fa", ">x\nJ\n>y\nZ\n"), BFD_ALPHABET_DNA, BFD_INVALID_DROP, &r);
  assert_int_equal(r.st, BFD_OK);
  assert_int_equal(r.n, 0);
  assert_int_equal(r.dropped, 2);
  free_result(&r);
}

static void test_err_empty_file(void **state) {
  (void)state;
  const char *files[2] = {write_str("empty.fa", ""), write_str("blank.fa", "\n\r\n\n")};
  for (int i = 0; i < 2; i++) {
    result r;
    read_all(files[i], BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
    assert_int_equal(r.st, BFD_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s: empty file: no FASTA/FASTQ records", files[i]);
    assert_string_equal(r.err, want);
    free_result(&r);
  }
}

static void test_err_no_header(void **state) {
  (void)state;
  result r;
  const char *p = write_str("nohead.fa", "ACGT\n>r\nACGT\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s: line 1: not FASTA or FASTQ: expected '>' or '@' at the start, found 0x41 ('A')",
           p);
  assert_string_equal(r.err, want);
  free_result(&r);

  p = write_str("nohead2.fa", "\nacgt\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: line 2: not FASTA or FASTQ", p);
  assert_contains(r.err, want);
  assert_contains(r.err, "found 0x61 ('a')");
  free_result(&r);
}

static void test_err_binary_garbage(void **state) {
  (void)state;
  uint8_t junk[4096];
  uint32_t x = 99;
  for (size_t i = 0; i < sizeof junk; i++) {
    x = x * 1664525u + 1013904223u;
    junk[i] = (uint8_t)(x >> 24);
  }
  memcpy(junk, "\x89PNG\r\n\x1a\n\0\0", 10);
  const char *p = write_plain("junk.bin", junk, sizeof junk);
  result r;
  read_all(p, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s: line 1: not FASTA or FASTQ: expected '>' or '@' at the start, found 0x89", p);
  assert_string_equal(r.err, want);
  free_result(&r);

  junk[0] = 0;
  p = write_plain("nul.bin", junk, sizeof junk);
  read_all(p, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_contains(r.err, "line 1: not FASTA or FASTQ");
  assert_contains(r.err, "found 0x00");
  free_result(&r);
}

static unsigned long long line_in(const char *msg) {
  const char *s = strstr(msg, ": line ");
  assert_non_null(s);
  return strtoull(s + 7, NULL, 10);
}

static void test_err_truncated_and_corrupt_gzip(void **state) {
  (void)state;
  size_t n, gz_size;
  char *text = gen_fasta(3, 200, 20000, &n);
  const char *gz = write_gzip("t.fa.gz", text, n);
  uint8_t *z = slurp(gz, &gz_size);
  unsigned long long total_lines = 0;
  for (size_t i = 0; i < n; i++) total_lines += text[i] == '\n';

  const char *cut = write_plain("cut.fa.gz", z, gz_size / 2);
  result r;
  read_all(cut, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  char want[600];
  snprintf(want, sizeof want, "%s: line ", cut);
  assert_contains(r.err, want);
  assert_contains(r.err, "gzip stream is truncated or corrupt; re-download or re-compress the file");
  assert_true(r.n > 0);
  unsigned long long at = line_in(r.err);
  assert_true(at > r.r[r.n - 1].line);
  assert_true(at < total_lines);
  free_result(&r);

  /* A wrong CRC in the trailer is noticed at the last 64 kB block, whose
   * lines are then withheld. */
  z[gz_size - 8] ^= 0xff;
  const char *crc = write_plain("crc.fa.gz", z, gz_size);
  read_all(crc, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: line ", crc);
  assert_contains(r.err, want);
  assert_contains(r.err, "gzip stream is truncated or corrupt");
  at = line_in(r.err);
  assert_true(r.n > 0 && r.n < 200);
  assert_true(at > r.r[r.n - 1].line);
  assert_true(at <= total_lines && at + 65536 / 20 >= total_lines);
  free_result(&r);

  /* Damage mid-stream comes out as garbage before zlib notices; the garbage
   * itself may be what fails first, so only the status and file are fixed. */
  z[gz_size - 8] ^= 0xff;
  z[gz_size / 2] ^= 0xff;
  z[gz_size / 2 + 1] ^= 0x5a;
  const char *bad = write_plain("bad.fa.gz", z, gz_size);
  read_all(bad, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: line ", bad);
  assert_contains(r.err, want);
  free_result(&r);
  free(z);

  const char *bgz = write_bgzf("t.fa.bgz", text, n);
  z = slurp(bgz, &gz_size);
  const char *bcut = write_plain("cut.fa.bgz", z, gz_size / 2);
  read_all(bcut, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: BGZF end-of-file marker is missing: the file is truncated", bcut);
  assert_contains(r.err, want);
  free_result(&r);
  free(z);
  free(text);
}

static void test_err_invalid_char_position(void **state) {
  (void)state;
  result r;
  const char *p = write_str("inv.fa", ">chr1 desc\nACGTACGT\nACGTACGTJ\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  char want[700];
  snprintf(want, sizeof want,
           "%s: line 3, column 9: invalid character 'J' (0x4a) for alphabet dna in record 'chr1'; "
           "use --invalid replace (J\xe2\x86\x92N) or --invalid drop",
           p);
  assert_string_equal(r.err, want);
  free_result(&r);

  p = write_str("inv2.fa", ">a\r\nAC\r\n>chr2\r\nAC\r\nACG\tT\r\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_int_equal(r.n, 1);
  assert_rec(&r, 0, "a", "AC", NULL, 1);
  snprintf(want, sizeof want,
           "%s: line 5, column 4: invalid character 0x09 for alphabet dna in record 'chr2'; "
           "use --invalid replace (0x09\xe2\x86\x92N)",
           p);
  assert_contains(r.err, want);
  free_result(&r);

  p = write_str("inv3.fa", ">x\nacgtj\n");
  read_all(p, BFD_ALPHABET_RNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_contains(r.err, "line 2, column 4: invalid character 't' (0x74) for alphabet rna in record 'x'; "
                         "use --invalid replace (t\xe2\x86\x92n)");
  free_result(&r);

  p = write_str("inv.faa", ">p\nMKV1\n");
  read_all(p, BFD_ALPHABET_PROTEIN, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_contains(r.err, "line 2, column 4: invalid character '1' (0x31) for alphabet protein in record 'p'; "
                         "use --invalid replace (1\xe2\x86\x92X)");
  free_result(&r);

  p = write_str("inv.fq", "@r1\nACGT\n+\nIIII\n@r2\nACNN\n+\nII I\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want,
           "%s: line 8, column 3: invalid quality character ' ' (0x20) in record 'r2'; quality must be '!'..'~'", p);
  assert_string_equal(r.err, want);
  free_result(&r);
}

static void test_err_fastq_quality_length(void **state) {
  (void)state;
  result r;
  char want[600];
  const char *p = write_str("ql.fq", "@r1\nACGT\n+\nIIII\n@r2 x\nACGT\n+\nIII\n@r3\nAC\n+\nII\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_int_equal(r.n, 1);
  snprintf(want, sizeof want, "%s: record 'r2' (line 5): quality has 3 characters, sequence has 4", p);
  assert_string_equal(r.err, want);
  free_result(&r);

  p = write_str("ql2.fq", "@r1\nACGT\n+\nIIIII\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: record 'r1' (line 1): quality has 5 characters, sequence has 4", p);
  assert_string_equal(r.err, want);
  free_result(&r);

  p = write_str("ql3.fq", "@r1\nACGT\n+\nIII\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: record 'r1' (line 1): quality has 3 characters, sequence has 4", p);
  assert_contains(r.err, want);
  free_result(&r);
}

static void test_err_fastq_truncated(void **state) {
  (void)state;
  result r;
  char want[600];
  const char *p = write_str("tr.fq", "@r1\nACGT\n+\nIIII\n@r2 x\nACGT\n+\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_int_equal(r.n, 1);
  snprintf(want, sizeof want, "%s: record 'r2' (line 5): file ends after the '+' line", p);
  assert_contains(r.err, want);
  free_result(&r);

  p = write_str("tr2.fq", "@r1\nACGT\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: record 'r1' (line 1): file ends before the '+' line", p);
  assert_string_equal(r.err, want);
  free_result(&r);

  p = write_str("tr3.fq", "@r1\nACGT\n@r2\nACGT\n+\nIIII\n");
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: record 'r1' (line 1): line 3: expected the '+' line", p);
  assert_contains(r.err, want);
  free_result(&r);
}

static void test_err_mixed_and_header(void **state) {
  (void)state;
  result r;
  const char *p = write_str("mix.fa", ">a\nAC\n@b\nAC\n+\nII\n");
  read_all(p, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_contains(r.err, "line 3: a FASTQ record ('@') in a FASTA file");
  free_result(&r);

  p = write_str("mix.fq", "@a\nAC\n+\nII\n>b\nAC\n");
  read_all(p, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_int_equal(r.n, 1);
  assert_contains(r.err, "line 5: expected '@' at the start of a FASTQ record, found '>' (0x3e); mixed");
  free_result(&r);

  p = write_plain("nul.fa", ">a\0b\nAC\n", 8);
  read_all(p, BFD_ALPHABET_ANY, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_FORMAT);
  assert_contains(r.err, "line 1: record header contains a NUL byte");
  free_result(&r);
}

static void test_err_open(void **state) {
  (void)state;
  const char *p = path_of("does-not-exist.fa");
  result r;
  read_all(p, BFD_ALPHABET_DNA, BFD_INVALID_ERROR, &r);
  assert_int_equal(r.st, BFD_ERR_IO);
  char want[600];
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
  assert_string_equal(r.err, want);

  bfdi_fastx *f = (bfdi_fastx *)1;
  assert_int_equal(bfdi_fastx_open(write_str("ok.fa", ">a\nA\n"), (bfd_alphabet)9, BFD_INVALID_ERROR, &f),
                   BFD_ERR_INVALID_ARG);
  assert_null(f);
  assert_int_equal(bfdi_fastx_open(path_of("ok.fa"), BFD_ALPHABET_DNA, (bfd_invalid_policy)7, &f),
                   BFD_ERR_INVALID_ARG);
  assert_null(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fasta_multiline_lowercase_crlf),
      cmocka_unit_test(test_fastq_records),
      cmocka_unit_test(test_gzip_and_bgzf_match_plain),
      cmocka_unit_test(test_long_record_exact),
      cmocka_unit_test(test_alphabets_every_byte),
      cmocka_unit_test(test_replace_policy),
      cmocka_unit_test(test_drop_policy),
      cmocka_unit_test(test_err_empty_file),
      cmocka_unit_test(test_err_no_header),
      cmocka_unit_test(test_err_binary_garbage),
      cmocka_unit_test(test_err_truncated_and_corrupt_gzip),
      cmocka_unit_test(test_err_invalid_char_position),
      cmocka_unit_test(test_err_fastq_quality_length),
      cmocka_unit_test(test_err_fastq_truncated),
      cmocka_unit_test(test_err_mixed_and_header),
      cmocka_unit_test(test_err_open),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}

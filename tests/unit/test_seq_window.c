/* Window mode of the sequence ops on the CPU backend: random starts
 * reproducible per (seed, epoch, sample) and varying with the epoch, tiled
 * windows, BED regions (parsing, merging, errors naming the line), N
 * rejection by redraw (and the host N count and redraw starts), shifts, and
 * windows longer than their record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/seq_run.h"

static char *random_bases(size_t n, uint32_t seed) {
  char *s = malloc(n + 1);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    s[i] = "ACGT"[seed >> 30];
  }
  s[n] = 0;
  return s;
}

typedef struct fixture {
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
} fixture;

static void dna_windows(fixture *f, int32_t mode, int64_t window, int64_t stride) {
  assert_int_equal(sr_preset("dna", 0, BFD_SEQ_CASE_UPPER, &f->v, &f->p, &f->tab), 0);
  f->p.sample_mode = mode;
  f->p.window = window;
  f->p.tile_stride = stride;
  f->p.max_len = (int32_t)window;
  assert_int_equal(bfdk_seq_params_check(&f->p, &f->v, BFD_SEQ_CASE_UPPER), BFD_OK);
}

static void fixture_free(fixture *f) {
  free(f->tab);
  bfdk_seq_vocab_free(&f->v);
}

/* Row b holds record bytes [start, start + len) as dna ids. */
static void assert_row_is(const sr *s, const fixture *f, int64_t b, const char *rec) {
  int32_t len = s->out.lengths[b];
  for (int32_t i = 0; i < len; i++)
    assert_int_equal(s->out.ids[b * s->width + i], f->v.byte_id[(uint8_t)rec[s->out.start[b] + i]]);
}

static void test_random_windows(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_RANDOM, 50, 0);
  char *rec = random_bases(1000, 7);
  const char *recs[] = {rec};
  sr a, b, c;
  sr_init(&a, recs, 1, 2000, 50);
  sr_init(&b, recs, 1, 2000, 50);
  sr_init(&c, recs, 1, 2000, 50);
  a.in.seed = b.in.seed = c.in.seed = 42;
  c.in.epoch = 1;
  assert_int_equal(sr_cpu(&a, &f.p, f.tab), BFD_OK);
  assert_int_equal(sr_cpu(&b, &f.p, f.tab), BFD_OK);
  assert_int_equal(sr_cpu(&c, &f.p, f.tab), BFD_OK);
  assert_memory_equal(a.out.start, b.out.start, 2000 * sizeof(int64_t));
  assert_memory_equal(a.out.ids, b.out.ids, 2000 * 50 * sizeof(int64_t));
  int differ = 0;
  double sum = 0;
  for (int i = 0; i < 2000; i++) {
    assert_true(a.out.start[i] >= 0 && a.out.start[i] <= 950);
    assert_int_equal(a.out.lengths[i], 50);
    assert_int_equal(a.out.redraws[i], 0);
    differ += a.out.start[i] != c.out.start[i];
    sum += (double)a.out.start[i];
  }
  assert_true(differ > 1980);
  /* Uniform over 0..950: mean 475, standard error 274.5 / sqrt(2000) = 6.1. */
  assert_true(sum / 2000 > 475 - 31 && sum / 2000 < 475 + 31);
  for (int i = 0; i < 50; i++) assert_row_is(&a, &f, i, rec);
  sr_free(&a);
  sr_free(&b);
  sr_free(&c);
  free(rec);
  fixture_free(&f);
}

static void test_tiled_windows(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_TILED, 30, 25);
  char *rec = random_bases(100, 3);
  const char *recs[] = {rec};
  bfdk_seq_regions none = {0};
  assert_int_equal(bfd_seq_record_windows(&f.p, &none, 0, 100), 4);
  sr s;
  sr_init(&s, recs, 1, 5, 30);
  for (int i = 0; i < 5; i++) s.tile[i] = (uint64_t)i;
  s.in.tile = s.tile;
  assert_int_equal(sr_cpu(&s, &f.p, f.tab), BFD_OK);
  /* The last tile is moved back to end at the record's end; tile 4 wraps. */
  const int64_t want[] = {0, 25, 50, 70, 0};
  assert_memory_equal(s.out.start, want, sizeof want);
  for (int i = 0; i < 5; i++) {
    assert_int_equal(s.out.lengths[i], 30);
    assert_row_is(&s, &f, i, rec);
  }
  sr_free(&s);
  free(rec);
  fixture_free(&f);
}

static void test_window_longer_than_record_is_padded(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_RANDOM, 20, 0);
  const char *recs[] = {"ACGTACGTAC", ""};
  sr s;
  sr_init(&s, recs, 2, 2, 20);
  assert_int_equal(sr_cpu(&s, &f.p, f.tab), BFD_OK);
  assert_int_equal(s.out.start[0], 0);
  assert_int_equal(s.out.lengths[0], 10);
  assert_int_equal(s.out.lengths[1], 0);
  for (int i = 0; i < 20; i++) {
    assert_int_equal(s.out.attn[i], i < 10);
    assert_int_equal(s.out.ids[20 + i], 0);
  }
  assert_row_is(&s, &f, 0, recs[0]);
  sr_free(&s);
  fixture_free(&f);
}

static const char bed_text[] =
    "track name=test\n"
    "# regions\n"
    "chr1\t100\t200\n"
    "chr1 150 260\n"
    "chr1\t500\t520\r\n"
    "chrUn\t0\t10\n";

static void test_bed_regions(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_RANDOM, 50, 0);
  bfdk_seq_bed bed;
  assert_int_equal(bfdk_seq_bed_parse(bed_text, sizeof bed_text - 1, "r.bed", &bed), BFD_OK);
  assert_int_equal(bed.n, 4);
  assert_int_equal(bed.line[2], 5);
  char *c1 = random_bases(1000, 11), *c2 = random_bases(300, 12);
  const char *names[] = {"chr1 Homo sapiens chromosome 1", "chr2"};
  const uint64_t lengths[] = {1000, 300};
  bfdk_seq_regions_owned rg;
  size_t unmatched;
  assert_int_equal(bfdk_seq_regions_resolve(&bed, "r.bed", names, lengths, 2, &f.p, &rg, &unmatched), BFD_OK);
  assert_int_equal(unmatched, 1);
  assert_int_equal(rg.n, 2); /* 100-200 and 150-260 merged */
  assert_int_equal(rg.start[0], 100);
  assert_int_equal(rg.end[0], 260);
  assert_int_equal(bfd_seq_record_windows(&f.p, &rg.view, 0, 1000), 111 + 1);

  /* Random windows fall inside [100, 260) or at 500 (a region shorter than
   * the window holds one, at its start); chr2 has no regions: anywhere. */
  const char *recs[] = {c1, c2};
  sr s;
  sr_init(&s, recs, 2, 4000, 50);
  s.in.regions = rg.view;
  s.in.seed = 5;
  assert_int_equal(sr_cpu(&s, &f.p, f.tab), BFD_OK);
  int at500 = 0, inside = 0;
  for (int i = 0; i < 4000; i += 2) {
    int64_t st = s.out.start[i];
    assert_true((st >= 100 && st <= 210) || st == 500);
    at500 += st == 500;
    inside += st != 500;
    assert_row_is(&s, &f, i, c1);
    assert_true(s.out.start[i + 1] >= 0 && s.out.start[i + 1] <= 250);
  }
  assert_true(at500 > 0 && inside > at500);
  sr_free(&s);
  bfdk_seq_regions_free(&rg);

  /* Tiled, stride 50: 100 150 200 210 in the first region, 500 in the second. */
  fixture_free(&f);
  dna_windows(&f, BFD_SEQ_WINDOW_TILED, 50, 50);
  assert_int_equal(bfdk_seq_regions_resolve(&bed, "r.bed", names, lengths, 2, &f.p, &rg, &unmatched), BFD_OK);
  sr t;
  sr_init(&t, recs, 1, 6, 50);
  for (int i = 0; i < 6; i++) t.tile[i] = (uint64_t)i;
  t.in.tile = t.tile;
  t.in.regions = rg.view;
  assert_int_equal(sr_cpu(&t, &f.p, f.tab), BFD_OK);
  const int64_t want[] = {100, 150, 200, 210, 500, 100};
  assert_memory_equal(t.out.start, want, sizeof want);
  sr_free(&t);
  bfdk_seq_regions_free(&rg);

  /* An interval past its record's end names its line. */
  const uint64_t short_lengths[] = {510, 300};
  assert_int_equal(bfdk_seq_regions_resolve(&bed, "r.bed", names, short_lengths, 2, &f.p, &rg, &unmatched),
                   BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "r.bed: line 5: interval chr1:500-520 reaches past the end"));
  bfdk_seq_bed_free(&bed);
  free(c1);
  free(c2);
  fixture_free(&f);
}

static void test_bed_errors(void **state) {
  (void)state;
  bfdk_seq_bed bed;
  const char two[] = "chr1\t1\t5\nchr1\t5\n";
  assert_int_equal(bfdk_seq_bed_parse(two, sizeof two - 1, "a.bed", &bed), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "a.bed: line 2 has fewer than 3 fields"));
  const char nan[] = "chr1\tx\t5\n";
  assert_int_equal(bfdk_seq_bed_parse(nan, sizeof nan - 1, "b.bed", &bed), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "b.bed: line 1: start 'x'"));
  const char rev[] = "\nchr1\t10\t5\n";
  assert_int_equal(bfdk_seq_bed_parse(rev, sizeof rev - 1, "c.bed", &bed), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "c.bed: line 2: end 5 is not after start 10"));
  const char neg[] = "chr1\t-1\t5\n";
  assert_int_equal(bfdk_seq_bed_parse(neg, sizeof neg - 1, "d.bed", &bed), BFD_ERR_FORMAT);
}

static void test_n_rejection(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_RANDOM, 100, 0);
  f.p.max_n_frac = 0.1;
  f.p.max_attempts = 32;
  assert_int_equal(bfdk_seq_params_check(&f.p, &f.v, BFD_SEQ_CASE_UPPER), BFD_OK);
  char *tail = random_bases(600, 21);
  char *rec = malloc(1001);
  memset(rec, 'n', 400);
  memcpy(rec + 400, tail, 601);
  char all_n[301];
  memset(all_n, 'N', 300);
  all_n[300] = 0;
  const char *recs[] = {rec, all_n};
  sr s;
  sr_init(&s, recs, 2, 400, 100);
  assert_int_equal(sr_cpu(&s, &f.p, f.tab), BFD_OK);
  int redrawn = 0;
  for (int b = 0; b < 400; b += 2) {
    int ns = 0;
    for (int i = 0; i < 100; i++) ns += s.out.ids[b * 100 + i] == 9;
    assert_true(ns <= 10);
    assert_true(s.out.redraws[b] >= 0 && s.out.redraws[b] < 32);
    redrawn += s.out.redraws[b] > 0;
    assert_int_equal(s.out.lengths[b], 100);
    /* No window of an all-N record passes: the fewest-N one (the first) is kept. */
    assert_int_equal(s.out.redraws[b + 1], -1);
    assert_int_equal(s.out.lengths[b + 1], 100);
  }
  assert_true(redrawn > 40);
  sr_free(&s);
  free(rec);
  free(tail);
  fixture_free(&f);
}

/* The host's N count (64 bytes at a time where the CPU can) against the
 * per-byte ops function: every byte value, every length up to a few blocks,
 * both case modes that decide whether 'n' is an N. */
static void test_count_n_host(void **state) {
  (void)state;
  const int32_t modes[] = {BFD_SEQ_CASE_UPPER, BFD_SEQ_CASE_N};
  for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
    bfdk_seq_vocab v;
    bfdk_seq_params p;
    int32_t *tab;
    assert_int_equal(sr_preset("dna", 0, modes[mi], &v, &p, &tab), 0);
    uint8_t buf[300];
    uint32_t x = 17;
    for (size_t i = 0; i < sizeof buf; i++) {
      x = x * 1664525u + 1013904223u;
      /* Ns often, and every byte value now and then */
      buf[i] = (x >> 24) < 96 ? "NnAC"[(x >> 8) & 3] : (uint8_t)(x >> 16);
    }
    int64_t total = 0;
    for (int64_t n = 0; n <= (int64_t)sizeof buf; n++) {
      int64_t want = bfd_seq_count_n(tab, buf, 0, n, 1);
      assert_int_equal(bfdk_seq_count_n_cpu(tab, buf, n), want);
      int64_t m = n > 7 ? n - 7 : 0;
      assert_int_equal(bfdk_seq_count_n_cpu(tab, buf + 7, m), bfd_seq_count_n(tab, buf + 7, 0, m, 1));
      total = want;
    }
    assert_true(total > 20);
    free(tab);
    bfdk_seq_vocab_free(&v);
  }
}

/* The redraw window starts the loader's plan computes eight at a time
 * against bfd_seq_window_idx + bfd_seq_window_start one by one, in random
 * and tiled mode, for records shorter and longer than the window. */
static void test_redraw_starts_host(void **state) {
  (void)state;
  const int32_t modes[] = {BFD_SEQ_WINDOW_RANDOM, BFD_SEQ_WINDOW_TILED};
  const int64_t lens[] = {50, 100, 101, 5000, 123457};
  for (size_t mi = 0; mi < 2; mi++)
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
      fixture f;
      dna_windows(&f, modes[mi], 100, modes[mi] == BFD_SEQ_WINDOW_TILED ? 30 : 0);
      f.p.max_n_frac = 0.1;
      f.p.max_attempts = 20;
      const bfdk_seq_regions rg = {0};
      const int64_t len = lens[li];
      const uint64_t total = bfd_seq_record_windows(&f.p, &rg, 0, len);
      for (uint64_t sample = 0; sample < 50; sample++) {
        bfd_rng_key key = bfd_seq_key(7, 2, sample, 0);
        for (int32_t first = 1; first < 20; first += 8) {
          int64_t got[8];
          int32_t n = 20 - first < 8 ? 20 - first : 8;
          bfdk_seq_redraw_starts_cpu(&f.p, &rg, 0, len, key, total, first, n, got);
          for (int32_t j = 0; j < n; j++)
            assert_int_equal(got[j], bfd_seq_window_start(&f.p, &rg, 0, len,
                                                           bfd_seq_window_idx(&f.p, key, 0, total, first + j)));
        }
      }
      fixture_free(&f);
    }
}

static void test_shift(void **state) {
  (void)state;
  fixture f;
  dna_windows(&f, BFD_SEQ_WINDOW_TILED, 50, 50);
  f.p.shift = 3;
  assert_int_equal(bfdk_seq_params_check(&f.p, &f.v, BFD_SEQ_CASE_UPPER), BFD_OK);
  char *rec = random_bases(200, 9);
  const char *recs[] = {rec};
  sr s;
  sr_init(&s, recs, 1, 300, 50);
  for (int i = 0; i < 300; i++) s.tile[i] = (uint64_t)(i % 3);
  s.in.tile = s.tile;
  assert_int_equal(sr_cpu(&s, &f.p, f.tab), BFD_OK);
  int seen[7] = {0};
  for (int i = 0; i < 300; i++) {
    int64_t st = s.out.start[i], tile = (i % 3) * 50;
    assert_true(st >= tile - 3 && st <= tile + 3 && st >= 0);
    if (i % 3 == 1) seen[st - 47] = 1;
    assert_row_is(&s, &f, i, rec);
  }
  int distinct = 0;
  for (int i = 0; i < 7; i++) distinct += seen[i];
  assert_int_equal(distinct, 7);
  sr_free(&s);
  free(rec);
  fixture_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_windows),
      cmocka_unit_test(test_tiled_windows),
      cmocka_unit_test(test_window_longer_than_record_is_padded),
      cmocka_unit_test(test_bed_regions),
      cmocka_unit_test(test_bed_errors),
      cmocka_unit_test(test_n_rejection),
      cmocka_unit_test(test_shift),
      cmocka_unit_test(test_count_n_host),
      cmocka_unit_test(test_redraw_starts_host),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

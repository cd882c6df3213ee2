/* MLM masking on the CPU backend: the pick rate and the 80/10/10 split
 * within binomial bounds, random replacements drawn from the preset's
 * ordinary tokens, specials and padding never picked, labels -100 elsewhere,
 * DNABERT span masking against the spans DNABERT's own recipe gives, and
 * whole character rows against the per-position ops functions. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/seq_mask.h"
#include "ops/seq_tok.h"
#include "ops/seq_window.h"
#include "support/seq_run.h"

static char *random_of(const char *alphabet, size_t n, uint32_t seed) {
  size_t k = strlen(alphabet);
  char *s = malloc(n + 1);
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    s[i] = alphabet[(seed >> 8) % k];
  }
  s[n] = 0;
  return s;
}

/* |count - n q| within 5 standard deviations of a binomial(n, q). */
static void assert_binomial(long count, long n, double q, const char *what) {
  double mean = (double)n * q, sd = sqrt((double)n * q * (1 - q));
  if (fabs((double)count - mean) > 5 * sd)
    fail_msg("%s: %ld of %ld, expected %.1f +- %.1f (5 sd)", what, count, n, mean, 5 * sd);
}

static void test_rate_and_specials(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("esm2", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.mlm_p = 0.15f;
  p.max_len = 402;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_OK);
  enum { B = 300 };
  char *recs[B];
  for (int b = 0; b < B; b++) recs[b] = random_of("LAGVSERTIDPKQNFYMHWC", 200 + (size_t)b % 201, (uint32_t)b + 1);
  sr s;
  sr_init(&s, (const char *const *)recs, B, B, 402);
  s.out.onehot = NULL;
  s.in.seed = 99;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  long content = 0, picked = 0, masked = 0, same = 0, other = 0;
  for (int b = 0; b < B; b++) {
    const int64_t *ids = s.out.ids + b * 402, *lab = s.out.labels + b * 402;
    int32_t len = s.out.lengths[b];
    assert_int_equal(len, (int32_t)strlen(recs[b]) + 2);
    assert_int_equal(ids[0], 0);
    assert_int_equal(lab[0], -100);
    assert_int_equal(ids[len - 1], 2);
    assert_int_equal(lab[len - 1], -100);
    for (int i = len; i < 402; i++) {
      assert_int_equal(ids[i], 1);
      assert_int_equal(lab[i], -100);
    }
    for (int i = 1; i < len - 1; i++) {
      content++;
      int64_t orig = v.byte_id[(uint8_t)recs[b][i - 1]];
      if (lab[i] == -100) {
        assert_int_equal(ids[i], orig);
        continue;
      }
      picked++;
      assert_int_equal(lab[i], orig);
      if (ids[i] == 32)
        masked++;
      else if (ids[i] == orig)
        same++;
      else {
        other++;
        assert_true(ids[i] >= 4 && ids[i] <= 23);
      }
    }
  }
  assert_binomial(picked, content, 0.15, "picked");
  assert_binomial(masked, picked, 0.8, "masked");
  /* 10% random: 1 in 20 of those draws the original back. */
  assert_binomial(other, picked, 0.1 * 19.0 / 20.0, "random");
  assert_binomial(same, picked, 0.1 + 0.1 / 20.0, "unchanged");

  /* Another epoch picks other positions. */
  sr t;
  sr_init(&t, (const char *const *)recs, B, B, 402);
  t.out.onehot = NULL;
  t.in.seed = 99;
  t.in.epoch = 1;
  assert_int_equal(sr_cpu(&t, &p, tab), BFD_OK);
  assert_memory_not_equal(s.out.labels, t.out.labels, (size_t)B * 402 * sizeof(int64_t));

  /* p = 1: every content token, still no special. */
  p.mlm_p = 1.0f;
  assert_int_equal(sr_cpu(&t, &p, tab), BFD_OK);
  for (int b = 0; b < B; b++) {
    int32_t len = t.out.lengths[b];
    for (int i = 0; i < 402; i++) assert_int_equal(t.out.labels[b * 402 + i] != -100, i > 0 && i < len - 1);
  }
  sr_free(&s);
  sr_free(&t);
  for (int b = 0; b < B; b++) free(recs[b]);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_dna_rate_no_specials(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("dna", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.mlm_p = 0.15f;
  p.max_len = 500;
  char *rec = random_of("ACGT", 500, 5);
  const char *recs[] = {rec};
  sr s;
  sr_init(&s, recs, 1, 200, 500);
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  long picked = 0;
  for (long i = 0; i < 200 * 500; i++) {
    if (s.out.labels[i] == -100) continue;
    picked++;
    assert_true(s.out.ids[i] == 4 || (s.out.ids[i] >= 5 && s.out.ids[i] <= 8));
  }
  assert_binomial(picked, 200 * 500, 0.15, "picked");
  sr_free(&s);
  free(rec);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_dnabert_span_masking(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("dnabert", 6, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.mlm_p = 0.025f;
  p.mlm_span = 1;
  p.max_len = 200;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_OK);
  char *rec = random_of("ACGT", 203, 17);
  const char *recs[] = {rec};
  enum { B = 200 };
  sr s;
  sr_init(&s, recs, 1, B, 200);
  s.out.onehot = NULL;
  s.in.seed = 3;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  /* DNABERT (run_pretrain.py): centres drawn with probability p among the
   * content, each also masks offsets -2, -1, 1, 2, 3 (MASK_LIST["6"]), kept
   * inside the content. 198 content tokens: [1, 199). */
  static const int offs[] = {0, -2, -1, 1, 2, 3};
  long masked = 0, content = 0;
  for (int b = 0; b < B; b++) {
    assert_int_equal(s.out.lengths[b], 200);
    bfd_rng_key ks = bfd_seq_key(3, 0, (uint64_t)b, BFD_RNG_SPAN);
    uint8_t want[200] = {0};
    for (int c = 1; c < 199; c++) {
      if (!(bfd_u01(bfd_rng4(ks, (uint32_t)c).v[0]) < 0.025f)) continue;
      for (int o = 0; o < 6; o++)
        if (c + offs[o] >= 1 && c + offs[o] < 199) want[c + offs[o]] = 1;
    }
    for (int i = 0; i < 200; i++) {
      int got = s.out.labels[b * 200 + i] != -100;
      if (got != want[i]) fail_msg("sample %d position %d: picked %d, DNABERT's spans say %d", b, i, got, want[i]);
      masked += got;
      content += i >= 1 && i < 199;
    }
  }
  /* An inner position is masked unless none of 6 centres was drawn. */
  double q = 1 - pow(1 - 0.025, 6);
  assert_true(fabs((double)masked / (double)content - q) < 0.02);
  sr_free(&s);
  free(rec);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

/* Every position of character rows with token MLM against the ops functions
 * one position at a time (bfd_seq_fixed_id, bfd_seq_mlm_picked,
 * bfd_seq_mlm_replace), with MLM and without: with and without specials, both strands, contents
 * that end anywhere in a 16-position block, rows cut at max_len, and output
 * rows on 64-byte boundaries (streaming stores) or off them. */
static void check_rows_against_ops(const char *preset, const char *alphabet, int32_t max_len, size_t misalign,
                                   int mlm) {
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset(preset, 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.mlm_p = mlm ? 0.3f : 0.0f;
  p.rc_p = v.alphabet == BFDK_SEQ_DNA ? 0.5f : 0.0f; /* reverse complement is for nucleotides */
  p.max_len = max_len;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_OK);
  enum { B = 120 };
  char *recs[B];
  for (int b = 0; b < B; b++) {
    size_t n = b < 100 ? (size_t)b : (size_t)max_len + 37u * (size_t)b;
    recs[b] = random_of(alphabet, n, (uint32_t)b + 7);
  }
  sr s;
  sr_init(&s, (const char *const *)recs, B, B, max_len);
  int64_t *ids_mem = s.out.ids, *lab_mem = s.out.labels;
  size_t cells = (size_t)B * (size_t)s.cap + 8;
  int64_t *ids = aligned_alloc(64, cells * sizeof(int64_t)), *lab = aligned_alloc(64, cells * sizeof(int64_t));
  s.out.ids = (int64_t *)((char *)ids + misalign);
  s.out.labels = mlm ? (int64_t *)((char *)lab + misalign) : NULL;
  s.out.onehot = NULL;
  s.in.seed = 1234;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  const int64_t lo = p.begin_id >= 0, w = s.width;
  long picked = 0;
  for (int b = 0; b < B; b++) {
    const uint8_t *src = s.data + s.offsets[b];
    const int64_t n = (int64_t)(s.offsets[b + 1] - s.offsets[b]);
    const int32_t rc = s.out.rc[b];
    const bfd_rng_key k = bfd_seq_key(s.in.seed, 0, (uint64_t)b, BFD_RNG_MLM);
    const int64_t hi = lo + (n < max_len - lo - (p.end_id >= 0) ? n : max_len - lo - (p.end_id >= 0));
    for (int64_t pos = 0; pos < w; pos++) {
      int64_t want, want_lab = BFD_SEQ_IGNORE_LABEL;
      if (pos < lo)
        want = p.begin_id;
      else if (pos < hi)
        want = bfd_seq_fixed_id(&p, tab, src, n, rc, pos - lo);
      else if (pos == hi && p.end_id >= 0)
        want = p.end_id;
      else
        want = p.pad_id;
      if (mlm && bfd_seq_mlm_picked(&p, k, k, pos, lo, hi)) {
        want_lab = want;
        want = bfd_seq_mlm_replace(&p, tab, k, pos, (int32_t)want);
        picked++;
      }
      int64_t got_lab = mlm ? s.out.labels[b * w + pos] : BFD_SEQ_IGNORE_LABEL;
      if (s.out.ids[b * w + pos] != want || got_lab != want_lab)
        fail_msg("%s row %d (%lld bytes, rc %d) position %lld: id %lld label %lld, ops give %lld and %lld", preset, b,
                 (long long)n, rc, (long long)pos, (long long)s.out.ids[b * w + pos],
                 (long long)got_lab, (long long)want, (long long)want_lab);
    }
  }
  assert_true(mlm ? picked > 1000 : picked == 0);
  free(ids);
  free(lab);
  s.out.ids = ids_mem;
  s.out.labels = lab_mem;
  sr_free(&s);
  for (int b = 0; b < B; b++) free(recs[b]);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_char_rows_match_ops(void **state) {
  (void)state;
  static const struct {
    const char *preset, *alphabet;
    int32_t max_len;
    size_t misalign;
  } cases[] = {
      {"dna", "ACGTNacgtRY", 1000, 0},
      {"dna", "ACGTN", 203, 8},
      {"hyenadna", "ACGTNacgtn", 300, 0},
      {"hyenadna", "ACGTN", 77, 40},
      {"esm2", "LAGVSERTIDPKQNFYMHWCXBUZO", 256, 0},
      {"esm2", "LAGVSERTIDPKQNFYMHWC", 130, 24},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    for (int mlm = 1; mlm >= 0; mlm--)
      check_rows_against_ops(cases[i].preset, cases[i].alphabet, cases[i].max_len, cases[i].misalign, mlm);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rate_and_specials),
      cmocka_unit_test(test_dna_rate_no_specials),
      cmocka_unit_test(test_dnabert_span_masking),
      cmocka_unit_test(test_char_rows_match_ops),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Plan: the Feistel epoch permutation (bijection, inverse, keys, statistics,
 * limits) and the weighted dataset mix. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan/mix.h"
#include "plan/perm.h"

static void check_bijection(uint64_t n, uint64_t seed, uint32_t epoch) {
  bfdi_perm p;
  assert_int_equal(bfdi_perm_init(&p, n, seed, epoch), BFD_OK);
  uint8_t *seen = calloc(n, 1);
  assert_non_null(seen);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t s = bfdi_perm_at(&p, i);
    assert_true(s < n);
    assert_int_equal(seen[s], 0);
    seen[s] = 1;
    assert_int_equal(bfdi_perm_index(&p, s), i);
  }
  free(seen);
}

static void test_bijection_small(void **state) {
  (void)state;
  static const uint64_t ns[] = {1, 2, 3, 4, 5, 7, 15, 16, 17, 100, 1000, 4095, 4097, 65537};
  for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
    for (uint64_t seed = 0; seed < 3; seed++) check_bijection(ns[k], seed * 0x9E3779B97F4A7C15u, (uint32_t)seed);
}

static void test_huge_inverse(void **state) {
  (void)state;
  const uint64_t n = UINT64_C(10000000000);
  bfdi_perm p;
  assert_int_equal(bfdi_perm_init(&p, n, 7, 3), BFD_OK);
  uint64_t x = 12345, distinct_far = 0;
  for (int t = 0; t < 4000; t++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    uint64_t i = (x >> 11) % n;
    uint64_t s = bfdi_perm_at(&p, i);
    assert_true(s < n);
    assert_int_equal(bfdi_perm_index(&p, s), i);
    assert_int_equal(bfdi_perm_at(&p, bfdi_perm_index(&p, i)), i);
    if (s > i + n / 100 || i > s + n / 100) distinct_far++;
  }
  /* A shuffle moves almost every position far away. */
  assert_true(distinct_far > 3800);
  assert_int_equal(bfdi_perm_at(&p, n), UINT64_MAX);
  assert_int_equal(bfdi_perm_index(&p, n), UINT64_MAX);
  /* The largest domain works too. */
  assert_int_equal(bfdi_perm_init(&p, BFDI_PERM_MAX_N, 1, 0), BFD_OK);
  uint64_t s = bfdi_perm_at(&p, BFDI_PERM_MAX_N - 1);
  assert_true(s < BFDI_PERM_MAX_N);
  assert_int_equal(bfdi_perm_index(&p, s), BFDI_PERM_MAX_N - 1);
}

static size_t same_positions(const bfdi_perm *a, const bfdi_perm *b) {
  size_t same = 0;
  for (uint64_t i = 0; i < a->n; i++) same += bfdi_perm_at(a, i) == bfdi_perm_at(b, i);
  return same;
}

static void test_keys_change_the_order(void **state) {
  (void)state;
  bfdi_perm base, other;
  assert_int_equal(bfdi_perm_init(&base, 1000, 42, 0), BFD_OK);
  /* Two independent orders agree at about one position in 1000. */
  assert_int_equal(bfdi_perm_init(&other, 1000, 43, 0), BFD_OK);
  assert_true(same_positions(&base, &other) < 10);
  assert_int_equal(bfdi_perm_init(&other, 1000, 42, 1), BFD_OK);
  assert_true(same_positions(&base, &other) < 10);
  assert_int_equal(bfdi_perm_init_stream(&other, 1000, 42, 0, 1), BFD_OK);
  assert_true(same_positions(&base, &other) < 10);
  assert_int_equal(bfdi_perm_init(&other, 1000, 42, 0), BFD_OK);
  assert_int_equal(same_positions(&base, &other), 1000);
  assert_true(bfdi_perm_subseed(42, 1) != bfdi_perm_subseed(42, 2));
  assert_true(bfdi_perm_subseed(42, 1) != bfdi_perm_subseed(43, 1));
}

/* Changing the order silently would resume saved jobs onto other samples:
 * these values pin it. */
static void test_order_is_pinned(void **state) {
  (void)state;
  bfdi_perm p;
  assert_int_equal(bfdi_perm_init(&p, 1000, 42, 0), BFD_OK);
  uint64_t got[6];
  for (int i = 0; i < 6; i++) got[i] = bfdi_perm_at(&p, (uint64_t)i);
  static const uint64_t want[6] = {288, 885, 198, 805, 935, 370};
  for (int i = 0; i < 6; i++) assert_int_equal(got[i], want[i]);
}

static void test_statistics(void **state) {
  (void)state;
  const uint64_t n = 1000;
  double disp_sum = 0;
  for (uint64_t seed = 0; seed < 32; seed++) {
    bfdi_perm p;
    assert_int_equal(bfdi_perm_init(&p, n, seed, 0), BFD_OK);
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, disp = 0;
    for (uint64_t i = 0; i < n; i++) {
      double x = (double)i, y = (double)bfdi_perm_at(&p, i);
      sx += x, sy += y, sxx += x * x, syy += y * y, sxy += x * y;
      disp += fabs(y - x);
    }
    double cov = sxy / n - sx / n * sy / n, r = cov / sqrt((sxx / n - sx / n * sx / n) * (syy / n - sy / n * sy / n));
    /* Rank correlation of a random order: sd 1/sqrt(n) ~ 0.032. */
    assert_true(fabs(r) < 0.13);
    disp_sum += disp / n;
  }
  /* Mean |p(i) - i| of a random order is (n^2 - 1) / 3n ~ 333.3. */
  double mean = disp_sum / 32;
  assert_true(mean > 323 && mean < 343);

  /* Where position 0 and position 9 land, over many seeds, for n = 10 (the
   * domain is 16, so cycle walking matters): close to uniform. */
  enum { N = 10, SEEDS = 20000 };
  unsigned hits[2][N] = {{0}};
  for (uint64_t seed = 0; seed < SEEDS; seed++) {
    bfdi_perm p;
    assert_int_equal(bfdi_perm_init(&p, N, seed, 5), BFD_OK);
    hits[0][bfdi_perm_at(&p, 0)]++;
    hits[1][bfdi_perm_at(&p, N - 1)]++;
  }
  for (int w = 0; w < 2; w++) {
    double chi2 = 0, want = (double)SEEDS / N;
    for (int j = 0; j < N; j++) chi2 += (hits[w][j] - want) * (hits[w][j] - want) / want;
    /* 9 degrees of freedom: P(chi2 > 33) < 1e-4. */
    assert_true(chi2 < 33);
  }
}

static void test_identity_and_limits(void **state) {
  (void)state;
  bfdi_perm p;
  assert_int_equal(bfdi_perm_identity(&p, 77), BFD_OK);
  for (uint64_t i = 0; i < 77; i++) {
    assert_int_equal(bfdi_perm_at(&p, i), i);
    assert_int_equal(bfdi_perm_index(&p, i), i);
  }
  assert_int_equal(bfdi_perm_at(&p, 77), UINT64_MAX);
  assert_int_equal(bfdi_perm_init(&p, 0, 1, 0), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "0 samples"));
  assert_int_equal(bfdi_perm_identity(&p, 0), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_perm_init(&p, BFDI_PERM_MAX_N + 1, 1, 0), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "2^48"));
  assert_int_equal(bfdi_perm_init(&p, 10, 1, 65536), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "epoch 65536"));
  assert_int_equal(bfdi_perm_init_stream(&p, 10, 1, 0, BFDI_PERM_MAX_STREAM + 1), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_perm_init(&p, 10, 1, 65535), BFD_OK);
}

/* Realized proportions stay within a few samples of the weights at every
 * prefix, so they converge at rate 1/P; each dataset's draws are numbered
 * 0, 1, 2, ... */
static void check_mix(const double *w, size_t n, uint64_t len) {
  bfdi_mix m;
  assert_int_equal(bfdi_mix_init(&m, w, n), BFD_OK);
  double total = 0;
  for (size_t d = 0; d < n; d++) total += w[d];
  uint64_t *count = calloc(n, sizeof *count);
  assert_non_null(count);
  double worst = 0;
  for (uint64_t pos = 0; pos < len; pos++) {
    uint32_t d;
    uint64_t k;
    bfdi_mix_at(&m, pos, &d, &k);
    assert_true(d < n);
    assert_int_equal(k, count[d]);
    count[d]++;
    for (size_t e = 0; e < n; e++) {
      double dev = fabs((double)count[e] - (double)(pos + 1) * w[e] / total);
      /* Quantization to 1/65536 adds at most pos / 65536. */
      dev -= (double)(pos + 1) / BFDI_MIX_QUANTUM;
      if (dev > worst) worst = dev;
    }
  }
  assert_true(worst <= (double)n);
  free(count);
  bfdi_mix_free(&m);
}

static void test_mix_proportions(void **state) {
  (void)state;
  const double a[] = {0.7, 0.2, 0.1};
  check_mix(a, 3, 200000);
  const double b[] = {1, 1};
  check_mix(b, 2, 1000);
  const double c[] = {5, 1, 1, 1, 0.5, 3, 2};
  check_mix(c, 7, 100000);
  const double d[] = {1};
  check_mix(d, 1, 100);

  bfdi_mix m;
  assert_int_equal(bfdi_mix_init(&m, b, 2), BFD_OK);
  assert_int_equal(m.period, 2);
  bfdi_mix_free(&m);
  const double three_one[] = {3, 1};
  assert_int_equal(bfdi_mix_init(&m, three_one, 2), BFD_OK);
  assert_int_equal(m.period, 4);
  uint32_t ds;
  uint64_t k;
  bfdi_mix_at(&m, 4 * UINT64_C(1000000000) + 3, &ds, &k);
  assert_int_equal(ds, 0);
  assert_int_equal(k, 3 * UINT64_C(1000000000) + 2);
  bfdi_mix_free(&m);
}

static void test_mix_bad_weights(void **state) {
  (void)state;
  bfdi_mix m;
  const double zero[] = {1, 0};
  assert_int_equal(bfdi_mix_init(&m, zero, 2), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "dataset 1"));
  const double neg[] = {-1, 2};
  assert_int_equal(bfdi_mix_init(&m, neg, 2), BFD_ERR_INVALID_ARG);
  const double nan_w[] = {NAN, 2};
  assert_int_equal(bfdi_mix_init(&m, nan_w, 2), BFD_ERR_INVALID_ARG);
  const double inf_w[] = {INFINITY, 2};
  assert_int_equal(bfdi_mix_init(&m, inf_w, 2), BFD_ERR_INVALID_ARG);
  const double tiny[] = {1, 1e-9};
  assert_int_equal(bfdi_mix_init(&m, tiny, 2), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "below 1/65536"));
  const double huge[] = {1e308, 1e308};
  assert_int_equal(bfdi_mix_init(&m, huge, 2), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_mix_init(&m, NULL, 0), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_mix_init(&m, zero, BFDI_MIX_MAX_DATASETS + 1), BFD_ERR_INVALID_ARG);
}

/* The batched walk (sixteen AVX-512 lanes where the CPU has them) gives
 * position for position what bfdi_perm_at gives, at every domain size,
 * start, length, stream and epoch, ranges past the end included. */
static void test_range_matches_single(void **state) {
  (void)state;
  static const uint64_t ns[] = {1, 2, 3, 17, 64, 1000, 4097, 5017, 65537, UINT64_C(10000000000)};
  static const size_t lens[] = {1, 2, 15, 16, 17, 32, 100, 257};
  uint64_t out[300];
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
    for (uint32_t epoch = 0; epoch < 3; epoch++) {
      bfdi_perm p;
      assert_int_equal(bfdi_perm_init_stream(&p, ns[a], 0x9E3779B97F4A7C15u * (epoch + 1), epoch, epoch * 5), BFD_OK);
      for (size_t b = 0; b < sizeof lens / sizeof *lens; b++) {
        const uint64_t starts[] = {0, ns[a] / 3, ns[a] > lens[b] ? ns[a] - lens[b] : 0, ns[a] - 1};
        for (size_t c = 0; c < 4; c++) {
          for (size_t k = 0; k < lens[b]; k++) out[k] = 0xABCDEFu;
          bfdi_perm_at_range(&p, starts[c], lens[b], out);
          for (size_t k = 0; k < lens[b]; k++) assert_int_equal(out[k], bfdi_perm_at(&p, starts[c] + k));
        }
      }
    }
  /* a whole small domain through one range: a bijection */
  bfdi_perm p;
  assert_int_equal(bfdi_perm_init(&p, 257, 3, 1), BFD_OK);
  uint8_t seen[257] = {0};
  bfdi_perm_at_range(&p, 0, 257, out);
  for (size_t k = 0; k < 257; k++) {
    assert_true(out[k] < 257);
    assert_int_equal(seen[out[k]], 0);
    seen[out[k]] = 1;
  }
}

/* Runs of positions stride apart (one rank's next batches) walk to the same
 * samples as one position at a time. */
static void test_runs_match_single(void **state) {
  (void)state;
  static const uint64_t ns[] = {5, 100, 4850, 65537, UINT64_C(10000000000)};
  static const struct {
    size_t run, n;
    uint64_t stride;
  } runs[] = {{1, 7, 1}, {4, 32, 4}, {4, 32, 12}, {32, 256, 32}, {32, 256, 96}, {7, 50, 700}, {256, 256, 256}};
  uint64_t out[300];
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
    bfdi_perm p;
    assert_int_equal(bfdi_perm_init_stream(&p, ns[a], 77 + a, (uint32_t)a, 3), BFD_OK);
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
      const uint64_t starts[] = {0, ns[a] / 2, ns[a] - 1};
      for (size_t c = 0; c < 3; c++) {
        for (size_t k = 0; k < runs[r].n; k++) out[k] = 0xABCDEFu;
        bfdi_perm_at_runs(&p, starts[c], runs[r].run, runs[r].stride, runs[r].n, out);
        for (size_t k = 0; k < runs[r].n; k++) {
          uint64_t i = starts[c] + k / runs[r].run * runs[r].stride + k % runs[r].run;
          assert_int_equal(out[k], bfdi_perm_at(&p, i)); /* past the end too: UINT64_MAX */
        }
      }
    }
  }
}

/* Leaves garbage where the next call's locals will lie. */
static __attribute__((noinline)) void dirty_stack(void) {
  volatile uint8_t junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = 0xA5;
}

/* Round tables give what the Philox draws give: position for position, in
 * the single walk, the batched walks and the inverse, at every domain size
 * that can be tabulated (the largest, 4^12, sampled); one size larger has no
 * tables. */
static void test_tables_match_draws(void **state) {
  (void)state;
  static const uint64_t ns[] = {1, 2, 3, 5, 17, 100, 4096, 4097, 4850, 65537, UINT64_C(1) << 24};
  uint64_t out[256];
  assert_int_equal(bfdi_perm_table_len((UINT64_C(1) << 24) + 1), 0);
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
    bfdi_perm p, q;
    assert_int_equal(bfdi_perm_init_stream(&p, ns[a], 1234 + a, (uint32_t)a % 3, a), BFD_OK);
    const size_t len = bfdi_perm_table_len(ns[a]);
    assert_true(len >= 16);
    uint32_t *table = malloc(len * sizeof *table);
    assert_non_null(table);
    q = p;
    bfdi_perm_tabulate(&q, table);
    assert_ptr_equal(q.rounds, table);
    const uint64_t step = ns[a] > 5000 ? ns[a] / 5000 : 1;
    for (uint64_t i = 0; i < ns[a]; i += step) {
      const uint64_t x = bfdi_perm_at(&p, i);
      assert_int_equal(bfdi_perm_at(&q, i), x);
      assert_int_equal(bfdi_perm_index(&q, x), i);
    }
    for (uint64_t i0 = 0; i0 + 64 <= ns[a]; i0 += ns[a] / 3 + 1) {
      bfdi_perm_at_runs(&q, i0, 16, ns[a] >= 256 ? 48 : 16, ns[a] >= 256 ? 64 : 16, out);
      for (size_t k = 0; k < (ns[a] >= 256 ? 64u : 16u); k++)
        assert_int_equal(out[k], bfdi_perm_at(&p, i0 + k / 16 * (ns[a] >= 256 ? 48 : 16) + k % 16));
      bfdi_perm_at_range(&q, i0, 64, out);
      for (size_t k = 0; k < 64; k++) assert_int_equal(out[k], bfdi_perm_at(&p, i0 + k));
    }
    /* fewer positions than lanes, over a dirtied stack: the idle lanes'
     * gathers stay in the table */
    for (size_t m = 2; m < 16 && m <= ns[a]; m++) {
      for (size_t k = 0; k < 16; k++) out[k] = 0xABCDEFu;
      dirty_stack();
      bfdi_perm_at_range(&q, ns[a] - m, m, out);
      for (size_t k = 0; k < m; k++) assert_int_equal(out[k], bfdi_perm_at(&p, ns[a] - m + k));
      assert_int_equal(out[m], 0xABCDEFu);
    }
    free(table);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bijection_small),   cmocka_unit_test(test_huge_inverse),
      cmocka_unit_test(test_range_matches_single), cmocka_unit_test(test_runs_match_single),
      cmocka_unit_test(test_tables_match_draws),
      cmocka_unit_test(test_keys_change_the_order), cmocka_unit_test(test_order_is_pinned),
      cmocka_unit_test(test_statistics),        cmocka_unit_test(test_identity_and_limits),
      cmocka_unit_test(test_mix_proportions),   cmocka_unit_test(test_mix_bad_weights),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

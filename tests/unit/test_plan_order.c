/* Plan: one dataset's epoch order (identity, global, shard windows):
 * bijection, locality of windows, epochs, hostile shard tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plan/order.h"

static const uint64_t COUNTS[] = {5, 0, 17, 1, 30, 8, 8, 2, 0, 13, 40, 3};
#define N_SHARDS (sizeof COUNTS / sizeof *COUNTS)

static uint64_t shard_of(uint64_t sample) {
  for (size_t s = 0; s < N_SHARDS; s++) {
    if (sample < COUNTS[s]) return s;
    sample -= COUNTS[s];
  }
  return UINT64_MAX;
}

static void check_bijection(const bfdi_order *o, uint64_t n) {
  uint8_t *seen = calloc(n, 1);
  assert_non_null(seen);
  for (uint64_t i = 0; i < n; i++) {
    uint64_t s = bfdi_order_at(o, i);
    assert_true(s < n);
    assert_int_equal(seen[s], 0);
    seen[s] = 1;
  }
  free(seen);
  assert_int_equal(bfdi_order_at(o, n), UINT64_MAX);
}

static void test_every_kind_is_a_bijection(void **state) {
  (void)state;
  uint64_t n = 0;
  for (size_t s = 0; s < N_SHARDS; s++) n += COUNTS[s];
  static const uint32_t windows[] = {0, 1, 2, 3, 5, 12, 100};
  for (size_t w = 0; w < sizeof windows / sizeof *windows; w++)
    for (uint32_t epoch = 0; epoch < 4; epoch++) {
      bfdi_order o;
      assert_int_equal(bfdi_order_init(&o, COUNTS, N_SHARDS, windows[w], 1, 99), BFD_OK);
      assert_int_equal(o.n, n);
      assert_int_equal(bfdi_order_epoch(&o, epoch), BFD_OK);
      check_bijection(&o, n);
      bfdi_order_free(&o);
    }
}

static void test_identity_without_shuffle(void **state) {
  (void)state;
  bfdi_order o;
  assert_int_equal(bfdi_order_init(&o, COUNTS, N_SHARDS, 4, 0, 99), BFD_OK);
  assert_int_equal(bfdi_order_epoch(&o, 3), BFD_OK);
  for (uint64_t i = 0; i < o.n; i++) assert_int_equal(bfdi_order_at(&o, i), i);
  bfdi_order_free(&o);
}

/* With window W, the epoch is a sequence of windows; within one, samples come
 * from at most W shards, and every shard is read within one window. */
static void test_windows_are_local(void **state) {
  (void)state;
  for (uint32_t w = 1; w <= 4; w++)
    for (uint32_t epoch = 0; epoch < 3; epoch++) {
      bfdi_order o;
      assert_int_equal(bfdi_order_init(&o, COUNTS, N_SHARDS, w, 1, 5), BFD_OK);
      assert_int_equal(bfdi_order_epoch(&o, epoch), BFD_OK);
      uint64_t first[N_SHARDS], last[N_SHARDS];
      for (size_t s = 0; s < N_SHARDS; s++) first[s] = UINT64_MAX, last[s] = 0;
      for (uint64_t i = 0; i < o.n; i++) {
        uint64_t s = shard_of(bfdi_order_at(&o, i));
        if (first[s] == UINT64_MAX) first[s] = i;
        last[s] = i;
      }
      /* Window boundaries in positions: the running counts at every W-th shuffled shard. */
      for (size_t k = 0; k < N_SHARDS; k += w) {
        size_t end = k + w < N_SHARDS ? k + w : N_SHARDS;
        uint64_t lo = o.cum[k], hi = o.cum[end];
        size_t touched = 0;
        for (size_t s = 0; s < N_SHARDS; s++) {
          if (first[s] == UINT64_MAX) continue;
          int inside = first[s] >= lo && first[s] < hi;
          if (inside) {
            touched++;
            assert_true(last[s] < hi);
          }
        }
        assert_true(touched <= w);
      }
      bfdi_order_free(&o);
    }
}

static void test_epochs_reorder_shards(void **state) {
  (void)state;
  bfdi_order o;
  assert_int_equal(bfdi_order_init(&o, COUNTS, N_SHARDS, 2, 1, 5), BFD_OK);
  uint64_t before[N_SHARDS];
  memcpy(before, o.pi, sizeof before);
  int shards_moved = 0, samples_moved = 0;
  uint64_t s0 = bfdi_order_at(&o, 0), s1 = bfdi_order_at(&o, 1);
  for (uint32_t e = 1; e < 6; e++) {
    assert_int_equal(bfdi_order_epoch(&o, e), BFD_OK);
    shards_moved += memcmp(before, o.pi, sizeof before) != 0;
    samples_moved += bfdi_order_at(&o, 0) != s0 || bfdi_order_at(&o, 1) != s1;
  }
  assert_true(shards_moved >= 4);
  assert_true(samples_moved >= 4);
  /* Back to epoch 0: the same order again. */
  assert_int_equal(bfdi_order_epoch(&o, 0), BFD_OK);
  assert_memory_equal(before, o.pi, sizeof before);
  assert_int_equal(bfdi_order_at(&o, 0), s0);
  assert_int_equal(bfdi_order_epoch(&o, 65536), BFD_ERR_INVALID_ARG);
  bfdi_order_free(&o);
}

/* 10^4 shards of 10^6: 10^10 samples in three words per shard. */
static void test_huge_dataset(void **state) {
  (void)state;
  enum { S = 10000 };
  uint64_t *counts = malloc(S * sizeof *counts);
  assert_non_null(counts);
  for (size_t s = 0; s < S; s++) counts[s] = 1000000;
  bfdi_order o;
  assert_int_equal(bfdi_order_init(&o, counts, S, 16, 1, 3), BFD_OK);
  assert_int_equal(o.n, UINT64_C(10000000000));
  uint64_t x = 1;
  for (int t = 0; t < 2000; t++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    uint64_t i = (x >> 11) % o.n;
    assert_true(bfdi_order_at(&o, i) < o.n);
  }
  /* Window 0's samples all lie in its 16 shards. */
  uint64_t shards[16];
  for (int k = 0; k < 16; k++) shards[k] = o.pi[k];
  for (uint64_t i = 0; i < 2000; i++) {
    uint64_t s = bfdi_order_at(&o, i * 7919) / 1000000;
    int found = 0;
    for (int k = 0; k < 16; k++) found |= shards[k] == s;
    assert_true(found);
  }
  bfdi_order_free(&o);
  free(counts);
}

/* A global order small enough for round tables walks what its Feistel
 * permutation without tables walks, in every epoch it is switched to (the
 * tables are redrawn per epoch), back and forth; one too large keeps none. */
static void test_global_order_tables(void **state) {
  (void)state;
  static const uint64_t counts[] = {3000, 1850};
  bfdi_order o;
  assert_int_equal(bfdi_order_init(&o, counts, 2, 0, 1, 7), BFD_OK);
  assert_non_null(o.rounds);
  static const uint32_t epochs[] = {0, 2, 1, 0, 65535};
  for (size_t e = 0; e < sizeof epochs / sizeof *epochs; e++) {
    assert_int_equal(bfdi_order_epoch(&o, epochs[e]), BFD_OK);
    bfdi_perm plain;
    assert_int_equal(bfdi_perm_init(&plain, o.n, o.seed_global, epochs[e]), BFD_OK);
    for (uint64_t i = 0; i < o.n; i++) assert_int_equal(bfdi_order_at(&o, i), bfdi_perm_at(&plain, i));
  }
  bfdi_order_free(&o);
  static const uint64_t big[] = {UINT64_C(1) << 24, 1};
  assert_int_equal(bfdi_order_init(&o, big, 2, 0, 1, 7), BFD_OK);
  assert_null(o.rounds);
  bfdi_order_free(&o);
}

static void test_hostile_tables(void **state) {
  (void)state;
  bfdi_order o;
  assert_int_equal(bfdi_order_init(&o, COUNTS, 0, 0, 1, 1), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_order_init(&o, NULL, 3, 0, 1, 1), BFD_ERR_INVALID_ARG);
  static const uint64_t empty[] = {0, 0, 0};
  assert_int_equal(bfdi_order_init(&o, empty, 3, 1, 1, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "no records"));
  static const uint64_t wrap[] = {UINT64_MAX, 2};
  assert_int_equal(bfdi_order_init(&o, wrap, 2, 1, 1, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "shard 0"));
  static const uint64_t big[] = {UINT64_C(1) << 47, UINT64_C(1) << 47, 1};
  assert_int_equal(bfdi_order_init(&o, big, 3, 1, 1, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "shard 2"));
  assert_int_equal(bfdi_order_init(&o, big, 2, 1, 1, 1), BFD_OK);
  bfdi_order_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_kind_is_a_bijection), cmocka_unit_test(test_identity_without_shuffle),
      cmocka_unit_test(test_windows_are_local),         cmocka_unit_test(test_epochs_reorder_shards),
      cmocka_unit_test(test_huge_dataset),              cmocka_unit_test(test_hostile_tables),
      cmocka_unit_test(test_global_order_tables),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

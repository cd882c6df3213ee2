/* Plan: the sampler. Batching (fixed, length-bucketed, token budget), drop
 * and pad, rank slices, mixing datasets, steps up front, exact resume at 1.3
 * epochs of a 2.5-epoch run, elastic resume across world sizes, damaged or
 * foreign states, hostile configs, 10^10 samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/checksum.h"
#include "plan/sampler.h"

static const uint64_t SHARDS[] = {37, 0, 120, 55, 9, 200};
#define N_SHARDS (sizeof SHARDS / sizeof *SHARDS)
#define N_SAMPLES 421

static uint32_t length_of(void *ctx, uint32_t dataset, uint64_t sample) {
  (void)ctx;
  uint64_t h = (sample + 1) * 0x9E3779B97F4A7C15u ^ (uint64_t)dataset << 56;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9u;
  return (uint32_t)(1 + (h >> 40) % 300);
}

static bfdi_sampler_dataset one_ds = {SHARDS, N_SHARDS, 1};

static bfdi_sampler_config base_config(bfdi_batching mode, int drop, uint32_t world) {
  bfdi_sampler_config c = {0};
  c.datasets = &one_ds;
  c.n_datasets = 1;
  c.seed = 2024;
  c.shuffle = 1;
  c.window_shards = 2;
  c.batching = mode;
  c.batch = mode == BFDI_BATCH_TOKENS ? 0 : 4;
  c.drop_last = drop;
  c.bucket_batches = 3;
  c.max_tokens = 1200;
  c.token_window = 50;
  c.length = length_of;
  c.world_size = world;
  return c;
}

static bfdi_sampler *make(const bfdi_sampler_config *c) {
  bfdi_sampler *s;
  assert_int_equal(bfdi_sampler_create(c, &s), BFD_OK);
  return s;
}

static uint32_t get_batch(bfdi_sampler *s, bfdi_cursor c, uint32_t rank, bfdi_sample_ref *out) {
  uint32_t n;
  assert_int_equal(bfdi_sampler_batch(s, c, rank, out, bfdi_sampler_max_batch(s), &n), BFD_OK);
  assert_true(n >= 1 && n <= bfdi_sampler_max_batch(s));
  return n;
}

static void test_fixed_drop_and_pad(void **state) {
  (void)state;
  static const uint64_t one[] = {103};
  bfdi_sampler_dataset ds = {one, 1, 1};
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.datasets = &ds;
  c.shuffle = 0;
  c.batch = 10;
  bfdi_sample_ref out[10];
  uint64_t steps;

  bfdi_sampler *s = make(&c);
  bfdi_cursor at = {0, 0};
  assert_int_equal(bfdi_sampler_steps(s, at, &steps), BFD_OK);
  assert_int_equal(steps, 10);
  for (uint64_t k = 0; k < steps; k++) {
    assert_int_equal(get_batch(s, at, 0, out), 10);
    for (int t = 0; t < 10; t++) {
      assert_int_equal(out[t].sample, k * 10 + (uint64_t)t);
      assert_int_equal(out[t].flags, 0);
    }
    assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK);
  }
  assert_int_equal(at.epoch, 1);
  assert_int_equal(at.pos, 0);
  bfdi_sampler_destroy(s);

  /* Pad: the last batch is positions 100..102, then the epoch order's first 7, flagged. */
  c.drop_last = 0;
  s = make(&c);
  at = (bfdi_cursor){0, 10};
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){0, 0}, &steps), BFD_OK);
  assert_int_equal(steps, 11);
  assert_int_equal(get_batch(s, at, 0, out), 10);
  for (int t = 0; t < 10; t++) {
    assert_int_equal(out[t].sample, t < 3 ? 100 + (uint64_t)t : (uint64_t)t - 3);
    assert_int_equal(out[t].flags, t < 3 ? 0 : BFDI_SAMPLE_PAD);
  }
  assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK);
  assert_int_equal(at.epoch, 1);
  /* Past the end is an error, not a batch. */
  uint32_t n;
  assert_int_equal(bfdi_sampler_batch(s, (bfdi_cursor){0, 11}, 0, out, 10, &n), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "past the last step"));
  bfdi_sampler_destroy(s);

  /* Shuffled: padding repeats the samples of the epoch's first positions. */
  c.shuffle = 1;
  s = make(&c);
  bfdi_sample_ref first[10];
  get_batch(s, (bfdi_cursor){2, 0}, 0, first);
  get_batch(s, (bfdi_cursor){2, 10}, 0, out);
  for (int t = 3; t < 10; t++) assert_int_equal(out[t].sample, first[t - 3].sample);
  bfdi_sampler_destroy(s);
}

/* Rank r takes the r-th contiguous slice of each step's global batch; a last
 * step short of batches gets whole copies of the epoch's first batches. */
static void test_rank_slices(void **state) {
  (void)state;
  static const uint64_t one[] = {50};
  bfdi_sampler_dataset ds = {one, 1, 1};
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 0, 3);
  c.datasets = &ds;
  c.shuffle = 0;
  bfdi_sampler *s = make(&c);
  bfdi_sample_ref out[4];
  uint64_t steps;
  bfdi_cursor at = {0, 0};
  assert_int_equal(bfdi_sampler_steps(s, at, &steps), BFD_OK);
  assert_int_equal(steps, 5); /* 13 batches of 4 over 3 ranks */
  for (uint64_t k = 0; k < 4; k++, assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK))
    for (uint32_t r = 0; r < 3; r++) {
      get_batch(s, at, r, out);
      for (int t = 0; t < 4; t++) assert_int_equal(out[t].sample, 12 * k + 4 * r + (uint64_t)t);
    }
  assert_int_equal(at.pos, 12);
  get_batch(s, at, 0, out);
  static const uint64_t last0[] = {48, 49, 0, 1};
  for (int t = 0; t < 4; t++) {
    assert_int_equal(out[t].sample, last0[t]);
    assert_int_equal(out[t].flags, t < 2 ? 0 : BFDI_SAMPLE_PAD);
  }
  for (uint32_t r = 1; r < 3; r++) {
    get_batch(s, at, r, out);
    for (int t = 0; t < 4; t++) {
      assert_int_equal(out[t].sample, 4 * (r - 1) + (uint64_t)t);
      assert_int_equal(out[t].flags, BFDI_SAMPLE_PAD);
    }
  }
  uint32_t n;
  assert_int_equal(bfdi_sampler_batch(s, at, 3, out, 4, &n), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_sampler_batch(s, at, 0, out, 3, &n), BFD_ERR_INVALID_ARG);
  bfdi_sampler_destroy(s);
}

/* Fixed batches of a globally shuffled dataset are walked several at a time
 * and kept: asked for in turn, out of turn, by every rank, with and without
 * padding, each batch is the one a fresh sampler gives for it alone. */
static void test_fixed_walk_cache(void **state) {
  (void)state;
  static const uint32_t worlds[] = {1, 3, 4}, batches[] = {4, 7, 100, 300};
  bfdi_sample_ref got[300], want[300];
  for (size_t wi = 0; wi < sizeof worlds / sizeof *worlds; wi++)
    for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++)
      for (int drop = 0; drop < 2; drop++) {
        bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, drop, worlds[wi]);
        c.window_shards = 0;
        c.batch = batches[bi];
        if (drop && (uint64_t)c.batch * c.world_size > N_SAMPLES) continue;
        bfdi_sampler *s = make(&c);
        uint64_t x = 11;
        for (uint32_t r = 0; r < c.world_size; r++)
          for (int q = 0; q < 60; q++) {
            /* in turn through two epochs, then anywhere */
            uint64_t steps;
            bfdi_cursor at = {(uint32_t)(q / 30), 0};
            assert_int_equal(bfdi_sampler_steps(s, at, &steps), BFD_OK);
            uint64_t step = q < 30 ? (uint64_t)q % steps : ((x = x * 6364136223846793005u + 1) >> 33) % steps;
            at.pos = step * c.world_size;
            uint32_t n = get_batch(s, at, r, got);
            bfdi_sampler *fresh = make(&c);
            assert_int_equal(get_batch(fresh, at, r, want), n);
            bfdi_sampler_destroy(fresh);
            assert_memory_equal(got, want, n * sizeof *got);
          }
        bfdi_sampler_destroy(s);
      }
}

static uint64_t padded_tokens(const bfdi_sample_ref *b, uint32_t n) {
  uint64_t mx = 0;
  for (uint32_t t = 0; t < n; t++) {
    uint64_t l = length_of(NULL, b[t].dataset, b[t].sample);
    if (l > mx) mx = l;
  }
  return mx * n;
}

/* Over one epoch of n samples: every sample exactly once, and the padded tokens. */
static uint64_t one_epoch(bfdi_sampler *s, uint32_t epoch, uint64_t n_samples, uint64_t *n_batches) {
  uint8_t seen[N_SAMPLES] = {0};
  assert_true(n_samples <= N_SAMPLES);
  bfdi_sample_ref out[64];
  bfdi_cursor at = {epoch, 0};
  uint64_t padded = 0, steps;
  assert_int_equal(bfdi_sampler_steps(s, at, &steps), BFD_OK);
  *n_batches = 0;
  while (at.epoch == epoch) {
    uint32_t n = get_batch(s, at, 0, out);
    for (uint32_t t = 0; t < n; t++) {
      assert_int_equal(out[t].flags, 0);
      assert_int_equal(out[t].pass, epoch);
      assert_true(out[t].sample < n_samples);
      assert_int_equal(seen[out[t].sample], 0);
      seen[out[t].sample] = 1;
    }
    padded += padded_tokens(out, n);
    ++*n_batches;
    assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK);
  }
  assert_int_equal(*n_batches, steps);
  for (uint64_t i = 0; i < n_samples; i++) assert_int_equal(seen[i], 1);
  return padded;
}

static void test_length_bucketing(void **state) {
  (void)state;
  static const uint64_t one[] = {N_SAMPLES - 1}; /* 420 = 105 batches of 4 */
  bfdi_sampler_dataset ds = {one, 1, 1};
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 0, 1);
  c.datasets = &ds;
  uint64_t real = 0, nb;
  for (uint64_t i = 0; i < N_SAMPLES - 1; i++) real += length_of(NULL, 0, i);
  bfdi_sampler *s = make(&c);
  uint64_t fixed_pad = one_epoch(s, 0, N_SAMPLES - 1, &nb);
  bfdi_sampler_destroy(s);
  c.batching = BFDI_BATCH_BUCKET;
  c.bucket_batches = 35;
  s = make(&c);
  uint64_t bucket_pad = one_epoch(s, 0, N_SAMPLES - 1, &nb);
  assert_int_equal(nb, 105);
  /* Random lengths 1..300 in batches of 4 pad to about 1.6x; sorted windows of 140 to about 1.02x. */
  assert_true(fixed_pad > real * 3 / 2);
  assert_true(bucket_pad < real * 11 / 10);
  /* The batches of a chunk come out shuffled, not shortest first. */
  bfdi_sample_ref out[4];
  uint64_t prev = 0;
  int descents = 0;
  for (uint64_t m = 0; m < 35; m++) {
    get_batch(s, (bfdi_cursor){0, m}, 0, out);
    uint64_t mx = padded_tokens(out, 4) / 4;
    descents += mx < prev;
    prev = mx;
  }
  assert_true(descents >= 5);
  bfdi_sampler_destroy(s);
}

static void test_token_budget(void **state) {
  (void)state;
  bfdi_sampler_config c = base_config(BFDI_BATCH_TOKENS, 0, 1);
  bfdi_sampler *s = make(&c);
  assert_int_equal(bfdi_sampler_max_batch(s), 50);
  for (uint32_t e = 0; e < 3; e++) {
    uint64_t nb;
    one_epoch(s, e, N_SAMPLES, &nb);
    bfdi_sample_ref out[64];
    for (uint64_t m = 0; m < nb; m++) {
      uint32_t n = get_batch(s, (bfdi_cursor){e, m}, 0, out);
      assert_true(padded_tokens(out, n) <= c.max_tokens);
    }
    /* Greedy cuts fill batches: about 421 * 150 / 1200 * 1.x of them, far from one per sample. */
    assert_true(nb > 40 && nb < 140);
  }
  bfdi_sampler_destroy(s);
  /* A cap on samples per batch. */
  c.batch = 3;
  s = make(&c);
  assert_int_equal(bfdi_sampler_max_batch(s), 3);
  bfdi_sampler_destroy(s);
  /* A sample longer than the budget is an error naming it. */
  c.batch = 0;
  c.max_tokens = 200;
  s = make(&c);
  uint64_t steps;
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){0, 0}, &steps), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "more than max_tokens 200"));
  bfdi_sampler_destroy(s);
}

static void test_mixed_datasets(void **state) {
  (void)state;
  static const uint64_t a[] = {60, 40}, b[] = {30};
  bfdi_sampler_dataset ds[2] = {{a, 2, 3}, {b, 1, 1}};
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.datasets = ds;
  c.n_datasets = 2;
  c.batch = 5;
  bfdi_sampler *s = make(&c);
  uint8_t seen0[100] = {0}, seen1[30] = {0};
  uint64_t draws[2] = {0, 0};
  bfdi_sample_ref out[5];
  bfdi_cursor at = {0, 0};
  /* Two epochs of 130: 195 draws of dataset 0 (1.95 passes), 65 of dataset 1 (2.17). */
  while (at.epoch < 2) {
    get_batch(s, at, 0, out);
    for (int t = 0; t < 5; t++) {
      uint32_t d = out[t].dataset;
      assert_true(d < 2);
      /* Each pass over a dataset is a permutation of it. */
      uint64_t n = d ? 30 : 100, pass = draws[d] / n;
      uint8_t *seen = d ? seen1 : seen0;
      assert_true(out[t].sample < n);
      assert_int_equal(out[t].pass, pass);
      assert_int_equal(seen[out[t].sample], pass);
      seen[out[t].sample]++;
      draws[d]++;
    }
    assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK);
  }
  assert_int_equal(draws[0], 195);
  assert_int_equal(draws[1], 65);
  bfdi_sampler_destroy(s);
  ds[1].weight = 0;
  assert_int_equal(bfdi_sampler_create(&c, &s), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "dataset 1"));
}

typedef struct run {
  bfdi_sample_ref *items;
  uint32_t *counts; /* per (step, rank) */
  size_t n_items, n_batches;
} run;

static void record(run *r, bfdi_sampler *s, bfdi_cursor at, uint32_t world) {
  bfdi_sample_ref out[64];
  for (uint32_t q = 0; q < world; q++) {
    uint32_t n = get_batch(s, at, q, out);
    r->items = realloc(r->items, (r->n_items + n) * sizeof *r->items);
    r->counts = realloc(r->counts, (r->n_batches + 1) * sizeof *r->counts);
    assert_non_null(r->items);
    assert_non_null(r->counts);
    memcpy(r->items + r->n_items, out, n * sizeof *out);
    r->n_items += n;
    r->counts[r->n_batches++] = n;
  }
}

static void run_free(run *r) {
  free(r->items);
  free(r->counts);
}

/* Steps of epoch `epoch`. */
static uint64_t steps_of(bfdi_sampler *s, uint32_t epoch) {
  uint64_t n;
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){epoch, 0}, &n), BFD_OK);
  return n;
}

/* 2.5 epochs straight, and the same run stopped at 1.3 epochs, saved,
 * reloaded into a fresh sampler and finished: every later batch equal. */
static void exact_resume(bfdi_sampler_config c) {
  bfdi_sampler *s = make(&c);
  uint64_t e0 = steps_of(s, 0), e1 = steps_of(s, 1), e2 = steps_of(s, 2);
  uint64_t total = e0 + e1 + e2 / 2, stop = e0 + e1 * 3 / 10;
  run whole = {0}, tail = {0};
  bfdi_cursor at = {0, 0};
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  size_t tail_from = 0;
  for (uint64_t k = 0; k < total; k++) {
    if (k == stop) {
      assert_int_equal(bfdi_sampler_save(s, at, blob), BFD_OK);
      tail_from = whole.n_items;
    }
    record(&whole, s, at, c.world_size);
    assert_int_equal(bfdi_sampler_advance(s, &at), BFD_OK);
  }
  bfdi_sampler_destroy(s);
  assert_int_equal(at.epoch, 2);

  s = make(&c);
  bfdi_cursor back;
  assert_int_equal(bfdi_sampler_load(s, blob, sizeof blob, &back), BFD_OK);
  assert_int_equal(back.epoch, 1);
  for (uint64_t k = stop; k < total; k++) {
    record(&tail, s, back, c.world_size);
    assert_int_equal(bfdi_sampler_advance(s, &back), BFD_OK);
  }
  assert_int_equal(back.epoch, at.epoch);
  assert_int_equal(back.pos, at.pos);
  assert_int_equal(tail.n_items, whole.n_items - tail_from);
  assert_memory_equal(tail.items, whole.items + tail_from, tail.n_items * sizeof *tail.items);
  assert_memory_equal(tail.counts, whole.counts + stop * c.world_size, tail.n_batches * sizeof *tail.counts);
  run_free(&whole);
  run_free(&tail);
  bfdi_sampler_destroy(s);
}

static void test_exact_resume(void **state) {
  (void)state;
  for (int drop = 0; drop < 2; drop++) {
    exact_resume(base_config(BFDI_BATCH_FIXED, drop, 2));
    exact_resume(base_config(BFDI_BATCH_BUCKET, drop, 3));
    exact_resume(base_config(BFDI_BATCH_TOKENS, drop, 2));
    bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, drop, 1);
    c.window_shards = 0;
    exact_resume(c);
  }
  static const uint64_t a[] = {60, 40}, b[] = {30};
  bfdi_sampler_dataset ds[2] = {{a, 2, 0.6}, {b, 1, 0.4}};
  bfdi_sampler_config c = base_config(BFDI_BATCH_BUCKET, 1, 2);
  c.datasets = ds;
  c.n_datasets = 2;
  exact_resume(c);
}

/* R1 ranks for a third of an epoch, saved, resumed on R2 ranks to the end of
 * the epoch: the batch stream continues (batch m is the same whatever the
 * world size), every sample is consumed at most once, and every sample is
 * consumed (pad) or only a tail short of one step is dropped (drop_last). */
static void elastic(bfdi_batching mode, int drop, uint32_t r1, uint32_t r2) {
  bfdi_sampler_config c = base_config(mode, drop, r1);
  bfdi_sampler *s1 = make(&c);
  c.world_size = 1;
  bfdi_sampler *ref = make(&c);
  c.world_size = r2;
  bfdi_sampler *s2 = make(&c);
  uint16_t seen[N_SAMPLES] = {0};
  bfdi_sample_ref out[64], want[64];
  uint32_t epoch = 1, max_batch = bfdi_sampler_max_batch(s1);
  bfdi_cursor at = {epoch, 0};
  uint64_t k = steps_of(s1, epoch) / 3;
  for (uint64_t step = 0; step < k; step++, assert_int_equal(bfdi_sampler_advance(s1, &at), BFD_OK))
    for (uint32_t q = 0; q < r1; q++) {
      uint32_t n = get_batch(s1, at, q, out);
      for (uint32_t t = 0; t < n; t++)
        if (!(out[t].flags & BFDI_SAMPLE_PAD)) seen[out[t].sample]++;
    }
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  assert_int_equal(bfdi_sampler_save(s1, at, blob), BFD_OK);
  bfdi_cursor back;
  assert_int_equal(bfdi_sampler_load(s2, blob, sizeof blob, &back), BFD_OK);
  assert_int_equal(back.epoch, epoch);
  assert_int_equal(back.pos, at.pos);
  uint64_t left, done = 0, batches_total;
  assert_int_equal(bfdi_sampler_steps(s2, back, &left), BFD_OK);
  assert_int_equal(bfdi_sampler_steps(ref, (bfdi_cursor){epoch, 0}, &batches_total), BFD_OK);
  while (back.epoch == epoch) {
    for (uint32_t q = 0; q < r2; q++) {
      uint32_t n = get_batch(s2, back, q, out);
      uint64_t m = back.pos + q;
      if (m < batches_total) {
        uint32_t nw = get_batch(ref, (bfdi_cursor){epoch, m}, 0, want);
        assert_int_equal(n, nw);
        assert_memory_equal(out, want, n * sizeof *out);
      }
      for (uint32_t t = 0; t < n; t++)
        if (!(out[t].flags & BFDI_SAMPLE_PAD)) seen[out[t].sample]++;
    }
    done++;
    assert_int_equal(bfdi_sampler_advance(s2, &back), BFD_OK);
  }
  assert_int_equal(done, left);
  size_t missing = 0;
  for (int i = 0; i < N_SAMPLES; i++) {
    assert_true(seen[i] <= 1);
    missing += seen[i] == 0;
  }
  if (!drop) assert_int_equal(missing, 0);
  else {
    /* FIXED, BUCKET: N mod b positions, then fewer than R2 trailing batches. */
    uint64_t tail = mode == BFDI_BATCH_TOKENS ? 0 : N_SAMPLES % c.batch;
    assert_true(missing < tail + (uint64_t)r2 * max_batch);
  }
  bfdi_sampler_destroy(s1);
  bfdi_sampler_destroy(s2);
  bfdi_sampler_destroy(ref);
}

static void test_elastic_resume(void **state) {
  (void)state;
  static const uint32_t pairs[][2] = {{1, 4}, {4, 2}, {3, 5}};
  for (int mode = BFDI_BATCH_FIXED; mode <= BFDI_BATCH_TOKENS; mode++)
    for (int drop = 0; drop < 2; drop++)
      for (size_t p = 0; p < 3; p++) elastic((bfdi_batching)mode, drop, pairs[p][0], pairs[p][1]);
}

/* A resume on more ranks that leaves no full step in the epoch moves on to
 * the next epoch (drop_last), dropping the rest. */
static void test_elastic_past_the_end(void **state) {
  (void)state;
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 1, 1);
  bfdi_sampler *s1 = make(&c);
  c.world_size = 50;
  bfdi_sampler *s2 = make(&c);
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  assert_int_equal(bfdi_sampler_save(s1, (bfdi_cursor){0, 90}, blob), BFD_OK);
  bfdi_cursor back;
  assert_int_equal(bfdi_sampler_load(s2, blob, sizeof blob, &back), BFD_OK);
  assert_int_equal(back.epoch, 1);
  assert_int_equal(back.pos, 0);
  assert_int_equal(steps_of(s2, 1), 2);
  bfdi_sampler_destroy(s1);
  bfdi_sampler_destroy(s2);
}

static void reseal(uint8_t *blob) {
  uint32_t crc = bfdi_crc32c(blob, 48);
  for (int i = 0; i < 4; i++) blob[48 + i] = (uint8_t)(crc >> (8 * i));
}

static void expect_load(bfdi_sampler *s, const uint8_t *blob, size_t len, bfd_status st, const char *msg) {
  bfdi_cursor c = {7, 7};
  assert_int_equal(bfdi_sampler_load(s, blob, len, &c), st);
  assert_non_null(strstr(bfd_last_error(), msg));
  assert_int_equal(c.epoch, 7);
}

static void test_bad_states(void **state) {
  (void)state;
  bfdi_sampler_config c = base_config(BFDI_BATCH_BUCKET, 0, 2);
  bfdi_sampler *s = make(&c);
  uint8_t good[BFDI_SAMPLER_STATE_BYTES], b[BFDI_SAMPLER_STATE_BYTES];
  assert_int_equal(bfdi_sampler_save(s, (bfdi_cursor){1, 6}, good), BFD_OK);
  assert_memory_equal(good, "BFDS", 4);
  bfdi_cursor back;
  assert_int_equal(bfdi_sampler_load(s, good, sizeof good, &back), BFD_OK);
  assert_int_equal(back.epoch, 1);
  assert_int_equal(back.pos, 6);

  expect_load(s, good, sizeof good - 1, BFD_ERR_FORMAT, "51 bytes");
  expect_load(s, NULL, 52, BFD_ERR_FORMAT, "0 bytes");
  memcpy(b, good, sizeof b);
  b[0] = '{';
  expect_load(s, b, sizeof b, BFD_ERR_FORMAT, "not a biofeed sampler state");
  /* Every flipped bit past the magic is caught. */
  for (size_t bit = 32; bit < 8 * sizeof b; bit++) {
    memcpy(b, good, sizeof b);
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    bfdi_cursor x;
    bfd_status st = bfdi_sampler_load(s, b, sizeof b, &x);
    assert_true(st == BFD_ERR_CORRUPT || (bit / 8 < 6 && st == BFD_ERR_UNSUPPORTED));
  }
  memcpy(b, good, sizeof b);
  b[4] = 2;
  reseal(b);
  expect_load(s, b, sizeof b, BFD_ERR_UNSUPPORTED, "version 2");
  memcpy(b, good, sizeof b);
  b[24] = 200; /* position 200: past the epoch */
  reseal(b);
  expect_load(s, b, sizeof b, BFD_ERR_CORRUPT, "position 200");
  memcpy(b, good, sizeof b);
  b[20] = b[21] = b[22] = b[23] = 0; /* world size 0 */
  reseal(b);
  expect_load(s, b, sizeof b, BFD_ERR_CORRUPT, "world size 0");

  /* Another job's state: each difference named. */
  bfdi_sampler_config o = c;
  o.seed = 7;
  bfdi_sampler *t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "seed 2024");
  bfdi_sampler_destroy(t);
  o = c;
  o.batch = 5;
  t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "batch 4");
  bfdi_sampler_destroy(t);
  o = c;
  o.batching = BFDI_BATCH_FIXED;
  t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "bucket batching");
  bfdi_sampler_destroy(t);
  o = c;
  o.bucket_batches = 4;
  t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "another configuration");
  bfdi_sampler_destroy(t);
  static const uint64_t moved[] = {38, 0, 119, 55, 9, 200};
  bfdi_sampler_dataset ds = {moved, N_SHARDS, 1};
  o = c;
  o.datasets = &ds;
  t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "shard record counts");
  bfdi_sampler_destroy(t);
  o = c;
  o.epoch_samples = 500;
  t = make(&o);
  expect_load(t, good, sizeof good, BFD_ERR_INVALID_ARG, "samples per epoch");
  bfdi_sampler_destroy(t);
  /* Another world size is fine. */
  o = c;
  o.world_size = 5;
  t = make(&o);
  assert_int_equal(bfdi_sampler_load(t, good, sizeof good, &back), BFD_OK);
  bfdi_sampler_destroy(t);
  bfdi_sampler_destroy(s);
}

static void expect_create(const bfdi_sampler_config *c, const char *msg) {
  bfdi_sampler *s = (bfdi_sampler *)&s;
  assert_int_equal(bfdi_sampler_create(c, &s), BFD_ERR_INVALID_ARG);
  assert_null(s);
  assert_non_null(strstr(bfd_last_error(), msg));
}

static void test_hostile_configs(void **state) {
  (void)state;
  bfdi_sampler_config c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.n_datasets = 0;
  expect_create(&c, "no datasets");
  static const uint64_t empty[] = {0, 0};
  bfdi_sampler_dataset e = {empty, 2, 1};
  c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.datasets = &e;
  expect_create(&c, "dataset 0: dataset has 2 shards but no records");
  c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.batch = 0;
  expect_create(&c, "batch 0");
  c.batch = UINT32_MAX;
  expect_create(&c, "batch 4294967295");
  c = base_config(BFDI_BATCH_FIXED, 1, 0);
  expect_create(&c, "world size 0");
  c = base_config(BFDI_BATCH_FIXED, 1, 200);
  expect_create(&c, "no step");
  c.drop_last = 0;
  bfdi_sampler *s = make(&c); /* padding makes 200 ranks fine */
  bfdi_sampler_destroy(s);
  c = base_config(BFDI_BATCH_BUCKET, 1, 1);
  c.bucket_batches = 1u << 30;
  expect_create(&c, "bucketing window");
  c.bucket_batches = 3;
  c.length = NULL;
  expect_create(&c, "length callback");
  c = base_config(BFDI_BATCH_TOKENS, 1, 1);
  c.max_tokens = 0;
  expect_create(&c, "max_tokens 0");
  c = base_config(BFDI_BATCH_TOKENS, 1, 1);
  c.token_window = 0;
  expect_create(&c, "token_window 0");
  c = base_config((bfdi_batching)9, 1, 1);
  expect_create(&c, "batching 9");
  c = base_config(BFDI_BATCH_FIXED, 1, 1);
  c.epoch_samples = UINT64_MAX;
  expect_create(&c, "epoch_samples");
  /* Token budget smaller than one sample, with drop_last on more ranks than batches. */
  c = base_config(BFDI_BATCH_TOKENS, 1, 1000);
  c.max_tokens = 100000;
  s = make(&c);
  uint64_t steps;
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){0, 0}, &steps), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "for 1000 ranks"));
  bfdi_sampler_destroy(s);
  /* The last epoch. */
  c = base_config(BFDI_BATCH_FIXED, 1, 1);
  s = make(&c);
  bfdi_cursor at = {65535, 104};
  assert_int_equal(bfdi_sampler_advance(s, &at), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "epoch 65535 was the last"));
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){65536, 0}, &steps), BFD_ERR_INVALID_ARG);
  bfdi_sampler_destroy(s);
}

/* 10^10 samples in 10^4 shards: nothing is allocated per sample, any step
 * of any epoch is computed directly, and a state round-trips. */
static void test_huge(void **state) {
  (void)state;
  enum { S = 10000 };
  uint64_t *counts = malloc(S * sizeof *counts);
  assert_non_null(counts);
  for (size_t k = 0; k < S; k++) counts[k] = 1000000;
  bfdi_sampler_dataset ds = {counts, S, 1};
  bfdi_sampler_config c = base_config(BFDI_BATCH_BUCKET, 1, 1024);
  c.datasets = &ds;
  c.batch = 256;
  c.bucket_batches = 8;
  c.window_shards = 64;
  bfdi_sampler *s = make(&c);
  uint64_t steps;
  assert_int_equal(bfdi_sampler_steps(s, (bfdi_cursor){0, 0}, &steps), BFD_OK);
  assert_int_equal(steps, UINT64_C(10000000000) / 256 / 1024);
  bfdi_cursor at = {3, UINT64_C(30000) * 1024};
  bfdi_sample_ref *out = malloc(256 * sizeof *out);
  assert_non_null(out);
  get_batch(s, at, 1023, out);
  for (int t = 0; t < 256; t++) assert_true(out[t].sample < UINT64_C(10000000000));
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  assert_int_equal(bfdi_sampler_save(s, at, blob), BFD_OK);
  bfdi_cursor back;
  assert_int_equal(bfdi_sampler_load(s, blob, sizeof blob, &back), BFD_OK);
  assert_int_equal(back.epoch, 3);
  assert_int_equal(back.pos, at.pos);
  free(out);
  bfdi_sampler_destroy(s);
  free(counts);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixed_drop_and_pad),  cmocka_unit_test(test_rank_slices),
      cmocka_unit_test(test_fixed_walk_cache),
      cmocka_unit_test(test_length_bucketing),    cmocka_unit_test(test_token_budget),
      cmocka_unit_test(test_mixed_datasets),      cmocka_unit_test(test_exact_resume),
      cmocka_unit_test(test_elastic_resume),      cmocka_unit_test(test_elastic_past_the_end),
      cmocka_unit_test(test_bad_states),          cmocka_unit_test(test_hostile_configs),
      cmocka_unit_test(test_huge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

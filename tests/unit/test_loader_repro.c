/* Batches are a pure function of (config, seed, epoch, step): the same
 * config twice gives the same bytes; so do 1 and 2 decode/ops workers, 1 and
 * 2 reader threads, and the CPU and CUDA backends (the CUDA path on the
 * emulator in test builds), buffered and O_DIRECT reads, and shard files
 * read from disk or held in memory (io.cache). Resume: 2.5 epochs with the state saved at 1.3
 * epochs, then a new loader loads it and every later batch matches byte for
 * byte. Elastic: a state saved with 2 ranks resumes with 3 and every sample
 * of the epoch is still consumed exactly once. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/loader_util.h"

typedef struct fx {
  char *dir, *seq, *img, *vol;
} fx;

static int setup_group(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("loader-repro");
  if (!f->dir) return -1;
  *state = f;
  return 0;
}

static int teardown_group(void **state) {
  fx *f = *state;
  tu_rmtree(f->dir);
  free(f->dir);
  free(f->seq);
  free(f->img);
  free(f->vol);
  free(f);
  return 0;
}

static const char *seq_ds(fx *f) {
  if (!f->seq) f->seq = tl_pack_fasta(f->dir, "dna", 40, 30, 2000, "ACGTACGTacgtN", 7, 9);
  return f->seq;
}

static const char *img_ds(fx *f) {
  if (!f->img) f->img = tl_pack_images(f->dir, "img", 17, 1, 24, 28, 4);
  return f->img;
}

/* Deflated volumes, batches large enough for a team of decode threads. */
static char *vol_yaml(fx *f, const char *extra) {
  if (!f->vol) f->vol = tl_pack_images(f->dir, "vol", 10, 8, 64, 64, 3);
  return tl_fmt("seed: 3\ndatasets: [{path: %s}]\nbatch_size: 8\nsampling: {drop_last: false}\n"
                "image: {ops: [{crop: {size: [8, 48, 48]}}, {normalize: {mode: zscore}}]}\n%s\n", f->vol, extra);
}

/* Batches over 4 MiB (padded 16 x 128 x 128 crops, float32 with int64
 * labels): with prefetch 1 and 2 workers the CPU backend runs each stage on
 * its own thread with OpenMP teams; with prefetch 4, every batch on one
 * thread. */
static char *big_vol_yaml(fx *f, const char *extra) {
  if (!f->vol) f->vol = tl_pack_images(f->dir, "vol", 10, 8, 64, 64, 3);
  return tl_fmt("seed: 5\ndatasets: [{path: %s}]\nbatch_size: 6\nsampling: {drop_last: false}\nmemory_limit: 256M\n"
                "image: {ops: [{crop: {size: [16, 128, 128], pad: reflect}}, {flip: {axes: [z, x]}},\n"
                "  {normalize: {mode: zscore}}, {noise: {sigma: [0, 0.1]}}]}\n%s\n", f->vol, extra);
}

/* A sequence job with augmentation everywhere randomness can enter. */
static char *seq_yaml(fx *f, const char *extra) {
  return tl_fmt("seed: 1234\ndatasets: [{path: %s}]\nbatch_size: 6\nsampling: {drop_last: false}\n"
                "sequence: {tokenizer: dna, max_len: 72, rc: 0.5, shift: 4, case: softmask, padding: longest,\n"
                "  window: {length: 80, max_n_frac: 0.2, max_attempts: 3}, mlm: {p: 0.15}, onehot: true}\n%s\n",
                seq_ds(f), extra);
}

static char *img_yaml(fx *f, const char *extra) {
  return tl_fmt("seed: 99\ndatasets: [{path: %s}]\nbatch_size: 4\nsampling: {drop_last: false}\n"
                "image:\n  ops:\n    - crop: {size: [16, 16], mode: foreground, pad: reflect}\n"
                "    - flip: {axes: [y, x]}\n    - rot90\n    - normalize: {mode: percentile}\n"
                "    - noise: {sigma: [0, 0.1]}\n  output: {dtype: bfloat16, layout: channels_last}\n%s\n",
                img_ds(f), extra);
}

static tl_log run_log(fx *f, const char *yaml, uint64_t batches) {
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  tl_log g = {0};
  tl_run(l, batches, &g);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  return g;
}

static void assert_same(const tl_log *a, const tl_log *b) {
  assert_int_equal(a->batches, b->batches);
  assert_int_equal(a->n, b->n);
  assert_memory_equal(a->b, b->b, a->n);
}

static void compare(fx *f, char *(*make)(fx *, const char *), const char *ya, const char *yb, uint64_t batches) {
  char *a = make(f, ya), *b = make(f, yb);
  tl_log la = run_log(f, a, batches), lb = run_log(f, b, batches);
  assert_true(la.batches == batches);
  assert_same(&la, &lb);
  free(la.b);
  free(lb.b);
  free(a);
  free(b);
}

static void test_same_config_twice(void **state) {
  compare(*state, seq_yaml, "device: cpu", "device: cpu", 20);
  compare(*state, img_yaml, "device: cpu", "device: cpu", 8);
}

static void test_threads_do_not_matter(void **state) {
  compare(*state, seq_yaml, "device: cpu\nio: {workers: 1, readers: 1}", "device: cpu\nio: {workers: 2, readers: 2}",
          20);
  compare(*state, img_yaml, "device: cpu\nio: {workers: 1}\nprefetch: 1",
          "device: cpu\nio: {workers: 2, readers: 2, engine: pread}\nprefetch: 6", 8);
  compare(*state, vol_yaml, "device: cpu\nio: {workers: 1}", "device: cpu\nio: {workers: 2}", 4);
}

/* Whole batches on one thread each, or stage threads with OpenMP teams. */
static void test_whole_batches_or_stages(void **state) {
  compare(*state, big_vol_yaml, "device: cpu\nio: {workers: 1}\nprefetch: 4", "device: cpu\nio: {workers: 2}\nprefetch: 1",
          5);
}

/* O_DIRECT reads (aligned staging, bounced windows) give the same batches. */
static void test_direct_io(void **state) {
  fx *f = *state;
  int fd = open(tu_path("%s/seq-00000.h5", seq_ds(f)), O_RDONLY | O_DIRECT);
  if (fd < 0) {
    print_message("SKIP test_direct_io: the file system refuses O_DIRECT\n");
    skip();
  }
  close(fd);
  compare(f, seq_yaml, "device: cpu", "device: cpu\nio: {direct: true}", 10);
  compare(f, img_yaml, "device: cpu", "device: cpu\nio: {direct: true, engine: pread}", 5);
  compare(f, vol_yaml, "device: cpu", "device: cpu\nio: {direct: true}", 3);
}

/* io.cache: shard files held in memory give the same batches as reading
 * them: sequence windows from several shards, images, deflated volumes in
 * staged mode, and with O_DIRECT where the file system has it. */
static void test_io_cache(void **state) {
  fx *f = *state;
  compare(f, seq_yaml, "device: cpu", "device: cpu\nio: {cache: true, workers: 2}", 20);
  compare(f, img_yaml, "device: cpu", "device: cpu\nio: {cache: true, engine: pread}", 8);
  compare(f, vol_yaml, "device: cpu", "device: cpu\nio: {cache: true}", 4);
  compare(f, big_vol_yaml, "device: cpu\nprefetch: 1", "device: cpu\nio: {cache: true, workers: 2}\nprefetch: 1", 3);
  int fd = open(tu_path("%s/seq-00000.h5", seq_ds(f)), O_RDONLY | O_DIRECT);
  if (fd < 0) {
    print_message("SKIP test_io_cache with O_DIRECT: the file system refuses O_DIRECT\n");
    return;
  }
  close(fd);
  compare(f, seq_yaml, "device: cpu", "device: cpu\nio: {cache: true, direct: true}", 10);
}

static void test_cpu_equals_cuda(void **state) {
  compare(*state, seq_yaml, "device: cpu", "device: cuda", 12);
  compare(*state, img_yaml, "device: cpu", "device: cuda", 5);
  /* the batch's tensors live on the device and carry its id */
  fx *f = *state;
  char *y = seq_yaml(f, "device: cuda");
  bfd_loader *l = tl_open(y, f->dir, 0, 1);
  bfd_batch *b;
  assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
  bfd_batch_info info;
  bfd_batch_info_get(b, &info);
  assert_int_equal(info.device, kDLCUDA);
  DLManagedTensor *t;
  assert_int_equal(bfd_batch_get(b, "ids", &t), BFD_OK);
  assert_int_equal(t->dl_tensor.device.device_type, kDLCUDA);
  assert_int_equal(bfd_batch_wait(b, NULL), BFD_OK);
  t->deleter(t);
  bfd_batch_release(b);
  bfd_loader_close(l);
  free(y);
}

/* 2.5 epochs uninterrupted; the state after 1.3 epochs resumes the rest. */
static void resume_case(fx *f, const char *yaml, int fixed) {
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  uint64_t steps;
  assert_int_equal(bfd_loader_steps_per_epoch(l, &steps), BFD_OK);
  uint64_t total = steps * 5 / 2, at = steps * 13 / 10;
  assert_true(at > steps && at < total);
  tl_log before = {0}, after = {0};
  tl_run(l, at, &before);
  uint8_t state[128];
  size_t len;
  assert_int_equal(bfd_loader_state_save(l, state, sizeof state, &len), BFD_OK);
  assert_true(len > 0 && len <= 64);
  uint32_t epoch;
  uint64_t step;
  assert_int_equal(bfd_loader_position(l, &epoch, &step), BFD_OK);
  /* token budgets give epochs of slightly different lengths */
  if (fixed) {
    assert_int_equal(epoch, 1);
    assert_int_equal(step, at - steps);
  }
  uint32_t saved_epoch = epoch;
  uint64_t saved_step = step;
  tl_run(l, total - at, &after);
  assert_int_equal(bfd_loader_close(l), BFD_OK);

  bfd_loader *r = tl_open(yaml, f->dir, 0, 1);
  /* a few batches first: loading must also rewind a running pipeline */
  tl_log scratch = {0};
  tl_run(r, 3, &scratch);
  assert_int_equal(bfd_loader_state_load(r, state, len), BFD_OK);
  assert_int_equal(bfd_loader_position(r, &epoch, &step), BFD_OK);
  assert_int_equal(epoch, saved_epoch);
  assert_int_equal(step, saved_step);
  tl_log again = {0};
  tl_run(r, total - at, &again);
  assert_same(&after, &again);
  /* a damaged state is refused and the loader carries on */
  state[10] ^= 1;
  assert_int_equal(bfd_loader_state_load(r, state, len), BFD_ERR_CORRUPT);
  assert_int_equal(bfd_loader_close(r), BFD_OK);
  free(before.b);
  free(after.b);
  free(again.b);
  free(scratch.b);
}

static void test_resume_exact(void **state) {
  fx *f = *state;
  char *s = seq_yaml(f, "device: cpu");
  resume_case(f, s, 1);
  char *i = img_yaml(f, "device: cpu\nio: {readers: 2}");
  resume_case(f, i, 1);
  char *t = tl_fmt("seed: 5\ndatasets: [{path: %s}]\nbatch_size: 8\nsampling: {batching: tokens, max_tokens: 600, "
                   "bucket_window: 3}\nsequence: {tokenizer: dna, max_len: 100, padding: longest}\ndevice: cpu\n",
                   seq_ds(f));
  resume_case(f, t, 0);
  free(s);
  free(i);
  free(t);
}

/* Valid samples of the rest of the current epoch on every rank, counted. */
static void drain_epoch(bfd_loader **ranks, int world, int *seen, size_t n) {
  for (;;) {
    int ended = 0;
    for (int r = 0; r < world; r++) {
      bfd_batch *b;
      assert_int_equal(bfd_loader_next(ranks[r], &b), BFD_OK);
      if (!b) {
        ended++;
        continue;
      }
      size_t k, kv;
      int64_t *sample = tl_i64(b, "sample", &k);
      uint8_t *valid = tl_u8(b, "valid", &kv);
      for (size_t i = 0; i < k; i++) {
        assert_true((size_t)sample[i] < n);
        if (valid[i]) seen[sample[i]]++;
      }
      free(sample);
      free(valid);
      bfd_batch_release(b);
    }
    assert_true(ended == 0 || ended == world);
    if (ended) return;
  }
}

static void test_elastic_resume(void **state) {
  fx *f = *state;
  char *yaml = tl_fmt("seed: 77\ndatasets: [{path: %s}]\nbatch_size: 3\nsampling: {drop_last: false}\n"
                      "image: {ops: [{crop: {size: [8, 8]}}]}\ndevice: cpu\n", img_ds(f));
  const size_t n = 17;
  int seen[17] = {0};
  bfd_loader *two[2] = {tl_open(yaml, f->dir, 0, 2), tl_open(yaml, f->dir, 1, 2)};
  uint64_t steps2;
  assert_int_equal(bfd_loader_steps_per_epoch(two[0], &steps2), BFD_OK);
  assert_int_equal(steps2, 3); /* 6 batches of 3 for 17 samples, 2 per step */
  for (int r = 0; r < 2; r++) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(two[r], &b), BFD_OK);
    size_t k, kv;
    int64_t *sample = tl_i64(b, "sample", &k);
    uint8_t *valid = tl_u8(b, "valid", &kv);
    for (size_t i = 0; i < k; i++)
      if (valid[i]) seen[sample[i]]++;
    free(sample);
    free(valid);
    bfd_batch_release(b);
  }
  uint8_t s0[128], s1[128];
  size_t l0, l1;
  assert_int_equal(bfd_loader_state_save(two[0], s0, sizeof s0, &l0), BFD_OK);
  assert_int_equal(bfd_loader_state_save(two[1], s1, sizeof s1, &l1), BFD_OK);
  assert_int_equal(l0, l1);
  assert_memory_equal(s0, s1, l0); /* every rank saves the same state */
  bfd_loader_close(two[0]);
  bfd_loader_close(two[1]);

  bfd_loader *three[3];
  for (int r = 0; r < 3; r++) {
    three[r] = tl_open(yaml, f->dir, r, 3);
    assert_int_equal(bfd_loader_state_load(three[r], s0, l0), BFD_OK);
  }
  drain_epoch(three, 3, seen, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
  /* the next epoch runs with 3 ranks from its start: again every sample once */
  memset(seen, 0, sizeof seen);
  drain_epoch(three, 3, seen, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
  for (int r = 0; r < 3; r++) bfd_loader_close(three[r]);
  free(yaml);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_same_config_twice),
      cmocka_unit_test(test_threads_do_not_matter),
      cmocka_unit_test(test_whole_batches_or_stages),
      cmocka_unit_test(test_direct_io),
      cmocka_unit_test(test_io_cache),
      cmocka_unit_test(test_cpu_equals_cuda),
      cmocka_unit_test(test_resume_exact),
      cmocka_unit_test(test_elastic_resume),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

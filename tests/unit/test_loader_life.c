/* The loader's memory and lifetime rules: the resident set stays under
 * memory_limit plus a stated overhead while a dataset ten times larger
 * streams through; a slow consumer that sleeps and holds batches loses and
 * duplicates nothing; holding every batch of the ring is an error, not a
 * hang; a consumer that stops mid-epoch and closes frees everything while a
 * tensor it kept stays readable (ASan/LSan check the rest); a corrupt
 * record stops the stream at its batch with a message naming the shard,
 * record and byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "io/extents.h"
#include "support/loader_util.h"

typedef tu_dir fx;

static long rss_kib(void) {
  FILE *s = fopen("/proc/self/status", "r");
  if (!s) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, s))
    if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
  fclose(s);
  return kib;
}

static void sleep_ms(int ms) {
  struct timespec t = {0, (long)ms * 1000000L};
  nanosleep(&t, NULL);
}

/* ---- memory ---- */

/* Besides its buffers (under memory_limit) the loader holds its threads'
 * stacks as touched, extent tables, the I/O rings and HDF5's state from
 * opening the shards: the stated overhead. */
#define OVERHEAD_MIB 24

static void test_memory_bounded(void **state) {
  fx *f = *state;
  /* 40 MiB of sequence in 64 KiB records against a 4 MiB limit */
  char *ds = tl_pack_fasta(f->dir, "big", 640, 60000, 71000, "ACGT", 80, 3);
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 8\nsequence: {tokenizer: dna, max_len: 256}\n"
                      "memory_limit: 4M\nprefetch: 4\ndevice: cpu\n", ds);
  long before = rss_kib();
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  long opened = rss_kib(), peak = opened;
  uint64_t batches = 0;
  for (;;) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    if (!b) break;
    bfd_batch_release(b);
    batches++;
    long now = rss_kib();
    if (now > peak) peak = now;
  }
  assert_int_equal(batches, 80);
  bfd_stage_stats st[6];
  bfd_loader_stats(l, st, 6, NULL);
  assert_true(st[1].bytes >= (uint64_t)640 * 60000); /* the whole dataset went through */
  print_message("memory: RSS %ld MiB before open, +%ld MiB at open, peak +%ld MiB over it (limit 4 MiB, "
                "overhead %d MiB)\n", before >> 10, (opened - before) >> 10, (peak - opened) >> 10, OVERHEAD_MIB);
  assert_true(peak - before < (4 + OVERHEAD_MIB) * 1024);
  bfd_loader_close(l);

  /* a limit below two batches is refused up front, saying what one takes */
  char *tight = tl_fmt("datasets: [{path: %s}]\nbatch_size: 64\nsequence: {tokenizer: dna}\nmemory_limit: 4M\n"
                       "device: cpu\n", ds);
  bfd_loader *t = NULL;
  assert_int_equal(bfd_loader_open_string(tight, f->dir, NULL, &t), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "memory_limit 4.0 MiB holds fewer than 2 batches"));
  assert_non_null(strstr(bfd_last_error(), "(64 samples, whole records"));
  assert_non_null(strstr(bfd_last_error(), "raise memory_limit to at least"));
  free(tight);
  free(yaml);
  free(ds);
}

/* ---- slow consumer ---- */

static void test_slow_consumer(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "slow", 150, 20, 200, "ACGT", 30, 8);
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 7\nsampling: {drop_last: false}\n"
                      "sequence: {tokenizer: dna, max_len: 64}\nprefetch: 2\ndevice: cpu\nio: {readers: 2}\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  for (int epoch = 0; epoch < 2; epoch++) {
    int seen[150] = {0};
    bfd_batch *prev = NULL;
    DLManagedTensor *kept = NULL;
    for (int k = 0;; k++) {
      bfd_batch *b;
      assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
      if (!b) break;
      size_t n, nv;
      int64_t *sample = tl_i64(b, "sample", &n);
      uint8_t *valid = tl_u8(b, "valid", &nv);
      for (size_t i = 0; i < n; i++)
        if (valid[i]) seen[sample[i]]++;
      free(sample);
      free(valid);
      /* holds this batch and a tensor of the previous one through the next call */
      if (kept) kept->deleter(kept);
      kept = NULL;
      if (prev) {
        assert_int_equal(bfd_batch_get(prev, "ids", &kept), BFD_OK);
        bfd_batch_release(prev);
      }
      prev = b;
      sleep_ms(k % 3 == 0 ? 4 : 1);
    }
    if (prev) bfd_batch_release(prev);
    if (kept) kept->deleter(kept);
    for (int i = 0; i < 150; i++) assert_int_equal(seen[i], 1);
  }
  bfd_stage_stats st[6];
  bfd_loader_stats(l, st, 6, NULL);
  assert_true(st[0].wait_out_s > 0); /* the plan stage waited for the consumer */
  /* batches this small run whole on one thread each: the ops waited with it */
  assert_true(st[4].wait_out_s > 0);
  assert_true(st[4].wait_in_s >= st[1].busy_s);
  bfd_loader_close(l);
  free(yaml);
  free(ds);
}

static void test_holding_every_batch_is_an_error(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "hold", 40, 20, 50, "ACGT", 0, 2);
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 4\nsequence: {tokenizer: dna, max_len: 64}\n"
                      "prefetch: 1\ndevice: cpu\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  bfd_batch *a, *b, *c;
  assert_int_equal(bfd_loader_next(l, &a), BFD_OK);
  assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
  assert_int_equal(bfd_loader_next(l, &c), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "holds all 2 batches"));
  bfd_batch_info ia, ib, ic;
  bfd_batch_info_get(a, &ia);
  bfd_batch_info_get(b, &ib);
  assert_int_equal(bfd_batch_release(a), BFD_OK);
  assert_int_equal(bfd_loader_next(l, &c), BFD_OK);
  bfd_batch_info_get(c, &ic);
  assert_int_equal(ia.step + 1, ib.step);
  assert_int_equal(ib.step + 1, ic.step);
  bfd_batch_release(b);
  bfd_batch_release(c);
  bfd_loader_close(l);
  free(yaml);
  free(ds);
}

/* ---- stopping mid-epoch ---- */

static void test_close_mid_epoch(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "stop", 12, 1, 16, 16, 0);
  for (int device = 0; device < 2; device++) {
    char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 2\nimage: {ops: [{crop: {size: [8, 8]}}]}\n"
                        "device: %s\nprefetch: 3\n", ds, device ? "cuda" : "cpu");
    bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
    bfd_batch *b[3];
    for (int i = 0; i < 3; i++) assert_int_equal(bfd_loader_next(l, &b[i]), BFD_OK);
    DLManagedTensor *t;
    assert_int_equal(bfd_batch_get(b[1], "image", &t), BFD_OK);
    uint8_t *copy = tl_host(&t->dl_tensor);
    size_t bytes = tl_numel(&t->dl_tensor) * 4;
    for (int i = 0; i < 3; i++) bfd_batch_release(b[i]);
    /* closes with the pipeline full and one tensor alive: the tensor stays valid */
    assert_int_equal(bfd_loader_close(l), BFD_OK);
    uint8_t *after = tl_host(&t->dl_tensor);
    assert_memory_equal(copy, after, bytes);
    t->deleter(t);
    free(copy);
    free(after);
    free(yaml);
  }
  /* and closing without ever taking a batch, or right after opening */
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 2\ndevice: cpu\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(yaml);
  free(ds);
}

/* ---- corrupt data ---- */

static void test_corrupt_record(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "bad", 60, 40, 90, "ACGT", 0, 4);
  const char *shard = tu_path("%s/seq-00000.h5", ds);
  char *shard_path = strdup(shard);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(shard_path, &x), BFD_OK);
  uint64_t off = x->rec[37].offset + 5;
  bfdi_extents_free(x);
  size_t n;
  uint8_t *bytes = tu_read(shard_path, &n);
  bytes[off] ^= 0x20; /* a letter's case: still valid DNA, wrong CRC */
  assert_int_equal(tu_write(shard_path, bytes, n), 0);
  free(bytes);
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 4\nsampling: {order: none}\n"
                      "sequence: {tokenizer: dna, max_len: 128}\ndevice: cpu\nio: {readers: 2}\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  /* batches 0 .. 8 hold records 0 .. 35 and arrive; batch 9 holds record 37 */
  for (int k = 0; k < 9; k++) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    assert_non_null(b);
    bfd_batch_release(b);
  }
  bfd_batch *b = NULL;
  assert_int_equal(bfd_loader_next(l, &b), BFD_ERR_CORRUPT);
  assert_null(b);
  const char *msg = bfd_last_error();
  char want[512];
  snprintf(want, sizeof want, "%s: record 37", shard_path);
  assert_non_null(strstr(msg, want));
  snprintf(want, sizeof want, "byte offset %llu", (unsigned long long)(off - 5));
  assert_non_null(strstr(msg, want));
  assert_non_null(strstr(msg, "CRC32C mismatch"));
  /* the loader stays failed until it is rewound or closed */
  assert_int_equal(bfd_loader_next(l, &b), BFD_ERR_CORRUPT);
  bfd_loader_close(l);
  free(yaml);
  free(shard_path);
  free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_memory_bounded, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_slow_consumer, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_holding_every_batch_is_an_error, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_close_mid_epoch, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_record, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The loader's broadcast and exchange modes in one process (a world of one,
 * the local comm; tests/dist runs them across ranks): both give shard
 * mode's batches byte for byte, on the CPU backend and on the CUDA backend
 * (the emulator), through a state save and load; the consumer may hold
 * prefetch batches in these modes and asking for one more is an error; a
 * staged copy that is missing or of the wrong size, a stage_dir or owner map
 * with several datasets, and a bad owner map are errors naming the key,
 * the shard and `biofeed stage`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dist/stage.h"
#include "support/loader_util.h"

typedef tu_dir fx;

static char *seq_yaml(const char *data, const char *device, const char *dist) {
  return tl_fmt("seed: 4\ndatasets: [%s]\nbatch_size: 5\nsampling: {drop_last: false}\n"
                "sequence: {tokenizer: dna, max_len: 48, window: {length: 40, mode: random}, rc: 0.5, mlm: {p: 0.2}}\n"
                "device: %s\nprefetch: 2\nio: {workers: 2}\ndist: {%s}\n",
                data, device, dist);
}

static char *img_yaml(const char *data, const char *device, const char *dist) {
  return tl_fmt("seed: 9\ndatasets: [%s]\nbatch_size: 3\nsampling: {drop_last: false}\n"
                "image: {ops: [{crop: {size: [12, 12]}}, {flip: {axes: [y, x], prob: 0.5}}, {rot90: {prob: 0.5}}]}\n"
                "device: %s\nprefetch: 2\ndist: {%s}\n",
                data, device, dist);
}

/* Two epochs, with a state save after 3 batches loaded into a fresh loader
 * halfway. */
static tl_log run(const char *yaml) {
  tl_log g = {0};
  bfd_loader *l = tl_open(yaml, NULL, 0, 1);
  tl_run(l, 3, &g);
  uint8_t state[128];
  size_t len;
  assert_int_equal(bfd_loader_state_save(l, state, sizeof state, &len), BFD_OK);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  l = tl_open(yaml, NULL, 0, 1);
  assert_int_equal(bfd_loader_state_load(l, state, len), BFD_OK);
  tl_run(l, 0, &g);
  tl_run(l, 0, &g);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  return g;
}

static void same_as_shard(char *(*yaml)(const char *, const char *, const char *), const char *data,
                          const char *device) {
  char *y = yaml(data, device, "mode: shard");
  tl_log want = run(y);
  free(y);
  const char *modes[] = {"mode: exchange", "mode: broadcast, group_size: 1", "mode: exchange, backend: local"};
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
    y = yaml(data, device, modes[i]);
    tl_log got = run(y);
    if (got.n != want.n || memcmp(got.b, want.b, want.n)) print_message("%s, %s: batches differ\n", device, modes[i]);
    assert_int_equal(got.batches, want.batches);
    assert_int_equal(got.n, want.n);
    assert_memory_equal(got.b, want.b, want.n);
    free(got.b);
    free(y);
  }
  free(want.b);
}

static void test_sequences_equal_shard_mode(void **state) {
  fx *f = *state;
  char *data = tl_pack_fasta(f->dir, "seq", 23, 10, 150, "ACGTNacgt", 4, 77);
  same_as_shard(seq_yaml, data, "cpu");
  same_as_shard(seq_yaml, data, "cuda");
  free(data);
}

static void test_images_equal_shard_mode(void **state) {
  fx *f = *state;
  char *data = tl_pack_images(f->dir, "img", 13, 1, 16, 16, 0);
  same_as_shard(img_yaml, data, "cpu");
  same_as_shard(img_yaml, data, "cuda");
  free(data);
}

static void test_holding_prefetch_batches(void **state) {
  fx *f = *state;
  char *data = tl_pack_fasta(f->dir, "seq", 40, 10, 50, "ACGT", 4, 1);
  char *y = seq_yaml(data, "cpu", "mode: exchange");
  bfd_loader *l = tl_open(y, NULL, 0, 1);
  bfd_batch *b[2], *extra = NULL;
  for (int i = 0; i < 2; i++) {
    assert_int_equal(bfd_loader_next(l, &b[i]), BFD_OK);
    assert_non_null(b[i]);
  }
  assert_int_equal(bfd_loader_next(l, &extra), BFD_ERR_INVALID_ARG);
  assert_null(extra);
  assert_non_null(strstr(bfd_last_error(), "the consumer holds 2 batches and asks for another; in dist.mode exchange "
                                           "it may hold 2 (prefetch)"));
  assert_int_equal(bfd_batch_release(b[0]), BFD_OK);
  assert_int_equal(bfd_loader_next(l, &extra), BFD_OK);
  assert_non_null(extra);
  assert_int_equal(bfd_batch_release(extra), BFD_OK);
  assert_int_equal(bfd_batch_release(b[1]), BFD_OK);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(y);
  free(data);
}

static void expect_open_error(const char *yaml, bfd_status want, const char *w1, const char *w2) {
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open_string(yaml, NULL, NULL, &l);
  if (st != want) print_message("open: %s\n", bfd_last_error());
  assert_int_equal(st, want);
  assert_null(l);
  if (!strstr(bfd_last_error(), w1) || (w2 && !strstr(bfd_last_error(), w2)))
    print_message("message: %s\n", bfd_last_error());
  assert_non_null(strstr(bfd_last_error(), w1));
  if (w2) assert_non_null(strstr(bfd_last_error(), w2));
}

static void test_staged_copies(void **state) {
  fx *f = *state;
  char *data = tl_pack_fasta(f->dir, "seq", 30, 10, 60, "ACGT", 4, 5);
  char *stage = strdup(tu_path("%s/stage", f->dir));
  bfdi_stage_stats st;
  assert_int_equal(bfdi_stage(data, stage, NULL, 0, 1, &st), BFD_OK);
  assert_true(st.owned >= 2 && st.copied == st.owned);
  char *dist = tl_fmt("mode: exchange, stage_dir: %s", stage);
  char *want_y = seq_yaml(data, "cpu", "mode: shard"), *y = seq_yaml(data, "cpu", dist);
  tl_log want = run(want_y), got = run(y);
  assert_int_equal(got.n, want.n);
  assert_memory_equal(got.b, want.b, want.n);
  free(want.b);
  free(got.b);

  /* never a silent fall-back to the shared copy: a missing or truncated one is an error */
  char *victim = strdup(tu_path("%s/seq-00001.h5", stage));
  size_t n;
  uint8_t *bytes = tu_read(victim, &n);
  assert_int_equal(unlink(victim), 0);
  expect_open_error(y, BFD_ERR_IO, "dist.stage_dir: rank 0 owns shard seq-00001.h5", "run `biofeed stage ");
  tu_write(victim, bytes, n - 1);
  expect_open_error(y, BFD_ERR_CORRUPT, "the staged copy", "biofeed stage");
  free(bytes);
  free(victim);

  char *two = tl_fmt("seed: 1\ndatasets: [%s, %s]\nsequence: {tokenizer: dna}\ndist: {%s}\n", data, data, dist);
  expect_open_error(two, BFD_ERR_INVALID_ARG, "dist.stage_dir names one dataset's shards", "2 datasets");
  free(two);
  const char *map = tu_path("%s/owners.txt", f->dir);
  tu_write(map, "seq-00000.h5 0\n", 15);
  char *dmap = tl_fmt("mode: exchange, owners: %s", map);
  char *ymap = seq_yaml(data, "cpu", dmap);
  expect_open_error(ymap, BFD_ERR_FORMAT, "dist.owners", "owners.txt");
  free(ymap);
  free(dmap);
  free(dist);
  free(want_y);
  free(y);
  free(stage);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_sequences_equal_shard_mode, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_images_equal_shard_mode, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_holding_prefetch_batches, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_staged_copies, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Job configs: a file with relative dataset paths opens; every kind of
 * mistake (YAML syntax, unknown key, repeated key, wrong type, value out of
 * range or not among the choices, missing dataset directory, sections that
 * do not fit the data, errors inside the sequence and image op sections)
 * fails with a message naming the file, the line and what is valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/loader_util.h"

typedef struct fx {
  char *dir, *seq, *img;
} fx;

static int setup_group(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("loader-config");
  if (!f->dir) return -1;
  mkdir(tu_path("%s/jobs", f->dir), 0755);
  *state = f;
  return 0;
}

static int teardown_group(void **state) {
  fx *f = *state;
  tu_rmtree(f->dir);
  free(f->dir);
  free(f->seq);
  free(f->img);
  free(f);
  return 0;
}

static void datasets(fx *f) {
  if (!f->seq) f->seq = tl_pack_fasta(f->dir, "seq", 30, 50, 90, "ACGT", 0, 1);
  if (!f->img) f->img = tl_pack_images(f->dir, "img", 4, 1, 12, 12, 0);
}

/* Writes text to jobs/job.yaml, opens it and expects st with every one of
 * the words (NULL-terminated) in the message. */
static void expect(fx *f, const char *text, bfd_status st, ...) {
  char *path = strdup(tu_path("%s/jobs/job.yaml", f->dir));
  assert_int_equal(tu_write(path, text, strlen(text)), 0);
  bfd_loader *l = NULL;
  bfd_status got = bfd_loader_open(path, NULL, &l);
  const char *msg = bfd_last_error();
  if (got != st) print_message("unexpected status %s: %s\n", bfd_status_name(got), msg);
  assert_int_equal(got, st);
  assert_null(l);
  assert_non_null(strstr(msg, path));
  va_list ap;
  va_start(ap, st);
  for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *)) {
    if (!strstr(msg, w)) print_message("'%s' not in: %s\n", w, msg);
    assert_non_null(strstr(msg, w));
  }
  va_end(ap);
  free(path);
}

static void test_file_with_relative_paths(void **state) {
  fx *f = *state;
  datasets(f);
  const char *text = "# a comment\nseed: 18446744073709551615\ndatasets:\n  - ../seq\n  - {path: ../seq, weight: 0.5}\n"
                     "batch_size: 4\nsequence:\n  tokenizer: dna\n  max_len: 32\nmemory_limit: 64MiB\ndevice: cpu\n"
                     "io: {engine: pread, queue_depth: 8, direct: false, readers: 1, workers: 1}\n"
                     "dist: {rank: 0, world_size: 1, mode: shard}\n";
  char *path = strdup(tu_path("%s/jobs/ok.yaml", f->dir));
  assert_int_equal(tu_write(path, text, strlen(text)), 0);
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open(path, NULL, &l);
  if (st != BFD_OK) print_message("%s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  bfd_batch *b;
  assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
  size_t n;
  int64_t *sample = tl_i64(b, "sample", &n);
  assert_int_equal(n, 4);
  for (size_t i = 0; i < n; i++) assert_true(sample[i] >= 0 && sample[i] < 60); /* two datasets of 30 */
  free(sample);
  bfd_batch_release(b);
  bfd_loader_close(l);
  free(path);
  l = NULL;
  assert_int_equal(bfd_loader_open(tu_path("%s/jobs/missing.yaml", f->dir), NULL, &l), BFD_ERR_IO);
  assert_null(l);
  assert_non_null(strstr(bfd_last_error(), "cannot open the job config"));
  assert_non_null(strstr(bfd_last_error(), "jobs/missing.yaml: No such file or directory"));
}

static void test_syntax_and_keys(void **state) {
  fx *f = *state;
  datasets(f);
  expect(f, "datasets: [{path: ../seq}\nbatch_size: 4\n", BFD_ERR_FORMAT, ":2:", "YAML error", NULL);
  expect(f, "datsets: [../seq]\n", BFD_ERR_FORMAT, ":1:", "unknown key 'datsets'", "valid: seed, datasets, batch_size",
         NULL);
  expect(f, "datasets: [../seq]\nsequence: {tokenizer: dna}\nsampling:\n  order: global\n  windw: 4\n",
         BFD_ERR_FORMAT, ":5:", "sampling: unknown key 'windw'", "order, shard_window, drop_last", NULL);
  expect(f, "datasets: [../seq]\nsequence: {tokenizer: dna}\nio: {engine: auto, threads: 4}\n", BFD_ERR_FORMAT,
         ":3:", "io: unknown key 'threads'", "engine, queue_depth, direct, cache, readers, workers", NULL);
  expect(f, "datasets: [{path: ../seq, wieght: 2}]\nsequence: {tokenizer: dna}\n", BFD_ERR_FORMAT, ":1:",
         "datasets[0]: unknown key 'wieght'", "path, weight", NULL);
  expect(f, "datasets: [../seq]\nbatch_size: 4\nbatch_size: 8\n", BFD_ERR_FORMAT, ":3:", "'batch_size' is given twice",
         "line 2", NULL);
  expect(f, "seed: 1\n", BFD_ERR_FORMAT, "datasets is missing", NULL);
}

static void test_types_and_ranges(void **state) {
  fx *f = *state;
  datasets(f);
  const char *head = "datasets: [../seq]\nsequence: {tokenizer: dna}\n";
  struct {
    const char *line;
    const char *words[3];
  } cases[] = {
      {"batch_size: [1, 2]", {"batch_size must be an integer in 1..4194304, not a list"}},
      {"batch_size: many", {"batch_size: 'many' is not an integer in 1..4194304"}},
      {"batch_size: 0", {"batch_size: '0' is not an integer in 1..4194304"}},
      {"seed: -1", {"seed: '-1' is not an integer"}},
      {"prefetch: 65", {"prefetch: '65' is not an integer in 1..64"}},
      {"memory_limit: 10K", {"memory_limit: '10K' is not a size", "K, M, G or T"}},
      {"memory_limit: {size: 1G}", {"memory_limit must be a size such as 512M or 2G, not a mapping"}},
      {"device: gpu", {"device: 'gpu' is not one of auto | cpu | cuda"}},
      {"sampling: {order: random}", {"sampling.order: 'random' is not one of global | shards | none"}},
      {"sampling: {batching: tokens}", {"sampling.batching: tokens needs sampling.max_tokens"}},
      {"sampling: {drop_last: maybe}", {"sampling.drop_last: 'maybe' is not one of false | true | no | yes"}},
      {"sampling: {shard_window: 0}", {"sampling.shard_window: '0' is not an integer in 1.."}},
      {"sampling: fixed", {"sampling must be a mapping (key: value lines), not a single value"}},
      {"io: {engine: aio}", {"io.engine: 'aio' is not one of auto | uring | pread"}},
      {"io: {workers: 0}", {"io.workers: '0' is not an integer in 1..256"}},
      {"dist: {rank: 3, world_size: 2}", {"dist.rank: 3 is not below dist.world_size 2"}},
      {"dist: {mode: scatter}", {"dist.mode: 'scatter' is not one of shard | broadcast | exchange"}},
      {"dist: {backend: gloo}", {"dist.backend: 'gloo' is not one of auto | local | mpi | nccl"}},
      {"dist: {timeout: 0}", {"dist.timeout: '0' is not a number in"}},
      {"dist: {group_size: 2}", {"dist.group_size: groups of ranks sharing batches are read by mode: broadcast only"}},
      {"dist: {owners: map.txt}", {"dist.owners: an owner map is read by mode: exchange only"}},
      {"dist: {stage_dir: /local, mode: broadcast}", {"dist.stage_dir: staged data is read by mode: exchange only"}},
      {"dist: {mode: broadcast, group_size: 3, world_size: 4}", {"dist.group_size: 3 does not divide dist.world_size 4"}},
      {"dist: {color: red}", {"dist", "color", "rank, world_size, mode, group_size, backend, timeout, owners"}},
      {"image: {output: {dtype: float64}}",
       {"image.output.dtype: 'float64' is not one of float32 | float16 | bfloat16"}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *text = tl_fmt("%s%s\n", head, cases[i].line);
    expect(f, text, BFD_ERR_FORMAT, ":3:", cases[i].words[0], cases[i].words[1], cases[i].words[2], NULL);
    free(text);
  }
}

static void test_sections_and_data(void **state) {
  fx *f = *state;
  datasets(f);
  expect(f, "datasets:\n  - ../seq\n  - path: ../nowhere\nsequence: {tokenizer: dna}\n", BFD_ERR_IO, ":3:",
         "datasets[1]", "nowhere: cannot open the dataset: No such file or directory", NULL);
  expect(f, "datasets: [../seq]\n", BFD_ERR_INVALID_ARG, ":1:", "holds sequences; add a sequence: section", NULL);
  expect(f, "datasets: [../img]\nsequence: {tokenizer: dna}\n", BFD_ERR_INVALID_ARG, "holds images",
         "use image: instead", NULL);
  expect(f, "datasets: [../seq, ../img]\nsequence: {tokenizer: dna}\n", BFD_ERR_INVALID_ARG, ":1:",
         "one job reads one kind", NULL);
  expect(f, "datasets: [../seq]\nsequence:\n  tokenizer: dna\n  padding: widest\n", BFD_ERR_FORMAT, ":4:",
         "padding: 'widest' is not one of max_len, longest", NULL);
  expect(f, "datasets: [../seq]\nsequence: {tokenizer: dna}\nsampling: {batching: tokens, max_tokens: 100}\n",
         BFD_ERR_FORMAT, ":3:", "tokens needs sequence.padding: longest", NULL);
  expect(f, "datasets: [../img]\nimage:\n  ops:\n    - crop: {size: [8, 8], mode: sideways}\n", BFD_ERR_FORMAT,
         ":4:", "sideways", "random", NULL);
  expect(f, "datasets: [../img]\nbatch_size: 2\nimage:\n  ops:\n    - crop: {size: [4, 8, 8]}\n", BFD_ERR_INVALID_ARG,
         "written for 3D volumes", NULL);
  expect(f, "datasets: [../img]\nbatch_size: 2\nsampling: {batching: bucket}\n", BFD_ERR_INVALID_ARG, ":3:",
         "image datasets take batching: fixed", NULL);
  expect(f,
         "datasets: [../img]\nimage: {ops: [{crop: {size: [8, 8], mode: foreground}}], output: {label_dtype: uint8}}\n"
         "batch_size: 500\n",
         BFD_ERR_INVALID_ARG, "drop_last", NULL);
}

/* Rank and world size: options first, then dist:, then the launcher's
 * environment. */
static void test_rank_layout(void **state) {
  fx *f = *state;
  datasets(f);
  const char *text = "datasets: [../seq]\nbatch_size: 3\nsequence: {tokenizer: dna}\n";
  const char *dir = tu_path("%s/jobs", f->dir);
  char *jobs = strdup(dir);
  uint64_t steps;
  setenv("WORLD_SIZE", "2", 1);
  setenv("RANK", "1", 1);
  bfd_loader *l = NULL;
  assert_int_equal(bfd_loader_open_string(text, jobs, NULL, &l), BFD_OK);
  assert_int_equal(bfd_loader_steps_per_epoch(l, &steps), BFD_OK);
  assert_int_equal(steps, 5); /* 10 batches of 3 for 30 records, 2 per step */
  bfd_loader_close(l);
  bfd_loader_options o;
  bfd_loader_options_init(&o);
  o.world_size = 5;
  o.rank = 4;
  assert_int_equal(bfd_loader_open_string(text, jobs, &o, &l), BFD_OK);
  assert_int_equal(bfd_loader_steps_per_epoch(l, &steps), BFD_OK);
  assert_int_equal(steps, 2);
  bfd_loader_close(l);
  setenv("RANK", "2", 1);
  assert_int_equal(bfd_loader_open_string(text, jobs, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "rank 2 (from RANK) is not below the world size 2 (from WORLD_SIZE)"));
  setenv("RANK", "one", 1);
  assert_int_equal(bfd_loader_open_string(text, jobs, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "RANK=\"one\""));
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  free(jobs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_file_with_relative_paths),
      cmocka_unit_test(test_syntax_and_keys),
      cmocka_unit_test(test_types_and_ranges),
      cmocka_unit_test(test_sections_and_data),
      cmocka_unit_test(test_rank_layout),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

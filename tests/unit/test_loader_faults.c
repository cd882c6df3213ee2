/* The loader against damaged data and failing I/O: a missing shard, a
 * truncated shard, EIO in the middle of a run (through the engine's read
 * hook), corrupt records with on_corrupt: error (the message names shard,
 * record and byte offset) and with on_corrupt: skip (the counters, the
 * replacement sample, the same batches with 1 and 4 readers/workers and
 * after a resume), and the on_corrupt config errors; io.cache's reads at
 * open, its failures and its memory_limit checks. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "io/engine.h"
#include "io/extents.h"
#include "io/readplan.h"
#include "support/loader_util.h"

typedef tu_dir fx;

/* The path of shard k of a dataset (static buffer). */
static const char *shard_path(const char *ds, size_t k) {
  static char buf[4096];
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(ds, &d), BFD_OK);
  bfd_dataset_shard sh;
  assert_int_equal(bfd_dataset_shard_get(d, k, &sh), BFD_OK);
  snprintf(buf, sizeof buf, "%s", sh.path);
  bfd_dataset_close(d);
  return buf;
}

/* Where record `rec` of a shard stores its data (first piece). */
static void record_extent(const char *shard, uint64_t rec, uint64_t *off, uint64_t *len) {
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(shard, &x), BFD_OK);
  bfdi_readplan pl = {0};
  if (x->kind == BFD_KIND_SEQUENCE)
    assert_int_equal(bfdi_readplan_window(&pl, x, BFDI_PART_DATA, rec, 0, UINT64_MAX), BFD_OK);
  else
    assert_int_equal(bfdi_readplan_sample(&pl, x, BFDI_PART_DATA, rec, NULL, 1), BFD_OK);
  assert_true(pl.n > 0);
  *off = pl.pieces[0].offset;
  *len = pl.pieces[0].len;
  bfdi_readplan_free(&pl);
  bfdi_extents_free(x);
}

/* Flips one byte in the middle of record rec's stored data; returns its data offset. */
static uint64_t corrupt_record(const char *shard, uint64_t rec) {
  uint64_t off, len;
  record_extent(shard, rec, &off, &len);
  FILE *f = fopen(shard, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, (long)(off + len / 2), SEEK_SET), 0);
  int c = fgetc(f);
  assert_true(c != EOF);
  assert_int_equal(fseek(f, (long)(off + len / 2), SEEK_SET), 0);
  fputc(c ^ 0x5a, f);
  fclose(f);
  return off;
}

static void assert_has(const char *msg, const char *what) {
  if (!strstr(msg, what)) print_message("message \"%s\" lacks \"%s\"\n", msg, what);
  assert_non_null(strstr(msg, what));
}

/* Runs the current epoch to its end; returns the status of the first failure. */
static bfd_status drain(bfd_loader *l) {
  for (;;) {
    bfd_batch *b = NULL;
    bfd_status st = bfd_loader_next(l, &b);
    if (st != BFD_OK) return st;
    if (!b) return BFD_OK;
    assert_int_equal(bfd_batch_release(b), BFD_OK);
  }
}

/* One epoch's "sample" outputs, row after row (malloc'd; *n rows). */
static int64_t *epoch_samples(bfd_loader *l, size_t *n) {
  int64_t *all = NULL;
  *n = 0;
  for (;;) {
    bfd_batch *b = NULL;
    bfd_status st = bfd_loader_next(l, &b);
    if (st != BFD_OK) print_message("next: %s\n", bfd_last_error());
    assert_int_equal(st, BFD_OK);
    if (!b) return all;
    size_t k;
    int64_t *s = tl_i64(b, "sample", &k);
    all = realloc(all, (*n + k) * sizeof *all);
    memcpy(all + *n, s, k * sizeof *s);
    *n += k;
    free(s);
    assert_int_equal(bfd_batch_release(b), BFD_OK);
  }
}

static char *image_yaml(const char *ds, const char *extra) {
  return tl_fmt("seed: 3\ndatasets: [{path: %s}]\nbatch_size: 4\nsampling: {order: none, drop_last: false}\n"
                "image: {ops: []}\ndevice: cpu\nprefetch: 2\n%s", ds, extra);
}

/* ---- missing and truncated shards ---- */

static void test_missing_shard(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "dna", 40, 50, 80, "ACGT", 10, 1);
  char *gone = strdup(shard_path(ds, 2));
  assert_int_equal(unlink(gone), 0);
  char *yaml = tl_fmt("datasets: [%s]\nsequence: {tokenizer: dna, max_len: 128}\ndevice: cpu\n", ds);
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open_string(yaml, f->dir, NULL, &l);
  assert_int_not_equal(st, BFD_OK);
  assert_null(l);
  assert_has(bfd_last_error(), strrchr(gone, '/') + 1);
  free(gone);
  free(yaml);
  free(ds);
}

static void test_truncated_shard(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "img", 20, 1, 32, 32, 0);
  char *sh = strdup(shard_path(ds, 1));
  uint64_t off, len;
  record_extent(sh, 5, &off, &len);
  assert_int_equal(truncate(sh, (off_t)off), 0);
  char *yaml = image_yaml(ds, "");
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open_string(yaml, f->dir, NULL, &l);
  if (st == BFD_OK) st = drain(l);
  assert_int_not_equal(st, BFD_OK);
  const char *msg = bfd_last_error();
  assert_has(msg, strrchr(sh, '/') + 1);
  assert_has(msg, "truncated");
  assert_true(strstr(msg, "copy it again") || strstr(msg, "copy the file again") || strstr(msg, "re-pack"));
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(yaml);
  free(sh);
  free(ds);
}

/* ---- EIO in the middle of a run ---- */

/* Reader threads call the hook at once. */
static pthread_mutex_t eio_mu = PTHREAD_MUTEX_INITIALIZER;
static long eio_calls, eio_at;
static char eio_path[4096];
static uint64_t eio_off;

/* Fails the eio_at-th read with EIO, and every later read of the same bytes
 * (the engine retries I/O errors), as a bad sector would. */
static void eio_hook(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)buf;
  (void)len;
  pthread_mutex_lock(&eio_mu);
  long k = ++eio_calls;
  if (k == eio_at) {
    snprintf(eio_path, sizeof eio_path, "%s", path);
    eio_off = offset;
  }
  if (k >= eio_at && eio_off == offset && !strcmp(eio_path, path)) *res = -EIO;
  pthread_mutex_unlock(&eio_mu);
}

/* Both engines: io_uring (when the kernel allows it) and the pread pool. */
static void test_eio_mid_run(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "img", 40, 1, 32, 32, 0);
  static const char *const engines[] = {"auto", "pread"};
  for (int e = 0; e < 2; e++) {
    char *io = tl_fmt("io: {engine: %s, readers: 2}\n", engines[e]);
    char *yaml = image_yaml(ds, io);
    bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
    eio_calls = 0;
    eio_at = 30;
    eio_path[0] = 0;
    bfdi_io_set_read_hook(eio_hook);
    uint64_t batches = 0;
    bfd_status st = BFD_OK;
    for (;;) {
      bfd_batch *b = NULL;
      st = bfd_loader_next(l, &b);
      if (st != BFD_OK || !b) break;
      batches++;
      assert_int_equal(bfd_batch_release(b), BFD_OK);
    }
    assert_int_equal(st, BFD_ERR_IO);
    const char *msg = bfd_last_error();
    assert_has(msg, eio_path);
    char at[64];
    snprintf(at, sizeof at, "byte offset %llu", (unsigned long long)eio_off);
    assert_has(msg, at);
    assert_has(msg, "Input/output error");
    assert_true(batches < 10);
    assert_int_equal(bfd_loader_close(l), BFD_OK);
    bfdi_io_set_read_hook(NULL);
    free(yaml);
    free(io);
  }
  free(ds);
}

/* ---- corrupt records, on_corrupt: error ---- */

static void corrupt_error(fx *f, const char *name, int images, int level) {
  char *ds = images ? tl_pack_images(f->dir, name, 20, 1, 32, 32, level)
                    : tl_pack_fasta(f->dir, name, 40, 50, 80, "ACGT", 10, 2);
  char *sh = strdup(shard_path(ds, 1));
  uint64_t off = corrupt_record(sh, 3);
  char *yaml = images ? image_yaml(ds, "")
                      : tl_fmt("datasets: [%s]\nbatch_size: 4\nsampling: {order: none}\n"
                               "sequence: {tokenizer: dna, max_len: 128}\ndevice: cpu\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  assert_int_equal(drain(l), BFD_ERR_CORRUPT);
  const char *msg = bfd_last_error();
  assert_has(msg, sh);
  assert_has(msg, "record 3");
  assert_has(msg, "byte offset");
  char at[64];
  snprintf(at, sizeof at, "byte offset %llu", (unsigned long long)off);
  if (!level) assert_has(msg, at);
  bfd_fault_stats fs;
  assert_int_equal(bfd_loader_faults(l, &fs), BFD_OK);
  assert_int_equal(fs.records_skipped, 0);
  assert_null(fs.last_shard);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(yaml);
  free(sh);
  free(ds);
}

/* Small batches reach a waiting consumer in groups (pipe.c); a failure
 * while a group is held back, with threads asleep on the plan lock and on
 * a full ring, must still reach the consumer. A hang ends the test through
 * SIGALRM. */
static void test_corrupt_error_grouped(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "imgg", 40, 1, 16, 16, 0);
  char *sh = strdup(shard_path(ds, 1));
  corrupt_record(sh, 5);
  char *yaml = tl_fmt("seed: 3\ndatasets: [{path: %s}]\nbatch_size: 1\nsampling: {order: none, drop_last: false}\n"
                      "image: {ops: []}\ndevice: cpu\nprefetch: 8\nio: {workers: 3}\n", ds);
  alarm(120);
  for (int run = 0; run < 150; run++) {
    bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
    assert_int_equal(drain(l), BFD_ERR_CORRUPT);
    assert_has(bfd_last_error(), sh);
    assert_int_equal(bfd_loader_close(l), BFD_OK);
  }
  alarm(0);
  free(yaml);
  free(sh);
  free(ds);
}

static void test_corrupt_error_seq(void **state) { corrupt_error(*state, "dna", 0, 0); }
static void test_corrupt_error_img(void **state) { corrupt_error(*state, "img", 1, 0); }
static void test_corrupt_error_deflate(void **state) { corrupt_error(*state, "imgz", 1, 6); }

/* ---- on_corrupt: skip ---- */

static void corrupt_skip(fx *f, const char *name, int level) {
  char *ds = tl_pack_images(f->dir, name, 20, 1, 32, 32, level);
  char *sh = strdup(shard_path(ds, 0));
  /* samples 5 and 6 corrupt: 5 and 6 both get 7; 9 gets 10 */
  uint64_t off5 = corrupt_record(sh, 5);
  corrupt_record(sh, 6);
  uint64_t off9 = corrupt_record(sh, 9);
  (void)off5;
  char *yaml = image_yaml(ds, "on_corrupt: skip\n");
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  size_t n;
  int64_t *got = epoch_samples(l, &n);
  assert_int_equal(n, 20);
  for (size_t i = 0; i < n; i++) {
    int64_t want = i == 5 || i == 6 ? 7 : (i == 9 ? 10 : (int64_t)i);
    assert_int_equal(got[i], want);
  }
  bfd_fault_stats fs;
  assert_int_equal(bfd_loader_faults(l, &fs), BFD_OK);
  /* 5 (its row), 6 (as 5's candidate), 6 (its row), 9 */
  assert_int_equal(fs.records_skipped, 4);
  assert_int_equal(fs.rows_replaced, 3);
  assert_non_null(fs.last_shard);
  assert_string_equal(fs.last_shard, sh);
  assert_int_equal(fs.last_record, 9);
  if (!level) assert_int_equal(fs.last_offset, off9);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(got);
  free(yaml);
  free(sh);
  free(ds);
}

static void test_skip_img(void **state) { corrupt_skip(*state, "img", 0); }
static void test_skip_deflate(void **state) { corrupt_skip(*state, "imgz", 6); }

/* A sequence row replaced by a record of another length: the rows after it
 * move, and the replaced row tokenizes the replacement exactly. */
static void test_skip_seq_lengths(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "prot", 30, 10, 90, "ACDEFGHIKLMNPQRSTVWY", 0, 5);
  char *sh = strdup(shard_path(ds, 0));
  corrupt_record(sh, 4);
  char *yaml = tl_fmt("datasets: [%s]\nbatch_size: 6\nsampling: {order: none}\n"
                      "sequence: {tokenizer: esm2, max_len: 128, padding: longest}\ndevice: cpu\n"
                      "on_corrupt: skip\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  bfd_batch *b;
  assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
  size_t n, m;
  int64_t *s = tl_i64(b, "sample", &n);
  assert_int_equal(n, 6);
  assert_int_equal(s[4], 5);
  assert_int_equal(s[5], 5);
  int64_t *ids = tl_i64(b, "ids", &m);
  size_t w = m / n;
  assert_memory_equal(ids + 4 * w, ids + 5 * w, w * sizeof *ids);
  DLManagedTensor *t;
  assert_int_equal(bfd_batch_get(b, "lengths", &t), BFD_OK);
  const int32_t *len = t->dl_tensor.data;
  assert_int_equal(len[4], len[5]);
  t->deleter(t);
  free(s);
  free(ids);
  assert_int_equal(bfd_batch_release(b), BFD_OK);
  bfd_fault_stats fs;
  assert_int_equal(bfd_loader_faults(l, &fs), BFD_OK);
  assert_int_equal(fs.records_skipped, 1);
  assert_int_equal(fs.rows_replaced, 1);
  assert_int_equal(fs.last_record, 4);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(yaml);
  free(sh);
  free(ds);
}

/* Two epochs of every output, shuffled, with faults: the same with 1 and 4
 * readers and workers, when resumed from a state saved mid-epoch, and on
 * the CUDA backend. */
static void test_skip_deterministic(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "img", 40, 1, 24, 24, 6);
  for (uint64_t r = 1; r < 10; r += 3) corrupt_record(shard_path(ds, 1), r);
  corrupt_record(shard_path(ds, 3), 9);
  const char *base = "seed: 9\ndatasets: [%s]\nbatch_size: 4\nimage: {ops: [{crop: {size: [16, 16]}}, "
                     "{flip: {axes: [x]}}]}\nprefetch: 3\non_corrupt: skip\n%s";
  char *y1 = tl_fmt(base, ds, "device: cpu\nio: {readers: 1, workers: 1}\n");
  char *y4 = tl_fmt(base, ds, "device: cpu\nio: {readers: 4, workers: 4}\n");
  char *yc = tl_fmt(base, ds, "device: cuda\nio: {readers: 2, workers: 2}\n");
  tl_log a = {0}, b = {0}, c = {0}, g = {0};
  bfd_loader *l = tl_open(y1, f->dir, 0, 1);
  tl_run(l, 20, &a);
  bfd_fault_stats fa;
  assert_int_equal(bfd_loader_faults(l, &fa), BFD_OK);
  assert_int_equal(fa.rows_replaced, 8); /* 4 corrupt samples, each epoch */
  assert_int_equal(fa.records_skipped, 8);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  l = tl_open(y4, f->dir, 0, 1);
  tl_run(l, 20, &b);
  bfd_fault_stats fb;
  assert_int_equal(bfd_loader_faults(l, &fb), BFD_OK);
  assert_int_equal(fb.rows_replaced, fa.rows_replaced);
  assert_int_equal(fb.records_skipped, fa.records_skipped);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.b, b.b, a.n);
  /* resume after 7 batches in a new loader */
  l = tl_open(y4, f->dir, 0, 1);
  tl_run(l, 7, &c);
  uint8_t st[128];
  size_t sl;
  assert_int_equal(bfd_loader_state_save(l, st, sizeof st, &sl), BFD_OK);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  l = tl_open(y1, f->dir, 0, 1);
  assert_int_equal(bfd_loader_state_load(l, st, sl), BFD_OK);
  tl_run(l, 13, &c);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  assert_int_equal(a.n, c.n);
  assert_memory_equal(a.b, c.b, a.n);
  /* the CUDA backend (the emulator here) replaces the same rows, with the same bits */
  l = tl_open(yc, f->dir, 0, 1);
  tl_run(l, 20, &g);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  assert_int_equal(a.n, g.n);
  assert_memory_equal(a.b, g.b, a.n);
  free(g.b);
  free(yc);
  free(a.b);
  free(b.b);
  free(c.b);
  free(y1);
  free(y4);
  free(ds);
}

/* ---- io.cache ---- */

enum { CACHE_SHARDS = 4 };
/* Reader threads call the hook at once. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static char cache_path[CACHE_SHARDS][4096];
static uint64_t cache_got[CACHE_SHARDS]; /* bytes the hook saw read of each shard */
static long cache_reads;
static char cache_fail[4096];             /* reads of this file fail with EIO ("": none) */

static void cache_hook(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)offset, (void)buf, (void)len;
  pthread_mutex_lock(&cache_mu);
  cache_reads++;
  for (int k = 0; k < CACHE_SHARDS; k++)
    if (!strcmp(path, cache_path[k]) && *res > 0) cache_got[k] += (uint64_t)*res;
  if (cache_fail[0] && !strcmp(path, cache_fail)) *res = -EIO;
  pthread_mutex_unlock(&cache_mu);
}

static void cache_reset(void) {
  pthread_mutex_lock(&cache_mu);
  cache_reads = 0;
  memset(cache_got, 0, sizeof cache_got);
  pthread_mutex_unlock(&cache_mu);
}

/* What the hook has counted so far; the pipeline's threads may still be
 * reading ahead. */
static long cache_counts(uint64_t got[CACHE_SHARDS]) {
  pthread_mutex_lock(&cache_mu);
  long reads = cache_reads;
  memcpy(got, cache_got, sizeof cache_got);
  pthread_mutex_unlock(&cache_mu);
  return reads;
}

/* With io.cache, opening reads every shard whole, once, and an epoch then
 * reads nothing (without it, the epoch's reads reach the kernel); a failing
 * read while filling the cache fails the open, naming io.cache and the
 * shard; shards that do not fit in memory_limit, alone or beside two
 * batches, are refused naming io.cache and memory_limit. */
static void test_io_cache(void **state) {
  fx *f = *state;
  char *ds = tl_pack_images(f->dir, "img", 40, 1, 128, 128, 0);
  uint64_t size[CACHE_SHARDS], mapped = 0;
  for (int k = 0; k < CACHE_SHARDS; k++) {
    snprintf(cache_path[k], sizeof cache_path[k], "%s", shard_path(ds, (size_t)k));
    struct stat st;
    assert_int_equal(stat(cache_path[k], &st), 0);
    size[k] = (uint64_t)st.st_size;
    mapped += (size[k] + 4095) / 4096 * 4096;
  }
  cache_fail[0] = 0;
  bfdi_io_set_read_hook(cache_hook);
  for (int cached = 0; cached < 2; cached++) {
    char *yaml = image_yaml(ds, cached ? "io: {cache: true, workers: 2}\n" : "io: {workers: 2}\n");
    cache_reset();
    bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
    uint64_t got[CACHE_SHARDS];
    cache_counts(got);
    for (int k = 0; k < CACHE_SHARDS; k++)
      if (cached) assert_int_equal(got[k], size[k]);
    cache_reset();
    size_t n;
    int64_t *samples = epoch_samples(l, &n);
    assert_int_equal(n, 40);
    if (cached)
      assert_int_equal(cache_counts(got), 0);
    else
      assert_true(cache_counts(got) >= 40);
    free(samples);
    assert_int_equal(bfd_loader_close(l), BFD_OK);
    free(yaml);
  }

  snprintf(cache_fail, sizeof cache_fail, "%s", cache_path[2]);
  char *yaml = image_yaml(ds, "io: {cache: true}\n");
  bfd_loader *l = NULL;
  assert_int_equal(bfd_loader_open_string(yaml, f->dir, NULL, &l), BFD_ERR_IO);
  assert_null(l);
  assert_has(bfd_last_error(), "<config string>:8: io.cache");
  assert_has(bfd_last_error(), strrchr(cache_path[2], '/') + 1);
  assert_has(bfd_last_error(), "after 3 retries");
  bfdi_io_set_read_hook(NULL);
  cache_fail[0] = 0;
  free(yaml);

  yaml = image_yaml(ds, "io: {cache: true}\nmemory_limit: 1M\n");
  assert_true(mapped > (1u << 20));
  assert_int_equal(bfd_loader_open_string(yaml, f->dir, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_has(bfd_last_error(), "<config string>:8: io.cache");
  assert_has(bfd_last_error(), "memory_limit");
  assert_has(bfd_last_error(), "io.cache: false");
  free(yaml);
  /* room for the shards, not for two batches of 4 images beside them */
  yaml = image_yaml(ds, "");
  char *tight = tl_fmt("%sio: {cache: true}\nmemory_limit: %llu\n", yaml, (unsigned long long)(mapped + (64u << 10)));
  assert_int_equal(bfd_loader_open_string(tight, f->dir, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_has(bfd_last_error(), "beside io.cache's");
  assert_has(bfd_last_error(), "raise memory_limit");
  free(tight);
  free(yaml);

  yaml = image_yaml(ds, "io: {cache: maybe}\n");
  assert_int_equal(bfd_loader_open_string(yaml, f->dir, NULL, &l), BFD_ERR_FORMAT);
  assert_has(bfd_last_error(), "<config string>:8");
  assert_has(bfd_last_error(), "io.cache");
  free(yaml);
  free(ds);
}

/* ---- config ---- */

static void test_config_errors(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "dna", 10, 50, 80, "ACGT", 0, 1);
  char *bad = tl_fmt("datasets: [%s]\nsequence: {tokenizer: dna, max_len: 64}\non_corrupt: ignore\n", ds);
  bfd_loader *l = NULL;
  assert_int_equal(bfd_loader_open_string(bad, f->dir, NULL, &l), BFD_ERR_FORMAT);
  assert_has(bfd_last_error(), "<config string>:3");
  assert_has(bfd_last_error(), "on_corrupt");
  assert_has(bfd_last_error(), "skip");
  char *win = tl_fmt("datasets: [%s]\nsequence: {tokenizer: dna, max_len: 64, window: {length: 30}}\n"
                     "on_corrupt: skip\n", ds);
  assert_int_equal(bfd_loader_open_string(win, f->dir, NULL, &l), BFD_ERR_FORMAT);
  assert_has(bfd_last_error(), ":3");
  assert_has(bfd_last_error(), "window");
  assert_null(l);
  free(bad);
  free(win);
  free(ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_missing_shard, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_truncated_shard, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_eio_mid_run, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_error_grouped, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_error_seq, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_error_img, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_error_deflate, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_skip_img, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_skip_deflate, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_skip_seq_lengths, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_skip_deterministic, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_io_cache, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_config_errors, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

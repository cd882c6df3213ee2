/* The loader end to end on the CPU backend: sequence datasets in record and
 * window mode (random, tiled, N rejection, BED regions) and image datasets
 * (2D with labels and classes, 3D deflated) packed here with bfd_pack, read
 * through the whole pipeline and checked against the generated inputs: every
 * output's name, shape, dtype and strides, and the values themselves (token
 * ids against the records, windows against the kernels' own window mode,
 * patches against the pixels), every sample exactly once per epoch. Also
 * batching by length and datasets mixed by weight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "ops/seq_config.h"
#include "ops/seq_window.h"
#include "seq.h"
#include "support/loader_util.h"

typedef tu_dir fx;

/* The records of a sequence dataset, by global sample index (manifest order). */
typedef struct records {
  size_t n;
  char **seq, **name;
  uint64_t *len;
} records;

static records read_records(const char *dir) {
  records r = {0};
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(dir, &d), BFD_OK);
  size_t ns;
  bfd_dataset_shard_count(d, &ns);
  for (size_t k = 0; k < ns; k++) {
    bfd_dataset_shard sh;
    bfd_dataset_shard_get(d, k, &sh);
    bfd_shard *s;
    assert_int_equal(bfd_shard_open(sh.path, &s), BFD_OK);
    for (uint64_t i = 0; i < sh.records; i++) {
      uint64_t len;
      assert_int_equal(bfd_shard_seq_length(s, i, &len), BFD_OK);
      r.seq = realloc(r.seq, (r.n + 1) * sizeof *r.seq);
      r.name = realloc(r.name, (r.n + 1) * sizeof *r.name);
      const char *name;
      assert_int_equal(bfd_shard_seq_name(s, i, &name), BFD_OK);
      r.name[r.n] = strdup(name);
      r.len = realloc(r.len, (r.n + 1) * sizeof *r.len);
      r.seq[r.n] = calloc(len + 1, 1);
      assert_int_equal(bfd_shard_seq_read(s, i, (uint8_t *)r.seq[r.n], len, NULL, 0), BFD_OK);
      r.len[r.n++] = len;
    }
    bfd_shard_close(s);
  }
  bfd_dataset_close(d);
  return r;
}

static void free_records(records *r) {
  for (size_t i = 0; i < r->n; i++) {
    free(r->seq[i]);
    free(r->name[i]);
  }
  free(r->seq);
  free(r->name);
  free(r->len);
}

static void check_tensor(bfd_batch *b, const char *name, uint8_t code, uint8_t bits, int ndim, const int64_t *shape) {
  DLManagedTensor *t;
  assert_int_equal(bfd_batch_get(b, name, &t), BFD_OK);
  const DLTensor *d = &t->dl_tensor;
  assert_int_equal(d->dtype.code, code);
  assert_int_equal(d->dtype.bits, bits);
  assert_int_equal(d->dtype.lanes, 1);
  assert_int_equal(d->ndim, ndim);
  assert_int_equal(d->device.device_type, kDLCPU);
  assert_int_equal(d->byte_offset, 0);
  assert_non_null(d->strides);
  int64_t stride = 1;
  for (int k = ndim - 1; k >= 0; k--) {
    if (shape[k] >= 0) assert_int_equal(d->shape[k], shape[k]);
    assert_int_equal(d->strides[k], stride);
    stride *= d->shape[k];
  }
  t->deleter(t);
}

/* ---- sequences, whole records ---- */

static void test_seq_records(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "prot", 203, 5, 300, "ACDEFGHIKLMNPQRSTVWY", 40, 11);
  records r = read_records(ds);
  assert_int_equal(r.n, 203);
  char *yaml = tl_fmt("seed: 7\ndatasets: [{path: %s}]\nbatch_size: 16\nsampling: {drop_last: false}\n"
                      "sequence: {tokenizer: esm2, max_len: 128}\ndevice: cpu\nprefetch: 3\n", ds);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  uint64_t steps;
  assert_int_equal(bfd_loader_steps_per_epoch(l, &steps), BFD_OK);
  assert_int_equal(steps, 13);
  bfdk_seq_vocab v;
  assert_int_equal(bfdk_seq_vocab_preset("esm2", 0, &v), BFD_OK);
  int *seen = calloc(r.n, sizeof *seen);
  uint64_t batches = 0;
  int padded = 0;
  for (;;) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    if (!b) break;
    bfd_batch_info info;
    assert_int_equal(bfd_batch_info_get(b, &info), BFD_OK);
    assert_int_equal(info.epoch, 0);
    assert_int_equal(info.step, batches);
    assert_int_equal(info.samples, 16);
    assert_int_equal(info.n_outputs, 5);
    assert_int_equal(info.device, kDLCPU);
    const int64_t bw[] = {16, 128}, bb[] = {16};
    check_tensor(b, "ids", kDLInt, 64, 2, bw);
    check_tensor(b, "attention_mask", kDLUInt, 8, 2, bw);
    check_tensor(b, "lengths", kDLInt, 32, 1, bb);
    check_tensor(b, "sample", kDLInt, 64, 1, bb);
    check_tensor(b, "valid", kDLUInt, 8, 1, bb);
    DLManagedTensor *bad;
    assert_int_equal(bfd_batch_get(b, "image", &bad), BFD_ERR_INVALID_ARG);
    assert_non_null(strstr(bfd_last_error(), "ids, attention_mask, lengths, sample, valid"));
    size_t n, ni, nv;
    int64_t *sample = tl_i64(b, "sample", &n), *ids = tl_i64(b, "ids", &ni);
    uint8_t *valid = tl_u8(b, "valid", &nv), *attn = tl_u8(b, "attention_mask", &nv);
    for (size_t i = 0; i < n; i++) {
      assert_true(sample[i] >= 0 && (size_t)sample[i] < r.n);
      if (valid[i]) seen[sample[i]]++;
      padded += !valid[i];
      /* <cls> residues <eos>, truncated to 128, padded with <pad> */
      const char *s = r.seq[sample[i]];
      int64_t keep = r.len[sample[i]] < 126 ? (int64_t)r.len[sample[i]] : 126;
      const int64_t *row = ids + i * 128;
      assert_int_equal(row[0], v.cls);
      for (int64_t k = 0; k < keep; k++) assert_int_equal(row[1 + k], v.byte_id[(uint8_t)s[k]]);
      assert_int_equal(row[1 + keep], v.eos);
      for (int64_t k = keep + 2; k < 128; k++) assert_int_equal(row[k], v.pad);
      for (int64_t k = 0; k < 128; k++) assert_int_equal(attn[i * 128 + k], k < keep + 2);
    }
    free(sample);
    free(ids);
    free(valid);
    free(attn);
    assert_int_equal(bfd_batch_release(b), BFD_OK);
    assert_int_equal(bfd_batch_release(b), BFD_ERR_INVALID_ARG);
    batches++;
  }
  assert_int_equal(batches, 13);
  assert_int_equal(padded, 13 * 16 - 203);
  for (size_t i = 0; i < r.n; i++) assert_int_equal(seen[i], 1);
  uint32_t epoch;
  uint64_t step;
  assert_int_equal(bfd_loader_position(l, &epoch, &step), BFD_OK);
  assert_int_equal(epoch, 1);
  assert_int_equal(step, 0);
  bfd_stage_stats st[8];
  size_t ns;
  assert_int_equal(bfd_loader_stats(l, st, 8, &ns), BFD_OK);
  assert_int_equal(ns, 6);
  const char *names[] = {"plan", "read", "decode", "upload", "ops", "batch"};
  for (size_t k = 0; k < ns; k++) {
    assert_string_equal(st[k].name, names[k]);
    assert_true(st[k].records >= 13 * 16);
  }
  assert_true(st[1].bytes > 0);
  assert_true(st[4].busy_s > 0);
  bfdk_seq_vocab_free(&v);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(seen);
  free_records(&r);
  free(yaml);
  free(ds);
}

/* ---- sequences, windows: the pipeline cuts windows on the host; the kernel
 * run in its own window mode over whole records must give the same rows ---- */

typedef struct concat {
  uint8_t *data;
  uint64_t *offsets;
} concat;

static concat concat_records(const records *r) {
  concat c;
  c.offsets = malloc((r->n + 1) * sizeof *c.offsets);
  c.offsets[0] = 0;
  for (size_t i = 0; i < r->n; i++) c.offsets[i + 1] = c.offsets[i] + r->len[i];
  c.data = malloc(c.offsets[r->n] + 1);
  for (size_t i = 0; i < r->n; i++) memcpy(c.data + c.offsets[i], r->seq[i], r->len[i]);
  return c;
}

/* Checks one epoch of a window config against bfdk_seq_batch_cpu run in
 * window mode on whole records. */
static void check_windows(fx *f, const char *ds, const records *r, const char *seq_yaml, uint64_t *samples) {
  char *yaml = tl_fmt("seed: 3\ndatasets: [{path: %s}]\nbatch_size: 8\nsampling: {drop_last: false}\n"
                      "sequence: %s\ndevice: cpu\n", ds, seq_yaml);
  char *cfg_path = strdup(tu_path("%s/seqops.yaml", f->dir));
  tu_write(cfg_path, seq_yaml, strlen(seq_yaml));
  bfd_seq_config sc;
  assert_int_equal(bfd_seq_config_load(cfg_path, &sc), BFD_OK);
  int32_t *tables;
  size_t count;
  assert_int_equal(bfdk_seq_tables_build(&sc.vocab, sc.case_mode, &tables, &count), BFD_OK);
  bfdk_seq_regions_owned rg;
  memset(&rg, 0, sizeof rg);
  if (sc.bed_path) {
    size_t n_text, unmatched;
    uint8_t *text = tu_read(sc.bed_path, &n_text);
    bfdk_seq_bed bed;
    assert_int_equal(bfdk_seq_bed_parse((const char *)text, n_text, sc.bed_path, &bed), BFD_OK);
    assert_int_equal(bfdk_seq_regions_resolve(&bed, sc.bed_path, (const char *const *)r->name, r->len, r->n,
                                              &sc.params, &rg, &unmatched), BFD_OK);
    bfdk_seq_bed_free(&bed);
    free(text);
  }
  /* the sample space: windows per record, as the loader numbers them */
  uint64_t *cum = malloc((r->n + 1) * sizeof *cum);
  cum[0] = 0;
  int tiled = sc.params.sample_mode == BFD_SEQ_WINDOW_TILED;
  for (size_t i = 0; i < r->n; i++) {
    int64_t stride = tiled ? sc.params.tile_stride : sc.params.window;
    uint64_t w = bfd_seq_region_windows((int64_t)r->len[i], sc.params.window, stride);
    if (rg.n && tiled) w = bfd_seq_record_windows(&sc.params, &rg.view, i, (int64_t)r->len[i]);
    if (rg.n && !tiled && rg.off[i + 1] > rg.off[i]) {
      w = 0;
      for (uint64_t k = rg.off[i]; k < rg.off[i + 1]; k++)
        w += bfd_seq_region_windows(rg.end[k] - rg.start[k], sc.params.window, sc.params.window);
    }
    cum[i + 1] = cum[i] + w;
  }
  *samples = cum[r->n];
  concat c = concat_records(r);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  uint64_t *seen = calloc(cum[r->n], sizeof *seen);
  int32_t W = sc.params.max_len;
  for (;;) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    if (!b) break;
    bfd_batch_info info;
    bfd_batch_info_get(b, &info);
    size_t n, ni, nv;
    int64_t *sample = tl_i64(b, "sample", &n), *ids = tl_i64(b, "ids", &ni);
    uint8_t *valid = tl_u8(b, "valid", &nv);
    assert_int_equal(ni, n * (size_t)W);
    uint64_t *rec = malloc(n * 8), *tile = malloc(n * 8), *key = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
      uint64_t s = (uint64_t)sample[i];
      assert_true(s < cum[r->n]);
      if (valid[i]) seen[s]++;
      size_t k = 0;
      while (cum[k + 1] <= s) k++;
      rec[i] = k;
      tile[i] = s - cum[k];
      key[i] = s;
    }
    bfdk_seq_input in = {.data = c.data, .offsets = c.offsets, .n_records = r->n, .record = rec, .sample = key,
                         .tile = tile, .regions = rg.view, .n = (int64_t)n, .seed = 3, .epoch = info.epoch};
    int64_t *want = calloc(n * (size_t)W, 8);
    bfdk_seq_output out = {.ids = want};
    void *work = malloc(bfdk_seq_work_bytes((int64_t)n));
    int32_t width;
    assert_int_equal(bfdk_seq_batch_cpu(&sc.params, tables, &in, &out, work, &width), BFD_OK);
    assert_int_equal(width, W);
    assert_memory_equal(ids, want, n * (size_t)W * 8);
    free(work);
    free(want);
    free(rec);
    free(tile);
    free(key);
    free(sample);
    free(ids);
    free(valid);
    bfd_batch_release(b);
  }
  for (uint64_t s = 0; s < cum[r->n]; s++) assert_int_equal(seen[s], 1);
  bfd_loader_close(l);
  free(seen);
  free(cum);
  free(c.data);
  free(c.offsets);
  free(tables);
  if (rg.n) bfdk_seq_regions_free(&rg);
  bfd_seq_config_free(&sc);
  free(cfg_path);
  free(yaml);
}

static void test_seq_windows(void **state) {
  fx *f = *state;
  /* N-rich DNA so that N rejection redraws, lowercase for the case modes */
  char *ds = tl_pack_fasta(f->dir, "dna", 7, 150, 3000, "ACGTACGTacgtNNNNNN", 3, 5);
  records r = read_records(ds);
  uint64_t n_random, n_tiled, n_rej;
  check_windows(f, ds, &r, "{tokenizer: dna, max_len: 64, window: {length: 64}}", &n_random);
  check_windows(f, ds, &r, "{tokenizer: dna, max_len: 100, rc: 0.5, shift: 5, case: n, "
                           "window: {length: 100, mode: random}}", &n_random);
  check_windows(f, ds, &r, "{tokenizer: hyenadna, max_len: 80, window: {length: 96, mode: tiled, stride: 50}}",
                &n_tiled);
  check_windows(f, ds, &r, "{tokenizer: dna, max_len: 40, rc: 0.5, shift: 7, "
                           "window: {length: 40, max_n_frac: 0.05, max_attempts: 6}}", &n_rej);
  /* without a shift the first candidate is read straight into the batch */
  check_windows(f, ds, &r, "{tokenizer: hyenadna, max_len: 41, rc: 0.5, "
                           "window: {length: 40, max_n_frac: 0.05, max_attempts: 9}}", &n_rej);
  check_windows(f, ds, &r, "{tokenizer: dnabert, k: 3, max_len: 50, window: {length: 52, mode: tiled}}", &n_rej);
  /* BED regions on some records (the others are sampled whole) */
  char *bed = strdup(tu_path("%s/regions.bed", f->dir));
  char *text = tl_fmt("# test regions\n%s\t100\t%llu\n%s\t0\t30\n%s\t%llu\t%llu\nchrUn\t0\t10\n", r.name[2],
                      (unsigned long long)r.len[2] / 2, r.name[4], r.name[2], (unsigned long long)r.len[2] * 3 / 4,
                      (unsigned long long)r.len[2]);
  assert_int_equal(tu_write(bed, text, strlen(text)), 0);
  char *with_bed = tl_fmt("{tokenizer: dna, max_len: 60, window: {length: 60, bed: %s}}", bed);
  check_windows(f, ds, &r, with_bed, &n_rej);
  free(with_bed);
  with_bed = tl_fmt("{tokenizer: dna, max_len: 60, shift: 3, window: {length: 60, mode: tiled, stride: 20, bed: %s}}",
                    bed);
  check_windows(f, ds, &r, with_bed, &n_rej);
  free(with_bed);
  free(text);
  free(bed);
  uint64_t want_random = 0, want_tiled = 0;
  for (size_t i = 0; i < r.n; i++) {
    want_random += r.len[i] <= 100 ? 1 : (r.len[i] - 100 + 99) / 100 + 1;
    want_tiled += r.len[i] <= 96 ? 1 : (r.len[i] - 96 + 49) / 50 + 1;
  }
  assert_int_equal(n_random, want_random);
  assert_int_equal(n_tiled, want_tiled);
  free_records(&r);
  free(ds);
}

/* ---- images ---- */

static void check_images(fx *f, int pages, int h, int w, const char *crop, const int64_t *patch, int level) {
  char *ds = tl_pack_images(f->dir, pages > 1 ? "vol" : "img", 23, pages, h, w, level);
  char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 5\nsampling: {drop_last: false, order: shards, "
                      "shard_window: 2}\nimage:\n  ops:\n    - crop: {size: %s, mode: center}\n"
                      "  output: {dtype: float32, label_dtype: int32}\ndevice: cpu\nio: {workers: 2}\n", ds, crop);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  int nd = pages > 1 ? 3 : 2;
  int64_t pz = nd == 3 ? patch[0] : 1, py = patch[nd - 2], px = patch[nd - 1];
  int64_t oz = (pages - pz) / 2, oy = (h - py) / 2, ox = (w - px) / 2;
  int seen[23] = {0};
  uint64_t batches = 0;
  for (;;) {
    bfd_batch *b;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    if (!b) break;
    int64_t ishape[5] = {5, 1}, lshape[4] = {5};
    for (int k = 0; k < nd; k++) ishape[2 + k] = lshape[1 + k] = patch[k];
    const int64_t bb[] = {5};
    check_tensor(b, "image", kDLFloat, 32, 2 + nd, ishape);
    check_tensor(b, "label", kDLInt, 32, 1 + nd, lshape);
    check_tensor(b, "class", kDLInt, 64, 1, bb);
    check_tensor(b, "sample", kDLInt, 64, 1, bb);
    check_tensor(b, "valid", kDLUInt, 8, 1, bb);
    size_t n, nc, nv;
    int64_t *sample = tl_i64(b, "sample", &n), *cls = tl_i64(b, "class", &nc);
    uint8_t *valid = tl_u8(b, "valid", &nv);
    DLManagedTensor *ti, *tlab;
    assert_int_equal(bfd_batch_get(b, "image", &ti), BFD_OK);
    assert_int_equal(bfd_batch_get(b, "label", &tlab), BFD_OK);
    const float *img = ti->dl_tensor.data;
    const int32_t *lab = tlab->dl_tensor.data;
    for (size_t i = 0; i < n; i++) {
      int s = (int)sample[i];
      assert_true(s >= 0 && s < 23);
      if (valid[i]) seen[s]++;
      assert_int_equal(cls[i], s % 5);
      size_t at = i * (size_t)(pz * py * px);
      for (int64_t z = 0; z < pz; z++)
        for (int64_t y = 0; y < py; y++)
          for (int64_t x = 0; x < px; x++, at++) {
            assert_true(img[at] == (float)tl_pixel(s, (int)(oz + z), (int)(oy + y), (int)(ox + x)));
            assert_int_equal(lab[at], tl_mask(s, (int)(oz + z), (int)(oy + y), (int)(ox + x)));
          }
    }
    ti->deleter(ti);
    tlab->deleter(tlab);
    free(sample);
    free(cls);
    free(valid);
    bfd_batch_release(b);
    batches++;
  }
  assert_int_equal(batches, 5);
  for (int i = 0; i < 23; i++) assert_int_equal(seen[i], 1);
  bfd_loader_close(l);
  free(yaml);
  free(ds);
}

static void test_images_2d(void **state) {
  const int64_t patch[] = {16, 20};
  check_images(*state, 1, 40, 36, "[16, 20]", patch, 0);
}

static void test_images_3d_deflate(void **state) {
  const int64_t patch[] = {4, 8, 10};
  check_images(*state, 6, 20, 24, "[4, 8, 10]", patch, 6);
}

/* ---- batching by length ---- */

static void test_bucket_and_tokens(void **state) {
  fx *f = *state;
  char *ds = tl_pack_fasta(f->dir, "var", 300, 10, 400, "ACDEFGHIKLMNPQRSTVWY", 0, 21);
  records r = read_records(ds);
  const char *modes[] = {"{batching: bucket, bucket_window: 8, drop_last: false}",
                         "{batching: tokens, max_tokens: 2048, bucket_window: 4, drop_last: false}"};
  for (int m = 0; m < 2; m++) {
    char *yaml = tl_fmt("datasets: [{path: %s}]\nbatch_size: 16\nsampling: %s\nsequence: {tokenizer: esm2, "
                        "max_len: 256, padding: longest}\ndevice: cpu\n", ds, modes[m]);
    bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
    int *seen = calloc(r.n, sizeof *seen);
    for (;;) {
      bfd_batch *b;
      assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
      if (!b) break;
      size_t n, nv, nl;
      int64_t *sample = tl_i64(b, "sample", &n);
      uint8_t *valid = tl_u8(b, "valid", &nv);
      DLManagedTensor *ids, *len;
      assert_int_equal(bfd_batch_get(b, "ids", &ids), BFD_OK);
      assert_int_equal(bfd_batch_get(b, "lengths", &len), BFD_OK);
      nl = tl_numel(&len->dl_tensor);
      const int32_t *lens = len->dl_tensor.data;
      int64_t width = ids->dl_tensor.shape[1], longest = 0;
      assert_true(n <= 16);
      for (size_t i = 0; i < nl; i++) longest = lens[i] > longest ? lens[i] : longest;
      assert_int_equal(width, (longest + 7) / 8 * 8);
      if (m == 1) assert_true((uint64_t)longest * n <= 2048);
      for (size_t i = 0; i < n; i++)
        if (valid[i]) seen[sample[i]]++;
      ids->deleter(ids);
      len->deleter(len);
      free(sample);
      free(valid);
      bfd_batch_release(b);
    }
    for (size_t i = 0; i < r.n; i++) assert_int_equal(seen[i], 1);
    bfd_loader_close(l);
    free(seen);
    free(yaml);
  }
  free_records(&r);
  free(ds);
}

/* ---- several datasets mixed by weight ---- */

static void test_mixed_datasets(void **state) {
  fx *f = *state;
  char *a = tl_pack_fasta(f->dir, "mix-a", 30, 20, 60, "ACGT", 0, 31);
  char *b = tl_pack_fasta(f->dir, "mix-b", 20, 20, 60, "ACGT", 0, 32);
  records ra = read_records(a), rb = read_records(b);
  char *yaml = tl_fmt("datasets:\n  - {path: %s, weight: 1}\n  - {path: %s, weight: 3}\nbatch_size: 5\n"
                      "sequence: {tokenizer: dna, max_len: 64}\ndevice: cpu\n", a, b);
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  uint64_t steps;
  assert_int_equal(bfd_loader_steps_per_epoch(l, &steps), BFD_OK);
  assert_int_equal(steps, 10);
  bfdk_seq_vocab v;
  assert_int_equal(bfdk_seq_vocab_preset("dna", 0, &v), BFD_OK);
  int from_a = 0, from_b = 0;
  for (;;) {
    bfd_batch *bt;
    assert_int_equal(bfd_loader_next(l, &bt), BFD_OK);
    if (!bt) break;
    size_t n, ni;
    int64_t *sample = tl_i64(bt, "sample", &n), *ids = tl_i64(bt, "ids", &ni);
    for (size_t i = 0; i < n; i++) {
      assert_true(sample[i] >= 0 && sample[i] < 50);
      /* global sample indices: dataset a's samples, then b's */
      const char *seq = sample[i] < 30 ? ra.seq[sample[i]] : rb.seq[sample[i] - 30];
      from_a += sample[i] < 30;
      from_b += sample[i] >= 30;
      assert_int_equal(ids[i * 64], v.byte_id[(uint8_t)seq[0]]);
      assert_int_equal(ids[i * 64 + 9], v.byte_id[(uint8_t)seq[9]]);
    }
    free(sample);
    free(ids);
    bfd_batch_release(bt);
  }
  assert_int_equal(from_a + from_b, 50);
  assert_true(from_b > 2 * from_a);
  bfdk_seq_vocab_free(&v);
  bfd_loader_close(l);
  free_records(&ra);
  free_records(&rb);
  free(yaml);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_seq_records, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_seq_windows, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_images_2d, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_images_3d_deflate, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_bucket_and_tokens, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_mixed_datasets, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

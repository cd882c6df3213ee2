/* Helpers shared by the loader tests: small datasets packed with bfd_pack
 * from generated FASTA and TIFF inputs, loaders opened from YAML text, and
 * whole batches (every output's name, shape, dtype and bytes, downloaded
 * from the device when the batch is on the GPU) appended to a byte log, so
 * that two runs compare with one memcmp. */
#ifndef BFD_TEST_LOADER_UTIL_H
#define BFD_TEST_LOADER_UTIL_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>

#include "biofeed/loader.h"
#include "biofeed/pack.h"
#include "gpu.h"
#include "testutil.h"

static inline uint64_t tl_rand(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}

/* A FASTA of n records of lo..hi letters drawn from alphabet, written to
 * dir/name.fa and packed into dir/name (records_per_shard per shard, 0: one
 * shard). Returns the dataset directory (malloc'd). */
static inline char *tl_pack_fasta(const char *dir, const char *name, int n, int lo, int hi, const char *alphabet,
                                  uint64_t records_per_shard, uint64_t seed) {
  char *fa = strdup(tu_path("%s/%s.fa", dir, name));
  FILE *f = fopen(fa, "w");
  assert_non_null(f);
  size_t na = strlen(alphabet);
  uint64_t x = seed;
  for (int r = 0; r < n; r++) {
    int len = lo + (int)(tl_rand(&x) % (uint64_t)(hi - lo + 1));
    fprintf(f, ">rec%d\n", r);
    for (int i = 0; i < len; i++) {
      fputc(alphabet[tl_rand(&x) % na], f);
      if (i % 80 == 79 || i == len - 1) fputc('\n', f);
    }
  }
  fclose(f);
  char *out = strdup(tu_path("%s/%s", dir, name));
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.out_dir = out;
  o.records_per_shard = records_per_shard;
  const char *ins[] = {fa};
  bfd_status st = bfd_pack(&o, ins, 1, NULL);
  if (st != BFD_OK) fprintf(stderr, "%s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  free(fa);
  return out;
}

/* Pixel value of image i, plane z, row y, column x: every voxel checkable. */
static inline uint16_t tl_pixel(int i, int z, int y, int x) {
  return (uint16_t)(i * 1009 + z * 257 + y * 31 + x * 3 + ((x * y) & 63));
}
static inline uint8_t tl_mask(int i, int z, int y, int x) { return (uint8_t)((x / 4 + y / 4 + z + i) % 3); }

static inline void tl_write_tiff(const char *path, int i, int pages, int h, int w, int mask) {
  TIFF *t = TIFFOpen(path, "w");
  assert_non_null(t);
  uint8_t *row = malloc((size_t)w * 2);
  for (int z = 0; z < pages; z++) {
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, mask ? 8 : 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    if (pages > 1) TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    for (int y = 0; y < h; y++) {
      for (int x = 0; x < w; x++) {
        if (mask)
          row[x] = tl_mask(i, z, y, x);
        else
          ((uint16_t *)row)[x] = tl_pixel(i, z, y, x);
      }
      assert_int_equal(TIFFWriteScanline(t, row, (uint32_t)y, 0), 1);
    }
    TIFFWriteDirectory(t);
  }
  free(row);
  TIFFClose(t);
}

/* n uint16 images of [pages, h, w] (pages 1: 2D) with uint8 masks and a
 * class per image (i % 5), packed into dir/name; level > 0 deflates. */
static inline char *tl_pack_images(const char *dir, const char *name, int n, int pages, int h, int w, int level) {
  char *imgs = strdup(tu_path("%s/%s-img", dir, name)), *masks = strdup(tu_path("%s/%s-mask", dir, name));
  char *csv = strdup(tu_path("%s/%s.csv", dir, name));
  mkdir(imgs, 0755);
  mkdir(masks, 0755);
  FILE *c = fopen(csv, "w");
  assert_non_null(c);
  for (int i = 0; i < n; i++) {
    tl_write_tiff(tu_path("%s/im%03d.tif", imgs, i), i, pages, h, w, 0);
    tl_write_tiff(tu_path("%s/im%03d.tif", masks, i), i, pages, h, w, 1);
    fprintf(c, "im%03d,%d\n", i, i % 5);
  }
  fclose(c);
  char *out = strdup(tu_path("%s/%s", dir, name));
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.out_dir = out;
  o.labels = masks;
  o.classes_csv = csv;
  o.compress_level = level;
  o.records_per_shard = 10;
  const char *ins[] = {imgs};
  bfd_status st = bfd_pack(&o, ins, 1, NULL);
  if (st != BFD_OK) fprintf(stderr, "%s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  free(imgs);
  free(masks);
  free(csv);
  return out;
}

static inline char *tl_fmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  assert_true(vasprintf(&s, fmt, ap) >= 0);
  va_end(ap);
  return s;
}

static inline bfd_loader *tl_open(const char *yaml, const char *dir, int rank, int world) {
  bfd_loader_options o;
  bfd_loader_options_init(&o);
  o.rank = rank;
  o.world_size = world;
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open_string(yaml, dir, &o, &l);
  if (st != BFD_OK) print_message("open: %s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  return l;
}

/* A byte log of batches. */
typedef struct tl_log {
  uint8_t *b;
  size_t n, cap;
  uint64_t batches;
} tl_log;

static inline void tl_put(tl_log *g, const void *p, size_t n) {
  if (g->n + n > g->cap) {
    g->cap = (g->n + n) * 2;
    g->b = realloc(g->b, g->cap);
    assert_non_null(g->b);
  }
  memcpy(g->b + g->n, p, n);
  g->n += n;
}

static inline size_t tl_numel(const DLTensor *t) {
  size_t n = 1;
  for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
  return n;
}

/* The tensor's bytes in host memory (malloc'd). */
static inline uint8_t *tl_host(const DLTensor *t) {
  size_t n = tl_numel(t) * t->dtype.bits / 8;
  uint8_t *h = malloc(n ? n : 1);
  if (t->device.device_type == kDLCUDA)
    assert_int_equal(bfdk_gpu_download(h, t->data, n), BFD_OK);
  else
    memcpy(h, t->data, n);
  return h;
}

/* Appends every output of b (name, shape, dtype, bytes) to g. */
static inline void tl_log_batch(bfd_batch *b, tl_log *g) {
  bfd_batch_info info;
  assert_int_equal(bfd_batch_info_get(b, &info), BFD_OK);
  tl_put(g, &info.epoch, sizeof info.epoch);
  tl_put(g, &info.step, sizeof info.step);
  for (size_t i = 0; i < info.n_outputs; i++) {
    const char *name;
    DLManagedTensor *t;
    assert_int_equal(bfd_batch_output(b, i, &name, &t), BFD_OK);
    tl_put(g, name, strlen(name) + 1);
    tl_put(g, &t->dl_tensor.dtype, sizeof t->dl_tensor.dtype);
    tl_put(g, t->dl_tensor.shape, sizeof(int64_t) * (size_t)t->dl_tensor.ndim);
    uint8_t *h = tl_host(&t->dl_tensor);
    tl_put(g, h, tl_numel(&t->dl_tensor) * t->dl_tensor.dtype.bits / 8);
    free(h);
    t->deleter(t);
  }
  g->batches++;
}

/* Logs n batches (crossing epoch ends, which are not logged), or, with n 0,
 * the rest of the current epoch. */
static inline void tl_run(bfd_loader *l, uint64_t n, tl_log *g) {
  uint64_t got = 0;
  for (;;) {
    bfd_batch *b = NULL;
    bfd_status st = bfd_loader_next(l, &b);
    if (st != BFD_OK) print_message("next: %s\n", bfd_last_error());
    assert_int_equal(st, BFD_OK);
    if (!b) {
      if (n == 0) return;
      continue;
    }
    tl_log_batch(b, g);
    assert_int_equal(bfd_batch_release(b), BFD_OK);
    if (n && ++got == n) return;
  }
}

/* An int64 output of b, in host memory (malloc'd), with its element count. */
static inline int64_t *tl_i64(bfd_batch *b, const char *name, size_t *n) {
  DLManagedTensor *t;
  assert_int_equal(bfd_batch_get(b, name, &t), BFD_OK);
  assert_int_equal(t->dl_tensor.dtype.bits, 64);
  *n = tl_numel(&t->dl_tensor);
  int64_t *h = (int64_t *)tl_host(&t->dl_tensor);
  t->deleter(t);
  return h;
}

static inline uint8_t *tl_u8(bfd_batch *b, const char *name, size_t *n) {
  DLManagedTensor *t;
  assert_int_equal(bfd_batch_get(b, name, &t), BFD_OK);
  assert_int_equal(t->dl_tensor.dtype.bits, 8);
  *n = tl_numel(&t->dl_tensor);
  uint8_t *h = tl_host(&t->dl_tensor);
  t->deleter(t);
  return h;
}

#endif

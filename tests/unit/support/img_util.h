/* Helpers shared by the image op tests (test_img_*.c): a batch with its
 * inputs and outputs allocated, seeded test data, and runs of one op list
 * on the CPU backend and on the CUDA backend (the emulator in test builds),
 * with inputs copied to device memory and results copied back. */
#ifndef BFD_TEST_IMG_UTIL_H
#define BFD_TEST_IMG_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "img.h"

typedef struct it {
  bfdk_img_batch b;
  void *images, *labels;
  uint64_t *gidx;
  size_t in_bytes, lab_in_bytes, out_bytes, lab_out_bytes;
  bfdk_img_plan plan;
} it;

static inline uint32_t it_rand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* B samples of shape `shape` (ndim 3 or 4) of dtype dt, zero-filled, with
 * global sample indices first, first + 1, ... */
static inline void it_init(it *t, size_t B, int ndim, const int64_t *shape, bfd_dtype dt, uint64_t first) {
  memset(t, 0, sizeof *t);
  t->b.batch = B;
  t->b.ndim = ndim;
  size_t per = 1;
  for (int i = 0; i < ndim; i++) {
    t->b.shape[i] = shape[i];
    per *= (size_t)shape[i];
  }
  t->b.dtype = dt;
  t->in_bytes = B * per * bfd_dtype_size(dt);
  t->images = calloc(1, t->in_bytes ? t->in_bytes : 1);
  t->b.images = t->images;
  t->gidx = malloc(B * sizeof *t->gidx);
  for (size_t i = 0; i < B; i++) t->gidx[i] = first + i;
  t->b.sample_index = t->gidx;
  t->b.seed = 1234;
  t->b.epoch = 0;
  t->b.out_dtype = BFDK_F32;
  t->b.out_label_dtype = BFD_DTYPE_INT64;
}

/* Zero-filled labels of dtype lt with the images' spatial shape. */
static inline void it_labels(it *t, bfd_dtype lt) {
  size_t per = 1;
  t->b.label_ndim = t->b.ndim - 1;
  for (int i = 0; i < t->b.label_ndim; i++) {
    t->b.label_shape[i] = t->b.shape[i + 1];
    per *= (size_t)t->b.shape[i + 1];
  }
  t->b.label_dtype = lt;
  t->lab_in_bytes = t->b.batch * per * bfd_dtype_size(lt);
  t->labels = calloc(1, t->lab_in_bytes);
  t->b.labels = t->labels;
}

static inline double it_get(const it *t, size_t i) {
  switch (t->b.dtype) {
    case BFD_DTYPE_UINT8: return ((const uint8_t *)t->images)[i];
    case BFD_DTYPE_UINT16: return ((const uint16_t *)t->images)[i];
    case BFD_DTYPE_INT16: return ((const int16_t *)t->images)[i];
    default: return ((const float *)t->images)[i];
  }
}

static inline void it_set(it *t, size_t i, double v) {
  switch (t->b.dtype) {
    case BFD_DTYPE_UINT8: ((uint8_t *)t->images)[i] = (uint8_t)v; break;
    case BFD_DTYPE_UINT16: ((uint16_t *)t->images)[i] = (uint16_t)v; break;
    case BFD_DTYPE_INT16: ((int16_t *)t->images)[i] = (int16_t)v; break;
    default: ((float *)t->images)[i] = (float)v; break;
  }
}

static inline int64_t it_lget(const it *t, size_t i) {
  switch (t->b.label_dtype) {
    case BFD_DTYPE_UINT8: return ((const uint8_t *)t->labels)[i];
    case BFD_DTYPE_UINT16: return ((const uint16_t *)t->labels)[i];
    case BFD_DTYPE_INT16: return ((const int16_t *)t->labels)[i];
    case BFD_DTYPE_INT32: return ((const int32_t *)t->labels)[i];
    case BFD_DTYPE_UINT32: return ((const uint32_t *)t->labels)[i];
    default: return ((const int64_t *)t->labels)[i];
  }
}

static inline void it_lset(it *t, size_t i, int64_t v) {
  switch (t->b.label_dtype) {
    case BFD_DTYPE_UINT8: ((uint8_t *)t->labels)[i] = (uint8_t)v; break;
    case BFD_DTYPE_UINT16: ((uint16_t *)t->labels)[i] = (uint16_t)v; break;
    case BFD_DTYPE_INT16: ((int16_t *)t->labels)[i] = (int16_t)v; break;
    case BFD_DTYPE_INT32: ((int32_t *)t->labels)[i] = (int32_t)v; break;
    case BFD_DTYPE_UINT32: ((uint32_t *)t->labels)[i] = (uint32_t)v; break;
    default: ((int64_t *)t->labels)[i] = v; break;
  }
}

/* Seeded values: integers in [lo, hi] (float data: uniform reals). */
static inline void it_fill(it *t, uint32_t seed, double lo, double hi) {
  size_t n = t->in_bytes / bfd_dtype_size(t->b.dtype);
  for (size_t i = 0; i < n; i++) {
    double u = (double)it_rand(&seed) / 16777216.0;
    double v = lo + u * (hi - lo);
    it_set(t, i, t->b.dtype == BFD_DTYPE_FLOAT32 ? v : (double)(int64_t)(lo + u * (hi - lo + 1)));
  }
}

static inline size_t it_fsize(bfdk_fdtype t) { return t == BFDK_F32 ? 4 : 2; }

/* The plan for spec and the output sizes it implies. */
static inline bfd_status it_plan(it *t, const bfdk_img_spec *sp) {
  bfd_status st = bfdk_img_plan_make(sp, &t->b, &t->plan);
  if (st != BFD_OK) return st;
  size_t n = 1;
  for (int i = 0; i < t->plan.out_ndim; i++) n *= (size_t)t->plan.out_shape[i];
  t->out_bytes = n * it_fsize(t->b.out_dtype);
  t->lab_out_bytes = t->labels ? (n / (size_t)t->plan.dims.C) * bfd_dtype_size(t->b.out_label_dtype) : 0;
  return BFD_OK;
}

/* Runs spec on the CPU into freshly allocated *out and *lab (NULL without
 * labels; the caller frees both). Placeholder outputs point at the images
 * until the plan gives sizes, since the plan insists on non-NULL outputs. */
static inline bfd_status it_run_cpu(it *t, const bfdk_img_spec *sp, void **out, void **lab) {
  *out = NULL;
  if (lab) *lab = NULL;
  t->b.out = t->images;
  t->b.out_labels = t->labels;
  bfd_status st = it_plan(t, sp);
  if (st != BFD_OK) return st;
  *out = malloc(t->out_bytes);
  void *l = t->labels ? malloc(t->lab_out_bytes) : NULL;
  void *work = malloc(t->plan.work_bytes ? t->plan.work_bytes : 1);
  memset(*out, 0xAB, t->out_bytes);
  if (l) memset(l, 0xAB, t->lab_out_bytes);
  t->b.out = *out;
  t->b.out_labels = l;
  st = bfdk_img_run_cpu(sp, &t->b, work, t->plan.work_bytes);
  free(work);
  if (lab)
    *lab = l;
  else
    free(l);
  return st;
}

#if BFD_CUDA
/* The same on the CUDA backend: inputs uploaded, results downloaded. */
static inline bfd_status it_run_cuda(it *t, const bfdk_img_spec *sp, void **out, void **lab) {
  *out = NULL;
  if (lab) *lab = NULL;
  t->b.out = t->images;
  t->b.out_labels = t->labels;
  bfd_status st = it_plan(t, sp);
  if (st != BFD_OK) return st;
  void *d_img = NULL, *d_lab = NULL, *d_out = NULL, *d_olab = NULL, *d_work = NULL;
  bfdk_img_batch b = t->b;
  *out = malloc(t->out_bytes);
  void *l = t->labels ? malloc(t->lab_out_bytes) : NULL;
  if ((st = bfdk_img_cuda_alloc(t->in_bytes, &d_img)) == BFD_OK &&
      (st = bfdk_img_cuda_alloc(t->out_bytes, &d_out)) == BFD_OK &&
      (st = bfdk_img_cuda_alloc(t->plan.work_bytes, &d_work)) == BFD_OK &&
      (!t->labels || ((st = bfdk_img_cuda_alloc(t->lab_in_bytes, &d_lab)) == BFD_OK &&
                      (st = bfdk_img_cuda_alloc(t->lab_out_bytes, &d_olab)) == BFD_OK)) &&
      (st = bfdk_img_cuda_copy(d_img, t->images, t->in_bytes, 1)) == BFD_OK &&
      (!t->labels || (st = bfdk_img_cuda_copy(d_lab, t->labels, t->lab_in_bytes, 1)) == BFD_OK)) {
    b.images = d_img;
    b.labels = d_lab;
    b.out = d_out;
    b.out_labels = d_olab;
    st = bfdk_img_run_cuda(sp, &b, d_work, t->plan.work_bytes, NULL);
    if (st == BFD_OK) st = bfdk_img_cuda_copy(*out, d_out, t->out_bytes, 0);
    if (st == BFD_OK && l) st = bfdk_img_cuda_copy(l, d_olab, t->lab_out_bytes, 0);
  }
  bfdk_img_cuda_free(d_img);
  bfdk_img_cuda_free(d_lab);
  bfdk_img_cuda_free(d_out);
  bfdk_img_cuda_free(d_olab);
  bfdk_img_cuda_free(d_work);
  if (lab)
    *lab = l;
  else
    free(l);
  return st;
}
#endif

static inline void it_free(it *t) {
  free(t->images);
  free(t->labels);
  free(t->gidx);
  memset(t, 0, sizeof *t);
}

#endif

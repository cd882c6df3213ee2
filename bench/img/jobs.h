/* The standard image jobs of issue 8, shared by the CPU benchmark
 * (bench/img/img_bench.c) and the GPU one (bench/gpu/kernels_bench.cu) so
 * that both time exactly the same work: 2D, 32 uint16 512x512 images to
 * random 256x256 crops with flips, rot90, percentile normalization and noise;
 * 3D, 2 uint16 256x512x512 volumes with labels to 128^3 patches with affine
 * and elastic. Sets the spec and the batch's shapes and types; the caller
 * supplies the buffers. */
#ifndef BFD_BENCH_IMG_JOBS_H
#define BFD_BENCH_IMG_JOBS_H

#include <string.h>

#include "img.h"

static inline void bench_img_job(int is3d, bfdk_img_spec *sp, bfdk_img_batch *b) {
  bfdk_img_spec_init(sp);
  memset(b, 0, sizeof *b);
  b->seed = 42;
  b->out_dtype = BFDK_F32;
  sp->crop_mode = BFDK_CROP_RANDOM;
  sp->pad = BFDK_PAD_NONE;
  if (!is3d) {
    b->batch = 32;
    b->ndim = 3;
    b->shape[0] = 1;
    b->shape[1] = b->shape[2] = 512;
    sp->ndim = 2;
    sp->size[1] = sp->size[2] = 256;
    sp->flip_prob[1] = sp->flip_prob[2] = 0.5f;
    sp->rot90_prob = 0.75f; /* k uniform in 0..3, as numpy's rot90 with a random k */
    bfdk_img_iop *n = &sp->iops[0], *z = &sp->iops[1];
    n->kind = BFDK_IMG_NORMALIZE;
    n->norm_mode = BFDK_NORM_PERCENTILE;
    n->pmin = 1.0;
    n->pmax = 99.8;
    n->eps = 1e-20f;
    n->prob = 1.0f;
    z->kind = BFDK_IMG_NOISE;
    z->prob = 1.0f;
    z->lo = 0.0f;
    z->hi = 0.1f;
    z->rng_op = 13u | (1u << 16);
    sp->n_iops = 2;
  } else {
    b->batch = 2;
    b->ndim = 4;
    b->shape[0] = 1;
    b->shape[1] = 256;
    b->shape[2] = b->shape[3] = 512;
    sp->ndim = 3;
    sp->size[0] = sp->size[1] = sp->size[2] = 128;
    sp->affine = sp->elastic = 1;
    sp->affine_prob = sp->elastic_prob = 1.0f;
    for (int a = 0; a < 3; a++) {
      sp->rot_lo[a] = -15.0f;
      sp->rot_hi[a] = 15.0f;
      sp->spacing[a] = 32;
    }
    sp->scale_lo = 0.85f;
    sp->scale_hi = 1.25f;
    sp->mag_lo = 2.0f;
    sp->mag_hi = 5.0f;
    b->label_ndim = 3;
    memcpy(b->label_shape, b->shape + 1, sizeof b->label_shape);
    b->label_dtype = BFD_DTYPE_UINT8;
    b->out_label_dtype = BFD_DTYPE_INT64;
  }
  b->dtype = BFD_DTYPE_UINT16;
}

#endif

/* Times the image ops' CPU backend on the two standard jobs and prints one
 * line per job: "<job> <samples> <seconds>". bench/img/run.sh builds and
 * runs it beside the numpy/scipy baseline (img_baseline.py); see
 * bench/img/README.md.
 *
 *   2d: B = 32 uint16 512 x 512 images per call -> random 256 x 256 crop,
 *       flips, rot90, percentile normalization (1, 99.8), Gaussian noise
 *       (sigma in [0, 0.1]) -> float32
 *   3d: B = 2 uint16 256 x 512 x 512 volumes (uint8 labels) per call ->
 *       random 128^3 patch, affine (rotation +-15 degrees per axis, scale
 *       0.85..1.25), elastic (spacing 32, magnitude 2..5), linear images,
 *       nearest labels -> float32 and int64
 *
 * usage: img_bench 2d|3d CALLS     (threads: OMP_NUM_THREADS) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "img.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Smooth structure plus noise, so that neither histogram nor cache sees a
 * constant. */
static void fill_u16(uint16_t *p, size_t n, uint32_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1664525u + 1013904223u;
    p[i] = (uint16_t)(((i * 2654435761u) >> 20) % 4000 + (seed >> 22));
  }
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "2d") && strcmp(argv[1], "3d"))) {
    fprintf(stderr, "usage: img_bench 2d|3d CALLS\n");
    return 2;
  }
  int is3d = !strcmp(argv[1], "3d");
  int calls = atoi(argv[2]);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  bfdk_img_batch b;
  memset(&b, 0, sizeof b);
  b.seed = 42;
  b.out_dtype = BFDK_F32;
  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.pad = BFDK_PAD_NONE;
  if (!is3d) {
    b.batch = 32;
    b.ndim = 3;
    b.shape[0] = 1;
    b.shape[1] = b.shape[2] = 512;
    sp.ndim = 2;
    sp.size[1] = sp.size[2] = 256;
    sp.flip_prob[1] = sp.flip_prob[2] = 0.5f;
    sp.rot90_prob = 0.75f; /* k uniform in 0..3, as numpy's rot90 with a random k */
    bfdk_img_iop *n = &sp.iops[0], *z = &sp.iops[1];
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
    sp.n_iops = 2;
  } else {
    b.batch = 2;
    b.ndim = 4;
    b.shape[0] = 1;
    b.shape[1] = 256;
    b.shape[2] = b.shape[3] = 512;
    sp.ndim = 3;
    sp.size[0] = sp.size[1] = sp.size[2] = 128;
    sp.affine = sp.elastic = 1;
    sp.affine_prob = sp.elastic_prob = 1.0f;
    for (int a = 0; a < 3; a++) {
      sp.rot_lo[a] = -15.0f;
      sp.rot_hi[a] = 15.0f;
      sp.spacing[a] = 32;
    }
    sp.scale_lo = 0.85f;
    sp.scale_hi = 1.25f;
    sp.mag_lo = 2.0f;
    sp.mag_hi = 5.0f;
    b.label_ndim = 3;
    memcpy(b.label_shape, b.shape + 1, sizeof b.label_shape);
    b.label_dtype = BFD_DTYPE_UINT8;
    b.out_label_dtype = BFD_DTYPE_INT64;
  }
  size_t vox = (size_t)(b.shape[1] * b.shape[2] * (is3d ? b.shape[3] : 1));
  uint16_t *img = malloc(b.batch * vox * 2);
  uint8_t *lab = is3d ? malloc(b.batch * vox) : NULL;
  fill_u16(img, b.batch * vox, 1);
  for (size_t i = 0; lab && i < b.batch * vox; i++) lab[i] = (uint8_t)((i >> 13) % 3);
  uint64_t *gidx = malloc(b.batch * sizeof *gidx);
  b.dtype = BFD_DTYPE_UINT16;
  b.images = img;
  b.labels = lab;
  b.sample_index = gidx;
  b.out = img; /* for the plan only */
  b.out_labels = lab;
  bfdk_img_plan pl;
  if (bfdk_img_plan_make(&sp, &b, &pl) != BFD_OK) {
    fprintf(stderr, "img_bench: %s\n", bfd_last_error());
    return 1;
  }
  size_t outn = b.batch * (size_t)pl.dims.out_vox;
  float *out = malloc(outn * sizeof *out);
  int64_t *olab = is3d ? malloc(outn * sizeof *olab) : NULL;
  void *work = malloc(pl.work_bytes);
  b.out = out;
  b.out_labels = olab;
  double t0 = 0.0;
  for (int c = -1; c < calls; c++) {
    if (c == 0) t0 = now(); /* call -1 warms the caches and the thread pool */
    for (size_t i = 0; i < b.batch; i++) gidx[i] = (uint64_t)(c + 1) * b.batch + i;
    if (bfdk_img_run_cpu(&sp, &b, work, pl.work_bytes) != BFD_OK) {
      fprintf(stderr, "img_bench: %s\n", bfd_last_error());
      return 1;
    }
  }
  double dt = now() - t0;
  double check = 0.0;
  for (size_t i = 0; i < outn; i += 4097) check += out[i];
  printf("%s %zu %.4f %.6g\n", argv[1], (size_t)calls * b.batch, dt, check);
  free(img);
  free(lab);
  free(gidx);
  free(out);
  free(olab);
  free(work);
  return 0;
}

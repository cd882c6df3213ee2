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

#include "jobs.h"

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
  bfdk_img_batch b;
  bench_img_job(is3d, &sp, &b);
  size_t vox = (size_t)(b.shape[1] * b.shape[2] * (is3d ? b.shape[3] : 1));
  uint16_t *img = malloc(b.batch * vox * 2);
  uint8_t *lab = is3d ? malloc(b.batch * vox) : NULL;
  fill_u16(img, b.batch * vox, 1);
  for (size_t i = 0; lab && i < b.batch * vox; i++) lab[i] = (uint8_t)((i >> 13) % 3);
  uint64_t *gidx = malloc(b.batch * sizeof *gidx);
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

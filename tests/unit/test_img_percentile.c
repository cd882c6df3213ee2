/* Percentile normalization of large uint16 images, where the CPU backend
 * counts only the tails of the value distribution (kernels/cpu/img_cpu.c):
 * for distributions that pass that path and for those that must fall back
 * to the full histogram (constant images, ties, a sample that misjudges the
 * tails, extreme values, min and max as percentiles), the output equals
 * (x - p_lo) / (p_hi - p_lo + eps) with p_lo and p_hi from sorting the
 * image, with 1 and 2 threads, and the CUDA kernels (emulated here) give the
 * same bytes. */
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/img_intensity.h"
#include "ops/philox.h"
#include "support/img_util.h"

enum { H = 240, W = 320, N = H * W, B = 7 };

static int cmp_u16(const void *a, const void *b) {
  return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

/* Sample b's image: each a distribution of its own. */
static void fill(uint16_t *q, int b) {
  uint32_t s = 99u + (uint32_t)b;
  for (int i = 0; i < N; i++) {
    uint32_t r = it_rand(&s);
    switch (b) {
      case 0: /* blobs over a background plus noise, as bench/e2e generates */
        q[i] = (uint16_t)(100 + ((i / W / 16 * 7 + i % W / 16 * 13) % 17) * 180 + r % 1000);
        break;
      case 1: q[i] = (uint16_t)(1000 + r % 11); break; /* a handful of values: ties at every rank */
      case 2: q[i] = 777; break;                       /* constant */
      case 3: /* a narrow bulk with rare extremes at both ends of the range */
        q[i] = r % 1000 < 5 ? 0 : (r % 1000 > 997 ? 65535 : (uint16_t)(30000 + r % 200));
        break;
      case 4: /* low values only where the sample looks, too few of them below the 1st percentile */
        q[i] = (i % 1219) < 64 ? (uint16_t)(r % 4096) : (uint16_t)(5000 + r % 1000);
        break;
      case 5: q[i] = i < N / 2 ? 0 : (uint16_t)(r % 60000); break; /* half the image in bin 0 */
      default: q[i] = (uint16_t)(r % 65536); break;               /* the whole range */
    }
  }
}

static bfdk_img_iop *add_norm(bfdk_img_spec *sp, double pmin, double pmax) {
  bfdk_img_iop *op = &sp->iops[sp->n_iops++];
  memset(op, 0, sizeof *op);
  op->kind = BFDK_IMG_NORMALIZE;
  op->prob = 1.0f;
  op->rng_op = BFD_RNG_INTENSITY;
  op->norm_mode = BFDK_NORM_PERCENTILE;
  op->pmin = pmin;
  op->pmax = pmax;
  op->eps = 1e-20f;
  return op;
}

/* The expected output of sample b: numpy's percentiles of the sorted image. */
static void expect(const bfdk_img_iop *norm, const uint16_t *q, float *out) {
  uint16_t *sorted = malloc(N * sizeof *sorted);
  assert_non_null(sorted);
  memcpy(sorted, q, N * sizeof *sorted);
  qsort(sorted, N, sizeof *sorted, cmp_u16);
  uint64_t ranks[4];
  double t[2], v[4];
  assert_int_equal(bfd_img_stat_ranks(norm, N, ranks, t), 4);
  for (int r = 0; r < 4; r++) v[r] = sorted[ranks[r]];
  bfdk_img_cstat cs = bfd_img_cstat_make(norm, 0, v, t, 0.0, 0.0);
  for (int i = 0; i < N; i++) out[i] = ((float)q[i] - cs.a) / cs.d;
  free(sorted);
}

static void check(double pmin, double pmax) {
  it t;
  int64_t shape[3] = {1, H, W};
  it_init(&t, B, 3, shape, BFD_DTYPE_UINT16, 5);
  for (int b = 0; b < B; b++) fill((uint16_t *)t.images + (size_t)b * N, b);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  const bfdk_img_iop *norm = add_norm(&sp, pmin, pmax);
  void *out1, *out2;
  omp_set_num_threads(1);
  assert_int_equal(it_run_cpu(&t, &sp, &out1, NULL), BFD_OK);
  omp_set_num_threads(2);
  assert_int_equal(it_run_cpu(&t, &sp, &out2, NULL), BFD_OK);
  assert_int_equal(t.out_bytes, (size_t)B * N * sizeof(float));
  assert_memory_equal(out1, out2, t.out_bytes);
  float *want = malloc(N * sizeof *want);
  assert_non_null(want);
  for (int b = 0; b < B; b++) {
    expect(norm, (const uint16_t *)t.images + (size_t)b * N, want);
    if (memcmp(want, (const float *)out1 + (size_t)b * N, N * sizeof *want))
      fail_msg("percentiles [%g, %g], sample %d: output differs from the sorted image's normalization", pmin, pmax,
               b);
  }
#if BFD_CUDA
  void *outg;
  bfd_status st = it_run_cuda(&t, &sp, &outg, NULL);
  if (st != BFD_OK) fail_msg("CUDA run failed: %s", bfd_last_error());
  assert_memory_equal(out1, outg, t.out_bytes);
  free(outg);
#else
  print_message("SKIP CUDA part of percentiles [%g, %g]: built without the CUDA backend\n", pmin, pmax);
#endif
  free(want);
  free(out1);
  free(out2);
  it_free(&t);
}

static void test_microscopy_percentiles(void **state) {
  (void)state;
  check(1.0, 99.8);
}

static void test_wide_percentiles(void **state) {
  (void)state;
  check(10.0, 85.0);
}

static void test_min_max_as_percentiles(void **state) {
  (void)state;
  check(0.0, 100.0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_microscopy_percentiles),
      cmocka_unit_test(test_wide_percentiles),
      cmocka_unit_test(test_min_max_as_percentiles),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

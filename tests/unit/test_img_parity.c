/* Image ops determinism across thread counts and backends: for op lists
 * that use every op, dtype, output form, pad mode and crop mode, in 2D and
 * 3D with odd, prime and 1-voxel extents, the CPU backend with 1 and 2
 * OpenMP threads and the CUDA kernels (on the CPU grid emulator in this
 * build: every kernel of kernels/cuda/img.cu runs there, none uses warp
 * intrinsics) give the same bytes, images and labels. */
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/philox.h"
#include "support/img_util.h"

static bfdk_img_iop *add_op(bfdk_img_spec *sp, int32_t kind, uint32_t rng, float lo, float hi) {
  bfdk_img_iop *op = &sp->iops[sp->n_iops];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->prob = 0.8f;
  op->lo = lo;
  op->hi = hi;
  op->rng_op = rng | ((uint32_t)sp->n_iops << 16);
  sp->n_iops++;
  return op;
}

static void add_norm(bfdk_img_spec *sp, int32_t mode) {
  bfdk_img_iop *op = add_op(sp, BFDK_IMG_NORMALIZE, BFD_RNG_INTENSITY, 0.0f, 0.0f);
  op->prob = 1.0f;
  op->norm_mode = mode;
  op->pmin = 2.0;
  op->pmax = 99.5;
  op->eps = 1e-6f;
  op->factor = 0.01f;
}

typedef struct pcase {
  const char *name;
  int ndim;
  int64_t shape[4];
  size_t B;
  bfd_dtype dt, lt, olt;
  bfdk_fdtype odt;
  int channels_last;
} pcase;

/* Labels: blobs of a few values, so that foreground crops have something
 * to find and nearest sampling has boundaries to get right. */
static void fill_case(it *t, const pcase *pc) {
  it_init(t, pc->B, pc->ndim, pc->shape, pc->dt, 77);
  double lo = pc->dt == BFD_DTYPE_INT16 ? -1000 : 0, hi = pc->dt == BFD_DTYPE_UINT8 ? 255 : 3000;
  it_fill(t, 4242, lo, hi);
  if (pc->lt) {
    it_labels(t, pc->lt);
    t->b.out_label_dtype = pc->olt;
    uint32_t s = 5;
    size_t n = t->lab_in_bytes / bfd_dtype_size(pc->lt);
    for (size_t i = 0; i < n; i++) it_lset(t, i, (i / 7) % 5 == 2 ? (int64_t)(it_rand(&s) % 3) + 1 : 0);
  }
  t->b.out_dtype = pc->odt;
  t->b.channels_last = pc->channels_last;
}

static void check_case(const pcase *pc, const bfdk_img_spec *sp) {
  it t;
  fill_case(&t, pc);
  void *out1, *lab1, *out2, *lab2;
  omp_set_num_threads(1);
  assert_int_equal(it_run_cpu(&t, sp, &out1, &lab1), BFD_OK);
  omp_set_num_threads(2);
  assert_int_equal(it_run_cpu(&t, sp, &out2, &lab2), BFD_OK);
  if (memcmp(out1, out2, t.out_bytes)) fail_msg("%s: 1 and 2 threads differ (images)", pc->name);
  if (lab1 && memcmp(lab1, lab2, t.lab_out_bytes)) fail_msg("%s: 1 and 2 threads differ (labels)", pc->name);
#if BFD_CUDA
  void *outg, *labg;
  bfd_status st = it_run_cuda(&t, sp, &outg, &labg);
  if (st != BFD_OK) fail_msg("%s: CUDA run failed: %s", pc->name, bfd_last_error());
  size_t n = t.out_bytes, diff = 0;
  for (size_t i = 0; i < n; i++) diff += ((uint8_t *)out1)[i] != ((uint8_t *)outg)[i];
  if (diff) fail_msg("%s: CUDA and CPU images differ in %zu of %zu bytes", pc->name, diff, n);
  if (lab1 && memcmp(lab1, labg, t.lab_out_bytes)) fail_msg("%s: CUDA and CPU labels differ", pc->name);
  print_message("%s: 1 thread = 2 threads = CUDA (emulated), %zu output bytes\n", pc->name, n + t.lab_out_bytes);
  free(outg);
  free(labg);
#else
  print_message("SKIP CUDA part of %s: built without the CUDA backend\n", pc->name);
#endif
  free(out1);
  free(out2);
  free(lab1);
  free(lab2);
  it_free(&t);
}

static void geometry_all(bfdk_img_spec *sp, int nd) {
  sp->flip_prob[0] = sp->flip_prob[1] = sp->flip_prob[2] = 0.5f;
  sp->rot90_prob = 0.5f;
  sp->permute_prob = nd == 3 ? 0.5f : 0.0f;
  sp->affine = sp->elastic = 1;
  sp->affine_prob = 0.7f;
  sp->elastic_prob = 0.7f;
  for (int a = 0; a < 3; a++) {
    sp->rot_lo[a] = -20.0f;
    sp->rot_hi[a] = 20.0f;
    sp->spacing[a] = 4 + a;
  }
  sp->scale_lo = 0.8f;
  sp->scale_hi = 1.25f;
  sp->scale_iso = nd == 2;
  sp->shear_lo = -0.1f;
  sp->shear_hi = 0.1f;
  sp->shift_lo = -2.0f;
  sp->shift_hi = 2.0f;
  sp->mag_lo = 0.5f;
  sp->mag_hi = 2.5f;
}

static void test_2d_microscopy(void **state) {
  (void)state;
  pcase pc = {"2D uint16, crops, flips, rot90, percentile, noise",
              3,
              {1, 67, 53, 0},
              5,
              BFD_DTYPE_UINT16,
              BFD_DTYPE_UINT8,
              BFD_DTYPE_UINT8,
              BFDK_F32,
              0};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.pad = BFDK_PAD_REFLECT;
  sp.size[1] = 32;
  sp.size[2] = 48;
  sp.flip_prob[1] = sp.flip_prob[2] = 0.5f;
  sp.rot90_prob = 0.5f;
  add_norm(&sp, BFDK_NORM_PERCENTILE);
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.0f, 0.1f);
  check_case(&pc, &sp);
}

/* Rows of 280: the CPU backend's noise takes its Philox draws 16 at a time
 * (AVX-512, where the CPU has it) and the rest one by one. */
static void test_2d_wide_noise(void **state) {
  (void)state;
  pcase pc = {"2D uint16, 280-wide rows, flips, percentile, noise", 3, {1, 21, 301, 0}, 3, BFD_DTYPE_UINT16, 0, 0,
              BFDK_F32, 0};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.size[1] = 17;
  sp.size[2] = 280;
  sp.flip_prob[1] = sp.flip_prob[2] = 0.5f;
  add_norm(&sp, BFDK_NORM_PERCENTILE);
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.0f, 0.1f)->prob = 1.0f;
  check_case(&pc, &sp);
}

static void test_2d_everything(void **state) {
  (void)state;
  pcase pc = {"2D uint8 x3, foreground crop, affine, elastic, all intensity ops, bfloat16 channels-last",
              3,
              {3, 41, 45, 0},
              4,
              BFD_DTYPE_UINT8,
              BFD_DTYPE_INT32,
              BFD_DTYPE_INT32,
              BFDK_BF16,
              1};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_FOREGROUND;
  sp.fg_prob = 0.6f;
  sp.size[1] = 29;
  sp.size[2] = 31;
  geometry_all(&sp, 2);
  add_norm(&sp, BFDK_NORM_MINMAX);
  add_op(&sp, BFDK_IMG_BRIGHTNESS, BFD_RNG_INTENSITY, -0.1f, 0.1f);
  add_op(&sp, BFDK_IMG_CONTRAST, BFD_RNG_INTENSITY, 0.7f, 1.3f);
  add_op(&sp, BFDK_IMG_GAMMA, BFD_RNG_INTENSITY, 0.7f, 1.5f)->invert_prob = 0.5f;
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.0f, 0.1f);
  add_op(&sp, BFDK_IMG_BLUR, BFD_RNG_BLUR, 0.3f, 1.5f);
  add_op(&sp, BFDK_IMG_LOWRES, BFD_RNG_LOWRES, 0.4f, 1.0f);
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.0f, 0.05f);
  check_case(&pc, &sp);
}

static void test_3d_volume(void **state) {
  (void)state;
  pcase pc = {"3D int16 x2, center crop with padding, permute, affine, elastic, z-score, float16",
              4,
              {2, 9, 14, 11},
              3,
              BFD_DTYPE_INT16,
              BFD_DTYPE_UINT16,
              BFD_DTYPE_INT64,
              BFDK_F16,
              0};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_CENTER;
  sp.pad = BFDK_PAD_CONSTANT;
  sp.pad_value = -5.0f;
  sp.label_pad = 9;
  sp.size[0] = 7;
  sp.size[1] = 13;
  sp.size[2] = 13;
  geometry_all(&sp, 3);
  add_norm(&sp, BFDK_NORM_ZSCORE);
  add_op(&sp, BFDK_IMG_GAMMA, BFD_RNG_INTENSITY, 0.7f, 1.5f);
  add_op(&sp, BFDK_IMG_BLUR, BFD_RNG_BLUR, 0.5f, 1.0f);
  add_op(&sp, BFDK_IMG_LOWRES, BFD_RNG_LOWRES, 0.5f, 1.0f);
  check_case(&pc, &sp);
}

static void test_3d_float(void **state) {
  (void)state;
  pcase pc = {"3D float32, foreground crop with reflect, radix percentiles, contrast, noise",
              4,
              {1, 13, 7, 17},
              4,
              BFD_DTYPE_FLOAT32,
              BFD_DTYPE_INT64,
              BFD_DTYPE_INT64,
              BFDK_F32,
              0};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_FOREGROUND;
  sp.fg_prob = 0.9f;
  sp.pad = BFDK_PAD_REFLECT;
  sp.size[0] = sp.size[1] = sp.size[2] = 6;
  geometry_all(&sp, 3);
  add_norm(&sp, BFDK_NORM_PERCENTILE);
  add_op(&sp, BFDK_IMG_CONTRAST, BFD_RNG_INTENSITY, 0.7f, 1.3f);
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.0f, 0.1f);
  check_case(&pc, &sp);
}

static void test_thin_shapes(void **state) {
  (void)state;
  pcase a = {"3D float32 [2, 5, 1, 23], z-score per image (float sums)",
             4,
             {2, 5, 1, 23},
             3,
             BFD_DTYPE_FLOAT32,
             BFD_DTYPE_UINT8,
             BFD_DTYPE_UINT8,
             BFDK_F32,
             1};
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.size[0] = 3;
  sp.size[1] = 1;
  sp.size[2] = 7;
  sp.elastic = 1;
  sp.elastic_prob = 1.0f;
  sp.mag_lo = 1.0f;
  sp.mag_hi = 2.0f;
  sp.spacing[0] = sp.spacing[1] = sp.spacing[2] = 2;
  add_norm(&sp, BFDK_NORM_ZSCORE);
  add_op(&sp, BFDK_IMG_BLUR, BFD_RNG_BLUR, 0.5f, 2.0f);
  check_case(&a, &sp);

  pcase b = {"2D float32 [1, 1, 37], scale, noise", 3, {1, 1, 37, 0}, 2, BFD_DTYPE_FLOAT32, 0, 0, BFDK_F16, 0};
  bfdk_img_spec_init(&sp);
  sp.flip_prob[2] = 0.5f;
  sp.affine = 1;
  sp.affine_prob = 1.0f;
  sp.shift_lo = -3.0f;
  sp.shift_hi = 3.0f;
  add_norm(&sp, BFDK_NORM_SCALE);
  add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE, 0.1f, 0.2f);
  check_case(&b, &sp);
}

/* Test builds run the CUDA kernels on the emulator, never on a GPU. */
static void test_real_gpu(void **state) {
  (void)state;
  print_message(
      "SKIP test_real_gpu: test builds run the CUDA kernels on the CPU emulator; the same cases on a GPU belong to "
      "the GPU check script\n");
  skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_real_gpu),
      cmocka_unit_test(test_2d_microscopy), cmocka_unit_test(test_2d_wide_noise), cmocka_unit_test(test_2d_everything), cmocka_unit_test(test_3d_volume),
      cmocka_unit_test(test_3d_float),      cmocka_unit_test(test_thin_shapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The image op list from YAML (loader/ops/img_config.c) and the checks on
 * a batch (bfdk_img_plan_make): what a good list becomes, and for bad
 * input, a clear error naming the file and line, the op or parameter, and
 * what is valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/img_config.h"
#include "ops/philox.h"
#include "support/testutil.h"
#include "support/img_util.h"

static char *dir;

static int setup(void **state) {
  (void)state;
  dir = tu_mkdtemp("imgcfg");
  return dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(dir);
  free(dir);
  return 0;
}

static bfd_status load(const char *text, bfdk_img_spec *sp) {
  const char *path = tu_path("%s/ops.yaml", dir);
  assert_int_equal(tu_write(path, text, strlen(text)), 0);
  return bfd_img_config_load(path, sp);
}

/* The load fails with a message holding every one of the fragments. */
static void expect_error(const char *text, const char *const *frags) {
  bfdk_img_spec sp;
  bfd_status st = load(text, &sp);
  const char *msg = bfd_last_error();
  if (st == BFD_OK) fail_msg("accepted:\n%s", text);
  for (; *frags; frags++)
    if (!strstr(msg, *frags)) fail_msg("message '%s' lacks '%s'", msg, *frags);
}

static void test_stardist_2d(void **state) {
  (void)state;
  bfdk_img_spec sp;
  const char *yaml =
      "ops:\n"
      "  - crop: {size: [256, 256], mode: random, pad: reflect}\n"
      "  - flip: {axes: [y, x]}\n"
      "  - rot90\n"
      "  - normalize: {mode: percentile, pmin: 1, pmax: 99.8, clip: true}\n"
      "  - noise: {prob: 0.5, sigma: [0, 0.05]}\n";
  assert_int_equal(load(yaml, &sp), BFD_OK);
  assert_int_equal(sp.ndim, 2);
  assert_int_equal(sp.crop_mode, BFDK_CROP_RANDOM);
  assert_int_equal(sp.size[1], 256);
  assert_int_equal(sp.size[2], 256);
  assert_int_equal(sp.pad, BFDK_PAD_REFLECT);
  assert_true(sp.flip_prob[0] == 0.0f && sp.flip_prob[1] == 0.5f && sp.flip_prob[2] == 0.5f);
  assert_true(sp.rot90_prob == 0.5f);
  assert_int_equal(sp.n_iops, 2);
  assert_int_equal(sp.iops[0].kind, BFDK_IMG_NORMALIZE);
  assert_int_equal(sp.iops[0].norm_mode, BFDK_NORM_PERCENTILE);
  assert_true(sp.iops[0].pmin == 1.0 && sp.iops[0].pmax == 99.8 && sp.iops[0].clip == 1);
  assert_true(sp.iops[0].eps == 1e-20f);
  assert_int_equal(sp.iops[1].kind, BFDK_IMG_NOISE);
  assert_true(sp.iops[1].prob == 0.5f && sp.iops[1].lo == 0.0f && sp.iops[1].hi == 0.05f);
  assert_int_equal(sp.iops[1].rng_op, BFD_RNG_NOISE | (1u << 16));
}

static void test_nnunet_3d(void **state) {
  (void)state;
  bfdk_img_spec sp;
  const char *yaml =
      "- crop: {size: [128, 128, 128], mode: foreground, fg_prob: 0.33, pad: constant, label_pad: 0}\n"
      "- affine:\n"
      "    prob: 0.2\n"
      "    rotate: [[-30, 30], [-15, 15], [-15, 15]]\n"
      "    scale: [0.7, 1.4]\n"
      "    isotropic: false\n"
      "- elastic: {prob: 0.2, spacing: [16, 32, 32], magnitude: [2, 5]}\n"
      "- flip:\n"
      "- normalize: {mode: zscore}\n"
      "- noise: {prob: 0.1, sigma: [0, 0.1]}\n"
      "- blur: {prob: 0.2, sigma: [0.5, 1.0]}\n"
      "- brightness: {prob: 0.15, range: [-0.2, 0.2]}\n"
      "- contrast: {prob: 0.15}\n"
      "- lowres: {prob: 0.25, zoom: [0.5, 1]}\n"
      "- gamma: {prob: 0.3, range: [0.7, 1.5], invert_prob: 0.1}\n"
      "- noise: 0\n";
  bfd_status st = load(yaml, &sp);
  /* `- noise: 0` is not a parameter mapping */
  assert_int_equal(st, BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), ":16: noise: parameters must be a mapping"));
  const char *good = strstr(yaml, "- noise: 0\n");
  char *trimmed = strndup(yaml, (size_t)(good - yaml));
  assert_int_equal(load(trimmed, &sp), BFD_OK);
  free(trimmed);
  assert_int_equal(sp.ndim, 3);
  assert_int_equal(sp.crop_mode, BFDK_CROP_FOREGROUND);
  assert_true(sp.fg_prob == 0.33f);
  assert_true(sp.affine && sp.affine_prob == 0.2f && !sp.scale_iso);
  assert_true(sp.rot_lo[0] == -30.0f && sp.rot_hi[1] == 15.0f && sp.scale_hi == 1.4f);
  assert_true(sp.elastic && sp.spacing[0] == 16 && sp.spacing[2] == 32 && sp.mag_hi == 5.0f);
  assert_true(sp.flip_prob[0] == 0.5f && sp.flip_prob[2] == 0.5f);
  assert_int_equal(sp.n_iops, 7);
  assert_int_equal(sp.iops[0].norm_mode, BFDK_NORM_ZSCORE);
  assert_true(!sp.iops[0].fixed && sp.iops[0].eps == 1e-8f);
  assert_true(sp.iops[4].kind == BFDK_IMG_CONTRAST && sp.iops[4].lo == 0.75f && sp.iops[4].hi == 1.25f);
  assert_true(sp.iops[6].kind == BFDK_IMG_GAMMA && sp.iops[6].invert_prob == 0.1f);
  assert_int_equal(sp.iops[6].rng_op, BFD_RNG_INTENSITY | (6u << 16));
  assert_int_equal(sp.iops[5].rng_op, BFD_RNG_LOWRES | (5u << 16));
}

static void test_config_errors(void **state) {
  (void)state;
  expect_error("- crop: {size: [64, 64]}\n- flipp: {prob: 1}\n",
               (const char *[]){"ops.yaml:2:", "unknown op 'flipp'", "valid: crop, flip, rot90", NULL});
  expect_error("- flip: {axis: [y]}\n",
               (const char *[]){"ops.yaml:1:", "flip: unknown parameter 'axis'", "(valid: axes, prob)", NULL});
  expect_error("- crop: {size: [64, 64], fg_prob: 1.5}\n",
               (const char *[]){"ops.yaml:1:", "crop.fg_prob: '1.5' is not a number in [0, 1]", NULL});
  expect_error("- crop: {size: [64, 64], mode: middle}\n",
               (const char *[]){"crop.mode: 'middle' is not one of random, center, foreground", NULL});
  expect_error("- normalize\n- flip\n", (const char *[]){"ops.yaml:2:", "geometry op flip comes after", NULL});
  expect_error("- rot90\n- rot90\n", (const char *[]){"ops.yaml:2:", "rot90 appears twice", NULL});
  expect_error("- normalize\n- normalize: {mode: scale}\n",
               (const char *[]){"ops.yaml:2:", "normalize appears twice", NULL});
  expect_error("- crop: {size: [64, 64]}\n- elastic: {spacing: [8, 8, 8]}\n",
               (const char *[]){"ops.yaml:2:", "elastic.spacing has 3 axes but crop.size (line 1) has 2", NULL});
  expect_error("- normalize: {pmin: 99, pmax: 1}\n", (const char *[]){"pmin 99 must be below pmax 1", NULL});
  expect_error("- normalize: {mode: zscore, mean: 3}\n", (const char *[]){"give both mean and std", NULL});
  expect_error("- normalize: {mode: scale, pmin: 3}\n",
               (const char *[]){"parameter 'pmin' does not apply to mode scale", NULL});
  expect_error("- crop: {mode: center}\n", (const char *[]){"crop needs a size", NULL});
  expect_error("- blur: {sigma: [0.5, 30]}\n", (const char *[]){"blur.sigma: '30' is not a number in [0, 16]", NULL});
  expect_error("- lowres: {zoom: [0, 1]}\n", (const char *[]){"lowres.zoom: '0' is not a number", NULL});
  expect_error("- affine: {scale: [1.2, 0.8]}\n", (const char *[]){"affine.scale: low 1.2 is above high 0.8", NULL});
  expect_error("ops: [crop\n", (const char *[]){"YAML error", NULL});
  expect_error("steps:\n  - rot90\n", (const char *[]){"unknown key 'steps'", NULL});
  expect_error("- {flip: {}, rot90: {}}\n", (const char *[]){"an op is a name or 'name: {parameters}'", NULL});
  char many[2048] = "";
  for (int i = 0; i < 17; i++) strcat(many, "- brightness\n");
  expect_error(many, (const char *[]){"ops.yaml:17:", "more than 16 intensity ops", NULL});
}

/* ---- checks on the batch --------------------------------------------------------------------------- */

static bfd_status plan_for(it *t, const bfdk_img_spec *sp) {
  t->b.out = t->images;
  t->b.out_labels = t->labels;
  return bfdk_img_plan_make(sp, &t->b, &t->plan);
}

static void expect_plan_error(it *t, const bfdk_img_spec *sp, const char *frag) {
  bfd_status st = plan_for(t, sp);
  if (st == BFD_OK) fail_msg("plan accepted a batch that should fail with '%s'", frag);
  if (!strstr(bfd_last_error(), frag)) fail_msg("message '%s' lacks '%s'", bfd_last_error(), frag);
}

static void test_bad_batches(void **state) {
  (void)state;
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  it t;
  int64_t s2[3] = {1, 20, 30}, s5[4] = {1, 4, 20, 30};

  it_init(&t, 2, 3, s2, BFD_DTYPE_UINT16, 0);
  t.b.ndim = 2;
  expect_plan_error(&t, &sp, "samples have 2 dimensions; expected 3 [C, Y, X] or 4 [C, Z, Y, X]");
  t.b.ndim = 5;
  expect_plan_error(&t, &sp, "samples have 5 dimensions");
  t.b.ndim = 3;
  assert_int_equal(plan_for(&t, &sp), BFD_OK);

  it_labels(&t, BFD_DTYPE_UINT8);
  t.b.label_shape[1] = 31;
  expect_plan_error(&t, &sp, "label shape [20, 31] differs from the images' spatial shape [20, 30]");
  t.b.label_shape[1] = 30;
  t.b.label_dtype = BFD_DTYPE_UINT16;
  t.b.out_label_dtype = BFD_DTYPE_UINT8;
  expect_plan_error(&t, &sp, "uint16 labels do not fit uint8 outputs");
  t.b.label_dtype = BFD_DTYPE_UINT8;
  assert_int_equal(plan_for(&t, &sp), BFD_OK);

  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.size[1] = 16;
  sp.size[2] = 40;
  sp.pad = BFDK_PAD_NONE;
  expect_plan_error(&t, &sp, "crop needs 40 voxels along x but the images have 30 and crop pad is none");
  sp.size[2] = 24;
  sp.rot90_prob = 0.5f;
  expect_plan_error(&t, &sp, "crop needs 24 voxels along y (after rot90 or permute) but the images have 20");
  sp.pad = BFDK_PAD_REFLECT;
  assert_int_equal(plan_for(&t, &sp), BFD_OK);

  bfdk_img_spec_init(&sp);
  sp.rot90_prob = 0.5f;
  expect_plan_error(&t, &sp, "without a crop op the images must have equal extents");
  bfdk_img_spec_init(&sp);
  sp.ndim = 3;
  expect_plan_error(&t, &sp, "the op list is written for 3D volumes");
  bfdk_img_spec_init(&sp);
  sp.elastic = 1;
  sp.spacing[0] = 0;
  expect_plan_error(&t, &sp, "elastic spacing [0, 32, 32] must be at least 1");
  bfdk_img_spec_init(&sp);
  sp.affine = 1;
  sp.scale_lo = 0.0f;
  expect_plan_error(&t, &sp, "affine scale range [0, 1] must be positive");
  it_free(&t);

  bfdk_img_spec_init(&sp);
  it_init(&t, 1, 4, s5, BFD_DTYPE_INT32, 0);
  expect_plan_error(&t, &sp, "image dtype int32 is not supported");
  it_free(&t);

  it_init(&t, 1, 4, s5, BFD_DTYPE_FLOAT32, 0);
  sp.crop_mode = BFDK_CROP_FOREGROUND;
  sp.size[0] = 2;
  sp.size[1] = sp.size[2] = 8;
  expect_plan_error(&t, &sp, "crop mode foreground needs labels");
  sp.crop_mode = BFDK_CROP_CENTER;
  assert_int_equal(plan_for(&t, &sp), BFD_OK);
  void *work = malloc(16);
  float *out = malloc(sizeof(float) * 2 * 8 * 8);
  t.b.out = out;
  assert_int_equal(bfdk_img_run_cpu(&sp, &t.b, work, 16), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "workspace of 16 bytes is too small"));
#if BFD_CUDA
  assert_int_equal(bfdk_img_run_cuda(&sp, &t.b, work, 16, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "workspace of 16 bytes is too small"));
#endif
  free(work);
  free(out);
  it_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stardist_2d),
      cmocka_unit_test(test_nnunet_3d),
      cmocka_unit_test(test_config_errors),
      cmocka_unit_test(test_bad_batches),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

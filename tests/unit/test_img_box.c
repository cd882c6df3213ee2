/* Source boxes: a patch computed from only the box of source voxels that
 * bfdk_img_source_box names is the same bits as from the whole image, for
 * every source dtype, 2D and 3D, each padding mode, with and without affine
 * and elastic; boxes the op list cannot use (image statistics, foreground
 * crops) and boxes outside the image are errors. Through the loader, the
 * CPU backend (which reads only the boxes) gives the same batches as the
 * CUDA backend (whole images, on the emulator in test builds), with one or
 * two workers, buffered or O_DIRECT reads, packed plain or deflated. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ops/img_geom.h"
#include "support/img_util.h"
#include "support/loader_util.h"

/* ---- the kernel ----------------------------------------------------------- */

static void geometry(bfdk_img_spec *sp, int nd, int pad, int affine, int elastic) {
  bfdk_img_spec_init(sp);
  sp->crop_mode = BFDK_CROP_RANDOM;
  sp->pad = pad;
  sp->pad_value = 3.5f;
  sp->label_pad = 2;
  sp->size[0] = nd == 3 ? 9 : 1;
  sp->size[1] = 13;
  sp->size[2] = 11;
  for (int a = 3 - nd; a < 3; a++) sp->flip_prob[a] = 0.5f;
  sp->permute_prob = nd == 3 ? 0.4f : 0.0f;
  sp->rot90_prob = 0.3f;
  if (affine) {
    sp->affine = 1;
    sp->affine_prob = 0.8f;
    for (int a = 0; a < 3; a++) {
      sp->rot_lo[a] = -35.0f;
      sp->rot_hi[a] = 35.0f;
    }
    sp->scale_lo = 0.7f;
    sp->scale_hi = 1.4f;
    sp->shear_lo = -0.2f;
    sp->shear_hi = 0.2f;
    sp->shift_lo = -6.0f;
    sp->shift_hi = 6.0f;
  }
  if (elastic) {
    sp->elastic = 1;
    sp->elastic_prob = 0.7f;
    for (int a = 0; a < 3; a++) sp->spacing[a] = 4;
    sp->mag_lo = 1.0f;
    sp->mag_hi = 4.0f;
  }
}

/* Runs spec over t whole, then over each sample's box alone, and compares. */
static void same_as_whole(it *t, const bfdk_img_spec *sp) {
  void *out_w, *lab_w;
  assert_int_equal(it_run_cpu(t, sp, &out_w, &lab_w), BFD_OK);
  const bfdk_img_dims *d = &t->plan.dims;
  size_t B = t->b.batch, C = (size_t)d->C, vox = (size_t)d->src_vox, es = bfd_dtype_size(t->b.dtype);
  size_t les = t->labels ? bfd_dtype_size(t->b.label_dtype) : 0;
  bfdk_img_box *box = calloc(B, sizeof *box);
  float *nodes = malloc((size_t)(t->plan.nodes ? t->plan.nodes : 1) * 3 * sizeof(float));
  uint8_t *img = calloc(1, t->in_bytes), *lab = t->labels ? calloc(1, t->lab_in_bytes) : NULL;
  size_t boxed_vox = 0;
  for (size_t b = 0; b < B; b++) {
    assert_int_equal(bfdk_img_source_box(sp, &t->plan, d, t->gidx[b], nodes, &box[b]), 1);
    const bfdk_img_box *x = &box[b];
    size_t n = (size_t)x->n[0] * (size_t)x->n[1] * (size_t)x->n[2];
    boxed_vox += n;
    for (size_t c = 0; c < C; c++)
      for (int z = 0; z < x->n[0]; z++)
        for (int y = 0; y < x->n[1]; y++) {
          /* row (z, y) of the box, in the image and in the box */
          size_t in = ((size_t)(x->lo[0] + z) * (size_t)d->src[1] + (size_t)(x->lo[1] + y)) * (size_t)d->src[2] +
                      (size_t)x->lo[2];
          size_t at = ((size_t)z * (size_t)x->n[1] + (size_t)y) * (size_t)x->n[2];
          memcpy(img + ((b * C + c) * vox - c * vox + c * n + at) * es,
                 (const uint8_t *)t->images + ((b * C + c) * vox + in) * es, (size_t)x->n[2] * es);
          if (lab && c == 0)
            memcpy(lab + (b * vox + at) * les, (const uint8_t *)t->labels + (b * vox + in) * les, (size_t)x->n[2] * les);
        }
  }
  /* the boxes are smaller than the images: the test is not vacuous */
  assert_true(boxed_vox < B * vox);
  void *keep_img = t->images, *keep_lab = t->labels;
  t->images = img;
  t->b.images = img;
  t->labels = lab;
  t->b.labels = lab;
  t->b.boxes = box;
  void *out_b, *lab_b;
  assert_int_equal(it_run_cpu(t, sp, &out_b, &lab_b), BFD_OK);
  assert_memory_equal(out_w, out_b, t->out_bytes);
  if (lab_w) assert_memory_equal(lab_w, lab_b, t->lab_out_bytes);
  t->images = keep_img;
  t->b.images = keep_img;
  t->labels = keep_lab;
  t->b.labels = keep_lab;
  t->b.boxes = NULL;
  free(img);
  free(lab);
  free(box);
  free(nodes);
  free(out_w);
  free(lab_w);
  free(out_b);
  free(lab_b);
}

static void test_kernel_boxes(void **state) {
  (void)state;
  const bfd_dtype types[4] = {BFD_DTYPE_UINT8, BFD_DTYPE_UINT16, BFD_DTYPE_INT16, BFD_DTYPE_FLOAT32};
  const int pads[3] = {BFDK_PAD_CONSTANT, BFDK_PAD_REFLECT, BFDK_PAD_NONE};
  int cases = 0;
  for (int nd = 2; nd <= 3; nd++)
    for (int ti = 0; ti < 4; ti++)
      for (int pi = 0; pi < 3; pi++)
        for (int geo = 0; geo < 3; geo++) {
          it t;
          int64_t shape3[4] = {2, 30, 41, 37}, shape2[3] = {2, 41, 37};
          it_init(&t, 5, nd + 1, nd == 3 ? shape3 : shape2, types[ti], 17u * (uint64_t)(cases + 1));
          t.b.epoch = (uint32_t)(cases % 3);
          it_fill(&t, (uint32_t)cases + 1u, types[ti] == BFD_DTYPE_INT16 ? -300.0 : 0.0, 250.0);
          it_labels(&t, BFD_DTYPE_UINT8);
          for (size_t i = 0; i < t.lab_in_bytes; i++) ((uint8_t *)t.labels)[i] = (uint8_t)(i * 7 % 5);
          bfdk_img_spec sp;
          geometry(&sp, nd, pads[pi], geo >= 1, geo == 2);
          /* a pointwise op after the pass: the fused intensity path runs too */
          sp.n_iops = 1;
          sp.iops[0].kind = BFDK_IMG_BRIGHTNESS;
          sp.iops[0].rng_op = BFD_RNG_INTENSITY;
          sp.iops[0].prob = 0.5f;
          sp.iops[0].lo = -0.5f;
          sp.iops[0].hi = 0.5f;
          same_as_whole(&t, &sp);
          it_free(&t);
          cases++;
        }
  assert_int_equal(cases, 72);
}

static void test_kernel_box_errors(void **state) {
  (void)state;
  it t;
  int64_t shape[4] = {1, 10, 12, 14};
  it_init(&t, 1, 4, shape, BFD_DTYPE_UINT16, 0);
  bfdk_img_spec sp;
  geometry(&sp, 3, BFDK_PAD_CONSTANT, 1, 0);
  bfdk_img_box box = {{0, 0, 0}, {10, 12, 15}};
  t.b.boxes = &box;
  void *out = NULL;
  assert_int_equal(it_run_cpu(&t, &sp, &out, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "outside"));
  free(out);
  box.n[2] = 14;
  sp.n_iops = 1;
  sp.iops[0].kind = BFDK_IMG_NORMALIZE;
  sp.iops[0].norm_mode = BFDK_NORM_MINMAX;
  sp.iops[0].rng_op = BFD_RNG_INTENSITY;
  assert_int_equal(it_run_cpu(&t, &sp, &out, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "whole images"));
  free(out);
  t.b.boxes = NULL;
  assert_int_equal(it_plan(&t, &sp), BFD_OK);
  float nodes[3];
  bfdk_img_box untouched = {{-1, -1, -1}, {-1, -1, -1}};
  assert_int_equal(bfdk_img_source_box(&sp, &t.plan, &t.plan.dims, 0, nodes, &untouched), 0);
  assert_int_equal(untouched.lo[0], -1);
  it_free(&t);
}

/* ---- the loader ----------------------------------------------------------- */

typedef struct fx {
  char *dir, *plain, *tall, *deflated, *flat;
} fx;

static int setup_group(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("img-box");
  if (!f->dir) return -1;
  *state = f;
  return 0;
}

static int teardown_group(void **state) {
  fx *f = *state;
  tu_rmtree(f->dir);
  free(f->dir);
  free(f->plain);
  free(f->tall);
  free(f->deflated);
  free(f->flat);
  free(f);
  return 0;
}

static char *vol_yaml(const char *ds, const char *pad, int rot, const char *extra) {
  return tl_fmt("seed: 21\ndatasets: [{path: %s}]\nbatch_size: 3\nsampling: {drop_last: false}\n"
                "image:\n  ops:\n    - crop: {size: [10, 24, 20], mode: random, pad: %s}\n"
                "    - flip: {axes: [z, y, x], prob: 0.5}\n    - permute: {prob: 0.3}\n"
                "    - affine: {prob: 0.8, rotate: [-%d, %d], scale: [0.75, 1.3], shear: [-0.1, 0.1]}\n"
                "    - elastic: {prob: 0.6, spacing: 6, magnitude: [1, 3]}\n"
                "    - gamma: {prob: 0.5, range: [0.7, 1.5]}\n"
                "  output: {dtype: float32, layout: channels_first, label_dtype: int64}\n%s\n",
                ds, pad, rot, rot, extra);
}

static char *img_yaml(const char *ds, const char *extra) {
  return tl_fmt("seed: 8\ndatasets: [{path: %s}]\nbatch_size: 4\nsampling: {drop_last: false}\n"
                "image:\n  ops:\n    - crop: {size: [20, 18], mode: center}\n    - rot90: {prob: 0.5}\n"
                "    - affine: {prob: 0.9, rotate: [-40, 40], scale: [0.8, 1.2]}\n"
                "    - noise: {prob: 0.5, sigma: [0, 0.1]}\n  output: {dtype: float16}\n%s\n",
                ds, extra);
}

/* Bytes the read stage produced per record. */
static double read_per_record(const bfd_loader *l) {
  bfd_stage_stats st[8];
  size_t n = 0;
  assert_int_equal(bfd_loader_stats(l, st, 8, &n), BFD_OK);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(st[i].name, "read")) return st[i].records ? (double)st[i].bytes / (double)st[i].records : 0.0;
  fail_msg("no read stage in the stats");
  return 0.0;
}

static tl_log run_log(fx *f, char *yaml, uint64_t batches, double *read) {
  bfd_loader *l = tl_open(yaml, f->dir, 0, 1);
  tl_log g = {0};
  tl_run(l, batches, &g);
  *read = read_per_record(l);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  free(yaml);
  assert_true(g.batches == batches);
  return g;
}

/* a and b give the same batches; less_read: a reads fewer bytes per
 * record than b (its boxes against whole records). */
static void same_logs(fx *f, char *a, char *b, uint64_t batches, int less_read) {
  double ra, rb;
  tl_log la = run_log(f, a, batches, &ra), lb = run_log(f, b, batches, &rb);
  assert_true(ra > 0.0 && rb > 0.0);
  if (less_read) assert_true(ra < rb);
  assert_int_equal(la.n, lb.n);
  assert_memory_equal(la.b, lb.b, la.n);
  free(la.b);
  free(lb.b);
}

static void test_loader_cpu_equals_cuda(void **state) {
  fx *f = *state;
  if (!f->plain) f->plain = tl_pack_images(f->dir, "plain", 7, 20, 44, 40, 0);
  if (!f->tall) f->tall = tl_pack_images(f->dir, "tall", 4, 64, 256, 256, 0);
  if (!f->deflated) f->deflated = tl_pack_images(f->dir, "deflated", 7, 20, 44, 40, 2);
  if (!f->flat) f->flat = tl_pack_images(f->dir, "flat", 9, 1, 50, 45, 0);
  const char *pads[2] = {"constant", "reflect"};
  for (int i = 0; i < 2; i++) {
    same_logs(f, vol_yaml(f->plain, pads[i], 30, "device: cpu"), vol_yaml(f->plain, pads[i], 30, "device: cuda"), 6, 0);
    same_logs(f, vol_yaml(f->deflated, pads[i], 30, "device: cpu\nio: {workers: 1}"),
              vol_yaml(f->deflated, pads[i], 30, "device: cuda"), 6, 0);
  }
  /* samples are stored in chunks of at most 1 MiB: the small ones above in
   * one, these 8 MiB ones in eight, of which a box reads only some */
  same_logs(f, vol_yaml(f->tall, "constant", 10, "device: cpu"), vol_yaml(f->tall, "constant", 10, "device: cuda"), 4,
            1);
  same_logs(f, img_yaml(f->flat, "device: cpu"), img_yaml(f->flat, "device: cuda"), 5, 0);
}

static void test_loader_threads_and_direct(void **state) {
  fx *f = *state;
  if (!f->plain) f->plain = tl_pack_images(f->dir, "plain", 7, 20, 44, 40, 0);
  same_logs(f, vol_yaml(f->plain, "constant", 30, "device: cpu\nio: {workers: 1}\nprefetch: 1"),
            vol_yaml(f->plain, "constant", 30, "device: cpu\nio: {workers: 2, readers: 2, engine: pread}\nprefetch: 4"),
            6, 0);
  int fd = open(tu_path("%s/img-g0-00000.h5", f->plain), O_RDONLY | O_DIRECT);
  if (fd < 0) {
    print_message("SKIP test_loader_threads_and_direct (O_DIRECT part): the file system refuses O_DIRECT\n");
    return;
  }
  close(fd);
  same_logs(f, vol_yaml(f->plain, "constant", 30, "device: cpu"),
            vol_yaml(f->plain, "constant", 30, "device: cpu\nio: {direct: true}"), 6, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kernel_boxes),
      cmocka_unit_test(test_kernel_box_errors),
      cmocka_unit_test(test_loader_cpu_equals_cuda),
      cmocka_unit_test(test_loader_threads_and_direct),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

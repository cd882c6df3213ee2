/* Image op geometry: crops, flips, rot90 and permutations exact against
 * hand-built arrays; padding (constant, numpy's reflect); the identity
 * affine and a zero elastic field return the input exactly; affine and
 * elastic against an independent double-precision reference (tolerance
 * 2e-5 of the value range, labels exact away from rounding ties); labels
 * keep only input values; foreground crops at the requested rate; odd,
 * prime and 1-pixel-wide sizes. Everything on the CPU backend; the CUDA
 * kernels are compared with it in test_img_parity.c. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/img_geom.h"
#include "support/img_util.h"

/* A single-sample uint16 2D image whose value is its raster index + base. */
static void ramp2d(it *t, int64_t Y, int64_t X, uint16_t base) {
  int64_t shape[3] = {1, Y, X};
  it_init(t, 1, 3, shape, BFD_DTYPE_UINT16, 0);
  for (int64_t i = 0; i < Y * X; i++) it_set(t, (size_t)i, (double)(base + i));
}

static void expect_f32(const float *out, const float *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (out[i] != want[i]) fail_msg("element %zu: got %g, want %g", i, (double)out[i], (double)want[i]);
}

static void test_center_crop(void **state) {
  (void)state;
  it t;
  ramp2d(&t, 5, 7, 0);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_CENTER;
  sp.size[1] = 3;
  sp.size[2] = 4;
  float *out;
  assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
  const float want[] = {8, 9, 10, 11, 15, 16, 17, 18, 22, 23, 24, 25};
  expect_f32(out, want, 12);
  free(out);
  it_free(&t);
}

static void test_flips(void **state) {
  (void)state;
  const float want_y[] = {8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3};
  const float want_x[] = {3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8};
  const float want_yx[] = {11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
  const float *wants[3] = {want_y, want_x, want_yx};
  for (int k = 0; k < 3; k++) {
    it t;
    ramp2d(&t, 3, 4, 0);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.flip_prob[1] = k != 1 ? 1.0f : 0.0f;
    sp.flip_prob[2] = k != 0 ? 1.0f : 0.0f;
    float *out;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
    expect_f32(out, wants[k], 12);
    free(out);
    it_free(&t);
  }
}

/* rot90 of a 2 x 3 patch from a 4 x 4 image: the window is 3 x 2 for
 * k = 1, 3 (numpy.rot90 turns it into 2 x 3) and 2 x 3 for k = 2. */
static void test_rot90(void **state) {
  (void)state;
  const float want[3][6] = {{2, 6, 10, 1, 5, 9}, {10, 9, 8, 6, 5, 4}, {9, 5, 1, 10, 6, 2}};
  int seen[3] = {0, 0, 0};
  for (uint64_t g = 0; g < 60; g++) {
    it t;
    ramp2d(&t, 4, 4, 0);
    t.gidx[0] = g;
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    sp.pad = BFDK_PAD_NONE;
    sp.size[1] = 2;
    sp.size[2] = 3;
    sp.rot90_prob = 1.0f;
    float *out;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
    int which = -1;
    for (int k = 0; k < 3; k++)
      if (!memcmp(out, want[k], sizeof want[k])) which = k;
    if (which < 0) fail_msg("sample %llu: rot90 gave none of k = 1, 2, 3", (unsigned long long)g);
    seen[which]++;
    free(out);
    it_free(&t);
  }
  print_message("rot90 k = 1, 2, 3 drawn %d, %d, %d times in 60\n", seen[0], seen[1], seen[2]);
  assert_true(seen[0] > 5 && seen[1] > 5 && seen[2] > 5);
}

/* Axis permutations of a 2 x 2 x 2 cube: each output is numpy.transpose of
 * the cube by one of the five non-identity orders; (2, 1, 0) written out. */
static void test_permute(void **state) {
  (void)state;
  const int perms[5][3] = {{0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  float want[5][8];
  for (int p = 0; p < 5; p++)
    for (int o = 0; o < 8; o++) {
      int oi[3] = {o >> 2, (o >> 1) & 1, o & 1}, w[3];
      for (int k = 0; k < 3; k++) w[perms[p][k]] = oi[k];
      want[p][o] = (float)(w[0] * 4 + w[1] * 2 + w[2]);
    }
  const float literal_210[8] = {0, 4, 2, 6, 1, 5, 3, 7};
  assert_memory_equal(want[4], literal_210, sizeof literal_210);
  int seen[5] = {0};
  for (uint64_t g = 0; g < 100; g++) {
    int64_t shape[4] = {1, 2, 2, 2};
    it t;
    it_init(&t, 1, 4, shape, BFD_DTYPE_FLOAT32, g);
    for (int i = 0; i < 8; i++) it_set(&t, (size_t)i, i);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.permute_prob = 1.0f;
    float *out;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
    int which = -1;
    for (int p = 0; p < 5; p++)
      if (!memcmp(out, want[p], sizeof want[p])) which = p;
    if (which < 0) fail_msg("sample %llu: not a transpose of the cube", (unsigned long long)g);
    seen[which]++;
    free(out);
    it_free(&t);
  }
  for (int p = 0; p < 5; p++) assert_true(seen[p] > 5);
}

/* Every random crop is a block of the image; all 24 origins occur. */
static void test_random_crop(void **state) {
  (void)state;
  int seen[4][6] = {{0}};
  for (uint64_t g = 0; g < 300; g++) {
    it t;
    ramp2d(&t, 6, 9, 0);
    t.gidx[0] = g;
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_RANDOM;
    sp.pad = BFDK_PAD_NONE;
    sp.size[1] = 3;
    sp.size[2] = 4;
    float *out;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
    int oy = (int)out[0] / 9, ox = (int)out[0] % 9;
    assert_true(oy <= 3 && ox <= 5);
    for (int y = 0; y < 3; y++)
      for (int x = 0; x < 4; x++) assert_true(out[y * 4 + x] == (float)((oy + y) * 9 + ox + x));
    seen[oy][ox]++;
    free(out);
    it_free(&t);
  }
  for (int y = 0; y < 4; y++)
    for (int x = 0; x < 6; x++) assert_true(seen[y][x] > 0);
}

static void test_padding(void **state) {
  (void)state;
  const float want_const[] = {9, 9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 4, 5, 6, 9, 9, 9, 9, 9, 9};
  const float want_refl[] = {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2};
  for (int mode = 0; mode < 2; mode++) {
    it t;
    ramp2d(&t, 2, 3, 1);
    it_labels(&t, BFD_DTYPE_UINT8);
    for (int i = 0; i < 6; i++) it_lset(&t, (size_t)i, i + 1);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    sp.size[1] = 4;
    sp.size[2] = 5;
    sp.pad = mode == 0 ? BFDK_PAD_CONSTANT : BFDK_PAD_REFLECT;
    sp.pad_value = 9.0f;
    sp.label_pad = 9;
    float *out;
    int64_t *lab;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);
    const float *want = mode == 0 ? want_const : want_refl;
    expect_f32(out, want, 20);
    for (int i = 0; i < 20; i++) assert_int_equal(lab[i], (int64_t)want[i]);
    free(out);
    free(lab);
    it_free(&t);
  }
}

/* ---- identity and references ------------------------------------------------------------ */

/* Float images with labels: nd-dimensional, nonuniform extents. */
static void rand_volume(it *t, int nd, const int64_t *sp_shape, size_t B, uint32_t seed) {
  int64_t shape[4] = {2, sp_shape[0], sp_shape[1], sp_shape[2]};
  if (nd == 2) {
    shape[1] = sp_shape[1];
    shape[2] = sp_shape[2];
  }
  it_init(t, B, nd + 1, shape, BFD_DTYPE_FLOAT32, 100);
  it_fill(t, seed, -50.0, 200.0);
  it_labels(t, BFD_DTYPE_INT32);
  t->b.out_label_dtype = BFD_DTYPE_INT32;
  size_t n = t->lab_in_bytes / 4;
  for (size_t i = 0; i < n; i++) it_lset(t, i, (int64_t)(it_rand(&seed) % 5) * 11);
}

/* The identity affine (zero ranges) and a zero elastic field take the
 * resampling path and must still return the window exactly. */
static void test_identity(void **state) {
  (void)state;
  const int64_t s3[3] = {5, 7, 11}, s2[3] = {1, 13, 17};
  for (int nd = 2; nd <= 3; nd++)
    for (int el = 0; el < 2; el++) {
      it t;
      rand_volume(&t, nd, nd == 3 ? s3 : s2, 2, 99);
      bfdk_img_spec sp;
      bfdk_img_spec_init(&sp);
      sp.crop_mode = BFDK_CROP_CENTER;
      for (int a = 0; a < 3; a++) sp.size[a] = nd == 3 ? (int32_t)s3[a] - 2 : (int32_t)s2[a] - 3;
      sp.affine = !el;
      sp.affine_prob = 1.0f;
      sp.elastic = el;
      sp.elastic_prob = 1.0f;
      sp.spacing[0] = sp.spacing[1] = sp.spacing[2] = 3;
      float *out, *ref;
      int32_t *lab, *lref;
      assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);
      sp.affine = sp.elastic = 0; /* the copy path */
      assert_int_equal(it_run_cpu(&t, &sp, (void **)&ref, (void **)&lref), BFD_OK);
      assert_memory_equal(out, ref, t.out_bytes);
      assert_memory_equal(lab, lref, t.lab_out_bytes);
      /* and the copy path is the window itself */
      const bfdk_img_dims *d = &t.plan.dims;
      int64_t o0 = (d->src[0] - d->out[0]) / 2, o1 = (d->src[1] - d->out[1]) / 2, o2 = (d->src[2] - d->out[2]) / 2;
      for (int64_t b = 0; b < d->B; b++)
        for (int64_t c = 0; c < d->C; c++)
          for (int64_t z = 0; z < d->out[0]; z++)
            for (int64_t y = 0; y < d->out[1]; y++)
              for (int64_t x = 0; x < d->out[2]; x++) {
                size_t si = (size_t)((((b * d->C + c) * d->src[0] + z + o0) * d->src[1] + y + o1) * d->src[2] + x + o2);
                size_t oi = (size_t)((((b * d->C + c) * d->out[0] + z) * d->out[1] + y) * d->out[2] + x);
                assert_true(ref[oi] == (float)it_get(&t, si));
              }
      free(out);
      free(ref);
      free(lab);
      free(lref);
      it_free(&t);
    }
}

/* ---- a double-precision reference for the resampling path ------------------------------------ */

typedef struct ref_geo {
  double A[3][3], t[3];
  int64_t origin[3], win[3];
} ref_geo;

static void mat_mul(const double a[3][3], const double b[3][3], double c[3][3]) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) c[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
}

static void rot_plane(double deg, int p, int q, double R[3][3]) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) R[i][j] = i == j;
  double r = deg * M_PI / 180.0;
  R[p][p] = cos(r);
  R[p][q] = -sin(r);
  R[q][p] = sin(r);
  R[q][q] = cos(r);
}

static double ref_tap(const it *t, int64_t b, int64_t c, const int64_t S[3], int64_t z, int64_t y, int64_t x) {
  if (z < 0 || y < 0 || x < 0 || z >= S[0] || y >= S[1] || x >= S[2]) return 0.0;
  return it_get(t, (size_t)((((b * t->b.shape[0] + c) * S[0] + z) * S[1] + y) * S[2] + x));
}

static double ref_linear(const it *t, int64_t b, int64_t c, const int64_t S[3], const double s[3]) {
  double fl[3] = {floor(s[0]), floor(s[1]), floor(s[2])}, f[3] = {s[0] - fl[0], s[1] - fl[1], s[2] - fl[2]};
  double v = 0.0;
  for (int dz = 0; dz < 2; dz++)
    for (int dy = 0; dy < 2; dy++)
      for (int dx = 0; dx < 2; dx++) {
        double w = (dz ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dx ? f[2] : 1 - f[2]);
        if (w != 0.0) v += w * ref_tap(t, b, c, S, (int64_t)fl[0] + dz, (int64_t)fl[1] + dy, (int64_t)fl[2] + dx);
      }
  return v;
}

/* Compares out and labels with the reference at source coordinate
 * coord(b, z, y, x) for every output voxel. */
typedef void (*coord_fn)(const void *ctx, int64_t b, int64_t z, int64_t y, int64_t x, double s[3]);

static void compare_with_ref(const it *t, const float *out, const int32_t *lab, coord_fn coord, const void *cctx,
                             const char *what) {
  const bfdk_img_dims *d = &t->plan.dims;
  double lo = 1e300, hi = -1e300;
  for (size_t i = 0; i < t->in_bytes / 4; i++) {
    lo = fmin(lo, it_get(t, i));
    hi = fmax(hi, it_get(t, i));
  }
  double worst = 0.0;
  int64_t lab_bad = 0, lab_ties = 0, n = 0;
  for (int64_t b = 0; b < d->B; b++)
    for (int64_t z = 0; z < d->out[0]; z++)
      for (int64_t y = 0; y < d->out[1]; y++)
        for (int64_t x = 0; x < d->out[2]; x++) {
          double s[3];
          coord(cctx, b, z, y, x, s);
          int64_t v = (z * d->out[1] + y) * d->out[2] + x;
          for (int64_t c = 0; c < d->C; c++) {
            double r = ref_linear(t, b, c, d->src, s);
            worst = fmax(worst, fabs(r - out[(b * d->C + c) * d->out_vox + v]));
          }
          int tie = 0;
          int64_t ni[3];
          for (int a = 0; a < 3; a++) {
            double fr = s[a] - floor(s[a]);
            tie |= fabs(fr - 0.5) < 1e-3;
            ni[a] = (int64_t)floor(s[a] + 0.5);
          }
          int in =
              ni[0] >= 0 && ni[1] >= 0 && ni[2] >= 0 && ni[0] < d->src[0] && ni[1] < d->src[1] && ni[2] < d->src[2];
          int64_t want =
              in ? it_lget(t, (size_t)(((b * d->src[0] + ni[0]) * d->src[1] + ni[1]) * d->src[2] + ni[2])) : 0;
          if (tie)
            lab_ties++;
          else if (lab[b * d->out_vox + v] != want)
            lab_bad++;
          n++;
        }
  print_message("%s: max |out - ref| = %.3g (%.3g of the range), %lld labels wrong, %lld near ties skipped of %lld\n",
                what, worst, worst / (hi - lo), (long long)lab_bad, (long long)lab_ties, (long long)n);
  assert_true(worst <= 2e-5 * (hi - lo));
  assert_int_equal(lab_bad, 0);
}

static void affine_coord(const void *cctx, int64_t b, int64_t z, int64_t y, int64_t x, double s[3]) {
  const ref_geo *g = (const ref_geo *)cctx;
  (void)b;
  double w[3] = {(double)z, (double)y, (double)x}, c[3];
  for (int a = 0; a < 3; a++) c[a] = (g->win[a] - 1) / 2.0;
  for (int i = 0; i < 3; i++) {
    s[i] = g->origin[i] + c[i] + g->t[i];
    for (int j = 0; j < 3; j++) s[i] += g->A[i][j] * (w[j] - c[j]);
  }
}

static void test_affine_reference(void **state) {
  (void)state;
  for (int nd = 2; nd <= 3; nd++) {
    const int64_t S[3] = {nd == 3 ? 12 : 1, nd == 3 ? 20 : 40, nd == 3 ? 24 : 50};
    const int32_t P[3] = {nd == 3 ? 8 : 1, nd == 3 ? 14 : 30, nd == 3 ? 16 : 36};
    it t;
    rand_volume(&t, nd, S, 2, 5);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    for (int a = 0; a < 3; a++) sp.size[a] = P[a];
    sp.affine = 1;
    sp.affine_prob = 1.0f;
    const double rot[3] = {nd == 3 ? 10.0 : 17.0, -7.0, 25.0};
    for (int a = 0; a < 3; a++) sp.rot_lo[a] = sp.rot_hi[a] = (float)rot[a];
    double scale = nd == 3 ? 0.9 : 1.2, shear = nd == 3 ? 0.05 : 0.1, shift = nd == 3 ? -1.5 : 2.5;
    sp.scale_lo = sp.scale_hi = (float)scale;
    sp.shear_lo = sp.shear_hi = (float)shear;
    sp.shift_lo = sp.shift_hi = (float)shift;
    float *out;
    int32_t *lab;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);

    ref_geo g;
    double R[3][3], T[3][3], U[3][3], Sh[3][3], Sc[3][3];
    rot_plane(rot[0], 1, 2, R);
    if (nd == 3) {
      rot_plane(rot[1], 2, 0, T);
      mat_mul(R, T, U);
      rot_plane(rot[2], 0, 1, T);
      mat_mul(U, T, R);
    }
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) Sh[i][j] = Sc[i][j] = i == j;
    Sh[2][1] = shear;
    if (nd == 3) Sh[2][0] = Sh[1][0] = shear;
    for (int a = 3 - nd; a < 3; a++) Sc[a][a] = 1.0 / scale;
    mat_mul(R, Sh, T);
    mat_mul(T, Sc, g.A);
    for (int a = 0; a < 3; a++) {
      g.t[a] = a >= 3 - nd ? shift : 0.0;
      g.win[a] = P[a];
      g.origin[a] = (S[a] - P[a]) / 2;
    }
    compare_with_ref(&t, out, lab, affine_coord, &g, nd == 3 ? "affine 3D" : "affine 2D");
    free(out);
    free(lab);
    it_free(&t);
  }
}

/* The elastic field from its documented definition, in double. */
typedef struct ref_el {
  const it *t;
  int nd;
  int64_t origin[3], n[3];
  int32_t sp[3];
  double mag;
  double *nodes; /* [B][nz][ny][nx][3] */
} ref_el;

static double ref_normal(uint64_t seed, uint64_t sample, uint64_t e) {
  bfd_rng_key k = {seed, 0, sample, BFD_RNG_ELASTIC};
  philox4x32_ctr_t w = bfd_rng4(k, (uint32_t)(1 + e / 4));
  uint32_t lane = (uint32_t)(e % 4), a = w.v[lane / 2 * 2], b = w.v[lane / 2 * 2 + 1];
  double u1 = ((a >> 8) + 1) / 16777216.0, u2 = (b >> 8) / 16777216.0;
  double r = sqrt(-2.0 * log(u1));
  return lane % 2 ? r * sin(2 * M_PI * u2) : r * cos(2 * M_PI * u2);
}

static void ref_el_nodes(ref_el *e, size_t B, uint64_t seed, const uint64_t *gidx) {
  int64_t nz = e->n[0], ny = e->n[1], nx = e->n[2];
  e->nodes = calloc(B * (size_t)(nz * ny * nx) * 3, sizeof(double));
  const double w3[3] = {0.25, 0.5, 0.25};
  double norm = e->nd == 3 ? pow(0.375, 1.5) : 0.375;
  int zr = e->nd == 3;
  for (size_t b = 0; b < B; b++)
    for (int64_t kz = 0; kz < nz; kz++)
      for (int64_t ky = 0; ky < ny; ky++)
        for (int64_t kx = 0; kx < nx; kx++)
          for (int comp = 3 - e->nd; comp < 3; comp++) {
            double acc = 0.0;
            for (int dz = -zr; dz <= zr; dz++)
              for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                  int64_t z = kz + dz < 0 ? 0 : (kz + dz >= nz ? nz - 1 : kz + dz);
                  int64_t y = ky + dy < 0 ? 0 : (ky + dy >= ny ? ny - 1 : ky + dy);
                  int64_t x = kx + dx < 0 ? 0 : (kx + dx >= nx ? nx - 1 : kx + dx);
                  acc += (zr ? w3[dz + 1] : 1.0) * w3[dy + 1] * w3[dx + 1] *
                         ref_normal(seed, gidx[b], (uint64_t)(((z * ny + y) * nx + x) * 3 + comp));
                }
            e->nodes[((((int64_t)b * nz + kz) * ny + ky) * nx + kx) * 3 + comp] = acc / norm * e->mag;
          }
}

static void elastic_coord(const void *cctx, int64_t b, int64_t z, int64_t y, int64_t x, double s[3]) {
  const ref_el *e = (const ref_el *)cctx;
  int64_t o[3] = {z, y, x}, k[3];
  double f[3];
  for (int a = 0; a < 3; a++) {
    k[a] = o[a] / e->sp[a];
    f[a] = (double)(o[a] % e->sp[a]) / e->sp[a];
  }
  for (int comp = 0; comp < 3; comp++) {
    double dsp = 0.0;
    for (int dz = 0; dz < 2; dz++)
      for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
          double w = (dz ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dx ? f[2] : 1 - f[2]);
          if (w == 0.0) continue;
          dsp += w * e->nodes[((((b * e->n[0] + k[0] + dz) * e->n[1]) + k[1] + dy) * e->n[2] + k[2] + dx) * 3 + comp];
        }
    s[comp] = e->origin[comp] + o[comp] + (comp >= 3 - e->nd ? dsp : 0.0);
  }
}

static void test_elastic_reference(void **state) {
  (void)state;
  for (int nd = 2; nd <= 3; nd++) {
    const int64_t S[3] = {nd == 3 ? 16 : 1, nd == 3 ? 18 : 48, nd == 3 ? 20 : 48};
    const int32_t P[3] = {nd == 3 ? 12 : 1, nd == 3 ? 14 : 40, nd == 3 ? 16 : 40};
    const int32_t SP[3] = {nd == 3 ? 5 : 8, nd == 3 ? 6 : 8, nd == 3 ? 7 : 8};
    it t;
    rand_volume(&t, nd, S, 2, 11);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    sp.elastic = 1;
    sp.elastic_prob = 1.0f;
    double mag = nd == 3 ? 1.5 : 2.0;
    sp.mag_lo = sp.mag_hi = (float)mag;
    for (int a = 0; a < 3; a++) {
      sp.size[a] = P[a];
      sp.spacing[a] = SP[a];
    }
    float *out;
    int32_t *lab;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);
    ref_el e;
    e.t = &t;
    e.nd = nd;
    e.mag = mag;
    for (int a = 0; a < 3; a++) {
      e.origin[a] = (S[a] - P[a]) / 2;
      e.sp[a] = SP[a];
      e.n[a] = a < 3 - nd ? 1 : (P[a] - 1) / SP[a] + 2;
    }
    ref_el_nodes(&e, t.b.batch, t.b.seed, t.gidx);
    compare_with_ref(&t, out, lab, elastic_coord, &e, nd == 3 ? "elastic 3D" : "elastic 2D");
    free(e.nodes);
    free(out);
    free(lab);
    it_free(&t);
  }
}

/* ---- labels and foreground ------------------------------------------------------------------ */

static void test_labels_only_input_values(void **state) {
  (void)state;
  const int64_t vals[4] = {0, 3, 7, 300};
  for (int nd = 2; nd <= 3; nd++) {
    int64_t shape[4] = {1, nd == 3 ? 9 : 31, nd == 3 ? 14 : 37, 13};
    it t;
    it_init(&t, 3, nd + 1, shape, BFD_DTYPE_UINT8, 7);
    it_fill(&t, 3, 0, 255);
    it_labels(&t, BFD_DTYPE_UINT16);
    uint32_t seed = 17;
    for (size_t i = 0; i < t.lab_in_bytes / 2; i++) it_lset(&t, i, vals[(i / 5 + it_rand(&seed) % 2) % 4]);
    t.b.out_label_dtype = BFD_DTYPE_INT32;
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_RANDOM;
    sp.pad = BFDK_PAD_REFLECT;
    for (int a = 0; a < 3; a++) sp.size[a] = nd == 3 ? 11 : 24;
    sp.flip_prob[0] = sp.flip_prob[1] = sp.flip_prob[2] = 0.5f;
    sp.rot90_prob = 0.5f;
    sp.affine = sp.elastic = 1;
    sp.affine_prob = sp.elastic_prob = 1.0f;
    sp.rot_lo[0] = sp.rot_lo[1] = sp.rot_lo[2] = -30.0f;
    sp.rot_hi[0] = sp.rot_hi[1] = sp.rot_hi[2] = 30.0f;
    sp.scale_lo = 0.8f;
    sp.scale_hi = 1.3f;
    sp.mag_lo = 1.0f;
    sp.mag_hi = 3.0f;
    sp.spacing[0] = sp.spacing[1] = sp.spacing[2] = 4;
    float *out;
    int32_t *lab;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);
    int seen[4] = {0};
    for (size_t i = 0; i < t.lab_out_bytes / 4; i++) {
      int k = -1;
      for (int j = 0; j < 4; j++)
        if (lab[i] == vals[j]) k = j;
      if (k < 0) fail_msg("label %d at %zu was not in the input", lab[i], i);
      seen[k]++;
    }
    for (int j = 0; j < 4; j++) assert_true(seen[j] > 0);
    free(out);
    free(lab);
    it_free(&t);
  }
}

/* A 3 x 3 blob in a 64 x 64 image, 16 x 16 crops: with fg_prob p a crop
 * contains the blob with probability p + (1 - p) q, q = (14 / 49)^2 the
 * chance of a random crop overlapping it. 600 samples, within 4 sigma. */
static void test_foreground_rate(void **state) {
  (void)state;
  const double probs[2] = {0.5, 1.0};
  for (int pi = 0; pi < 2; pi++) {
    const size_t B = 600;
    int64_t shape[3] = {1, 64, 64};
    it t;
    it_init(&t, B, 3, shape, BFD_DTYPE_UINT8, 1000);
    it_labels(&t, BFD_DTYPE_UINT8);
    for (size_t b = 0; b < B; b++)
      for (int y = 50; y < 53; y++)
        for (int x = 50; x < 53; x++) it_lset(&t, b * 4096 + (size_t)(y * 64 + x), 5);
    t.b.out_label_dtype = BFD_DTYPE_UINT8;
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_FOREGROUND;
    sp.pad = BFDK_PAD_NONE;
    sp.size[1] = sp.size[2] = 16;
    sp.fg_prob = (float)probs[pi];
    float *out;
    uint8_t *lab;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, (void **)&lab), BFD_OK);
    size_t hit = 0;
    for (size_t b = 0; b < B; b++) {
      int any = 0;
      for (int i = 0; i < 256; i++) any |= lab[b * 256 + (size_t)i] != 0;
      hit += (size_t)any;
    }
    double q = (14.0 / 49.0) * (14.0 / 49.0), p = probs[pi] + (1.0 - probs[pi]) * q;
    double rate = (double)hit / (double)B, sigma = sqrt(p * (1 - p) / (double)B);
    print_message("fg_prob %.2f: %zu of %zu crops hold foreground (%.3f; expected %.3f +- %.3f)\n", probs[pi], hit, B,
                  rate, p, sigma);
    if (probs[pi] == 1.0)
      assert_int_equal(hit, B);
    else
      assert_true(fabs(rate - p) < 4 * sigma);
    free(out);
    free(lab);
    it_free(&t);
  }
}

/* Odd, prime and 1-pixel-wide extents: center crops and flips on every
 * axis against the index formula, and a 1 x 37 image. */
static void test_odd_sizes(void **state) {
  (void)state;
  const int64_t shapes[4][4] = {{3, 7, 13, 11}, {1, 1, 1, 37}, {2, 1, 37, 1}, {1, 5, 3, 2}};
  const int32_t crops[4][3] = {{5, 11, 3}, {1, 1, 13}, {1, 17, 1}, {3, 3, 2}};
  for (int k = 0; k < 4; k++) {
    int nd = shapes[k][1] > 1 || k == 0 || k == 3 ? 3 : 2;
    int64_t shape[4];
    if (nd == 3)
      memcpy(shape, shapes[k], sizeof shape);
    else {
      shape[0] = shapes[k][0];
      shape[1] = shapes[k][2];
      shape[2] = shapes[k][3];
    }
    it t;
    it_init(&t, 2, nd + 1, shape, BFD_DTYPE_INT16, 0);
    it_fill(&t, (uint32_t)k, -3000, 3000);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    sp.pad = BFDK_PAD_NONE;
    memcpy(sp.size, crops[k], sizeof sp.size);
    sp.flip_prob[0] = sp.flip_prob[1] = sp.flip_prob[2] = 1.0f;
    float *out;
    assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
    const bfdk_img_dims *d = &t.plan.dims;
    for (int64_t b = 0; b < d->B; b++)
      for (int64_t c = 0; c < d->C; c++)
        for (int64_t z = 0; z < d->out[0]; z++)
          for (int64_t y = 0; y < d->out[1]; y++)
            for (int64_t x = 0; x < d->out[2]; x++) {
              int64_t w[3] = {d->out[0] - 1 - z, d->out[1] - 1 - y, d->out[2] - 1 - x};
              if (nd == 2) w[0] = 0;
              int64_t si = (((b * d->C + c) * d->src[0] + w[0] + (d->src[0] - d->out[0]) / 2) * d->src[1] + w[1] +
                            (d->src[1] - d->out[1]) / 2) *
                               d->src[2] +
                           w[2] + (d->src[2] - d->out[2]) / 2;
              int64_t oi = (((b * d->C + c) * d->out[0] + z) * d->out[1] + y) * d->out[2] + x;
              assert_true(out[oi] == (float)it_get(&t, (size_t)si));
            }
    free(out);
    it_free(&t);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_center_crop),
      cmocka_unit_test(test_flips),
      cmocka_unit_test(test_rot90),
      cmocka_unit_test(test_permute),
      cmocka_unit_test(test_random_crop),
      cmocka_unit_test(test_padding),
      cmocka_unit_test(test_identity),
      cmocka_unit_test(test_affine_reference),
      cmocka_unit_test(test_elastic_reference),
      cmocka_unit_test(test_labels_only_input_values),
      cmocka_unit_test(test_foreground_rate),
      cmocka_unit_test(test_odd_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

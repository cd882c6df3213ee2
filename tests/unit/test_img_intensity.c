/* Image intensity ops against independent references written here:
 * percentile normalization bit-exact against numpy's method (sort, index
 * (n - 1) p / 100, numpy's _lerp; in double for integer data, float32 for
 * float32 data) and CSBDeep's float32 formula; min-max and fixed z-score
 * exact, per-image z-score within 1e-6; brightness, contrast, gamma, noise,
 * blur and low resolution against double-precision loops (tolerances in
 * each test); prob 0 leaves data alone; float16/bfloat16 and channels-last
 * outputs are the float32 result converted and transposed.
 *
 * `test_img_intensity --dump DIR` writes inputs and outputs of a few cases
 * for tests/python/test_img_ops_reference.py, which checks them against
 * numpy and scipy themselves. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/img_intensity.h"
#include "support/img_util.h"

static bfdk_img_iop *add_op(bfdk_img_spec *sp, int32_t kind, uint32_t rng) {
  bfdk_img_iop *op = &sp->iops[sp->n_iops];
  memset(op, 0, sizeof *op);
  op->kind = kind;
  op->prob = 1.0f;
  op->rng_op = rng | ((uint32_t)sp->n_iops << 16);
  sp->n_iops++;
  return op;
}

static bfdk_img_iop *add_norm(bfdk_img_spec *sp, int32_t mode) {
  bfdk_img_iop *op = add_op(sp, BFDK_IMG_NORMALIZE, BFD_RNG_INTENSITY);
  op->norm_mode = mode;
  op->pmin = 1.0;
  op->pmax = 99.8;
  op->eps = 1e-20f;
  op->factor = 1.0f;
  return op;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* numpy.percentile(v, p) by numpy's own steps; is_f32: the float32 path. */
static double np_percentile(const double *sorted, size_t n, double p, int is_f32) {
  double vi = (double)(n - 1) * (p / 100.0);
  size_t lo = (size_t)floor(vi), hi = lo + 1;
  if (vi >= (double)(n - 1)) lo = hi = n - 1;
  double t = vi >= (double)(n - 1) ? 0.0 : vi - floor(vi);
  if (is_f32) {
    float a = (float)sorted[lo], b = (float)sorted[hi], diff = b - a;
    return t >= 0.5 ? b - diff * (float)(1.0 - t) : a + diff * (float)t;
  }
  double a = sorted[lo], b = sorted[hi], diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

/* One channel's values, sorted. */
static double *channel_sorted(const it *t, size_t b, size_t c, size_t *n) {
  size_t per = t->in_bytes / bfd_dtype_size(t->b.dtype) / t->b.batch / (size_t)t->b.shape[0];
  double *v = malloc(per * sizeof *v);
  for (size_t i = 0; i < per; i++) v[i] = it_get(t, (b * (size_t)t->b.shape[0] + c) * per + i);
  qsort(v, per, sizeof *v, cmp_double);
  *n = per;
  return v;
}

/* ---- normalization ---------------------------------------------------------------------------- */

static void check_percentile(bfd_dtype dt, int clip) {
  int64_t shape[3] = {2, 61, 83};
  it t;
  it_init(&t, 3, 3, shape, dt, 0);
  double lo = dt == BFD_DTYPE_UINT8 ? 0 : (dt == BFD_DTYPE_INT16 ? -20000 : 0);
  double hi = dt == BFD_DTYPE_UINT8 ? 255 : (dt == BFD_DTYPE_INT16 ? 20000 : 60000);
  it_fill(&t, 21 + (uint32_t)dt, lo, hi);
  /* a few outliers per channel, what percentiles are for */
  for (size_t i = 0; i < t.in_bytes / bfd_dtype_size(dt); i += 997) it_set(&t, i, hi);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  bfdk_img_iop *op = add_norm(&sp, BFDK_NORM_PERCENTILE);
  op->pmin = 3.0;
  op->pmax = 99.8;
  op->clip = clip;
  float *out;
  assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
  size_t per = 61 * 83;
  for (size_t b = 0; b < 3; b++)
    for (size_t c = 0; c < 2; c++) {
      size_t n;
      double *v = channel_sorted(&t, b, c, &n);
      float mi = (float)np_percentile(v, n, 3.0, dt == BFD_DTYPE_FLOAT32);
      float ma = (float)np_percentile(v, n, 99.8, dt == BFD_DTYPE_FLOAT32);
      float den = (ma - mi) + 1e-20f;
      for (size_t i = 0; i < per; i++) {
        size_t k = (b * 2 + c) * per + i;
        float want = ((float)it_get(&t, k) - mi) / den;
        if (clip) want = want < 0.0f ? 0.0f : (want > 1.0f ? 1.0f : want);
        if (out[k] != want)
          fail_msg("%s sample %zu channel %zu element %zu: %.9g, want %.9g (p3 %.9g, p99.8 %.9g)", bfd_dtype_name(dt),
                   b, c, i, (double)out[k], (double)want, (double)mi, (double)ma);
      }
      free(v);
    }
  free(out);
  it_free(&t);
}

static void test_percentile(void **state) {
  (void)state;
  const bfd_dtype types[4] = {BFD_DTYPE_UINT8, BFD_DTYPE_UINT16, BFD_DTYPE_INT16, BFD_DTYPE_FLOAT32};
  for (int i = 0; i < 4; i++) {
    check_percentile(types[i], 0);
    check_percentile(types[i], 1);
  }
}

static void test_minmax_zscore_scale(void **state) {
  (void)state;
  const bfd_dtype types[2] = {BFD_DTYPE_UINT16, BFD_DTYPE_FLOAT32};
  for (int ti = 0; ti < 2; ti++)
    for (int mode = 0; mode < 4; mode++) {
      int64_t shape[4] = {3, 4, 9, 10};
      it t;
      it_init(&t, 2, 4, shape, types[ti], 0);
      it_fill(&t, 5, 100, 5000);
      bfdk_img_spec sp;
      bfdk_img_spec_init(&sp);
      bfdk_img_iop *op = add_norm(&sp, mode == 0 ? BFDK_NORM_MINMAX : (mode == 3 ? BFDK_NORM_SCALE : BFDK_NORM_ZSCORE));
      op->eps = 1e-8f;
      if (mode == 2) {
        op->fixed = 1;
        op->mean = 2500.0f;
        op->std = 700.0f;
      }
      op->factor = 1.0f / 65535.0f;
      float *out;
      assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
      size_t per = 360;
      double worst = 0.0;
      for (size_t bc = 0; bc < 6; bc++) {
        double mn = 1e300, mx = -1e300, sum = 0.0, ss = 0.0;
        for (size_t i = 0; i < per; i++) {
          double x = it_get(&t, bc * per + i);
          mn = fmin(mn, x);
          mx = fmax(mx, x);
          sum += x;
        }
        double mean = sum / (double)per;
        for (size_t i = 0; i < per; i++) ss += (it_get(&t, bc * per + i) - mean) * (it_get(&t, bc * per + i) - mean);
        double sd = sqrt(ss / (double)per);
        for (size_t i = 0; i < per; i++) {
          float x = (float)it_get(&t, bc * per + i), got = out[bc * per + i];
          if (mode == 0)
            assert_true(got == (x - (float)mn) / (((float)mx - (float)mn) + 1e-8f));
          else if (mode == 2)
            assert_true(got == (x - 2500.0f) / 700.0f);
          else if (mode == 3)
            assert_true(got == x * (1.0f / 65535.0f));
          else
            worst = fmax(worst, fabs(got - (x - mean) / sd));
        }
      }
      assert_true(worst <= 1e-5);
      free(out);
      it_free(&t);
    }
}

/* ---- jitter ops --------------------------------------------------------------------------------------- */

/* A 2-sample, 2-channel float image in [0, 1) with smooth structure. */
static void smooth_images(it *t, int nd) {
  int64_t shape[4] = {2, nd == 3 ? 6 : 29, nd == 3 ? 11 : 31, 13};
  it_init(t, 2, nd + 1, shape, BFD_DTYPE_FLOAT32, 40);
  size_t n = t->in_bytes / 4;
  uint32_t seed = 3;
  for (size_t i = 0; i < n; i++) it_set(t, i, 0.5 + 0.3 * sin((double)i * 0.37) + 0.1 * (it_rand(&seed) / 16777216.0));
}

static double range_of(const it *t) {
  double lo = 1e300, hi = -1e300;
  for (size_t i = 0; i < t->in_bytes / 4; i++) {
    lo = fmin(lo, it_get(t, i));
    hi = fmax(hi, it_get(t, i));
  }
  return hi - lo;
}

static void test_brightness_contrast_gamma(void **state) {
  (void)state;
  for (int kind = BFDK_IMG_BRIGHTNESS; kind <= BFDK_IMG_GAMMA; kind++)
    for (int inv = 0; inv < (kind == BFDK_IMG_GAMMA ? 2 : 1); inv++) {
      it t;
      smooth_images(&t, 2);
      bfdk_img_spec sp;
      bfdk_img_spec_init(&sp);
      bfdk_img_iop *op = add_op(&sp, kind, BFD_RNG_INTENSITY);
      double v = kind == BFDK_IMG_BRIGHTNESS ? 0.125 : (kind == BFDK_IMG_CONTRAST ? 1.4 : 0.6);
      op->lo = op->hi = (float)v;
      op->invert_prob = (float)inv;
      float *out;
      assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
      size_t per = t.in_bytes / 4 / 4;
      double worst = 0.0;
      for (size_t bc = 0; bc < 4; bc++) {
        double mean = 0.0, mn = 1e300, mx = -1e300;
        for (size_t i = 0; i < per; i++) {
          double x = it_get(&t, bc * per + i);
          mean += x / (double)per;
          mn = fmin(mn, x);
          mx = fmax(mx, x);
        }
        for (size_t i = 0; i < per; i++) {
          double x = it_get(&t, bc * per + i), want;
          if (kind == BFDK_IMG_BRIGHTNESS)
            want = x + v;
          else if (kind == BFDK_IMG_CONTRAST)
            want = (x - mean) * v + mean;
          else if (!inv)
            want = pow((x - mn) / (mx - mn + 1e-7), v) * (mx - mn) + mn;
          else
            want = mx - pow((mx - x) / (mx - mn + 1e-7), v) * (mx - mn);
          worst = fmax(worst, fabs(out[bc * per + i] - want));
        }
      }
      print_message("op %d%s: max error %.3g\n", kind, inv ? " (inverted)" : "", worst);
      assert_true(worst <= 2e-6);
      free(out);
      it_free(&t);
    }
}

static double ref_noise(uint64_t seed, uint64_t sample, uint32_t op, uint64_t e) {
  bfd_rng_key k = {seed, 0, sample, op};
  philox4x32_ctr_t w = bfd_rng4(k, (uint32_t)(1 + e / 4));
  uint32_t lane = (uint32_t)(e % 4), a = w.v[lane / 2 * 2], b = w.v[lane / 2 * 2 + 1];
  double r = sqrt(-2.0 * log(((a >> 8) + 1) / 16777216.0)), th = 2 * M_PI * ((b >> 8) / 16777216.0);
  return lane % 2 ? r * sin(th) : r * cos(th);
}

static void test_noise(void **state) {
  (void)state;
  it t;
  int64_t shape[3] = {3, 64, 65};
  it_init(&t, 2, 3, shape, BFD_DTYPE_UINT8, 500);
  it_fill(&t, 9, 0, 255);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  add_op(&sp, BFDK_IMG_BRIGHTNESS, BFD_RNG_INTENSITY)->prob = 0.0f; /* noise at position 1 of the list */
  bfdk_img_iop *op = add_op(&sp, BFDK_IMG_NOISE, BFD_RNG_NOISE);
  op->lo = op->hi = 2.5f;
  float *out;
  assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
  size_t per = 3 * 64 * 65;
  double worst = 0.0, s1 = 0.0, s2 = 0.0;
  for (size_t b = 0; b < 2; b++)
    for (size_t e = 0; e < per; e++) {
      double z = (out[b * per + e] - it_get(&t, b * per + e)) / 2.5;
      worst = fmax(worst, fabs(z - ref_noise(t.b.seed, 500 + b, op->rng_op, e)));
      s1 += z;
      s2 += z * z;
    }
  double n = 2.0 * (double)per, mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
  print_message("noise: max |z - reference| %.3g, mean %.4f, std %.4f over %.0f numbers\n", worst, mean, sd, n);
  assert_true(worst <= 5e-5);
  assert_true(fabs(mean) < 0.02 && fabs(sd - 1.0) < 0.02);
  free(out);
  it_free(&t);
}

/* scipy.ndimage.gaussian_filter(x, sigma, mode='reflect', truncate=4), in double. */
static void ref_blur(const double *in, double *out, const int64_t n[3], int nd, double sigma) {
  int r = (int)(4.0 * sigma + 0.5);
  double *w = malloc((size_t)(2 * r + 1) * sizeof *w), sum = 0.0;
  for (int k = -r; k <= r; k++) sum += w[k + r] = exp(-0.5 * k * k / (sigma * sigma));
  for (int k = 0; k <= 2 * r; k++) w[k] /= sum;
  size_t total = (size_t)(n[0] * n[1] * n[2]);
  double *cur = malloc(total * sizeof *cur);
  memcpy(cur, in, total * sizeof *cur);
  for (int a = 3 - nd; a < 3; a++) {
    int64_t stride = a == 2 ? 1 : (a == 1 ? n[2] : n[1] * n[2]);
    for (int64_t i = 0; i < (int64_t)total; i++) {
      int64_t pos = (i / stride) % n[a];
      double acc = 0.0;
      for (int k = -r; k <= r; k++) {
        int64_t p = pos + k, m = 2 * n[a];
        p = ((p % m) + m) % m;
        if (p >= n[a]) p = m - 1 - p;
        acc += w[k + r] * cur[i + (p - pos) * stride];
      }
      out[i] = acc;
    }
    memcpy(cur, out, total * sizeof *cur);
  }
  free(cur);
  free(w);
}

/* The low-resolution simulation as documented, in double. */
static double ref_lowres_at(const double *ch, const int64_t n[3], int nd, double zoom, const int64_t o[3]) {
  int64_t s0[3], s1[3];
  double f[3];
  for (int a = 0; a < 3; a++) {
    if (a < 3 - nd) {
      s0[a] = s1[a] = 0;
      f[a] = 0;
      continue;
    }
    int64_t m = (int64_t)((float)n[a] * (float)zoom + 0.5f);
    m = m < 1 ? 1 : (m > n[a] ? n[a] : m);
    double q = (o[a] + 0.5) * (double)m / (double)n[a] - 0.5;
    q = q < 0 ? 0 : (q > m - 1 ? m - 1 : q);
    int64_t i0 = (int64_t)floor(q), i1 = i0 + 1 < m ? i0 + 1 : m - 1;
    f[a] = q - i0;
    s0[a] = ((2 * i0 + 1) * n[a]) / (2 * m);
    s1[a] = ((2 * i1 + 1) * n[a]) / (2 * m);
  }
  double v = 0.0;
  for (int dz = 0; dz < 2; dz++)
    for (int dy = 0; dy < 2; dy++)
      for (int dx = 0; dx < 2; dx++) {
        double w = (dz ? f[0] : 1 - f[0]) * (dy ? f[1] : 1 - f[1]) * (dx ? f[2] : 1 - f[2]);
        if (w == 0.0) continue;
        int64_t z = dz ? s1[0] : s0[0], y = dy ? s1[1] : s0[1], x = dx ? s1[2] : s0[2];
        v += w * ch[(z * n[1] + y) * n[2] + x];
      }
  return v;
}

static void test_blur_lowres(void **state) {
  (void)state;
  for (int nd = 2; nd <= 3; nd++)
    for (int kind = BFDK_IMG_BLUR; kind <= BFDK_IMG_LOWRES; kind++) {
      it t;
      smooth_images(&t, nd);
      bfdk_img_spec sp;
      bfdk_img_spec_init(&sp);
      bfdk_img_iop *op = add_op(&sp, kind, kind == BFDK_IMG_BLUR ? BFD_RNG_BLUR : BFD_RNG_LOWRES);
      double v = kind == BFDK_IMG_BLUR ? 1.3 : 0.45;
      op->lo = op->hi = (float)v;
      float *out;
      assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
      const bfdk_img_dims *d = &t.plan.dims;
      size_t per = (size_t)d->out_vox;
      double *in = malloc(per * sizeof *in), *want = malloc(per * sizeof *want), worst = 0.0;
      for (size_t bc = 0; bc < 4; bc++) {
        for (size_t i = 0; i < per; i++) in[i] = it_get(&t, bc * per + i);
        if (kind == BFDK_IMG_BLUR) ref_blur(in, want, d->out, nd, v);
        for (size_t i = 0; i < per; i++) {
          int64_t o[3] = {(int64_t)i / (d->out[1] * d->out[2]), ((int64_t)i / d->out[2]) % d->out[1],
                          (int64_t)i % d->out[2]};
          double w = kind == BFDK_IMG_BLUR ? want[i] : ref_lowres_at(in, d->out, nd, v, o);
          worst = fmax(worst, fabs(out[bc * per + i] - w));
        }
      }
      print_message("%s %dD: max error %.3g\n", kind == BFDK_IMG_BLUR ? "blur" : "lowres", nd, worst);
      assert_true(worst <= 2e-6 * range_of(&t) + 1e-7);
      free(in);
      free(want);
      free(out);
      it_free(&t);
    }
}

/* prob 0: every jitter op leaves the data exactly as it was. */
static void test_prob_zero(void **state) {
  (void)state;
  it t;
  smooth_images(&t, 3);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  const uint32_t rng[6] = {BFD_RNG_INTENSITY, BFD_RNG_INTENSITY, BFD_RNG_INTENSITY,
                           BFD_RNG_NOISE,     BFD_RNG_BLUR,      BFD_RNG_LOWRES};
  for (int kind = BFDK_IMG_BRIGHTNESS; kind <= BFDK_IMG_LOWRES; kind++) {
    bfdk_img_iop *op = add_op(&sp, kind, rng[kind - BFDK_IMG_BRIGHTNESS]);
    op->prob = 0.0f;
    op->lo = 0.5f;
    op->hi = 0.9f;
  }
  float *out;
  assert_int_equal(it_run_cpu(&t, &sp, (void **)&out, NULL), BFD_OK);
  assert_memory_equal(out, t.images, t.in_bytes);
  free(out);
  it_free(&t);
}

/* float16, bfloat16 and channels-last are the float32 result converted and
 * transposed, with a full op list (stages after the pass included). */
static void test_output_forms(void **state) {
  (void)state;
  it t;
  int64_t shape[4] = {3, 5, 12, 10};
  it_init(&t, 2, 4, shape, BFD_DTYPE_UINT16, 0);
  it_fill(&t, 77, 0, 4000);
  bfdk_img_spec sp;
  bfdk_img_spec_init(&sp);
  sp.crop_mode = BFDK_CROP_RANDOM;
  sp.size[0] = 4;
  sp.size[1] = 9;
  sp.size[2] = 7;
  sp.flip_prob[2] = 0.5f;
  add_norm(&sp, BFDK_NORM_PERCENTILE);
  bfdk_img_iop *g = add_op(&sp, BFDK_IMG_GAMMA, BFD_RNG_INTENSITY);
  g->lo = 0.8f;
  g->hi = 1.2f;
  add_op(&sp, BFDK_IMG_BLUR, BFD_RNG_BLUR)->hi = 1.0f;
  float *ref;
  assert_int_equal(it_run_cpu(&t, &sp, (void **)&ref, NULL), BFD_OK);
  size_t n = t.out_bytes / 4, N = 4 * 9 * 7;
  for (int form = 0; form < 3; form++) {
    t.b.out_dtype = form == 0 ? BFDK_F16 : (form == 1 ? BFDK_BF16 : BFDK_F32);
    t.b.channels_last = form == 2;
    void *out;
    assert_int_equal(it_run_cpu(&t, &sp, &out, NULL), BFD_OK);
    for (size_t i = 0; i < n; i++) {
      if (form == 0)
        assert_int_equal(((uint16_t *)out)[i], bfd_f32_to_f16(ref[i]));
      else if (form == 1)
        assert_int_equal(((uint16_t *)out)[i], bfd_f32_to_bf16(ref[i]));
      else {
        size_t b = i / (3 * N), c = (i / N) % 3, v = i % N;
        assert_true(((float *)out)[(b * N + v) * 3 + c] == ref[i]);
      }
    }
    free(out);
  }
  free(ref);
  it_free(&t);
}

/* ---- dump for the Python reference test ------------------------------------------------------------------ */

static int dump_case(const char *dir, const char *name, const it *t, const void *out, const char *meta) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.in", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(t->images, 1, t->in_bytes, f) != t->in_bytes || fclose(f)) return 1;
  snprintf(path, sizeof path, "%s/%s.out", dir, name);
  f = fopen(path, "wb");
  if (!f || fwrite(out, 1, t->out_bytes, f) != t->out_bytes || fclose(f)) return 1;
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  f = fopen(path, "w");
  if (!f) return 1;
  fprintf(f, "{\"dtype\": \"%s\", \"shape\": [%zu", bfd_dtype_name(t->b.dtype), t->b.batch);
  for (int i = 0; i < t->b.ndim; i++) fprintf(f, ", %lld", (long long)t->b.shape[i]);
  fprintf(f, "], \"out_shape\": [");
  for (int i = 0; i < t->plan.out_ndim; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)t->plan.out_shape[i]);
  fprintf(f, "], %s}\n", meta);
  return fclose(f) != 0;
}

static int dump(const char *dir) {
  int bad = 0;
  const bfd_dtype types[2] = {BFD_DTYPE_UINT16, BFD_DTYPE_FLOAT32};
  for (int k = 0; k < 2; k++) {
    it t;
    int64_t shape[3] = {2, 97, 83};
    it_init(&t, 2, 3, shape, types[k], 0);
    it_fill(&t, 1 + (uint32_t)k, 0, 50000);
    for (size_t i = 0; i < t.in_bytes / bfd_dtype_size(types[k]); i += 499) it_set(&t, i, 65535);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    bfdk_img_iop *op = add_norm(&sp, BFDK_NORM_PERCENTILE);
    op->pmin = 1.0;
    op->pmax = 99.8;
    void *out;
    bad |= it_run_cpu(&t, &sp, &out, NULL) != BFD_OK;
    bad |= dump_case(dir, k ? "percentile_float32" : "percentile_uint16", &t, out,
                     "\"pmin\": 1.0, \"pmax\": 99.8, \"eps\": 1e-20");
    free(out);
    it_free(&t);
  }
  {
    it t;
    int64_t shape[3] = {1, 40, 50};
    it_init(&t, 1, 3, shape, BFD_DTYPE_FLOAT32, 0);
    it_fill(&t, 8, 0, 1000);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    sp.crop_mode = BFDK_CROP_CENTER;
    sp.size[1] = 30;
    sp.size[2] = 36;
    sp.affine = 1;
    sp.affine_prob = 1.0f;
    sp.rot_lo[0] = sp.rot_hi[0] = 17.0f;
    sp.scale_lo = sp.scale_hi = 1.2f;
    sp.shear_lo = sp.shear_hi = 0.1f;
    sp.shift_lo = sp.shift_hi = 2.5f;
    void *out;
    bad |= it_run_cpu(&t, &sp, &out, NULL) != BFD_OK;
    bad |= dump_case(dir, "affine2d", &t, out,
                     "\"rotate\": 17.0, \"scale\": 1.2, \"shear\": 0.1, \"translate\": 2.5, \"origin\": [5, 7]");
    free(out);
    it_free(&t);
  }
  {
    it t;
    smooth_images(&t, 3);
    bfdk_img_spec sp;
    bfdk_img_spec_init(&sp);
    bfdk_img_iop *op = add_op(&sp, BFDK_IMG_BLUR, BFD_RNG_BLUR);
    op->lo = op->hi = 1.3f;
    void *out;
    bad |= it_run_cpu(&t, &sp, &out, NULL) != BFD_OK;
    bad |= dump_case(dir, "blur3d", &t, out, "\"sigma\": 1.3");
    free(out);
    it_free(&t);
  }
  if (bad) fprintf(stderr, "test_img_intensity: could not write the cases to %s\n", dir);
  return bad;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "--dump")) return dump(argv[2]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_percentile),
      cmocka_unit_test(test_minmax_zscore_scale),
      cmocka_unit_test(test_brightness_contrast_gamma),
      cmocka_unit_test(test_noise),
      cmocka_unit_test(test_blur_lowres),
      cmocka_unit_test(test_prob_zero),
      cmocka_unit_test(test_output_forms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

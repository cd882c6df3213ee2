/* kernels/ops/pmath.h against libm in double precision (correctly rounded
 * to float for the reference), and the float16 / bfloat16 stores against
 * the compiler's _Float16 and a round-to-nearest-even reference. The bounds
 * asserted here are the ones pmath.h documents. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ops/img_intensity.h"

/* Distance in units in the last place between two floats of the same sign
 * (through the order-preserving key), or a large number. */
static double ulps(float a, float b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b) ? 0.0 : 1e30;
  return fabs((double)bfd_img_fkey(a) - (double)bfd_img_fkey(b));
}

static float next_up(float x, uint32_t steps) { return bfd_u2f(bfd_f2u(x) + steps); }

static void test_expf(void **state) {
  (void)state;
  double worst = 0.0;
  for (uint32_t i = 0; i <= 4000000; i++) {
    float x = -104.0f + 193.0f * (float)i / 4000000.0f;
    double e = ulps(bfd_expf(x), (float)exp((double)x));
    if (e > worst) worst = e;
  }
  print_message("bfd_expf: max error %.0f ulp over [-104, 89]\n", worst);
  assert_true(worst <= 2.0);
  assert_true(bfd_expf(0.0f) == 1.0f);
  assert_true(bfd_expf(-INFINITY) == 0.0f);
  assert_true(isinf(bfd_expf(INFINITY)) && bfd_expf(89.0f) == INFINITY);
  assert_true(isnan(bfd_expf(NAN)));
  assert_true(bfd_expf(-104.0f) == 0.0f);
}

static void test_logf(void **state) {
  (void)state;
  double worst = 0.0;
  for (uint64_t u = 1; u < 0x7f800000u; u += 509) {
    float x = bfd_u2f((uint32_t)u);
    double e = ulps(bfd_logf(x), (float)log((double)x));
    if (e > worst) worst = e;
  }
  print_message("bfd_logf: max error %.0f ulp over all positive floats (every 509th)\n", worst);
  assert_true(worst <= 2.0);
  assert_true(bfd_logf(1.0f) == 0.0f);
  assert_true(bfd_logf(0.0f) == -INFINITY);
  assert_true(isnan(bfd_logf(-1.0f)) && isnan(bfd_logf(NAN)));
  assert_true(bfd_logf(INFINITY) == INFINITY);
}

static void test_sincos(void **state) {
  (void)state;
  double worst_ulp = 0.0, worst_abs = 0.0;
  for (uint32_t i = 0; i <= 4000000; i++) {
    float x = -1000.0f + 2000.0f * (float)i / 4000000.0f;
    float s = bfd_sinf(x), c = bfd_cosf(x);
    double rs = sin((double)x), rc = cos((double)x);
    double ea = fmax(fabs(s - rs), fabs(c - rc));
    if (ea > worst_abs) worst_abs = ea;
    /* ulps where the result is not near a zero crossing (there the
     * reduction's absolute error dominates; bounded by worst_abs) */
    if (fabs(rs) > 1e-3) worst_ulp = fmax(worst_ulp, ulps(s, (float)rs));
    if (fabs(rc) > 1e-3) worst_ulp = fmax(worst_ulp, ulps(c, (float)rc));
  }
  print_message("bfd_sinf/cosf on [-1000, 1000]: max %.0f ulp (|result| > 1e-3), max abs error %.3g\n", worst_ulp,
                worst_abs);
  assert_true(worst_ulp <= 2.0);
  assert_true(worst_abs <= 1.2e-7);
  assert_true(bfd_sinf(0.0f) == 0.0f && bfd_cosf(0.0f) == 1.0f);
}

static void test_sincos_turns(void **state) {
  (void)state;
  double worst = 0.0;
  for (uint32_t i = 0; i <= 4000000; i++) {
    float t = -4.0f + 8.0f * (float)i / 4000000.0f;
    float s, c;
    bfd_sincos_turns(t, &s, &c);
    double a = 6.283185307179586476925 * (double)t;
    worst = fmax(worst, fmax(fabs(s - sin(a)), fabs(c - cos(a))));
  }
  print_message("bfd_sincos_turns on [-4, 4]: max abs error %.3g\n", worst);
  assert_true(worst <= 1.0 / 8388608.0);
  float s, c;
  bfd_sincos_turns(0.0f, &s, &c);
  assert_true(s == 0.0f && c == 1.0f);
  bfd_sincos_turns(0.25f, &s, &c);
  assert_true(s == 1.0f && c == 0.0f);
  bfd_sincos_turns(0.5f, &s, &c);
  assert_true(s == 0.0f && c == -1.0f);
}

static void test_powf(void **state) {
  (void)state;
  double worst = 0.0;
  uint32_t seed = 7;
  for (int i = 0; i < 2000000; i++) {
    seed = seed * 1664525u + 1013904223u;
    float x = (float)((seed >> 8) + 1) / 16777216.0f * 10.0f;
    seed = seed * 1664525u + 1013904223u;
    float y = (float)(seed >> 8) / 16777216.0f * 8.0f - 4.0f;
    double ref = pow((double)x, (double)y);
    if (ref > 3e38 || ref < 1e-37) continue;
    double rel = fabs(bfd_powf(x, y) - ref) / ref;
    double bound = (1.0 + fabs((double)y * log((double)x))) * ldexp(1.0, -22);
    worst = fmax(worst, rel / bound);
  }
  print_message("bfd_powf: max relative error %.3f of the documented bound\n", worst);
  assert_true(worst <= 1.0);
  assert_true(bfd_powf(0.0f, 0.7f) == 0.0f && bfd_powf(0.0f, -1.0f) == INFINITY);
  assert_true(bfd_powf(1.0f, 3.3f) == 1.0f && bfd_powf(5.0f, 0.0f) == 1.0f);
  assert_true(isnan(bfd_powf(-1.0f, 2.0f)));
}

/* Nearest bfloat16 to x by comparing the two candidates in double. */
static uint16_t bf16_ref(float x) {
  uint32_t u = bfd_f2u(x);
  if (isnan(x)) return (uint16_t)((u >> 16) | 0x40);
  uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  double dl = fabs((double)bfd_u2f(lo) - (double)x), dh = fabs((double)bfd_u2f(hi) - (double)x);
  if (isinf(bfd_u2f(hi)) && !isinf(x)) {
    /* rounding past the largest bfloat16 gives inf when x is at least halfway to 2^128 */
    dh = fabs(ldexp(1.0, 128) - (double)fabs(x));
  }
  if (dl < dh || (dl == dh && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
  return (uint16_t)(hi >> 16);
}

static void test_half_bf16(void **state) {
  (void)state;
  uint64_t checked = 0, bad_h = 0, bad_b = 0;
  for (uint64_t u = 0; u <= 0xffffffffu; u += 4093) {
    float x = bfd_u2f((uint32_t)u);
#if defined(__FLT16_MAX__)
    _Float16 h = (_Float16)x;
    uint16_t hb;
    memcpy(&hb, &h, 2);
    uint16_t mine = bfd_f32_to_f16(x);
    if (isnan(x) ? ((mine & 0x7c00) != 0x7c00 || !(mine & 0x3ff)) : mine != hb) bad_h++;
#endif
    if (bfd_f32_to_bf16(x) != bf16_ref(x)) bad_b++;
    checked++;
  }
  /* the boundaries: halfway cases, the subnormal edge, the largest values */
  const float edges[] = {65504.0f,       65519.996f,     65520.0f,   5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f,
                         6.1035156e-05f, 6.1035152e-05f, 1.0009766f, 1.0004883f,     -0.0f,          3.4028235e38f};
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
#if defined(__FLT16_MAX__)
    _Float16 h = (_Float16)edges[i];
    uint16_t hb;
    memcpy(&hb, &h, 2);
    if (bfd_f32_to_f16(edges[i]) != hb) bad_h++;
#endif
    if (bfd_f32_to_bf16(edges[i]) != bf16_ref(edges[i])) bad_b++;
  }
#if !defined(__FLT16_MAX__)
  print_message("SKIP float16 part: this compiler has no _Float16 to compare with\n");
#endif
  print_message("float16/bfloat16 stores: %llu values checked\n", (unsigned long long)checked);
  assert_int_equal(bad_h, 0);
  assert_int_equal(bad_b, 0);
  assert_int_equal(bfd_f32_to_f16(1.0f), 0x3c00);
  assert_int_equal(bfd_f32_to_bf16(1.0f), 0x3f80);
  assert_int_equal(bfd_f32_to_f16(next_up(65504.0f, 1)), 0x7bff);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_expf),         cmocka_unit_test(test_logf), cmocka_unit_test(test_sincos),
      cmocka_unit_test(test_sincos_turns), cmocka_unit_test(test_powf), cmocka_unit_test(test_half_bf16),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

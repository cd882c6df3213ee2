/* Portable transcendental functions built from IEEE basic operations only
 * (+ - * / sqrt, integer and bit manipulation, exact conversions), so that
 * the CPU backend, the CUDA emulator and the GPU compute the same bits:
 * libm and CUDA's own expf/logf/sinf differ in their last bits and their
 * fast paths. Accuracy, tested against libm in tests/unit/test_img_pmath.c:
 * bfd_expf, bfd_logf ≤ 2 ulp; bfd_sinf, bfd_cosf for |x| ≤ 1000 ≤ 2 ulp
 * where |result| > 1e-3 and ≤ 1.2e-7 absolute everywhere (Cody–Waite
 * reduction; larger arguments lose accuracy but stay deterministic);
 * bfd_sincos_turns (sin and cos of 2πt) ≤ 2^-23 absolute for any t;
 * bfd_powf relative error ≤ (1 + |y log x|) · 2^-22 (it is exp(y log x)).
 * Determinism, not the last ulp, is the point: each function is a fixed
 * sequence of correctly rounded operations, compiled without contraction. */
#ifndef BFD_OPS_PMATH_H
#define BFD_OPS_PMATH_H

#include <math.h>
#include <string.h>

#include "ops/common.h"

BFD_OP uint32_t bfd_f2u(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
#endif
}

BFD_OP float bfd_u2f(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
#endif
}

/* floor for |x| < 2^31, by truncating conversion (exact everywhere). */
BFD_OP int32_t bfd_floori(float x) {
  int32_t i = (int32_t)x;
  return (x < (float)i) ? i - 1 : i;
}

/* Nearest integer, halves away from zero, for |x| < 2^31. (x - 0.5 is
 * written x + -0.5: the same IEEE result, without a conditional add.) */
BFD_OP int32_t bfd_roundi(float x) { return (int32_t)(x + (x >= 0.0f ? 0.5f : -0.5f)); }

/* 2^k for -126 <= k <= 127. */
BFD_OP float bfd_exp2i(int32_t k) { return bfd_u2f((uint32_t)(k + 127) << 23); }

BFD_OP float bfd_expf(float x) {
  if (x != x) return x;
  if (x > 88.72283935546875f) return bfd_u2f(0x7f800000u);
  if (x < -103.97208404541015625f) return 0.0f;
  /* x = k ln2 + r, |r| <= ln2/2; ln2 split so that k * LN2_HI is exact. */
  const float LN2_HI = 0.693145751953125f;
  const float LN2_LO = 1.428606765330187045e-06f;
  int32_t k = bfd_roundi(x * 1.44269504088896341f);
  float kf = (float)k;
  float r = (x - kf * LN2_HI) - kf * LN2_LO;
  float p = 1.0f / 5040.0f;
  p = 1.0f / 720.0f + r * p;
  p = 1.0f / 120.0f + r * p;
  p = 1.0f / 24.0f + r * p;
  p = 1.0f / 6.0f + r * p;
  p = 0.5f + r * p;
  p = 1.0f + r * p;
  p = 1.0f + r * p;
  /* Two steps keep each factor a normal number for k in [-150, 128]. */
  int32_t k1 = k / 2;
  return (p * bfd_exp2i(k1)) * bfd_exp2i(k - k1);
}

/* log of the normal number with bits u, plus e0 to its exponent. Branch
 * free, so that loops over it vectorize. */
BFD_OP float bfd_logf_core(uint32_t u, int32_t e0) {
  int32_t e = e0 + (int32_t)(u >> 23) - 127;
  uint32_t mbits = (u & 0x007fffffu) | 0x3f800000u;
  /* m > sqrt(2): use m/2, so that f = m - 1 is in [-0.29, 0.42) */
  int32_t big = mbits > 0x3fb504f3u;
  mbits -= big ? 0x00800000u : 0u;
  e += big;
  float f = bfd_u2f(mbits) - 1.0f;
  /* log(1+f) = f - (hfsq - s (hfsq + R)), s = f / (2 + f), R ~ 2 s^2/3 + 2 s^4/5 + ... */
  float s = f / (2.0f + f);
  float z = s * s;
  float R = z * (0.6666666666666666f + z * (0.4f + z * (0.2857142857142857f + z * 0.2222222222222222f)));
  float hfsq = 0.5f * f * f;
  float ef = (float)e;
  const float LN2_HI = 0.693145751953125f;
  const float LN2_LO = 1.428606765330187045e-06f;
  return ef * LN2_HI - ((hfsq - (s * (hfsq + R) + ef * LN2_LO)) - f);
}

/* bfd_logf for a positive normal x (the same bits, without the checks). */
BFD_OP float bfd_logf_pos(float x) { return bfd_logf_core(bfd_f2u(x), 0); }

BFD_OP float bfd_logf(float x) {
  if (x != x || x < 0.0f) return bfd_u2f(0x7fc00000u);
  if (x == 0.0f) return bfd_u2f(0xff800000u);
  uint32_t u = bfd_f2u(x);
  if (u == 0x7f800000u) return x;
  if (u < 0x00800000u) return bfd_logf_core(bfd_f2u(x * 8388608.0f), -23); /* subnormal: scale up */
  return bfd_logf_core(u, 0);
}

/* sin and cos of x with |x| <= pi/4. */
BFD_OP void bfd_sincos_kernel(float x, float *s, float *c) {
  float z = x * x;
  float ps = 1.0f / 362880.0f;
  ps = -1.0f / 5040.0f + z * ps;
  ps = 1.0f / 120.0f + z * ps;
  ps = -1.0f / 6.0f + z * ps;
  *s = x + x * (z * ps);
  float pc = -1.0f / 3628800.0f;
  pc = 1.0f / 40320.0f + z * pc;
  pc = -1.0f / 720.0f + z * pc;
  pc = 1.0f / 24.0f + z * pc;
  pc = -0.5f + z * pc;
  *c = 1.0f + z * pc;
}

/* Quadrant q (mod 4) of a reduced angle with sine s and cosine c. */
BFD_OP void bfd_sincos_quadrant(int32_t q, float s, float c, float *so, float *co) {
  /* q & 3 = 0: (s, c); 1: (c, -s); 2: (-s, -c); 3: (-c, s), by selects */
  float a = (q & 1) ? c : s, b = (q & 1) ? s : c;
  *so = (q & 2) ? -a : a;
  *co = ((q + 1) & 2) ? -b : b;
}

/* sin(2 pi t) and cos(2 pi t). The reduction t - k/4 is exact, so this is
 * accurate for any t (noise angles, rotation angles in turns). */
BFD_OP void bfd_sincos_turns(float t, float *s, float *c) {
  int32_t k = bfd_roundi(t * 4.0f);
  float f = t - (float)k * 0.25f;
  float sr, cr;
  bfd_sincos_kernel(f * 6.28318530717958648f, &sr, &cr);
  bfd_sincos_quadrant(k, sr, cr, s, c);
}

/* sin and cos of x radians: x = k pi/2 + r with pi/2 split in three parts
 * (each product k * part exact for |k| < 2^11, i.e. |x| < ~3200). */
BFD_OP void bfd_sincosf(float x, float *s, float *c) {
  int32_t k = bfd_roundi(x * 0.636619772367581343f);
  float kf = (float)k;
  const float P1 = 1.5703125f;
  const float P2 = 4.83751296997070312e-04f;
  const float P3 = 7.54978995489188216e-08f;
  float r = ((x - kf * P1) - kf * P2) - kf * P3;
  float sr, cr;
  bfd_sincos_kernel(r, &sr, &cr);
  bfd_sincos_quadrant(k, sr, cr, s, c);
}

BFD_OP float bfd_sinf(float x) {
  float s, c;
  bfd_sincosf(x, &s, &c);
  return s;
}

BFD_OP float bfd_cosf(float x) {
  float s, c;
  bfd_sincosf(x, &s, &c);
  return c;
}

/* x^y for x >= 0 (NaN for x < 0): what gamma correction needs. */
BFD_OP float bfd_powf(float x, float y) {
  if (x != x || y != y || x < 0.0f) return bfd_u2f(0x7fc00000u);
  if (y == 0.0f || x == 1.0f) return 1.0f;
  if (x == 0.0f) return y > 0.0f ? 0.0f : bfd_u2f(0x7f800000u);
  return bfd_expf(y * bfd_logf(x));
}

#endif

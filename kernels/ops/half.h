/* float32 -> float16 / bfloat16 stores shared by the sequence and image
 * outputs. The conversions are integer bit manipulation with
 * round-to-nearest-even, so every backend produces the same bits (hardware
 * conversion instructions and compiler casts are not used). */
#ifndef BFD_OPS_HALF_H
#define BFD_OPS_HALF_H

#include "ops/pmath.h"

/* IEEE binary16, round to nearest, ties to even; NaN stays NaN (quiet),
 * overflow gives infinity, tiny values become subnormals or signed zero. */
BFD_OP uint16_t bfd_f32_to_f16(float f) {
  uint32_t x = bfd_f2u(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520 (and inf) */
  if (ax >= 0x38800000u) {                                  /* normal half: >= 2^-14 */
    uint32_t m = ax - 0x38000000u;                         /* exponent bias 127 -> 15 */
    uint32_t r = m >> 13, rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
  }
  if (ax < 0x33000000u) return (uint16_t)sign; /* <= 2^-25: rounds to zero */
  uint32_t e = ax >> 23;
  uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126u - e; /* 14..24: mant * 2^(e - 150) in units of 2^-24 */
  uint32_t r = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (r & 1u))) r++;
  return (uint16_t)(sign | r);
}

/* bfloat16 (the top half of a float32), round to nearest, ties to even. */
BFD_OP uint16_t bfd_f32_to_bf16(float f) {
  uint32_t x = bfd_f2u(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

#endif

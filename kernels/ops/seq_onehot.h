/* One-hot encoding of nucleotides ([A, C, G, T] per position) and the
 * float32 -> float16 / bfloat16 conversions it is stored with. The
 * conversions are integer bit manipulation with round-to-nearest-even, so
 * every backend produces the same bits (hardware conversion instructions
 * and compiler casts are not used). */
#ifndef BFD_OPS_SEQ_ONEHOT_H
#define BFD_OPS_SEQ_ONEHOT_H

#include "ops/seq_params.h"

BFD_OP uint32_t bfd_f32_bits(float f) {
  union {
    float f;
    uint32_t u;
  } v;
  v.f = f;
  return v.u;
}

/* IEEE binary16, round to nearest, ties to even; NaN stays NaN (quiet),
 * overflow gives infinity, tiny values become subnormals or signed zero. */
BFD_OP uint16_t bfd_f32_to_f16(float f) {
  uint32_t x = bfd_f32_bits(f);
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
  uint32_t x = bfd_f32_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Value of column c (0 A, 1 C, 2 G, 3 T) for a byte with these flags. A
 * code standing for several bases (N, R, ...) gives each 1/n, or zeros. */
BFD_OP float bfd_seq_onehot_value(const bfdk_seq_params *p, int32_t flags, int32_t c) {
  uint32_t m = ((uint32_t)flags >> BFD_SEQ_F_ONEHOT_SHIFT) & 15u;
  if (!((m >> c) & 1u)) return 0.0f;
  uint32_t n = (m & 1u) + ((m >> 1) & 1u) + ((m >> 2) & 1u) + ((m >> 3) & 1u);
  if (n == 1) return 1.0f;
  return p->onehot_uniform ? 1.0f / (float)n : 0.0f;
}

/* Stores value v at element i of a one-hot buffer of the params' dtype. */
BFD_OP void bfd_seq_onehot_store(const bfdk_seq_params *p, void *out, int64_t i, float v) {
  if (p->onehot_dtype == BFD_SEQ_F32)
    ((float *)out)[i] = v;
  else if (p->onehot_dtype == BFD_SEQ_F16)
    ((uint16_t *)out)[i] = bfd_f32_to_f16(v);
  else
    ((uint16_t *)out)[i] = bfd_f32_to_bf16(v);
}

#endif

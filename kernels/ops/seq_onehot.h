/* One-hot encoding of nucleotides ([A, C, G, T] per position), stored as
 * float32, float16 or bfloat16 (ops/half.h). */
#ifndef BFD_OPS_SEQ_ONEHOT_H
#define BFD_OPS_SEQ_ONEHOT_H

#include "ops/half.h"
#include "ops/seq_params.h"

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

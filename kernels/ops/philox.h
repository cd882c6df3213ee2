/* Counter-based randomness for every op: Philox4x32-10 (Random123) keyed by
 * the seed, with the counter made of (draw, op, global sample index, epoch).
 * A draw depends only on those numbers, never on thread count, backend or
 * rank, so CPU, CUDA and any number of ranks see the same values. Limits:
 * sample index < 2^48, epoch < 2^16, 2^32 draws of 4 words per (sample, op). */
#ifndef BFD_OPS_PHILOX_H
#define BFD_OPS_PHILOX_H

#include <Random123/philox.h>

#include "ops/common.h"

/* Op ids: one per random decision, so that adding a draw to one op never
 * shifts another op's values. Append only; never renumber. */
enum {
  BFD_RNG_SHUFFLE = 1,
  BFD_RNG_WINDOW = 2,
  BFD_RNG_CROP = 3,
  BFD_RNG_RC = 4,        /* reverse complement */
  BFD_RNG_SHIFT = 5,
  BFD_RNG_MLM = 6,
  BFD_RNG_TRUNCATE = 7,
  BFD_RNG_FLIP = 8,
  BFD_RNG_ROT90 = 9,
  BFD_RNG_AFFINE = 10,
  BFD_RNG_ELASTIC = 11,
  BFD_RNG_INTENSITY = 12,
  BFD_RNG_NOISE = 13,
  BFD_RNG_BLUR = 14,
  BFD_RNG_LOWRES = 15,
  BFD_RNG_PERMUTE = 16,
  BFD_RNG_REDRAW = 17,   /* window redraws when a window is rejected */
  BFD_RNG_SPAN = 18
};

typedef struct bfd_rng_key {
  uint64_t seed;
  uint32_t epoch;
  uint64_t sample;  /* global sample index */
  uint32_t op;
} bfd_rng_key;

/* The counter and the key bfd_rng4 hands to philox4x32, for code that
 * runs many draws of one stream side by side. */
BFD_OP philox4x32_ctr_t bfd_rng4_ctr(bfd_rng_key k, uint32_t draw) {
  philox4x32_ctr_t c = {{draw, k.op, (uint32_t)k.sample,
                         (uint32_t)((k.sample >> 32) & 0xFFFFu) | (k.epoch << 16)}};
  return c;
}
BFD_OP philox4x32_key_t bfd_rng4_key(bfd_rng_key k) {
  philox4x32_key_t key = {{(uint32_t)k.seed, (uint32_t)(k.seed >> 32)}};
  return key;
}

/* Four independent 32-bit words for draw number `draw`. */
BFD_OP philox4x32_ctr_t bfd_rng4(bfd_rng_key k, uint32_t draw) { return philox4x32(bfd_rng4_ctr(k, draw), bfd_rng4_key(k)); }

/* Word i (0..) of the stream for this key: word i is lane i % 4 of draw i / 4. */
BFD_OP uint32_t bfd_rng_u32(bfd_rng_key k, uint64_t i) {
  philox4x32_ctr_t r = bfd_rng4(k, (uint32_t)(i >> 2));
  return r.v[i & 3];
}

/* Uniform in [0, 1) with 24 random bits: exact in float on every backend. */
BFD_OP float bfd_u01(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

/* Uniform integer in [0, n) for n < 2^32, by 64-bit multiply (bias < 2^-32 n). */
BFD_OP uint32_t bfd_below(uint32_t x, uint32_t n) { return (uint32_t)(((uint64_t)x * n) >> 32); }

#endif

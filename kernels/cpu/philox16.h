/* Philox4x32-10 on sixteen counters at once in AVX-512 lanes (Random123's
 * rounds and constants, one key for every lane): x[i] lane j holds word i of
 * counter j on entry and word i of its draw on return. For the x86-64 CPU
 * paths that draw many counters of one key side by side (the sequence MLM
 * draws, the sampler's Feistel rounds); callers check for AVX-512F first.
 * bfdk_rng16 lays the counters out as bfd_rng4 does (ops/philox.h). */
#ifndef BFD_CPU_PHILOX16_H
#define BFD_CPU_PHILOX16_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

#include "ops/philox.h"

__attribute__((target("avx512f"))) static inline void bfdk_philox16(__m512i x[4], uint32_t k0, uint32_t k1) {
  const __m512i m0 = _mm512_set1_epi64(PHILOX_M4x32_0), m1 = _mm512_set1_epi64(PHILOX_M4x32_1);
  for (int r = 0; r < PHILOX4x32_DEFAULT_ROUNDS; r++) {
    if (r) {
      k0 += PHILOX_W32_0;
      k1 += PHILOX_W32_1;
    }
    /* 32 x 32 -> 64-bit products of the even lanes and of the odd lanes, split in halves */
    __m512i e0 = _mm512_mul_epu32(x[0], m0), o0 = _mm512_mul_epu32(_mm512_srli_epi64(x[0], 32), m0);
    __m512i e2 = _mm512_mul_epu32(x[2], m1), o2 = _mm512_mul_epu32(_mm512_srli_epi64(x[2], 32), m1);
    __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, e0, _mm512_slli_epi64(o0, 32));
    __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e0, 32), o0);
    __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, e2, _mm512_slli_epi64(o2, 32));
    __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(e2, 32), o2);
    x[0] = _mm512_xor_si512(_mm512_xor_si512(hi1, x[1]), _mm512_set1_epi32((int)k0));
    x[2] = _mm512_xor_si512(_mm512_xor_si512(hi0, x[3]), _mm512_set1_epi32((int)k1));
    x[1] = lo1;
    x[3] = lo0;
  }
}

/* bfd_rng4(k, draw) for the sixteen draw numbers in `draws`: w[i] lane j is
 * word i of the draw in lane j. */
__attribute__((target("avx512f"))) static inline void bfdk_rng16(bfd_rng_key k, __m512i draws, __m512i w[4]) {
  const philox4x32_ctr_t c = bfd_rng4_ctr(k, 0);
  const philox4x32_key_t key = bfd_rng4_key(k);
  w[0] = draws;
  w[1] = _mm512_set1_epi32((int)c.v[1]);
  w[2] = _mm512_set1_epi32((int)c.v[2]);
  w[3] = _mm512_set1_epi32((int)c.v[3]);
  bfdk_philox16(w, key.v[0], key.v[1]);
}
#endif

#endif

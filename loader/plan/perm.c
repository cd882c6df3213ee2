/* The Feistel / cycle-walking permutation of perm.h. */
#include "plan/perm.h"

#include <stddef.h>

#include "cpu/philox16.h"
#include "ops/philox.h"

/* Eight rounds: three already make a pseudorandom permutation from a good
 * round function (Luby-Rackoff); the rest buy margin on tiny domains, where
 * a few rounds leave visible structure. Cost: one Philox call per round and
 * walk step, about 0.3 us per position at n = 10^10 on one x86 core. An
 * order of up to 4^12 samples can look its rounds up in tables instead
 * (bfdi_perm_tabulate): eight lookups a step, about four times quicker
 * batched and six alone, built in 0.3 ms at 4^12 and 9 us at 4^7
 * (bench/plan). */
#define ROUNDS 8u

static uint32_t half_bits_of(uint64_t n) {
  uint32_t h = 1;
  while (h < 24 && (UINT64_C(1) << (2 * h)) < n) h++;
  return h;
}

bfdi_perm bfdi_perm_make(uint64_t n, uint64_t seed, uint32_t epoch, uint64_t stream) {
  return (bfdi_perm){n, seed, stream, epoch, half_bits_of(n), NULL};
}

static bfd_status check(uint64_t n, uint32_t epoch, uint64_t stream) {
  if (n == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "permutation over 0 samples: the dataset or window is empty");
  if (n > BFDI_PERM_MAX_N)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "permutation over %llu samples: at most 2^48 (%llu) are supported",
                     (unsigned long long)n, (unsigned long long)BFDI_PERM_MAX_N);
  if (epoch > BFDI_PERM_MAX_EPOCH)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "epoch %u: at most %u epochs are supported (the Philox key holds 16 bits)",
                     epoch, BFDI_PERM_MAX_EPOCH + 1);
  if (stream > BFDI_PERM_MAX_STREAM)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "permutation stream %llu: at most 2^40 streams", (unsigned long long)stream);
  return BFD_OK;
}

bfd_status bfdi_perm_init_stream(bfdi_perm *p, uint64_t n, uint64_t seed, uint32_t epoch, uint64_t stream) {
  BFD_TRY(check(n, epoch, stream));
  *p = bfdi_perm_make(n, seed, epoch, stream);
  return BFD_OK;
}

bfd_status bfdi_perm_init(bfdi_perm *p, uint64_t n, uint64_t seed, uint32_t epoch) {
  return bfdi_perm_init_stream(p, n, seed, epoch, 0);
}

bfd_status bfdi_perm_identity(bfdi_perm *p, uint64_t n) {
  BFD_TRY(check(n, 0, 0));
  *p = (bfdi_perm){n, 0, 0, 0, 0, NULL};
  return BFD_OK;
}

/* Round j's Philox stream; the round function is word 0 of its draw at the half. */
static bfd_rng_key round_key(const bfdi_perm *p, uint32_t round) {
  return (bfd_rng_key){p->seed, p->epoch, (p->stream << 8) | round, BFD_RNG_SHUFFLE};
}

static uint32_t round_fn(const bfdi_perm *p, uint32_t round, uint32_t half) {
  if (p->rounds) return p->rounds[round << p->half_bits | half];
  return bfd_rng4(round_key(p, round), half).v[0] & ((UINT32_C(1) << p->half_bits) - 1);
}

size_t bfdi_perm_table_len(uint64_t n) {
  const uint32_t h = half_bits_of(n);
  return h <= BFDI_PERM_TABLE_BITS ? (size_t)ROUNDS << h : 0;
}

void bfdi_perm_tabulate(bfdi_perm *p, uint32_t *table) {
  if (p->half_bits == 0 || p->half_bits > BFDI_PERM_TABLE_BITS) return;
  p->rounds = NULL;
  for (uint32_t j = 0; j < ROUNDS; j++)
    for (uint32_t v = 0; v < (UINT32_C(1) << p->half_bits); v++) table[j << p->half_bits | v] = round_fn(p, j, v);
  p->rounds = table;
}

static uint64_t forward(const bfdi_perm *p, uint64_t x) {
  uint32_t h = p->half_bits, mask = (UINT32_C(1) << h) - 1;
  uint32_t l = (uint32_t)(x >> h), r = (uint32_t)x & mask;
  for (uint32_t j = 0; j < ROUNDS; j++) {
    uint32_t t = l ^ round_fn(p, j, r);
    l = r;
    r = t;
  }
  return ((uint64_t)l << h) | r;
}

static uint64_t backward(const bfdi_perm *p, uint64_t x) {
  uint32_t h = p->half_bits, mask = (UINT32_C(1) << h) - 1;
  uint32_t l = (uint32_t)(x >> h), r = (uint32_t)x & mask;
  for (uint32_t j = ROUNDS; j-- > 0;) {
    uint32_t t = r ^ round_fn(p, j, l);
    r = l;
    l = t;
  }
  return ((uint64_t)l << h) | r;
}

/* The walk ends: x lies in [0, n), and the cycle through it comes back to it. */
uint64_t bfdi_perm_at(const bfdi_perm *p, uint64_t i) {
  if (i >= p->n) return UINT64_MAX;
  if (p->half_bits == 0) return i;
  uint64_t x = i;
  do x = forward(p, x);
  while (x >= p->n);
  return x;
}

/* Position k of runs of `run` positions `stride` apart from i0. */
static uint64_t run_pos(uint64_t i0, size_t run, uint64_t stride, size_t k) {
  return i0 + (uint64_t)(k / run) * stride + k % run;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Sixteen walks side by side, one Feistel round for all of them per Philox
 * call (or table gather) in AVX-512 lanes (a single walk is a long chain of
 * dependent steps). A lane holds its walk's halves; x < n is compared on the
 * halves, so only the lanes whose walks end leave the registers, and each
 * takes the next position. */
__attribute__((target("avx512f"))) static void at_runs_avx512(const bfdi_perm *p, uint64_t i0, size_t run,
                                                              uint64_t stride, size_t n, uint64_t *out) {
  const uint32_t h = p->half_bits, mask = (UINT32_C(1) << h) - 1;
  /* lanes without a position walk from 0: a table gather reads any lane */
  uint32_t l[16] = {0}, r[16] = {0};
  size_t at[16], next = 0, done = 0;
  __mmask16 active = 0;
  for (int q = 0; q < 16 && next < n; q++, next++) {
    const uint64_t x = run_pos(i0, run, stride, next);
    at[q] = next;
    l[q] = (uint32_t)(x >> h);
    r[q] = (uint32_t)x & mask;
    active |= (__mmask16)(1u << q);
  }
  const __m512i m = _mm512_set1_epi32((int)mask);
  /* x < n: its left half below n's, or equal and its right half below */
  const __m512i nl = _mm512_set1_epi32((int)(p->n >> h)), nr = _mm512_set1_epi32((int)(p->n & mask));
  __m512i vl = _mm512_loadu_si512(l), vr = _mm512_loadu_si512(r);
  while (done < n) {
    for (uint32_t j = 0; j < ROUNDS; j++) {
      __m512i f;
      if (p->rounds) {
        f = _mm512_i32gather_epi32(vr, (const void *)(p->rounds + (j << h)), 4);
      } else {
        __m512i w[4];
        bfdk_rng16(round_key(p, j), vr, w);
        f = _mm512_and_si512(w[0], m);
      }
      __m512i t = _mm512_xor_si512(vl, f);
      vl = vr;
      vr = t;
    }
    const __mmask16 ended = active & (_mm512_cmplt_epu32_mask(vl, nl) |
                                      (_mm512_cmpeq_epi32_mask(vl, nl) & _mm512_cmplt_epu32_mask(vr, nr)));
    if (!ended) continue; /* every cycle walks on */
    _mm512_storeu_si512(l, vl);
    _mm512_storeu_si512(r, vr);
    for (unsigned e = ended; e; e &= e - 1) {
      const int q = __builtin_ctz(e);
      out[at[q]] = ((uint64_t)l[q] << h) | r[q];
      done++;
      if (next == n) {
        active &= (__mmask16)~(1u << q);
        continue;
      }
      const uint64_t x = run_pos(i0, run, stride, next);
      at[q] = next++;
      l[q] = (uint32_t)(x >> h);
      r[q] = (uint32_t)x & mask;
    }
    vl = _mm512_loadu_si512(l);
    vr = _mm512_loadu_si512(r);
  }
}
#endif

void bfdi_perm_at_runs(const bfdi_perm *p, uint64_t i0, size_t run, uint64_t stride, size_t n, uint64_t *out) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (n > 1 && run > 0 && stride >= run && p->half_bits > 0 && i0 < p->n &&
      (n - 1) / run <= (p->n - 1 - i0) / stride && run_pos(i0, run, stride, n - 1) < p->n &&
      __builtin_cpu_supports("avx512f")) {
    at_runs_avx512(p, i0, run, stride, n, out);
    return;
  }
#endif
  for (size_t k = 0; k < n; k++) out[k] = bfdi_perm_at(p, run_pos(i0, run, stride, k));
}

void bfdi_perm_at_range(const bfdi_perm *p, uint64_t i0, size_t n, uint64_t *out) {
  bfdi_perm_at_runs(p, i0, n ? n : 1, n ? n : 1, n, out);
}

uint64_t bfdi_perm_index(const bfdi_perm *p, uint64_t sample) {
  if (sample >= p->n) return UINT64_MAX;
  if (p->half_bits == 0) return sample;
  uint64_t x = sample;
  do x = backward(p, x);
  while (x >= p->n);
  return x;
}

uint64_t bfdi_perm_subseed(uint64_t seed, uint64_t tag) {
  bfd_rng_key k = {seed, 0, tag, BFD_RNG_SHUFFLE};
  philox4x32_ctr_t r = bfd_rng4(k, UINT32_MAX);
  return ((uint64_t)r.v[1] << 32) | r.v[0];
}

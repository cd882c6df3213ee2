/* The Feistel / cycle-walking permutation of perm.h. */
#include "plan/perm.h"

#include "ops/philox.h"

/* Eight rounds: three already make a pseudorandom permutation from a good
 * round function (Luby-Rackoff); the rest buy margin on tiny domains, where
 * a few rounds leave visible structure. Cost: one Philox call per round and
 * walk step, about 0.3 us per position at n = 10^10 on one x86 core. */
#define ROUNDS 8u

bfdi_perm bfdi_perm_make(uint64_t n, uint64_t seed, uint32_t epoch, uint64_t stream) {
  bfdi_perm p = {n, seed, stream, epoch, 1};
  while (p.half_bits < 24 && (UINT64_C(1) << (2 * p.half_bits)) < n) p.half_bits++;
  return p;
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
  *p = (bfdi_perm){n, 0, 0, 0, 0};
  return BFD_OK;
}

static uint32_t round_fn(const bfdi_perm *p, uint32_t round, uint32_t half) {
  bfd_rng_key k = {p->seed, p->epoch, (p->stream << 8) | round, BFD_RNG_SHUFFLE};
  return bfd_rng4(k, half).v[0];
}

static uint64_t forward(const bfdi_perm *p, uint64_t x) {
  uint32_t h = p->half_bits, mask = (UINT32_C(1) << h) - 1;
  uint32_t l = (uint32_t)(x >> h), r = (uint32_t)x & mask;
  for (uint32_t j = 0; j < ROUNDS; j++) {
    uint32_t t = l ^ (round_fn(p, j, r) & mask);
    l = r;
    r = t;
  }
  return ((uint64_t)l << h) | r;
}

static uint64_t backward(const bfdi_perm *p, uint64_t x) {
  uint32_t h = p->half_bits, mask = (UINT32_C(1) << h) - 1;
  uint32_t l = (uint32_t)(x >> h), r = (uint32_t)x & mask;
  for (uint32_t j = ROUNDS; j-- > 0;) {
    uint32_t t = r ^ (round_fn(p, j, l) & mask);
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

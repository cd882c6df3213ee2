/* Seeded bijections over [0, n) in O(1) memory: an 8-round balanced Feistel
 * network on the smallest power-of-4 domain 4^h >= n (h >= 1), walked in
 * cycles until the value falls back inside [0, n). Since 4^h < 4n, a walk
 * takes under 4 network evaluations on average. Round j's function is
 * Philox (ops/philox.h, op BFD_RNG_SHUFFLE) keyed by (seed, epoch,
 * sample = stream << 8 | j) at draw = the right half, so an order is a pure
 * function of (n, seed, epoch, stream): the same on every machine, thread
 * and rank. The network is invertible, so is the permutation.
 *
 * Limits: n <= 2^48 (the Philox sample-index range every op shares), epoch
 * < 2^16, stream < 2^40. Orders of very small n are not uniform over all n!
 * permutations (a Feistel network only reaches some of them); they are
 * statistically indistinguishable from random for shuffling purposes. */
#ifndef BFD_PLAN_PERM_H
#define BFD_PLAN_PERM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BFDI_PERM_MAX_N (UINT64_C(1) << 48)
#define BFDI_PERM_MAX_EPOCH UINT32_C(0xFFFF)
#define BFDI_PERM_MAX_STREAM ((UINT64_C(1) << 40) - 1)

typedef struct bfdi_perm {
  uint64_t n;
  uint64_t seed;
  uint64_t stream;
  uint32_t epoch;
  uint32_t half_bits; /* 0: the identity (no shuffle) */
  /* NULL, or the round functions tabulated (bfdi_perm_tabulate): round j at
   * half v is rounds[j << half_bits | v]; not owned */
  const uint32_t *rounds;
} bfdi_perm;

/* Domains up to 4^12 may have their round functions tabulated. */
#define BFDI_PERM_TABLE_BITS 12u

/* The order of epoch `epoch` under `seed` (stream 0). n = 0, n > 2^48 or
 * epoch >= 2^16 fail with BFD_ERR_INVALID_ARG. */
bfd_status bfdi_perm_init(bfdi_perm *p, uint64_t n, uint64_t seed, uint32_t epoch);

/* Like bfdi_perm_init, for one of several independent orders under the same
 * seed and epoch (shard orders, windows, batch orders): stream < 2^40. */
bfd_status bfdi_perm_init_stream(bfdi_perm *p, uint64_t n, uint64_t seed, uint32_t epoch, uint64_t stream);

/* The identity over [0, n): what shuffle = false means. */
bfd_status bfdi_perm_identity(bfdi_perm *p, uint64_t n);

/* bfdi_perm_init_stream for arguments already known to be within the
 * limits (1 <= n <= 2^48, epoch and stream in range): for inner loops. */
bfdi_perm bfdi_perm_make(uint64_t n, uint64_t seed, uint32_t epoch, uint64_t stream);

/* Position i of the order -> the sample there. UINT64_MAX when i >= n. */
uint64_t bfdi_perm_at(const bfdi_perm *p, uint64_t i);

/* out[k] = bfdi_perm_at(p, i0 + k) for k < n, several walks side by side:
 * a batch's positions at a fraction of the cost. */
void bfdi_perm_at_range(const bfdi_perm *p, uint64_t i0, size_t n, uint64_t *out);

/* The same over runs of `run` positions `stride` apart (stride >= run):
 * out[k] = bfdi_perm_at(p, i0 + k / run * stride + k % run), for one rank's
 * next batches among those of all ranks. */
void bfdi_perm_at_runs(const bfdi_perm *p, uint64_t i0, size_t run, uint64_t stride, size_t n, uint64_t *out);

/* Entries the round tables of an order over n samples take (for any
 * epoch and stream); 0 when n is too large to tabulate. */
size_t bfdi_perm_table_len(uint64_t n);

/* Tabulates p's round functions into table (bfdi_perm_table_len(p->n)
 * entries, kept by the caller while p is used): a walk step then looks up
 * eight values instead of computing eight Philox draws, with the same
 * results. Does nothing to the identity or to a domain too large. */
void bfdi_perm_tabulate(bfdi_perm *p, uint32_t *table);

/* The inverse: sample -> its position. UINT64_MAX when sample >= n. */
uint64_t bfdi_perm_index(const bfdi_perm *p, uint64_t sample);

/* A 64-bit seed for an independent use of `seed` (tag < 2^48 names the
 * use), so that different orders never share Feistel keys. It is drawn at a
 * draw number (2^32 - 1) no Feistel round uses. */
uint64_t bfdi_perm_subseed(uint64_t seed, uint64_t tag);

#endif

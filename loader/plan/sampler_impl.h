/* The sampler's insides, shared by its batching (sampler.c) and its resume
 * state (state.c); nothing else includes this. */
#ifndef BFD_PLAN_SAMPLER_IMPL_H
#define BFD_PLAN_SAMPLER_IMPL_H

#include "plan/mix.h"
#include "plan/order.h"
#include "plan/sampler.h"

/* One position of a chunk being bucketed. */
typedef struct bfdi_chunk_entry {
  uint64_t pos; /* in the epoch; FIXED and BUCKET padding lies at N and beyond */
  bfdi_sample_ref ref;
  uint32_t len;
} bfdi_chunk_entry;

/* Positions walked side by side in one bfdi_perm_at_range or
 * bfdi_perm_at_runs call. */
#define BATCH_WALK_STEP 256u

struct bfdi_sampler {
  bfdi_sampler_config cfg; /* datasets pointer not kept */
  size_t n_ds;
  bfdi_order *orders;      /* [n_ds] */
  bfdi_mix mix;            /* n_ds > 1 */
  uint64_t n_epoch;        /* N: positions per epoch */
  uint64_t seed_chunks;    /* batch orders within chunks */
  uint32_t max_batch;
  uint32_t fingerprint;    /* of everything a resume must match but seed, batching, batch, N */

  /* FIXED, BUCKET: positions used per epoch and batches per epoch. */
  uint64_t n_used, k_fixed;

  /* BUCKET, TOKENS: the last chunk sorted. */
  bfdi_chunk_entry *chunk;
  bfdi_chunk_entry *chunk_tmp; /* the radix sort's other buffer */
  uint32_t *cuts;          /* TOKENS: batch b of the chunk is entries [cuts[b], cuts[b + 1]) */
  uint32_t chunk_len, chunk_batches;
  int chunk_valid;
  uint32_t chunk_epoch;
  uint64_t chunk_id;

  /* FIXED: walk_k of this rank's batches from walk_m on (walk_m, walk_m +
   * world size, ...) of walk_epoch, walked together (fixed_walk). */
  bfdi_sample_ref walk[BATCH_WALK_STEP];
  uint64_t walk_m;
  uint32_t walk_k, walk_epoch;
  int walk_valid;

  /* TOKENS: batches before each chunk of scan_epoch. */
  uint64_t *scan;          /* [n_chunks + 1] */
  uint64_t n_chunks;
  int scan_valid;
  uint32_t scan_epoch;
};

/* Batches in epoch e (TOKENS: scans it unless cached). */
bfd_status bfdi_sampler_epoch_batches(bfdi_sampler *s, uint32_t epoch, uint64_t *k);

/* A hash of what a resumed sampler must share with the saving one beyond
 * the fields the state holds: datasets (shard record counts), weights,
 * order and batching parameters. */
uint32_t bfdi_sampler_fingerprint(const bfdi_sampler *s, const bfdi_sampler_config *cfg);

/* Moves c on to the next epoch while c's epoch has no step left from c. */
bfd_status bfdi_sampler_settle(bfdi_sampler *s, bfdi_cursor *c);

#endif

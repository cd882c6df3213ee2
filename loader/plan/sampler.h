/* The sampler: which samples each rank consumes at each step, for any number
 * of epochs, and the few bytes that resume it. Pure arithmetic on sample
 * indices and lengths: no I/O. Everything is a function of (config, seed,
 * epoch, position), so every rank computes the same plan without talking to
 * the others.
 *
 * Samples. A sample is (dataset, index in manifest order: shard 0's records,
 * then shard 1's, ...). Each dataset has its own epoch order (order.h:
 * identity, global Feistel permutation, or shard windows). Several datasets
 * are interleaved sample by sample by weight (mix.h); each then runs through
 * its own epochs at its own pace, so an oversampled dataset repeats within a
 * sampler epoch. A sampler epoch is epoch_samples positions of that stream
 * (default: the sum of the dataset sizes; with one dataset, exactly one pass
 * over it).
 *
 * Batches. An epoch is a sequence of K batches, each meant for one rank,
 * that does not depend on the world size:
 *   FIXED   batch j holds epoch positions [j b, (j + 1) b).
 *   BUCKET  length-bucketed: the positions are taken M b at a time (a chunk),
 *           sorted by length (ties: position), cut into M batches of b, and
 *           the chunk's batches are emitted in a shuffled order. Similar
 *           lengths share a batch; order across chunks follows the epoch order.
 *   TOKENS  token budget: chunks of token_window positions, sorted by length,
 *           cut greedily so that max length x count <= max_tokens (a length 0
 *           counts as 1), batch order shuffled within the chunk. A sample
 *           longer than max_tokens is an error (truncate sequences first).
 * A step hands R = world_size consecutive batches to ranks 0..R-1: rank r
 * takes the r-th, the r-th contiguous slice of the step's global batch (for
 * FIXED, positions [p b + r b, p b + (r + 1) b) where p is the position).
 *
 * End of an epoch: every rank takes the same number of steps, known up front
 * (bfdi_sampler_steps).
 *   drop_last  FIXED and BUCKET first drop the last N mod b positions of the
 *              epoch order, then the trailing K mod R batches are dropped.
 *   pad        the last partial batch is filled with the epoch order's first
 *              samples (positions 0, 1, ...); a last step short of batches
 *              gets copies of the epoch's batches 0, 1, ... Padding is
 *              flagged BFDI_SAMPLE_PAD so that consumers can mask it.
 * With TOKENS only whole batches are padded or dropped, so ranks get equal
 * numbers of batches, not of samples; counting them scans the whole epoch's
 * lengths once per epoch (O(N log window) time).
 *
 * Distribution modes (issue 7). shard: each rank asks for its own batch.
 * broadcast, groups of G ranks: create with world_size = R / G and ask with
 * rank = r / G. exchange: each rank asks for every rank's batch of the step to
 * learn where the samples of its own shards go; the batches are those of
 * shard mode by construction.
 *
 * Resume. A cursor (epoch, position) names the next step; position counts
 * batches of the epoch consumed by all ranks together (a step adds
 * world_size). It does not depend on the world size, so a state saved with
 * R1 ranks resumes with R2: the same batch stream continues where it stopped,
 * no sample repeated or skipped within the epoch; only the grouping into steps
 * (and so which batches end-of-epoch drop or pad) follows the new R.
 *
 * A sampler caches the epoch's chunk and per-dataset shard orders: one
 * thread per sampler (create one per thread; they are cheap). Its buffers
 * are all allocated by bfdi_sampler_create. Limits: epochs < 2^16, samples
 * per dataset and per epoch <= 2^48, passes over a dataset < 2^16. */
#ifndef BFD_PLAN_SAMPLER_H
#define BFD_PLAN_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Largest batch, bucketing window (M b) and token window, in samples. */
#define BFDI_SAMPLER_MAX_WINDOW (UINT32_C(1) << 22)
/* Most chunks a TOKENS epoch may have: raise token_window beyond N / 2^24. */
#define BFDI_SAMPLER_MAX_CHUNKS (UINT64_C(1) << 24)
#define BFDI_SAMPLER_MAX_WORLD (UINT32_C(1) << 20)
/* Bytes of a saved state. */
#define BFDI_SAMPLER_STATE_BYTES 52

typedef enum bfdi_batching {
  BFDI_BATCH_FIXED = 0,
  BFDI_BATCH_BUCKET = 1,
  BFDI_BATCH_TOKENS = 2
} bfdi_batching;

/* A sample's length (tokens, bases) as the consumer will pad it. Must be a
 * pure function: the pipeline resolves lengths when it opens the shards. */
typedef uint32_t (*bfdi_length_fn)(void *ctx, uint32_t dataset, uint64_t sample);

typedef struct bfdi_sampler_dataset {
  const uint64_t *shard_records; /* records of each shard, manifest order; not kept */
  size_t n_shards;
  double weight;                 /* mixing weight > 0; ignored with one dataset */
} bfdi_sampler_dataset;

typedef struct bfdi_sampler_config {
  const bfdi_sampler_dataset *datasets;
  size_t n_datasets;
  uint64_t seed;
  int shuffle;                /* 0: manifest order, batches in order */
  uint32_t window_shards;     /* 0: global order; W: shard-aware (order.h) */
  uint64_t epoch_samples;     /* 0: sum of the datasets' samples */
  bfdi_batching batching;
  uint32_t batch;             /* FIXED, BUCKET: samples per rank batch; TOKENS: cap (0: none) */
  int drop_last;              /* 0: pad */
  uint32_t bucket_batches;    /* BUCKET: M, batches sorted together */
  uint64_t max_tokens;        /* TOKENS: padded tokens per batch */
  uint32_t token_window;      /* TOKENS: samples sorted together */
  bfdi_length_fn length;      /* BUCKET, TOKENS */
  void *length_ctx;
  uint32_t world_size;        /* ranks (broadcast groups count once) */
} bfdi_sampler_config;

#define BFDI_SAMPLE_PAD 1u

typedef struct bfdi_sample_ref {
  uint64_t sample;  /* index in its dataset, manifest order */
  uint32_t dataset;
  uint16_t pass;    /* the dataset's own epoch this draw belongs to (the sampler
                       epoch when there is one dataset): key the sample's
                       per-epoch randomness (crops, masks) by it, so that an
                       oversampled dataset's repeats draw afresh */
  uint16_t flags;   /* BFDI_SAMPLE_PAD */
} bfdi_sample_ref;  /* 16 bytes, no padding: batches compare with memcmp */

typedef struct bfdi_cursor {
  uint32_t epoch;
  uint64_t pos; /* batches of the epoch consumed by all ranks together */
} bfdi_cursor;

typedef struct bfdi_sampler bfdi_sampler;

/* Validates the config (every size, weight and limit; a config whose epoch
 * has no step is an error) and allocates everything the sampler needs. */
bfd_status bfdi_sampler_create(const bfdi_sampler_config *cfg, bfdi_sampler **out);
void bfdi_sampler_destroy(bfdi_sampler *s);

/* The most samples one batch can hold: size the caller's buffers by it. */
uint32_t bfdi_sampler_max_batch(const bfdi_sampler *s);

/* Steps left in c's epoch, the one at c included; for {e, 0}, the steps of
 * epoch e. The same for every rank. */
bfd_status bfdi_sampler_steps(bfdi_sampler *s, bfdi_cursor c, uint64_t *steps);

/* Rank `rank`'s batch of the step at c, into out[0 .. *count). cap must be
 * at least bfdi_sampler_max_batch. */
bfd_status bfdi_sampler_batch(bfdi_sampler *s, bfdi_cursor c, uint32_t rank, bfdi_sample_ref *out, uint32_t cap,
                              uint32_t *count);

/* Moves c to the next step: the next epoch's first when this was the last. */
bfd_status bfdi_sampler_advance(bfdi_sampler *s, bfdi_cursor *c);

/* The resume state for cursor c (the next step to consume): little-endian,
 * "BFDS", version, seed, epoch, position, world size at save, epoch samples,
 * batching, batch, a fingerprint of the rest of the config, CRC32C. */
bfd_status bfdi_sampler_save(const bfdi_sampler *s, bfdi_cursor c, uint8_t out[BFDI_SAMPLER_STATE_BYTES]);

/* Checks a saved state against this sampler and gives its cursor, moved on
 * to the next epoch when the new world size leaves no step in the old one
 * (drop_last). A damaged blob (BFD_ERR_CORRUPT), another format
 * (BFD_ERR_FORMAT, BFD_ERR_UNSUPPORTED) or another config (seed, datasets,
 * batching: BFD_ERR_INVALID_ARG) is an error naming what differs. The world
 * size may differ (elastic resume). */
bfd_status bfdi_sampler_load(bfdi_sampler *s, const void *blob, size_t len, bfdi_cursor *c);

#endif

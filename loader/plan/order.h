/* One dataset's epoch order: position i of epoch e -> the sample read there.
 * Samples are numbered in manifest order (shard 0's records, then shard
 * 1's, ...). Three kinds:
 *
 *   shuffle off       the identity: manifest order.
 *   window 0          a global Feistel permutation over all samples
 *                     (perm.h): the best shuffle, but consecutive samples
 *                     come from anywhere in the dataset.
 *   window W > 0      shard-aware: the shards are permuted, cut into windows
 *                     of W consecutive shards of that order, and the samples
 *                     of each window are permuted among themselves. The
 *                     reader touches at most W shards at a time and reads
 *                     each shard within one window; the price is that a
 *                     sample can only land among the samples of the W-1
 *                     other shards of its window (a batch mixes at most
 *                     about W shards' content, and shards that hold similar
 *                     data, one organism or one plate each, stay
 *                     correlated within an epoch). W >= shard count is the
 *                     global order again, up to the choice of permutation.
 *
 * Memory: three words per shard (manifest offsets, the shard permutation and
 * its running sample counts), nothing per sample; a global order of at most
 * 4^12 samples also keeps its round tables (at most 128 KiB). bfdi_order_at
 * is O(log S) plus one permutation evaluation. An order is immutable between
 * bfdi_order_epoch calls, so readers may share it. */
#ifndef BFD_PLAN_ORDER_H
#define BFD_PLAN_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "plan/perm.h"

/* More shards than this is a hostile manifest, not a dataset. */
#define BFDI_ORDER_MAX_SHARDS (UINT64_C(1) << 32)

typedef struct bfdi_order {
  uint64_t n;        /* samples */
  size_t n_shards;
  uint32_t window;   /* shards per window; 0: global order */
  int shuffle;
  uint64_t seed_global, seed_shards, seed_windows;
  uint32_t epoch;
  bfdi_perm global;  /* shuffle on, window 0 */
  uint32_t *rounds;  /* global's round tables (bfdi_perm_tabulate), or NULL: n too large */
  uint64_t *off;     /* [n_shards + 1] first sample of each shard, manifest order */
  uint64_t *pi;      /* [n_shards] window > 0: shard at each shuffled position */
  uint64_t *cum;     /* [n_shards + 1] window > 0: samples before each shuffled position */
} bfdi_order;

/* counts[s] = records of shard s in manifest order (shards may be empty;
 * the total must be 1 .. 2^48). The order starts at epoch 0. */
bfd_status bfdi_order_init(bfdi_order *o, const uint64_t *counts, size_t n_shards, uint32_t window, int shuffle,
                           uint64_t seed);

/* Switches to epoch `epoch` (< 2^16): O(S) work, or O(table) for a global
 * order with round tables; no allocation. */
bfd_status bfdi_order_epoch(bfdi_order *o, uint32_t epoch);

/* Position i (< n) of the current epoch -> sample. UINT64_MAX when i >= n. */
uint64_t bfdi_order_at(const bfdi_order *o, uint64_t i);

void bfdi_order_free(bfdi_order *o);

#endif

/* Epoch orders of one dataset: identity, global Feistel, or shard windows. */
#include "plan/order.h"

#include <stdlib.h>

/* Tags of bfdi_perm_subseed: one independent key per use of the order's seed. */
enum { TAG_GLOBAL = 1, TAG_SHARDS = 2, TAG_WINDOWS = 3 };

bfd_status bfdi_order_init(bfdi_order *o, const uint64_t *counts, size_t n_shards, uint32_t window, int shuffle,
                           uint64_t seed) {
  *o = (bfdi_order){0};
  if (!counts || n_shards == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset has no shards");
  if ((uint64_t)n_shards > BFDI_ORDER_MAX_SHARDS)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset has %llu shards: at most 2^32 are supported",
                     (unsigned long long)n_shards);
  uint64_t n = 0;
  for (size_t s = 0; s < n_shards; s++) {
    if (counts[s] > BFDI_PERM_MAX_N - n)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "shard %zu: the dataset passes 2^48 samples there (%llu records); "
                       "at most 2^48 samples are supported", s, (unsigned long long)counts[s]);
    n += counts[s];
  }
  if (n == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset has %zu shards but no records", n_shards);
  o->n = n;
  o->n_shards = n_shards;
  o->shuffle = shuffle;
  o->window = shuffle ? window : 0;
  o->seed_global = bfdi_perm_subseed(seed, TAG_GLOBAL);
  o->seed_shards = bfdi_perm_subseed(seed, TAG_SHARDS);
  o->seed_windows = bfdi_perm_subseed(seed, TAG_WINDOWS);
  const size_t table = o->shuffle && o->window == 0 ? bfdi_perm_table_len(n) : 0;
  if (table && !(o->rounds = malloc(table * sizeof *o->rounds)))
    return bfdi_fail(BFD_ERR_NOMEM, "sample order: out of memory for its round tables (%zu bytes)",
                     table * sizeof *o->rounds);
  if (o->window > 0) {
    o->off = malloc((n_shards + 1) * sizeof *o->off);
    o->pi = malloc(n_shards * sizeof *o->pi);
    o->cum = malloc((n_shards + 1) * sizeof *o->cum);
    if (!o->off || !o->pi || !o->cum) {
      bfdi_order_free(o);
      return bfdi_fail(BFD_ERR_NOMEM, "shard order: out of memory for %zu shards (24 bytes each)", n_shards);
    }
    o->off[0] = 0;
    for (size_t s = 0; s < n_shards; s++) o->off[s + 1] = o->off[s] + counts[s];
  }
  return bfdi_order_epoch(o, 0);
}

bfd_status bfdi_order_epoch(bfdi_order *o, uint32_t epoch) {
  if (epoch > BFDI_PERM_MAX_EPOCH)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "epoch %u: at most %u epochs are supported", epoch,
                     BFDI_PERM_MAX_EPOCH + 1);
  o->epoch = epoch;
  if (!o->shuffle) return bfdi_perm_identity(&o->global, o->n);
  if (o->window == 0) {
    BFD_TRY(bfdi_perm_init(&o->global, o->n, o->seed_global, epoch));
    if (o->rounds) bfdi_perm_tabulate(&o->global, o->rounds);
    return BFD_OK;
  }
  bfdi_perm ps = bfdi_perm_make(o->n_shards, o->seed_shards, epoch, 0);
  o->cum[0] = 0;
  for (size_t k = 0; k < o->n_shards; k++) {
    o->pi[k] = bfdi_perm_at(&ps, k);
    o->cum[k + 1] = o->cum[k] + (o->off[o->pi[k] + 1] - o->off[o->pi[k]]);
  }
  return BFD_OK;
}

/* The last k in [lo, hi] with cum[k * stride] <= x, where x lies below the
 * end of group hi: the group (shard or window) whose non-empty range holds
 * x, empty groups before it skipped. */
static uint64_t last_le(const uint64_t *cum, uint64_t stride, uint64_t lo, uint64_t hi, uint64_t x) {
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo + 1) / 2;
    if (cum[mid * stride] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

uint64_t bfdi_order_at(const bfdi_order *o, uint64_t i) {
  if (i >= o->n) return UINT64_MAX;
  if (o->window == 0) return bfdi_perm_at(&o->global, i);
  uint64_t s = o->n_shards, w_n = (s + o->window - 1) / o->window;
  /* Window w spans shuffled positions [w W, min((w + 1) W, S)). */
  uint64_t w = last_le(o->cum, o->window, 0, w_n - 1, i);
  uint64_t first = w * o->window, end = first + o->window < s ? first + o->window : s;
  uint64_t base = o->cum[first];
  bfdi_perm pw = bfdi_perm_make(o->cum[end] - base, o->seed_windows, o->epoch, w);
  uint64_t x = base + bfdi_perm_at(&pw, i - base);
  uint64_t k = last_le(o->cum, 1, first, end - 1, x);
  return o->off[o->pi[k]] + (x - o->cum[k]);
}

void bfdi_order_free(bfdi_order *o) {
  free(o->off);
  free(o->pi);
  free(o->cum);
  free(o->rounds);
  *o = (bfdi_order){0};
}

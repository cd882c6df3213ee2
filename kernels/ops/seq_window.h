/* Per-sample decisions: which bytes a sample reads (record, random window,
 * tiled window, BED regions, N rejection, shift), whether it is reverse
 * complemented, and which of its tokens survive truncation. Every draw comes
 * from Philox keyed by (seed, epoch, global sample index, op). */
#ifndef BFD_OPS_SEQ_WINDOW_H
#define BFD_OPS_SEQ_WINDOW_H

#include "ops/philox.h"
#include "ops/seq_params.h"

BFD_OP bfd_rng_key bfd_seq_key(uint64_t seed, uint32_t epoch, uint64_t sample, uint32_t op) {
  bfd_rng_key k;
  k.seed = seed;
  k.epoch = epoch;
  k.sample = sample;
  k.op = op;
  return k;
}

/* Uniform in [0, n) from the first 64 bits of draw r (n > 0; bias < n / 2^64). */
BFD_OP uint64_t bfd_seq_below64(philox4x32_ctr_t r, uint64_t n) {
  uint64_t x = ((uint64_t)r.v[0] << 32) | r.v[1];
  return x % n;
}

BFD_OP uint64_t bfd_seq_draw64(bfd_rng_key k, uint32_t draw, uint64_t n) { return bfd_seq_below64(bfd_rng4(k, draw), n); }

/* Windows in a region of len bases: every start (random mode, stride 0) or
 * every tile (the last tile is moved back to end at the region's end, so
 * tiles cover it). A region no longer than the window holds one window,
 * at its start. */
BFD_OP uint64_t bfd_seq_region_windows(int64_t len, int64_t window, int64_t stride) {
  if (len <= window) return 1;
  if (stride == 0) return (uint64_t)(len - window + 1);
  return (uint64_t)((len - window + stride - 1) / stride + 1);
}

BFD_OP int64_t bfd_seq_region_start(int64_t len, int64_t window, int64_t stride, uint64_t idx) {
  if (len <= window) return 0;
  if (stride == 0) return (int64_t)idx;
  int64_t s = (int64_t)idx * stride;
  return s > len - window ? len - window : s;
}

/* BED regions of every record, resolved for one window length and mode
 * (kernels/seq.h: bfdk_seq_regions_resolve). Region i of record r, for
 * off[r] <= i < off[r + 1], spans [start[i], end[i]) and holds windows
 * cum[i] .. cum[i + 1] - 1 of the whole set. */
typedef struct bfdk_seq_regions {
  const uint64_t *off;  /* [records + 1] */
  const int64_t *start; /* [regions] */
  const int64_t *end;   /* [regions] */
  const uint64_t *cum;  /* [regions + 1] */
} bfdk_seq_regions;

/* Windows available in a record: over its regions, or over the whole record
 * when there are no regions (or none for this record). */
BFD_OP uint64_t bfd_seq_record_windows(const bfdk_seq_params *p, const bfdk_seq_regions *rg, uint64_t rec,
                                       int64_t len) {
  int64_t stride = p->sample_mode == BFD_SEQ_WINDOW_TILED ? p->tile_stride : 0;
  if (rg->off && rg->off[rec + 1] > rg->off[rec]) return rg->cum[rg->off[rec + 1]] - rg->cum[rg->off[rec]];
  return bfd_seq_region_windows(len, p->window, stride);
}

/* Start (within the record) of window number idx of a record. */
BFD_OP int64_t bfd_seq_window_start(const bfdk_seq_params *p, const bfdk_seq_regions *rg, uint64_t rec, int64_t len,
                                    uint64_t idx) {
  int64_t stride = p->sample_mode == BFD_SEQ_WINDOW_TILED ? p->tile_stride : 0;
  if (!rg->off || rg->off[rec + 1] == rg->off[rec]) return bfd_seq_region_start(len, p->window, stride, idx);
  uint64_t lo = rg->off[rec], hi = rg->off[rec + 1];
  uint64_t target = rg->cum[lo] + idx;
  while (hi - lo > 1) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (rg->cum[mid] <= target)
      lo = mid;
    else
      hi = mid;
  }
  return rg->start[lo] + bfd_seq_region_start(rg->end[lo] - rg->start[lo], p->window, stride, target - rg->cum[lo]);
}

/* Window number of attempt a: attempt 0 is the tile (tiled) or a draw from
 * the WINDOW stream (random); later attempts, after an N rejection, draw
 * from the REDRAW stream over the same windows. Tile numbers past the
 * record's count wrap around. */
BFD_OP uint64_t bfd_seq_window_idx(const bfdk_seq_params *p, bfd_rng_key k, uint64_t tile, uint64_t total,
                                   int32_t a) {
  if (a == 0) {
    if (p->sample_mode == BFD_SEQ_WINDOW_TILED) return tile % total;
    k.op = BFD_RNG_WINDOW;
    return bfd_seq_draw64(k, 0, total);
  }
  k.op = BFD_RNG_REDRAW;
  return bfd_seq_draw64(k, (uint32_t)(a - 1), total);
}

/* Bytes of a window that exist: a window past the record's end is cut there
 * (and its row padded). */
BFD_OP int64_t bfd_seq_window_bytes(const bfdk_seq_params *p, int64_t start, int64_t len) {
  int64_t left = len - start;
  return left < p->window ? (left > 0 ? left : 0) : p->window;
}

/* N bytes among bytes lo, lo + step, ... below hi: a GPU thread counts
 * every step-th byte, the CPU all of them. */
BFD_OP int64_t bfd_seq_count_n(const int32_t *tab, const uint8_t *src, int64_t lo, int64_t hi, int64_t step) {
  int64_t c = 0;
  for (int64_t i = lo; i < hi; i += step) c += (tab[BFD_SEQ_TAB_FLAG + src[i]] & BFD_SEQ_F_N) != 0;
  return c;
}

BFD_OP int32_t bfd_seq_n_ok(const bfdk_seq_params *p, int64_t n_count, int64_t n) {
  return p->max_n_frac >= 1.0 || (double)n_count <= p->max_n_frac * (double)n;
}

/* Windows drawn at most per sample: one unless N rejection is on. */
BFD_OP int32_t bfd_seq_attempts(const bfdk_seq_params *p) {
  return p->sample_mode != BFD_SEQ_RECORD && p->max_n_frac < 1.0 ? p->max_attempts : 1;
}

/* The window start after the random shift, kept inside the record. */
BFD_OP int64_t bfd_seq_shifted(const bfdk_seq_params *p, bfd_rng_key k, int64_t start, int64_t len) {
  if (p->shift <= 0) return start;
  k.op = BFD_RNG_SHIFT;
  int64_t d = (int64_t)bfd_below(bfd_rng_u32(k, 0), (uint32_t)(2 * p->shift + 1)) - p->shift;
  int64_t s = start + d;
  int64_t last = len > p->window ? len - p->window : 0;
  if (s < 0) s = 0;
  if (s > last) s = last;
  return s;
}

BFD_OP int32_t bfd_seq_rc_draw(const bfdk_seq_params *p, bfd_rng_key k) {
  if (p->rc_p <= 0.0f) return 0;
  k.op = BFD_RNG_RC;
  return bfd_u01(bfd_rng_u32(k, 0)) < p->rc_p;
}

/* Fills the truncation and length fields of a plan whose total is known.
 * Specials are never cut: the content keeps max_len minus the specials. */
BFD_OP void bfd_seq_plan_finish(const bfdk_seq_params *p, bfd_rng_key k, bfdk_seq_plan *pl) {
  int32_t specials = (p->begin_id >= 0) + (p->end_id >= 0);
  int64_t cap = p->max_len - specials;
  int64_t keep = pl->total < cap ? pl->total : cap;
  int64_t off = 0;
  if (keep < pl->total) {
    if (p->truncation == BFD_SEQ_TRUNC_LEFT) {
      off = pl->total - keep;
    } else if (p->truncation == BFD_SEQ_TRUNC_RANDOM) {
      k.op = BFD_RNG_TRUNCATE;
      off = (int64_t)bfd_seq_draw64(k, 0, (uint64_t)(pl->total - keep + 1));
    }
  }
  pl->keep_off = off;
  pl->keep_n = (int32_t)keep;
  pl->len = (int32_t)keep + specials;
}

#endif

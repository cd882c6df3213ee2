/* Per-channel statistics for the image ops, shared by both backends.
 *
 * Normalization statistics come from the whole source image (per sample
 * and channel), as CSBDeep's normalize and nnU-Net compute them before
 * cropping:
 *  - 8- and 16-bit data: one pass builds an exact histogram (256 or 65536
 *    integer bins; integer counts, so thread and atomic order cannot change
 *    them); order statistics, min, max, mean and std are read from it.
 *  - float data: order statistics by radix selection on the order-preserving
 *    32-bit keys of the values: three passes, each counting an 11-, 11- then
 *    10-bit digit of the elements that share the digits found so far, for up
 *    to four wanted ranks at once. Exact, like the histogram: the result is
 *    the k-th smallest value, whatever the method or backend.
 *  - percentiles use numpy's default ('linear') method with numpy 2's
 *    arithmetic: index (n - 1) * (p / 100) in double, then numpy's _lerp,
 *    in double for integer data and in float32 for float32 data.
 *  - mean and std of float data: sums in double over chunks of
 *    BFDK_IMG_CHUNK elements in a fixed lane-and-tree order (see
 *    bfd_img_lane), then over chunks in index order.
 * The same chunked reduction gives the patch statistics that contrast
 * (mean) and gamma (min, max) use. */
#ifndef BFD_OPS_IMG_STATS_H
#define BFD_OPS_IMG_STATS_H

#include "ops/img_geom.h"

/* Histogram bin of element i of 8/16-bit data. */
BFD_OP uint32_t bfd_img_hist_bin(const void *p, int32_t dtype, int64_t i) {
  switch (dtype) {
    case BFD_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case BFD_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    default: return (uint32_t)((int32_t)((const int16_t *)p)[i] + 32768);
  }
}

BFD_OP double bfd_img_bin_value(int32_t dtype, uint32_t bin) {
  return dtype == BFD_DTYPE_INT16 ? (double)bin - 32768.0 : (double)bin;
}

/* Order-preserving key of a float, and back. */
BFD_OP uint32_t bfd_img_fkey(float f) {
  uint32_t u = bfd_f2u(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
BFD_OP float bfd_img_fkey_value(uint32_t k) { return bfd_u2f((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k); }

/* numpy's linear-method index for percentile p of n values: the two ranks
 * and the weight of the upper one. */
BFD_OP void bfd_img_pct_index(double p, uint64_t n, uint64_t *lo, uint64_t *hi, double *t) {
  double vi = (double)(n - 1) * (p / 100.0);
  if (vi >= (double)(n - 1)) {
    *lo = *hi = n - 1;
    *t = 0.0;
    return;
  }
  double fl = (double)(uint64_t)vi;
  *lo = (uint64_t)fl;
  *hi = *lo + 1;
  *t = vi - fl;
}

/* numpy's _lerp in double (integer data). */
BFD_OP double bfd_img_lerp_np(double a, double b, double t) {
  double diff = b - a;
  return t >= 0.5 ? b - diff * (1.0 - t) : a + diff * t;
}

/* numpy's _lerp in float32 with a weak (Python float) weight. */
BFD_OP float bfd_img_lerp_np32(float a, float b, double t) {
  float diff = b - a;
  return t >= 0.5 ? b - diff * (float)(1.0 - t) : a + diff * (float)t;
}

/* The order statistics normalization needs: ranks[0..3] for percentiles
 * (lo and hi of pmin, then of pmax), ranks[0..1] for min-max. Returns how
 * many, 0 when no order statistic is needed. */
BFD_OP int bfd_img_stat_ranks(const bfdk_img_iop *norm, uint64_t n, uint64_t ranks[4], double t[2]) {
  if (!norm) return 0;
  if (norm->norm_mode == BFDK_NORM_PERCENTILE) {
    bfd_img_pct_index(norm->pmin, n, &ranks[0], &ranks[1], &t[0]);
    bfd_img_pct_index(norm->pmax, n, &ranks[2], &ranks[3], &t[1]);
    return 4;
  }
  if (norm->norm_mode == BFDK_NORM_MINMAX) {
    ranks[0] = 0;
    ranks[1] = n - 1;
    return 2;
  }
  return 0;
}

/* normalize's (a, d) from the order statistics v (as ranked above), or from
 * mean and std. */
BFD_OP bfdk_img_cstat bfd_img_cstat_make(const bfdk_img_iop *norm, int is_float, const double v[4], const double t[2],
                                         double mean, double sd) {
  bfdk_img_cstat c;
  c.a = 0.0f;
  c.d = 1.0f;
  if (norm->norm_mode == BFDK_NORM_PERCENTILE) {
    float mi, ma;
    if (is_float) {
      mi = bfd_img_lerp_np32((float)v[0], (float)v[1], t[0]);
      ma = bfd_img_lerp_np32((float)v[2], (float)v[3], t[1]);
    } else {
      mi = (float)bfd_img_lerp_np(v[0], v[1], t[0]);
      ma = (float)bfd_img_lerp_np(v[2], v[3], t[1]);
    }
    c.a = mi;
    c.d = (ma - mi) + norm->eps;
  } else if (norm->norm_mode == BFDK_NORM_MINMAX) {
    c.a = (float)v[0];
    c.d = ((float)v[1] - (float)v[0]) + norm->eps;
  } else if (norm->norm_mode == BFDK_NORM_ZSCORE) {
    float m = norm->fixed ? norm->mean : (float)mean;
    float s = norm->fixed ? norm->std : (float)sd;
    c.a = m;
    c.d = s > norm->eps ? s : norm->eps;
  }
  return c;
}

/* Statistics of one channel from its exact histogram of n values, all of
 * which fall in bins [lo, hi]: the bins outside are taken as zero and never
 * read, so a caller that knows the data's range clears and scans only that
 * (the cumulative counts and sums over the range are those over all bins). */
BFD_OP bfdk_img_cstat bfd_img_hist_cstat_range(const bfdk_img_iop *norm, int32_t dtype, const uint32_t *hist,
                                               int32_t lo, int32_t hi, uint64_t n) {
  uint64_t ranks[4];
  double t[2] = {0.0, 0.0}, v[4] = {0.0, 0.0, 0.0, 0.0}, mean = 0.0, sd = 0.0;
  int nr = bfd_img_stat_ranks(norm, n, ranks, t);
  for (int r = 0; r < nr; r++) {
    uint64_t cum = 0;
    for (int32_t b = lo; b <= hi; b++) {
      cum += hist[b];
      if (cum > ranks[r]) {
        v[r] = bfd_img_bin_value(dtype, (uint32_t)b);
        break;
      }
    }
  }
  if (norm->norm_mode == BFDK_NORM_ZSCORE && !norm->fixed) {
    uint64_t sum = 0;
    for (int32_t b = lo; b <= hi; b++) sum += (uint64_t)hist[b] * (uint64_t)b;
    double off = dtype == BFD_DTYPE_INT16 ? 32768.0 : 0.0;
    mean = (double)sum / (double)n - off;
    double ss = 0.0;
    for (int32_t b = lo; b <= hi; b++) {
      if (!hist[b]) continue;
      double dv = bfd_img_bin_value(dtype, (uint32_t)b) - mean;
      ss += (double)hist[b] * (dv * dv);
    }
    sd = sqrt(ss / (double)n);
  }
  return bfd_img_cstat_make(norm, 0, v, t, mean, sd);
}

/* Statistics of one channel from its exact histogram of n values. */
BFD_OP bfdk_img_cstat bfd_img_hist_cstat(const bfdk_img_iop *norm, int32_t dtype, const uint32_t *hist, int32_t bins,
                                         uint64_t n) {
  return bfd_img_hist_cstat_range(norm, dtype, hist, 0, bins - 1, n);
}

/* ---- radix selection for float data ---------------------------------------- */

BFD_OP int bfd_img_radix_shift(int pass) { return pass == 0 ? 21 : (pass == 1 ? 10 : 0); }
BFD_OP uint32_t bfd_img_radix_mask(int pass) { return pass == 0 ? 0u : (pass == 1 ? 0xFFE00000u : 0xFFFFFC00u); }
BFD_OP uint32_t bfd_img_radix_digits(int pass) { return pass == 2 ? 1024u : 2048u; }

BFD_OP void bfd_img_radix_init(const bfdk_img_iop *norm, uint64_t n, bfdk_img_radix st[4]) {
  uint64_t ranks[4] = {0, 0, 0, 0};
  double t[2];
  bfd_img_stat_ranks(norm, n, ranks, t);
  for (int j = 0; j < BFDK_IMG_RADIX_TARGETS; j++) {
    st[j].prefix = 0;
    st[j].pad = 0;
    st[j].rank = ranks[j];
  }
}

/* Counts element key k into the histograms (BFDK_IMG_RADIX_BINS each) of
 * the targets whose prefix it shares; returns the bins through out[] (-1:
 * not counted), for a caller that adds plainly or atomically. */
BFD_OP void bfd_img_radix_bins(const bfdk_img_radix st[4], int nt, int pass, uint32_t k, int32_t out[4]) {
  uint32_t mask = bfd_img_radix_mask(pass);
  uint32_t digit = (k >> bfd_img_radix_shift(pass)) & (bfd_img_radix_digits(pass) - 1);
  for (int j = 0; j < BFDK_IMG_RADIX_TARGETS; j++)
    out[j] = (j < nt && (k & mask) == st[j].prefix) ? (int32_t)digit : -1;
}

/* After a pass: fixes each target's digit from its histogram. */
BFD_OP void bfd_img_radix_step(bfdk_img_radix st[4], int nt, int pass, const uint32_t *hist) {
  for (int j = 0; j < nt; j++) {
    const uint32_t *h = hist + (size_t)j * BFDK_IMG_RADIX_BINS;
    uint64_t cum = 0;
    for (uint32_t dgt = 0; dgt < bfd_img_radix_digits(pass); dgt++) {
      if (cum + h[dgt] > st[j].rank) {
        st[j].prefix |= dgt << bfd_img_radix_shift(pass);
        st[j].rank -= cum;
        break;
      }
      cum += h[dgt];
    }
  }
}

/* The number of radix targets a normalization needs. */
BFD_OP int bfd_img_radix_targets(const bfdk_img_iop *norm) {
  if (!norm) return 0;
  return norm->norm_mode == BFDK_NORM_PERCENTILE ? 4 : (norm->norm_mode == BFDK_NORM_MINMAX ? 2 : 0);
}

/* ---- chunked reductions ------------------------------------------------------ */

/* Lane t of the chunk starting at base: elements base + t + 256 k, k < 16,
 * below n, summed in order. A chunk's lanes are then combined by the tree
 * for (s = 128; s > 0; s >>= 1) lane[t] += lane[t + s]. */
BFD_OP void bfd_img_lane(const void *p, int32_t dtype, int64_t base, int64_t n, int t, bfdk_img_partial *out) {
  double s = 0.0, q = 0.0;
  float mn = bfd_u2f(0x7f800000u), mx = -bfd_u2f(0x7f800000u);
  for (int k = 0; k < BFDK_IMG_CHUNK / BFDK_IMG_THREADS; k++) {
    int64_t i = base + t + (int64_t)k * BFDK_IMG_THREADS;
    if (i >= n) break;
    float v = bfd_img_load(p, dtype, i);
    s += (double)v;
    q += (double)v * (double)v;
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
  }
  out->sum = s;
  out->sumsq = q;
  out->mn = mn;
  out->mx = mx;
}

/* One tree step: a += b. */
BFD_OP void bfd_img_partial_add(bfdk_img_partial *a, const bfdk_img_partial *b) {
  a->sum += b->sum;
  a->sumsq += b->sumsq;
  a->mn = b->mn < a->mn ? b->mn : a->mn;
  a->mx = b->mx > a->mx ? b->mx : a->mx;
}

/* Combines a channel's chunk partials in index order. Zeros are made +0 so
 * that the order in which -0 and +0 met cannot show. */
BFD_OP bfdk_img_partial bfd_img_partials_total(const bfdk_img_partial *p, int64_t nchunks) {
  bfdk_img_partial t = p[0];
  for (int64_t i = 1; i < nchunks; i++) bfd_img_partial_add(&t, &p[i]);
  if (t.mn == 0.0f) t.mn = 0.0f;
  if (t.mx == 0.0f) t.mx = 0.0f;
  return t;
}

BFD_OP bfdk_img_pstat bfd_img_pstat_make(bfdk_img_partial t, int64_t n) {
  bfdk_img_pstat p;
  p.mean = (float)(t.sum / (double)n);
  p.mn = t.mn;
  p.mx = t.mx;
  return p;
}

#endif

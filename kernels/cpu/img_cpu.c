/* The CPU backend of the image ops: OpenMP loops over the per-element
 * functions of kernels/ops/img_*.h, in the steps the CUDA backend
 * (kernels/cuda/img.cu) takes: image statistics, foreground voxel, per-sample
 * draws, elastic control points, the fused resampling pass, the remaining
 * intensity stages, the final store. Work is split by rows and chunks, and
 * each value is a pure function of its inputs or a reduction in a fixed
 * order, so any thread count gives the same bits as the GPU. Where a loop
 * here hoists work out of a row (the copy path's strided reads, the
 * elastic field along z and y, noise numbers in blocks whose loops
 * vectorize), it calls the same functions in the same order as the
 * per-voxel kernel. The histogram of 16-bit images is cleared and scanned
 * only over the bins the image uses, and for percentiles only the tails
 * that hold the wanted ranks are counted: the same order statistics as
 * the GPU's full histogram. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "img.h"
#include "ops/img_intensity.h"

/* Row loops that vectorize get AVX2 and AVX-512 copies, picked at load time
 * where the CPU has them (gcc on x86-64): the same IEEE operations at a
 * greater width, so the same bits (contraction stays off, and neither
 * brings FMA into code compiled without it). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define WIDE_LOOPS __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE_LOOPS
#endif

typedef struct ctx {
  const bfdk_img_spec *sp;
  const bfdk_img_plan *pl;
  const bfdk_img_dims *d;
  const bfdk_img_batch *bt;
  bfdk_img_views w;
  void *dst; /* where the resampling pass writes: out (final) or the float buffer */
  int dst_final;
} ctx;

static size_t src_esize(const bfdk_img_dims *d) { return bfd_img_dtype_size(d->src_dtype); }

/* Channel c of sample b: samples sit src_vox * C elements apart, and a
 * sample's channels hold its box each (the whole image without boxes). */
static const void *src_channel(const ctx *x, int64_t b, int64_t c) {
  const int32_t *n = x->bt->boxes ? x->bt->boxes[b].n : NULL;
  size_t box = n ? (size_t)n[0] * (size_t)n[1] * (size_t)n[2] : (size_t)x->d->src_vox;
  return (const char *)x->bt->images +
         ((size_t)b * (size_t)x->d->C * (size_t)x->d->src_vox + (size_t)c * box) * src_esize(x->d);
}

static const void *src_labels(const ctx *x, int64_t b) {
  return (const char *)x->bt->labels + (size_t)b * (size_t)x->d->src_vox * bfd_img_dtype_size(x->d->label_dtype);
}

/* One chunk's partial: 256 lanes, then the tree, as the CUDA block does. */
static bfdk_img_partial chunk_partial(const void *p, int32_t dt, int64_t chunk, int64_t n) {
  bfdk_img_partial lane[BFDK_IMG_THREADS];
  int64_t base = chunk * BFDK_IMG_CHUNK;
  for (int t = 0; t < BFDK_IMG_THREADS; t++) bfd_img_lane(p, dt, base, n, t, &lane[t]);
  for (int s = BFDK_IMG_THREADS / 2; s > 0; s >>= 1)
    for (int t = 0; t < s; t++) bfd_img_partial_add(&lane[t], &lane[t + s]);
  return lane[0];
}

/* ---- image statistics ------------------------------------------------------------ */

/* Smallest and largest of n uint16 values, in a loop that vectorizes (with
 * an AVX2 copy picked at load time under gcc). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
static void range_u16(const uint16_t *q, int64_t n, int32_t *lo, int32_t *hi) {
  uint16_t mn = UINT16_MAX, mx = 0;
#pragma omp simd reduction(min : mn) reduction(max : mx)
  for (int64_t i = 0; i < n; i++) {
    mn = q[i] < mn ? q[i] : mn;
    mx = q[i] > mx ? q[i] : mx;
  }
  *lo = mn;
  *hi = mx;
}

/* Grows the cleared bins [*clo, *chi] of h (empty when *chi < *clo) to
 * cover [lo, hi]. */
static void clear_to(uint32_t *h, int32_t lo, int32_t hi, int32_t *clo, int32_t *chi) {
  if (*chi < *clo) {
    memset(h + lo, 0, (size_t)(hi - lo + 1) * sizeof *h);
    *clo = lo;
    *chi = hi;
  }
  if (lo < *clo) {
    memset(h + lo, 0, (size_t)(*clo - lo) * sizeof *h);
    *clo = lo;
  }
  if (hi > *chi) {
    memset(h + *chi + 1, 0, (size_t)(hi - *chi) * sizeof *h);
    *chi = hi;
  }
}

/* Exact histogram of n > 0 uint16 values into h, of which only the bins
 * [*lo, *hi] the data use are cleared and counted. Images use a few
 * thousand of the 65536 bins: clearing them all cost more than counting.
 * The range is found block by block, each block counted while it is still
 * in L1, and the cleared range grows as blocks need it. */
enum { HIST_BLOCK = 4096 };
static void hist_u16(const uint16_t *q, int64_t n, uint32_t *h, int32_t *lo, int32_t *hi) {
  int32_t clo = 0, chi = -1;
  for (int64_t i0 = 0; i0 < n; i0 += HIST_BLOCK) {
    int64_t m = n - i0 < HIST_BLOCK ? n - i0 : HIST_BLOCK;
    int32_t bl, bh;
    range_u16(q + i0, m, &bl, &bh);
    clear_to(h, bl, bh, &clo, &chi);
    for (int64_t i = i0; i < i0 + m; i++) h[q[i]]++;
  }
  *lo = clo;
  *hi = chi;
}

/* Counts value b into h, whose cleared bins [c[0], c[1]] grow to hold it. */
static inline void tail_count(uint32_t *h, int32_t b, int32_t c[2]) {
  if (b < c[0] || b > c[1]) clear_to(h, b, b, &c[0], &c[1]);
  h[b]++;
}

/* Counts into h the values of q[0 .. n) at or below tlo or at or above
 * thi, growing the cleared bins c as they need. Most values lie between
 * the two: 32 (AVX-512) or 8 (SSE2) at a time are compared and only those
 * in a tail are counted. */
#if defined(__GNUC__) && defined(__x86_64__)
#define TAILS_AVX512 1
__attribute__((target("avx512bw"))) static int64_t tails_avx512(const uint16_t *q, int64_t n, uint16_t tlo,
                                                                uint16_t thi, uint32_t *h, int32_t c[2]) {
  const __m512i lo = _mm512_set1_epi16((short)tlo), hi = _mm512_set1_epi16((short)thi);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512i v = _mm512_loadu_si512((const void *)(q + i));
    uint32_t m = (uint32_t)(_mm512_cmple_epu16_mask(v, lo) | _mm512_cmpge_epu16_mask(v, hi));
    for (; m; m &= m - 1) tail_count(h, q[i + __builtin_ctz(m)], c);
  }
  return i;
}
#endif

static void tails_count(const uint16_t *q, int64_t n, uint16_t tlo, uint16_t thi, uint32_t *h, int32_t c[2]) {
  int64_t i = 0;
#if defined(TAILS_AVX512)
  if (__builtin_cpu_supports("avx512bw")) i = tails_avx512(q, n, tlo, thi, h, c);
#endif
#if defined(__SSE2__)
  /* SSE2 compares signed 16-bit words: flipping the top bit orders uint16 */
  const __m128i top = _mm_set1_epi16((short)0x8000);
  const __m128i lo = _mm_set1_epi16((short)(tlo ^ 0x8000u)), hi = _mm_set1_epi16((short)(thi ^ 0x8000u));
  for (; i + 8 <= n; i += 8) {
    __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(q + i)), top);
    __m128i mid = _mm_and_si128(_mm_cmpgt_epi16(v, lo), _mm_cmpgt_epi16(hi, v));
    unsigned m = (unsigned)_mm_movemask_epi8(mid) ^ 0xFFFFu; /* two bits per value in a tail */
    while (m) {
      tail_count(h, q[i + (__builtin_ctz(m) >> 1)], c);
      m &= m - 1;
      m &= m - 1;
    }
  }
#endif
  for (; i < n; i++)
    if (q[i] <= tlo || q[i] >= thi) tail_count(h, q[i], c);
}

/* Value (bin) at sample rank k of the m samples counted in h[lo .. hi]. */
static int32_t hist_at(const uint32_t *h, int32_t lo, int32_t hi, uint64_t k) {
  uint64_t cum = 0;
  for (int32_t b = lo; b <= hi; b++) {
    cum += h[b];
    if (cum > k) return b;
  }
  return hi;
}

/* Percentiles of n uint16 values from their tails only: the order
 * statistics pmin and pmax need lie in the lowest and highest few percent,
 * so only values at or below tlo or at or above thi are counted, with tlo
 * and thi taken generously from a sample (TAIL_RUNS runs of TAIL_RUN
 * consecutive values spread over the image: whole cache lines, so the
 * sample costs few memory accesses). The counts of the bins in the tails
 * are those of the full histogram, so the bins found for ranks[] are the
 * same; when a tail turns out too small to hold its ranks, 0 is returned
 * and the caller counts everything. */
enum { TAIL_RUNS = 64, TAIL_RUN = 64 };
static int tails_u16(const uint16_t *q, int64_t n, const uint64_t ranks[4], uint32_t *h, int32_t bin[4]) {
  if (n < 16 * TAIL_RUNS * TAIL_RUN) return 0;
  uint64_t m = TAIL_RUNS * TAIL_RUN;
  int32_t smin, smax, clo = 0, chi = -1;
  for (int64_t k = 0; k < TAIL_RUNS; k++) {
    int32_t bl, bh;
    range_u16(q + (n - TAIL_RUN) * k / (TAIL_RUNS - 1), TAIL_RUN, &bl, &bh);
    smin = k == 0 || bl < smin ? bl : smin;
    smax = k == 0 || bh > smax ? bh : smax;
  }
  clear_to(h, smin, smax, &clo, &chi);
  for (int64_t k = 0; k < TAIL_RUNS; k++) {
    const uint16_t *r = q + (n - TAIL_RUN) * k / (TAIL_RUNS - 1);
    for (int64_t i = 0; i < TAIL_RUN; i++) h[r[i]]++;
  }
  double frac_lo = (double)(ranks[1] + 1) / (double)n, frac_hi = (double)((uint64_t)n - ranks[2]) / (double)n;
  uint64_t klo = (uint64_t)(3.0 * frac_lo * (double)m) + 16, khi = (uint64_t)(3.0 * frac_hi * (double)m) + 16;
  if (klo >= m || khi >= m) return 0;
  int32_t tlo = hist_at(h, smin, smax, klo), thi = hist_at(h, smin, smax, m - 1 - khi);
  if (tlo >= thi) return 0;
  memset(h + smin, 0, (size_t)(smax - smin + 1) * sizeof *h);
  int32_t c[2] = {clo, chi};
  tails_count(q, n, (uint16_t)tlo, (uint16_t)thi, h, c);
  clo = c[0];
  chi = c[1];
  uint64_t below = 0, above = 0;
  for (int32_t b = clo; b <= tlo; b++) below += h[b];
  for (int32_t b = thi; b <= chi; b++) above += h[b];
  if (below <= ranks[1] || ranks[2] < (uint64_t)n - above) return 0;
  for (int r = 0; r < 4; r++) {
    uint64_t cum = r < 2 ? 0 : (uint64_t)n - above;
    for (int32_t b = r < 2 ? clo : thi; b <= chi; b++) {
      cum += h[b];
      if (cum > ranks[r]) {
        bin[r] = b;
        break;
      }
    }
  }
  return 1;
}

static void stats_hist(const ctx *x) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_iop *norm = &x->sp->iops[x->pl->norm];
  int64_t BC = (int64_t)d->B * d->C, n = d->src_vox;
  int32_t bins = d->hist_bins;
#pragma omp parallel for schedule(dynamic)
  for (int64_t bc = 0; bc < BC; bc++) {
    uint32_t *h = x->w.hist + (size_t)bc * (size_t)bins;
    const void *p = src_channel(x, bc / d->C, bc % d->C);
    int32_t lo = 0, hi = bins - 1, bin[4];
    uint64_t ranks[4];
    double t[2] = {0.0, 0.0}, v[4];
    if (d->src_dtype == BFD_DTYPE_UINT16 && norm->norm_mode == BFDK_NORM_PERCENTILE && n > 0 &&
        bfd_img_stat_ranks(norm, (uint64_t)n, ranks, t) == 4 && tails_u16((const uint16_t *)p, n, ranks, h, bin)) {
      for (int r = 0; r < 4; r++) v[r] = bfd_img_bin_value(d->src_dtype, (uint32_t)bin[r]);
      x->w.cst[bc] = bfd_img_cstat_make(norm, 0, v, t, 0.0, 0.0);
      continue;
    }
    if (d->src_dtype == BFD_DTYPE_UINT16) {
      hist_u16((const uint16_t *)p, n, h, &lo, &hi);
    } else if (d->src_dtype == BFD_DTYPE_UINT8) {
      const uint8_t *q = (const uint8_t *)p;
      memset(h, 0, (size_t)bins * sizeof *h);
      for (int64_t i = 0; i < n; i++) h[q[i]]++;
    } else {
      memset(h, 0, (size_t)bins * sizeof *h);
      for (int64_t i = 0; i < n; i++) h[bfd_img_hist_bin(p, d->src_dtype, i)]++;
    }
    x->w.cst[bc] = bfd_img_hist_cstat_range(norm, d->src_dtype, h, lo, hi, (uint64_t)n);
  }
}

static void stats_float(const ctx *x) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_iop *norm = &x->sp->iops[x->pl->norm];
  int64_t BC = (int64_t)d->B * d->C, n = d->src_vox;
  int nt = bfd_img_radix_targets(norm);
#pragma omp parallel for schedule(dynamic)
  for (int64_t bc = 0; bc < BC; bc++) {
    const float *p = (const float *)src_channel(x, bc / d->C, bc % d->C);
    double v[4] = {0.0, 0.0, 0.0, 0.0}, t[2] = {0.0, 0.0}, mean = 0.0, sd = 0.0;
    uint64_t ranks[4];
    bfd_img_stat_ranks(norm, (uint64_t)n, ranks, t);
    if (nt > 0) {
      bfdk_img_radix *st = x->w.radix + bc * BFDK_IMG_RADIX_TARGETS;
      uint32_t *h = x->w.hist + (size_t)bc * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS;
      bfd_img_radix_init(norm, (uint64_t)n, st);
      for (int pass = 0; pass < 3; pass++) {
        memset(h, 0, sizeof *h * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS);
        for (int64_t i = 0; i < n; i++) {
          int32_t bin[4];
          bfd_img_radix_bins(st, nt, pass, bfd_img_fkey(p[i]), bin);
          for (int j = 0; j < nt; j++)
            if (bin[j] >= 0) h[j * BFDK_IMG_RADIX_BINS + bin[j]]++;
        }
        bfd_img_radix_step(st, nt, pass, h);
      }
      for (int j = 0; j < nt; j++) v[j] = (double)bfd_img_fkey_value(st[j].prefix);
    }
    if (norm->norm_mode == BFDK_NORM_ZSCORE) {
      bfdk_img_partial *part = x->w.part + (size_t)bc * (size_t)x->pl->src_chunks;
      for (int64_t ch = 0; ch < x->pl->src_chunks; ch++) part[ch] = chunk_partial(p, BFD_DTYPE_FLOAT32, ch, n);
      bfdk_img_partial tot = bfd_img_partials_total(part, x->pl->src_chunks);
      mean = tot.sum / (double)n;
      double var = tot.sumsq / (double)n - mean * mean;
      sd = sqrt(var > 0.0 ? var : 0.0);
    }
    x->w.cst[bc] = bfd_img_cstat_make(norm, 1, v, t, mean, sd);
  }
}

static void stats(const ctx *x) {
  const bfdk_img_dims *d = x->d;
  if (x->pl->norm < 0) return;
  if (!x->pl->norm_data) {
    double v[4] = {0.0, 0.0, 0.0, 0.0}, t[2] = {0.0, 0.0};
    for (int64_t bc = 0; bc < (int64_t)d->B * d->C; bc++)
      x->w.cst[bc] = bfd_img_cstat_make(&x->sp->iops[x->pl->norm], 0, v, t, 0.0, 0.0);
  } else if (d->hist_bins) {
    stats_hist(x);
  } else {
    stats_float(x);
  }
}

/* ---- foreground, draws, control points ------------------------------------------------ */

static void foreground(const ctx *x) {
  const bfdk_img_dims *d = x->d;
#pragma omp parallel for schedule(dynamic)
  for (int64_t b = 0; b < d->B; b++) {
    x->w.fg[b] = -1;
    if (!x->pl->need_fg) continue;
    const void *lab = src_labels(x, b);
    uint64_t count = 0;
    for (int64_t i = 0; i < d->src_vox; i++) count += bfd_img_label_load(lab, d->label_dtype, i) != 0;
    int64_t r = bfd_img_fg_rank(x->sp, d, x->w.gidx[b], count);
    for (int64_t i = 0; r >= 0 && i < d->src_vox; i++)
      if (bfd_img_label_load(lab, d->label_dtype, i) != 0 && r-- == 0) x->w.fg[b] = i;
  }
}

static void draws(const ctx *x) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_spec *sp = x->sp;
  for (int64_t b = 0; b < d->B; b++) {
    bfd_img_draw_sample(sp, d, x->w.gidx[b], x->w.fg[b], &x->w.smp[b]);
    if (x->bt->boxes) {
      memcpy(x->w.smp[b].blo, x->bt->boxes[b].lo, sizeof x->w.smp[b].blo);
      memcpy(x->w.smp[b].bn, x->bt->boxes[b].n, sizeof x->w.smp[b].bn);
    }
    for (int k = 0; k < sp->n_iops && x->pl->has_blur; k++)
      if (sp->iops[k].kind == BFDK_IMG_BLUR)
        bfd_img_blur_weights(x->w.smp[b].ip[k][1],
                             x->w.blur + ((size_t)b * BFDK_IMG_MAX_OPS + (size_t)k) * BFDK_IMG_BLUR_TAPS);
  }
  int64_t nn = x->pl->nodes;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < (int64_t)d->B * nn; i++) {
    int64_t b = i / nn;
    if (x->w.smp[b].elastic)
      bfd_img_elastic_node(d, x->w.gidx[b], x->w.smp[b].emag, i % nn, x->w.nodes + (size_t)i * 3);
  }
}

/* ---- pointwise ops on a row of one channel ---------------------------------------------- */

/* v = sqrt(v), four at a time where SSE is there: sqrtf's errno check
 * keeps compilers from vectorizing it, and the instruction is the same
 * correctly rounded square root. */
static void sqrt_all(float *v, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(v + i, _mm_sqrt_ps(_mm_loadu_ps(v + i)));
#endif
  for (; i < n; i++) v[i] = sqrtf(v[i]);
}

/* gcc only: clang's flatten on noise_block would inline these into its
 * default-target body, which clang 14's backend cannot lower. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define PHILOX_AVX512 1
/* Low and high halves of the 32 x 32-bit products a * m in 16 lanes: even
 * and odd lanes multiplied apart (vpmuludq) and blended, rather than the
 * widening and narrowing permutes compilers make of mulhilo32. */
__attribute__((target("avx512f"))) static inline void mulhilo16(__m512i a, __m512i m, __m512i *lo, __m512i *hi) {
  __m512i pe = _mm512_mul_epu32(a, m), po = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  *lo = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
  *hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 32), po);
}

/* Random123's philox4x32 (10 rounds) of bfd_rng4(key, 1 + g0 + j) for the
 * first multiple of 16 of the ng draws, into a and b as noise_block lays
 * them out (a[2j], b[2j], a[2j + 1], b[2j + 1] = words 0 to 3 of draw j);
 * returns how many draws it made. Integer operations only: the same words. */
__attribute__((target("avx512f"))) static int64_t philox_avx512(bfd_rng_key key, uint64_t g0, int64_t ng, uint32_t *a,
                                                                uint32_t *b) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const __m512i m0 = _mm512_set1_epi32((int)PHILOX_M4x32_0), m1 = _mm512_set1_epi32((int)PHILOX_M4x32_1);
  philox4x32_ctr_t c = bfd_rng4_ctr(key, 0);
  philox4x32_key_t k = bfd_rng4_key(key);
  int64_t j = 0;
  for (; j + 16 <= ng; j += 16) {
    __m512i x0 = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)(1 + g0 + (uint64_t)j)), lane);
    __m512i x1 = _mm512_set1_epi32((int)c.v[1]), x2 = _mm512_set1_epi32((int)c.v[2]);
    __m512i x3 = _mm512_set1_epi32((int)c.v[3]);
    uint32_t k0 = k.v[0], k1 = k.v[1];
    for (int r = 0; r < 10; r++) {
      if (r) {
        k0 += PHILOX_W32_0;
        k1 += PHILOX_W32_1;
      }
      __m512i lo0, hi0, lo1, hi1;
      mulhilo16(x0, m0, &lo0, &hi0);
      mulhilo16(x2, m1, &lo1, &hi1);
      x0 = _mm512_xor_si512(_mm512_xor_si512(hi1, x1), _mm512_set1_epi32((int)k0));
      x1 = lo1;
      x2 = _mm512_xor_si512(_mm512_xor_si512(hi0, x3), _mm512_set1_epi32((int)k1));
      x3 = lo0;
    }
    _mm512_storeu_si512((void *)(a + 2 * j), _mm512_permutex2var_epi32(x0, lo_idx, x2));
    _mm512_storeu_si512((void *)(a + 2 * j + 16), _mm512_permutex2var_epi32(x0, hi_idx, x2));
    _mm512_storeu_si512((void *)(b + 2 * j), _mm512_permutex2var_epi32(x1, lo_idx, x3));
    _mm512_storeu_si512((void *)(b + 2 * j + 16), _mm512_permutex2var_epi32(x1, hi_idx, x3));
  }
  return j;
}
#endif

/* Normal numbers e0 .. e0 + n - 1 (n <= NOISE_BLOCK) of a stream into z:
 * bfd_img_normal's values, a Philox draw per four and the transcendental
 * functions in loops that vectorize. */
enum { NOISE_BLOCK = 256 };
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
/* Philox and pmath inlined so that the loops vectorize, with AVX2 and
 * AVX-512 copies picked at load time as WIDE_LOOPS (same IEEE operations,
 * so the same bits). clang does not combine the two attributes: it gets
 * the inlining only. */
__attribute__((flatten, target_clones("avx512f", "avx2", "default")))
#elif defined(__GNUC__)
__attribute__((flatten))
#endif
static void noise_block(bfd_rng_key key, uint64_t e0, int64_t n, float *z) {
  uint64_t g0 = e0 >> 2;
  int64_t ng = (int64_t)(((e0 + (uint64_t)n - 1) >> 2) - g0 + 1);
  uint32_t a[NOISE_BLOCK / 2 + 4], b[NOISE_BLOCK / 2 + 4];
  float r[NOISE_BLOCK / 2 + 4], sn[NOISE_BLOCK / 2 + 4], cs[NOISE_BLOCK / 2 + 4], all[NOISE_BLOCK + 8];
  int64_t j0 = 0;
#if defined(PHILOX_AVX512)
  if (__builtin_cpu_supports("avx512f")) j0 = philox_avx512(key, g0, ng, a, b);
#endif
#pragma omp simd
  for (int64_t j = j0; j < ng; j++) {
    philox4x32_ctr_t w = bfd_rng4(key, (uint32_t)(1 + g0 + (uint64_t)j));
    a[2 * j] = w.v[0];
    b[2 * j] = w.v[1];
    a[2 * j + 1] = w.v[2];
    b[2 * j + 1] = w.v[3];
  }
#pragma omp simd
  for (int64_t p = 0; p < 2 * ng; p++) {
    r[p] = bfd_img_bm_r2(a[p]);
    bfd_img_bm_angle(b[p], &sn[p], &cs[p]);
  }
  sqrt_all(r, 2 * ng);
#pragma omp simd
  for (int64_t p = 0; p < 2 * ng; p++) {
    all[2 * p] = r[p] * cs[p];
    all[2 * p + 1] = r[p] * sn[p];
  }
  memcpy(z, all + (e0 & 3), (size_t)n * sizeof *z);
}

/* Intensity ops [k0, k1) on n consecutive elements of channel c starting
 * at voxel v0. */
WIDE_LOOPS static void point_row(const ctx *x, int64_t b, int64_t c, int64_t v0, int64_t n, int k0, int k1, bfdk_img_pstat ps,
                      float *row) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_sample *s = &x->w.smp[b];
  uint64_t gidx = x->w.gidx[b];
  uint64_t e0 = (uint64_t)c * (uint64_t)d->out_vox + (uint64_t)v0;
  bfdk_img_cstat cs = x->pl->norm >= 0 ? x->w.cst[b * d->C + c] : (bfdk_img_cstat){0.0f, 1.0f};
  float z[NOISE_BLOCK];
  for (int k = k0; k < k1; k++) {
    const bfdk_img_iop *op = &x->sp->iops[k];
    const float *ip = s->ip[k];
    if (op->kind == BFDK_IMG_NORMALIZE && op->norm_mode != BFDK_NORM_SCALE && !op->clip) {
#pragma omp simd
      for (int64_t i = 0; i < n; i++) row[i] = (row[i] - cs.a) / cs.d;
    } else if (op->kind == BFDK_IMG_NOISE) {
      if (ip[0] == 0.0f) continue;
      bfd_rng_key key = bfd_img_key(d, gidx, op->rng_op);
      for (int64_t i = 0; i < n; i += NOISE_BLOCK) {
        int64_t m = n - i < NOISE_BLOCK ? n - i : NOISE_BLOCK;
        noise_block(key, e0 + (uint64_t)i, m, z);
#pragma omp simd
        for (int64_t j = 0; j < m; j++) row[i + j] = row[i + j] + ip[1] * z[j];
      }
    } else {
      for (int64_t i = 0; i < n; i++) row[i] = bfd_img_point(op, ip, cs, ps, d, gidx, e0 + (uint64_t)i, row[i]);
    }
  }
}

/* ---- the resampling pass ----------------------------------------------------------------- */

/* dst[i] = src[base + i * step] as float; unit steps get loops that vectorize. */
#define COPY_ROW(T)                                                              \
  do {                                                                           \
    const T *p = (const T *)src + base;                                          \
    if (step == 1) {                                                             \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];  \
    } else if (step == -1) {                                                     \
      _Pragma("omp simd") for (int64_t i = 0; i < n; i++) dst[i] = (float)p[-i]; \
    } else {                                                                     \
      for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i * step];               \
    }                                                                            \
  } while (0)

WIDE_LOOPS static void copy_row(const void *src, int32_t dt, int64_t base, int64_t step, int64_t n, float *dst) {
  switch (dt) {
    case BFD_DTYPE_UINT8: COPY_ROW(uint8_t); break;
    case BFD_DTYPE_UINT16: COPY_ROW(uint16_t); break;
    case BFD_DTYPE_INT16: COPY_ROW(int16_t); break;
    default: COPY_ROW(float); break;
  }
}
#undef COPY_ROW

/* bfd_img_sample_linear's values at the n source coordinates (sz, sy, sx)
 * of a row, for integer sources, into out; ok[i] = 0 where a corner is
 * outside the image (out[i] is then left for the caller). In passes whose
 * arithmetic vectorizes: corners and weights, the loads, the lerps. No
 * branches on the weights: a corner across a zero weight is replaced by
 * its neighbour on this side, and lerp(a, a, f) and lerp(a, b, 0) are
 * exactly a for the finite values other than -0 that integer loads and
 * their lerps give, so the bits are bfd_img_trilerp's. lin holds 24 n
 * floats, 8-byte aligned. */
static inline void linear_row_int(const void *src, int32_t dt, const bfdk_img_dims *d, const bfdk_img_sample *s,
                                  const float *sz, const float *sy, const float *sx, int64_t n, float *lin,
                                  float *out, int32_t *ok) {
  int64_t *base = (int64_t *)lin, *ty = base + n, *tz = base + 2 * n;
  float *f0 = lin + 6 * n, *f1 = lin + 7 * n, *f2 = lin + 8 * n, *v = lin + 9 * n; /* v: 8 corners of n */
  int32_t *tx = (int32_t *)(lin + 17 * n);
  const int64_t Y = s->bn[2], Z = (int64_t)s->bn[1] * s->bn[2];
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    int32_t l0 = bfd_floori(sz[i]), l1 = bfd_floori(sy[i]), l2 = bfd_floori(sx[i]);
    f0[i] = sz[i] - (float)l0;
    f1[i] = sy[i] - (float)l1;
    f2[i] = sx[i] - (float)l2;
    ok[i] = l0 >= 0 && l0 + (f0[i] != 0.0f) < d->src[0] && l1 >= 0 && l1 + (f1[i] != 0.0f) < d->src[1] && l2 >= 0 &&
            l2 + (f2[i] != 0.0f) < d->src[2];
    base[i] = bfd_img_at(s, l0, l1, l2);
    tx[i] = f2[i] != 0.0f;
    ty[i] = f1[i] != 0.0f ? Y : 0;
    tz[i] = f0[i] != 0.0f ? Z : 0;
  }
  for (int64_t i = 0; i < n; i++) {
    if (!ok[i]) continue;
    int64_t p = base[i], x1 = tx[i], y1 = ty[i], z1 = tz[i];
    v[i] = bfd_img_load(src, dt, p);
    v[n + i] = bfd_img_load(src, dt, p + x1);
    v[2 * n + i] = bfd_img_load(src, dt, p + y1);
    v[3 * n + i] = bfd_img_load(src, dt, p + y1 + x1);
    v[4 * n + i] = bfd_img_load(src, dt, p + z1);
    v[5 * n + i] = bfd_img_load(src, dt, p + z1 + x1);
    v[6 * n + i] = bfd_img_load(src, dt, p + z1 + y1);
    v[7 * n + i] = bfd_img_load(src, dt, p + z1 + y1 + x1);
  }
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    float a = bfd_img_lerp(bfd_img_lerp(v[i], v[n + i], f2[i]), bfd_img_lerp(v[2 * n + i], v[3 * n + i], f2[i]), f1[i]);
    float c = bfd_img_lerp(bfd_img_lerp(v[4 * n + i], v[5 * n + i], f2[i]),
                           bfd_img_lerp(v[6 * n + i], v[7 * n + i], f2[i]), f1[i]);
    if (ok[i]) out[i] = bfd_img_lerp(a, c, f0[i]);
  }
}

/* The resampling path for one output row, one source dtype: written as a
 * function of a constant dtype so that, inlined (interp_row is flattened),
 * each dtype gets its own loop with direct loads. The row's source
 * coordinates come first (the elastic cells along x, the same for every
 * row, from ekx and efx), then the reads. */
static inline void interp_row_dt(const ctx *x, int64_t b, int64_t oz, int64_t oy, float *rows, int64_t cs,
                                 const float *ex, float *scr, const int32_t *ekx, const float *efx, float *lin, const void *lab,
                                 int64_t lo, int32_t dt) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_spec *sp = x->sp;
  const bfdk_img_sample *s = &x->w.smp[b];
  int64_t X = d->out[2], C = d->C;
  float *sz = scr, *sy = scr + X, *sx = scr + 2 * X;
  const int el = s->elastic, c0 = 3 - d->nd;
  for (int64_t i = 0; i < X; i++) {
    float dd[3] = {0.0f, 0.0f, 0.0f}, sc[3];
    if (el) {
      int64_t kx = ekx[i];
      float fx = efx[i];
      for (int comp = c0; comp < 3; comp++)
        dd[comp] = fx == 0.0f ? ex[kx * 3 + comp] : bfd_img_lerp(ex[kx * 3 + comp], ex[(kx + 1) * 3 + comp], fx);
    }
    bfd_img_source_coord(s, oz, oy, i, dd, sc);
    sz[i] = sc[0];
    sy[i] = sc[1];
    sx[i] = sc[2];
  }
  int32_t *ok = (int32_t *)(lin + 18 * X);
  for (int64_t c = 0; c < C; c++) {
    const void *src = src_channel(x, b, c);
    if (dt != BFD_DTYPE_FLOAT32)
      linear_row_int(src, dt, d, s, sz, sy, sx, X, lin, rows + c * cs, ok);
    for (int64_t i = 0; i < X; i++)
      if (dt == BFD_DTYPE_FLOAT32 || !ok[i]) {
        const float sc[3] = {sz[i], sy[i], sx[i]};
        rows[c * cs + i] = bfd_img_sample_linear(src, dt, d, s, sp->pad, sp->pad_value, sc);
      }
  }
  for (int64_t i = 0; i < X; i++) {
    const float sc[3] = {sz[i], sy[i], sx[i]};
    if (lab)
      bfd_img_store_label(x->bt->out_labels, d->out_label_dtype, lo + i,
                          bfd_img_sample_label(lab, d->label_dtype, d, s, sp->pad, sp->label_pad, sc));
  }
}

#if defined(__GNUC__)
__attribute__((flatten))
#endif
static void interp_row(const ctx *x, int64_t b, int64_t oz, int64_t oy, float *rows, int64_t cs, const float *ex,
                       float *scr, const int32_t *ekx, const float *efx, float *lin, const void *lab, int64_t lo) {
  switch (x->d->src_dtype) {
    case BFD_DTYPE_UINT8: interp_row_dt(x, b, oz, oy, rows, cs, ex, scr, ekx, efx, lin, lab, lo, BFD_DTYPE_UINT8); break;
    case BFD_DTYPE_UINT16: interp_row_dt(x, b, oz, oy, rows, cs, ex, scr, ekx, efx, lin, lab, lo, BFD_DTYPE_UINT16); break;
    case BFD_DTYPE_INT16: interp_row_dt(x, b, oz, oy, rows, cs, ex, scr, ekx, efx, lin, lab, lo, BFD_DTYPE_INT16); break;
    default: interp_row_dt(x, b, oz, oy, rows, cs, ex, scr, ekx, efx, lin, lab, lo, BFD_DTYPE_FLOAT32); break;
  }
}

/* Output row (b, oz, oy) of every channel, labels straight to out_labels.
 * Where the pass writes float32 planes, the rows are made in place there;
 * otherwise in tmp (C rows of X), then converted. ex holds enodes[2] * 3
 * floats, scr 3 X, lin 24 X (linear_row_int); ekx and efx are the elastic
 * cells along x. */
static void resample_row(const ctx *x, int64_t b, int64_t oz, int64_t oy, float *tmp, float *ex, float *scr,
                         const int32_t *ekx, const float *efx, float *lin) {
  const bfdk_img_dims *d = x->d;
  const bfdk_img_spec *sp = x->sp;
  const bfdk_img_sample *s = &x->w.smp[b];
  int64_t X = d->out[2], C = d->C;
  int64_t v0 = (oz * d->out[1] + oy) * X;
  const void *lab = x->bt->labels ? src_labels(x, b) : NULL;
  int64_t lo = b * d->out_vox + v0;
  int planar = !x->dst_final || (d->out_dtype == BFDK_F32 && !d->channels_last);
  float *rows = planar ? (float *)x->dst + (size_t)(b * C) * (size_t)d->out_vox + (size_t)v0 : tmp;
  int64_t cs = planar ? d->out_vox : X;

  if (!s->interp) {
    int64_t w0[3], w1[3];
    bfd_img_copy_coord(s, oz, oy, 0, w0);
    bfd_img_copy_coord(s, oz, oy, X - 1, w1);
    int inside = 1;
    for (int a = 0; a < 3; a++) inside &= w0[a] >= 0 && w0[a] < d->src[a] && w1[a] >= 0 && w1[a] < d->src[a];
    if (inside) {
      int a2 = s->axis[2];
      int64_t step = (a2 == 2 ? 1 : (a2 == 1 ? s->bn[2] : (int64_t)s->bn[1] * s->bn[2])) * (s->rev[2] ? -1 : 1);
      int64_t base = bfd_img_at(s, w0[0], w0[1], w0[2]);
      for (int64_t c = 0; c < C; c++) copy_row(src_channel(x, b, c), d->src_dtype, base, step, X, rows + c * cs);
      for (int64_t i = 0; lab && i < X; i++)
        bfd_img_store_label(x->bt->out_labels, d->out_label_dtype, lo + i,
                            bfd_img_label_load(lab, d->label_dtype, base + i * step));
    } else {
      for (int64_t i = 0; i < X; i++) {
        int64_t wv[3];
        bfd_img_copy_coord(s, oz, oy, i, wv);
        for (int64_t c = 0; c < C; c++)
          rows[c * cs + i] =
              bfd_img_tap(src_channel(x, b, c), d->src_dtype, d, s, sp->pad, sp->pad_value, wv[0], wv[1], wv[2]);
        if (lab) {
          int64_t z = bfd_img_border(wv[0], d->src[0], sp->pad), y = bfd_img_border(wv[1], d->src[1], sp->pad),
                  xx = bfd_img_border(wv[2], d->src[2], sp->pad);
          int64_t lv = (z < 0 || y < 0 || xx < 0)
                           ? sp->label_pad
                           : bfd_img_label_load(lab, d->label_dtype, bfd_img_at(s, z, y, xx));
          bfd_img_store_label(x->bt->out_labels, d->out_label_dtype, lo + i, lv);
        }
      }
    }
  } else {
    const float *nodes = x->w.nodes + (size_t)b * (size_t)x->pl->nodes * 3;
    if (s->elastic) {
      float fz, fy;
      int64_t kz = bfd_img_ecell(oz, sp->spacing[0], &fz), ky = bfd_img_ecell(oy, sp->spacing[1], &fy);
      for (int64_t kx = 0; kx < d->enodes[2]; kx++)
        for (int comp = 3 - d->nd; comp < 3; comp++)
          ex[kx * 3 + comp] = bfd_img_elastic_zy(nodes, d, kz, fz, ky, fy, kx, comp);
    }
    interp_row(x, b, oz, oy, rows, cs, ex, scr, ekx, efx, lin, lab, lo);
  }

  bfdk_img_pstat none = {0.0f, 0.0f, 0.0f};
  for (int64_t c = 0; c < C; c++) {
    float *row = rows + c * cs;
    point_row(x, b, c, v0, X, 0, d->fused, none, row);
    if (!planar)
      for (int64_t i = 0; i < X; i++) bfd_img_store(x->dst, d->out_dtype, bfd_img_out_index(d, b, c, v0 + i), row[i]);
  }
}

static void resample(const ctx *x) {
  const bfdk_img_dims *d = x->d;
  int64_t rows = (int64_t)d->B * d->out[0] * d->out[1];
  int team = omp_get_max_threads() < BFDK_IMG_CPU_TEAM ? omp_get_max_threads() : BFDK_IMG_CPU_TEAM;
#pragma omp parallel num_threads(team)
  {
    int64_t X = d->out[2];
    float *tmp = x->w.rows + (size_t)omp_get_thread_num() * (size_t)x->pl->row_floats;
    float *ex = tmp + d->C * X, *scr = ex + d->enodes[2] * 3, *efx = scr + 3 * X;
    int32_t *ekx = (int32_t *)(efx + X);
    float *lin = (float *)(((uintptr_t)(efx + 2 * X) + 63) & ~(uintptr_t)63);
    for (int64_t i = 0; x->sp->elastic && i < X; i++) ekx[i] = (int32_t)bfd_img_ecell(i, x->sp->spacing[2], &efx[i]);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      int64_t oy = r % d->out[1], oz = (r / d->out[1]) % d->out[0], b = r / (d->out[1] * d->out[0]);
      resample_row(x, b, oz, oy, tmp, ex, scr, ekx, efx, lin);
    }
  }
}

/* ---- intensity stages after the pass ------------------------------------------------------ */

static void reduce_patch(const ctx *x, const float *cur) {
  const bfdk_img_dims *d = x->d;
  int64_t BC = (int64_t)d->B * d->C, nch = x->pl->out_chunks;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < BC * nch; i++)
    x->w.part[i] = chunk_partial(cur + (size_t)(i / nch) * (size_t)d->out_vox, BFD_DTYPE_FLOAT32, i % nch, d->out_vox);
  for (int64_t bc = 0; bc < BC; bc++)
    x->w.pst[bc] = bfd_img_pstat_make(bfd_img_partials_total(x->w.part + bc * nch, nch), d->out_vox);
}

static void point_stage(const ctx *x, float *cur, int k0, int k1) {
  const bfdk_img_dims *d = x->d;
  int64_t X = d->out[2], per = d->out[0] * d->out[1], rows = (int64_t)d->B * d->C * per;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t bc = r / per, v0 = (r % per) * X;
    point_row(x, bc / d->C, bc % d->C, v0, X, k0, k1, x->w.pst[bc], cur + (size_t)bc * (size_t)d->out_vox + (size_t)v0);
  }
}

/* One blur pass along axis (k: the blur op), or the low-resolution pass
 * (axis -1), from cur into nxt; samples that skip the op are copied. */
static void spatial_stage(const ctx *x, const float *cur, float *nxt, int k, int axis) {
  const bfdk_img_dims *d = x->d;
  int64_t X = d->out[2], per = d->out[0] * d->out[1], rows = (int64_t)d->B * d->C * per;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t bc = r / per, b = bc / d->C, zy = r % per, oz = zy / d->out[1], oy = zy % d->out[1];
    const bfdk_img_sample *s = &x->w.smp[b];
    const float *ch = cur + (size_t)bc * (size_t)d->out_vox;
    float *o = nxt + (size_t)bc * (size_t)d->out_vox + (size_t)(zy * X);
    if (s->ip[k][0] == 0.0f) {
      memcpy(o, ch + zy * X, (size_t)X * sizeof(float));
    } else if (axis < 0) {
      for (int64_t i = 0; i < X; i++) o[i] = bfd_img_lowres_at(ch, d, s->ip[k][1], oz, oy, i);
    } else {
      const float *wt = x->w.blur + ((size_t)b * BFDK_IMG_MAX_OPS + (size_t)k) * BFDK_IMG_BLUR_TAPS;
      int rad = s->ip[k][1] > 0.0f ? bfd_img_blur_radius(s->ip[k][1]) : 0;
      for (int64_t i = 0; i < X; i++) {
        int64_t pos = axis == 2 ? i : (axis == 1 ? oy : oz);
        o[i] = bfd_img_blur_at(ch, d, wt, rad, axis, zy * X + i, pos);
      }
    }
  }
}

static void store_out(const ctx *x, const float *cur) {
  const bfdk_img_dims *d = x->d;
  int64_t N = d->out_vox, total = (int64_t)d->B * d->C * N;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; i++) {
    int64_t bc = i / N;
    bfd_img_store(x->bt->out, d->out_dtype, bfd_img_out_index(d, bc / d->C, bc % d->C, i % N), cur[i]);
  }
}

static void stages(const ctx *x) {
  const bfdk_img_spec *sp = x->sp;
  float *cur = (float *)x->dst, *other = x->w.y;
  int k = x->d->fused;
  while (k < sp->n_iops) {
    int32_t kind = sp->iops[k].kind;
    if (kind == BFDK_IMG_BLUR || kind == BFDK_IMG_LOWRES) {
      for (int axis = 3 - x->d->nd; axis < 3; axis++) {
        spatial_stage(x, cur, other, k, kind == BFDK_IMG_LOWRES ? -1 : axis);
        float *t = cur;
        cur = other;
        other = t;
        if (kind == BFDK_IMG_LOWRES) break;
      }
      k++;
      continue;
    }
    if (bfd_img_needs_pstat(kind)) reduce_patch(x, cur);
    int j = k + 1;
    while (j < sp->n_iops && bfd_img_pure_point(sp->iops[j].kind)) j++;
    point_stage(x, cur, k, j);
    k = j;
  }
  if (cur != x->bt->out) store_out(x, cur);
}

bfd_status bfdk_img_run_cpu(const bfdk_img_spec *sp, const bfdk_img_batch *bt, void *work, size_t work_bytes) {
  bfdk_img_plan pl;
  BFD_TRY(bfdk_img_plan_make(sp, bt, &pl));
  if (!work || work_bytes < pl.work_bytes)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: workspace of %zu bytes is too small: the plan needs %zu",
                     work_bytes, pl.work_bytes);
  ctx x = {sp, &pl, &pl.dims, bt, bfdk_img_carve(&pl, work), NULL, 0};
  memcpy(x.w.gidx, bt->sample_index, (size_t)pl.dims.B * sizeof(uint64_t));
  int direct = pl.dims.out_dtype == BFDK_F32 && !pl.dims.channels_last;
  x.dst_final = pl.dims.fused == sp->n_iops;
  x.dst = x.dst_final || direct ? bt->out : (void *)x.w.x;

  stats(&x);
  foreground(&x);
  draws(&x);
  resample(&x);
  if (!x.dst_final) stages(&x);
  return BFD_OK;
}

/* The CPU backend of the sequence ops: OpenMP over the samples of a batch,
 * each sample planned (window, N rejection, shift, reverse complement,
 * truncation) and then written row by row with the ops/ functions the CUDA
 * kernels call, so both backends give the same bits with any thread count. */
#include <limits.h>
#include <omp.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "cpu/philox16.h"
#include "ops/seq_mask.h"
#include "ops/seq_onehot.h"
#include "ops/seq_tok.h"
#include "seq.h"

/* The work area: the row width at the front (where the CUDA backend keeps
 * its atomic maximum), then one plan per sample. */
#define WORK_HEAD 64

size_t bfdk_seq_work_bytes(int64_t n) { return WORK_HEAD + (size_t)(n > 0 ? n : 0) * sizeof(bfdk_seq_plan); }

/* N counting through a byte table of the N flag held in four registers:
 * VBMI's two-register byte permutes look up 128 entries each, the byte's
 * top bit picks between them. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) static int64_t count_n_vbmi(const int32_t *tab,
                                                                                   const uint8_t *src, int64_t n) {
  uint8_t lut[256];
  const __m512i flag = _mm512_set1_epi32(BFD_SEQ_F_N);
  for (int i = 0; i < 256; i += 16) {
    __mmask16 m = _mm512_test_epi32_mask(_mm512_loadu_si512((const void *)(tab + BFD_SEQ_TAB_FLAG + i)), flag);
    _mm_storeu_si128((__m128i *)(lut + i), _mm_maskz_mov_epi8(m, _mm_set1_epi8(1)));
  }
  const __m512i t0 = _mm512_loadu_si512((const void *)lut), t1 = _mm512_loadu_si512((const void *)(lut + 64));
  const __m512i t2 = _mm512_loadu_si512((const void *)(lut + 128)), t3 = _mm512_loadu_si512((const void *)(lut + 192));
  int64_t c = 0;
  for (int64_t i = 0; i < n; i += 64) {
    __mmask64 in = n - i >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (n - i)) - 1;
    __m512i x = _mm512_maskz_loadu_epi8(in, (const void *)(src + i));
    __m512i r = _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), _mm512_permutex2var_epi8(t0, x, t1),
                                       _mm512_permutex2var_epi8(t2, x, t3));
    c += __builtin_popcountll(_mm512_mask_test_epi8_mask(in, r, r));
  }
  return c;
}
#endif

int64_t bfdk_seq_count_n_cpu(const int32_t *tables, const uint8_t *src, int64_t n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vbmi"))
    return count_n_vbmi(tables, src, n);
#endif
  return bfd_seq_count_n(tables, src, 0, n, 1);
}

/* Plans row b into *pl; returns the row's length in tokens. */
static int32_t plan_sample(const bfdk_seq_params *p, const int32_t *tab, const bfdk_seq_input *in, int64_t b,
                           bfdk_seq_plan *pl) {
  uint64_t rec = in->record ? in->record[b] : (uint64_t)b;
  int64_t base = (int64_t)in->offsets[rec];
  int64_t len = (int64_t)in->offsets[rec + 1] - base;
  bfd_rng_key key = bfd_seq_key(in->seed, in->epoch, in->sample[b], 0);
  int64_t start = 0, n = len;
  int32_t redraws = 0;
  if (p->sample_mode != BFD_SEQ_RECORD) {
    uint64_t total = bfd_seq_record_windows(p, &in->regions, rec, len);
    uint64_t tile = in->tile ? in->tile[b] : 0;
    int32_t attempts = bfd_seq_attempts(p);
    int64_t best = 0, best_count = INT64_MAX;
    redraws = -1;
    for (int32_t a = 0; a < attempts; a++) {
      int64_t s = bfd_seq_window_start(p, &in->regions, rec, len, bfd_seq_window_idx(p, key, tile, total, a));
      if (attempts == 1) {
        best = s;
        redraws = 0;
        break;
      }
      int64_t m = bfd_seq_window_bytes(p, s, len);
      int64_t c = bfdk_seq_count_n_cpu(tab, in->data + base + s, m);
      if (bfd_seq_n_ok(p, c, m)) {
        best = s;
        redraws = a;
        break;
      }
      if (c < best_count) {
        best_count = c;
        best = s;
      }
    }
    start = bfd_seq_shifted(p, key, best, len);
    n = bfd_seq_window_bytes(p, start, len);
  }
  pl->src = base + start;
  pl->n = n;
  pl->start = start;
  pl->redraws = redraws;
  pl->rc = bfd_seq_rc_draw(p, key);
  if (p->tok == BFD_SEQ_TOK_NT)
    pl->total = bfd_seq_nt_total(bfd_seq_nt_piece(p, tab, in->data + pl->src, 0, n), p->k);
  else
    pl->total = bfd_seq_fixed_tokens(p, n);
  bfd_seq_plan_finish(p, key, pl);
  return pl->len;
}

static int32_t max32(int32_t a, int32_t b) { return a > b ? a : b; }

/* Ids are written once and read by someone else (the upload to the GPU,
 * the consumer): on x86-64, streaming stores skip reading each destination
 * line into the cache first, which more than doubles one core's write rate.
 * Not when the MLM pass reads the row straight back. */
static inline void put_id(int64_t *dst, int64_t v, int stream) {
#if defined(__x86_64__)
  if (stream) {
    _mm_stream_si64((long long *)dst, (long long)v);
    return;
  }
#endif
  *dst = v;
}

static inline void stream_fence(void) {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

/* Overlapping k-mers by a rolling index: each base is looked up once, and a
 * k-mer is unknown when the last non-ACGT base lies inside it. Same ids as
 * bfd_seq_kmer_at. */
static void kmer_rolling(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, const bfdk_seq_plan *pl,
                         int64_t *row, int stream) {
  const int32_t k = p->k;
  const uint32_t mask = (1u << (2 * k)) - 1u;
  const int64_t off = pl->keep_off, end = off + pl->keep_n + k - 1;
  if (pl->keep_n == 0) return;
  uint32_t idx = 0;
  int64_t last_bad = -1;
  for (int64_t i = off; i < end; i++) {
    int32_t d = bfd_seq_byte_flag(tab, pl->rc, bfd_seq_byte(src, pl->n, pl->rc, i)) & BFD_SEQ_F_DIGIT;
    if (d > 3) last_bad = i;
    idx = ((idx << 2) | (uint32_t)(d & 3)) & mask;
    int64_t t = i - (k - 1);
    if (t >= off) put_id(row + (t - off), last_bad >= t ? p->unk_id : tab[BFD_SEQ_TAB_KMER + idx], stream);
  }
}

/* Content ids of one row, starting at row[0]. */
static void content_ids(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, const bfdk_seq_plan *pl,
                        int64_t *row, uint8_t *soft, int stream) {
  const int64_t n = pl->n, off = pl->keep_off, keep = pl->keep_n;
  if (p->tok == BFD_SEQ_TOK_CHAR) {
    /* The hot loop of character tokenization: one branch-free loop per case. */
    const int32_t rc = pl->rc;
    const uint8_t *s = rc ? src + n - 1 - off : src + off;
    const int64_t step = rc ? -1 : 1;
    if (stream)
      for (int64_t i = 0; i < keep; i++) put_id(row + i, bfd_seq_byte_id(tab, rc, s[i * step]), 1);
    else
      for (int64_t i = 0; i < keep; i++) row[i] = bfd_seq_byte_id(tab, rc, s[i * step]);
  } else if (p->tok == BFD_SEQ_TOK_KMER && p->stride == 1) {
    kmer_rolling(p, tab, src, pl, row, stream);
  } else if (p->tok == BFD_SEQ_TOK_KMER) {
    for (int64_t i = 0; i < keep; i++) put_id(row + i, bfd_seq_fixed_id(p, tab, src, n, pl->rc, off + i), stream);
  } else {
    bfd_seq_nt_emit(p, tab, src, n, pl->rc, off, keep, row, soft);
  }
}

/* Philox draws draw0 .. draw0 + 7 for key k, word i of draw j in
 * out[i][j] (= bfd_rng4(k, draw0 + j).v[i]): eight counters at a time in
 * AVX2 lanes where the CPU has them (Random123's rounds and constants; a
 * draw costs about a quarter of the scalar one), else one by one. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void rng_block_avx2(bfd_rng_key k, uint32_t draw0, uint32_t out[4][8]) {
  const __m256i m0 = _mm256_set1_epi64x(PHILOX_M4x32_0), m1 = _mm256_set1_epi64x(PHILOX_M4x32_1);
  __m256i x0 = _mm256_add_epi32(_mm256_set1_epi32((int)draw0), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i x1 = _mm256_set1_epi32((int)k.op);
  __m256i x2 = _mm256_set1_epi32((int)(uint32_t)k.sample);
  __m256i x3 = _mm256_set1_epi32((int)((uint32_t)((k.sample >> 32) & 0xFFFFu) | (k.epoch << 16)));
  uint32_t k0 = (uint32_t)k.seed, k1 = (uint32_t)(k.seed >> 32);
  for (int r = 0; r < PHILOX4x32_DEFAULT_ROUNDS; r++) {
    if (r) {
      k0 += PHILOX_W32_0;
      k1 += PHILOX_W32_1;
    }
    /* 32 x 32 -> 64-bit products of the even lanes and of the odd lanes, split in halves */
    __m256i e0 = _mm256_mul_epu32(x0, m0), o0 = _mm256_mul_epu32(_mm256_srli_epi64(x0, 32), m0);
    __m256i e2 = _mm256_mul_epu32(x2, m1), o2 = _mm256_mul_epu32(_mm256_srli_epi64(x2, 32), m1);
    __m256i lo0 = _mm256_blend_epi32(e0, _mm256_slli_epi64(o0, 32), 0xAA);
    __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(e0, 32), o0, 0xAA);
    __m256i lo1 = _mm256_blend_epi32(e2, _mm256_slli_epi64(o2, 32), 0xAA);
    __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(e2, 32), o2, 0xAA);
    __m256i n0 = _mm256_xor_si256(_mm256_xor_si256(hi1, x1), _mm256_set1_epi32((int)k0));
    __m256i n2 = _mm256_xor_si256(_mm256_xor_si256(hi0, x3), _mm256_set1_epi32((int)k1));
    x0 = n0;
    x1 = lo1;
    x2 = n2;
    x3 = lo0;
  }
  _mm256_storeu_si256((__m256i *)out[0], x0);
  _mm256_storeu_si256((__m256i *)out[1], x1);
  _mm256_storeu_si256((__m256i *)out[2], x2);
  _mm256_storeu_si256((__m256i *)out[3], x3);
}
#endif

static void rng_block(bfd_rng_key k, uint32_t draw0, uint32_t out[4][8]) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2")) {
    rng_block_avx2(k, draw0, out);
    return;
  }
#endif
  for (uint32_t j = 0; j < 8; j++) {
    philox4x32_ctr_t r = bfd_rng4(k, draw0 + j);
    for (int i = 0; i < 4; i++) out[i][j] = r.v[i];
  }
}

void bfdk_seq_redraw_starts_cpu(const bfdk_seq_params *p, const bfdk_seq_regions *rg, uint64_t rec, int64_t len,
                                bfd_rng_key key, uint64_t total, int32_t first, int32_t n, int64_t starts[8]) {
  uint32_t w[4][8];
  key.op = BFD_RNG_REDRAW;
  rng_block(key, (uint32_t)(first - 1), w);
  for (int32_t j = 0; j < n && j < 8; j++) {
    philox4x32_ctr_t r = {{w[0][j], w[1][j], w[2][j], w[3][j]}};
    starts[j] = bfd_seq_window_start(p, rg, rec, len, bfd_seq_below64(r, total));
  }
}

/* MLM over one row's content [lo, hi). In span mode each centre is drawn
 * once: `recent` holds the last k centre draws, those that can reach the
 * current position (bfd_seq_mlm_picked decides the same, drawing each
 * neighbour again). */
static void mlm_row(const bfdk_seq_params *p, const int32_t *tab, bfd_rng_key kmlm, bfd_rng_key kspan, int64_t lo,
                    int64_t hi, int64_t width, int64_t *row, int64_t *lab) {
  for (int64_t pos = 0; pos < width; pos++) lab[pos] = BFD_SEQ_IGNORE_LABEL;
  if (p->mlm_p <= 0.0f) return;
  const int64_t ahead = (p->k - 1) / 2;
  const uint32_t window = (1u << p->k) - 1u;
  uint32_t recent = 0;
  if (p->mlm_span)
    for (int64_t c = lo; c < hi && c < lo + ahead; c++) recent = (recent << 1) | (uint32_t)bfd_seq_span_centre(p, kspan, c);
  for (int64_t pos = lo; pos < hi; pos++) {
    int32_t picked;
    if (p->mlm_span) {
      int64_t c = pos + ahead;
      recent = (recent << 1) | (uint32_t)(c < hi && bfd_seq_span_centre(p, kspan, c));
      picked = (recent & window) != 0;
    } else {
      picked = bfd_seq_mlm_picked(p, kmlm, kspan, pos, lo, hi);
    }
    if (picked) {
      lab[pos] = row[pos];
      row[pos] = bfd_seq_mlm_replace(p, tab, kmlm, pos, (int32_t)row[pos]);
    }
  }
}

/* Token MLM (not span): bfd_seq_mlm_picked's and bfd_seq_mlm_replace's
 * draw (the same one) for eight positions at a time. */
static void mlm_row_tokens(const bfdk_seq_params *p, const int32_t *tab, bfd_rng_key kmlm, int64_t lo, int64_t hi,
                           int64_t width, int64_t *row, int64_t *lab) {
  for (int64_t pos = 0; pos < width; pos++) lab[pos] = BFD_SEQ_IGNORE_LABEL;
  if (p->mlm_p <= 0.0f) return;
  for (int64_t pos = lo; pos < hi; pos += 8) {
    uint32_t w[4][8];
    rng_block(kmlm, (uint32_t)pos, w);
    for (int64_t j = 0; j < 8 && pos + j < hi; j++)
      if (bfd_u01(w[0][j]) < p->mlm_p) {
        philox4x32_ctr_t r = {{w[0][j], w[1][j], w[2][j], w[3][j]}};
        lab[pos + j] = row[pos + j];
        row[pos + j] = bfd_seq_mlm_replace_draw(p, tab, r, (int32_t)row[pos + j]);
      }
  }
}

/* Character rows, with token MLM (the DNA and protein pretraining path) or
 * without, in one pass over the row, 16 positions at a time in AVX-512
 * lanes: the ids by a gather from the byte table (the reverse complement
 * reads the bytes backwards and takes the rc half of the table), the MLM
 * draws for the 16 positions, the picks and replacements as lane masks, and
 * ids and labels each written once with streaming stores. u01 and its
 * comparisons are exact in float lanes (24-bit integers times 2^-24), so the
 * bits are those of mlm_row_tokens. Blocks that hold a special or the
 * content's edges take the content lanes' bytes with a masked load and blend
 * the specials and padding in. */
#if defined(__x86_64__) && defined(__GNUC__)
#define SEQ_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

/* rng_block_avx2 over sixteen counters: w[i] lane j = bfd_rng4(k, draw0 + j).v[i]. */
SEQ_AVX512 static void rng_block16(bfd_rng_key k, uint32_t draw0, __m512i w[4]) {
  bfdk_rng16(k,
             _mm512_add_epi32(_mm512_set1_epi32((int)draw0),
                              _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)),
             w);
}

SEQ_AVX512 static __m512 u01_16(__m512i w) {
  return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w, 8)), _mm512_set1_ps(1.0f / 16777216.0f));
}

/* Sixteen int32 lanes as int64 at dst, the lanes of `keep` only (the
 * row's last block) or all of them (64-byte aligned when streaming). */
SEQ_AVX512 static void put16(int64_t *dst, __m512i v, __mmask16 keep, int stream) {
  __m512i a = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(v));
  __m512i b = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(v, 1));
  if (keep != 0xFFFF) {
    _mm512_mask_storeu_epi64((void *)dst, (__mmask8)keep, a);
    _mm512_mask_storeu_epi64((void *)(dst + 8), (__mmask8)(keep >> 8), b);
  } else if (stream) {
    _mm512_stream_si512((void *)dst, a);
    _mm512_stream_si512((void *)(dst + 8), b);
  } else {
    _mm512_storeu_si512((void *)dst, a);
    _mm512_storeu_si512((void *)(dst + 8), b);
  }
}

/* Lanes lo <= i < hi of 16 (0 <= lo <= hi <= 16). */
static inline __mmask16 lanes(int64_t lo, int64_t hi) {
  return (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* Bytes of the content lanes [a, b) of block blk: lane i holds the byte of
 * content token t0 + i - a in reading order. A masked load reads only those
 * lanes' bytes, so its base may lie before the span: it is formed as an
 * integer, never dereferenced outside the lanes. */
SEQ_AVX512 static __m128i block_bytes(const uint8_t *src, int64_t n, int32_t rc, int64_t t0, int64_t a, int64_t b) {
  if (!rc) return _mm_maskz_loadu_epi8(lanes(a, b), (const void *)((uintptr_t)src + (uintptr_t)(t0 - a)));
  /* backwards: lane j of the reversed block reads byte low + j - (16 - b) */
  const int64_t low = n - t0 - (b - a);
  const __m128i reverse = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  __m128i r = _mm_maskz_loadu_epi8(lanes(16 - b, 16 - a), (const void *)((uintptr_t)src + (uintptr_t)(low - (16 - b))));
  return _mm_shuffle_epi8(r, reverse);
}

SEQ_AVX512 static void char_row_avx512(const bfdk_seq_params *p, const int32_t *tab, bfd_rng_key kmlm,
                                       const uint8_t *src, const bfdk_seq_plan *pl, int64_t width, int64_t *row,
                                       int64_t *lab) {
  const int64_t lo = p->begin_id >= 0, hi = lo + pl->keep_n, len = pl->len;
  const int32_t *ids_tab = tab + BFD_SEQ_TAB_ID + (pl->rc << 8);
  const int stream = (((uintptr_t)row | (uintptr_t)lab) & 63u) == 0;
  const int mlm = lab != NULL;
  const __m512 pick_p = _mm512_set1_ps(p->mlm_p), mask_p = _mm512_set1_ps(p->mlm_mask);
  const __m512 random_p = _mm512_set1_ps(p->mlm_mask + p->mlm_random);
  const __m512i ignore = _mm512_set1_epi32(BFD_SEQ_IGNORE_LABEL), mask_id = _mm512_set1_epi32(p->mask_id);
  const __m512i pad = _mm512_set1_epi32(p->pad_id), begin = _mm512_set1_epi32(p->begin_id);
  const __m512i end = _mm512_set1_epi32(p->end_id);
  for (int64_t blk = 0; blk < width; blk += 16) {
    const __mmask16 keep = lanes(0, width - blk < 16 ? width - blk : 16);
    if (blk >= len) {
      put16(row + blk, pad, keep, stream);
      if (mlm) put16(lab + blk, ignore, keep, stream);
      continue;
    }
    /* content lanes [a, b); the begin token at lane 0 of block 0, the end token at hi */
    const int64_t a = lo > blk ? (lo - blk < 16 ? lo - blk : 16) : 0;
    const int64_t b = hi > blk ? (hi - blk < 16 ? hi - blk : 16) : 0;
    const __mmask16 content = a < b ? lanes(a, b) : 0;
    __m512i id = pad;
    if (blk < lo) id = _mm512_mask_mov_epi32(id, lanes(0, a), begin);
    if (p->end_id >= 0 && hi >= blk && hi < blk + 16) id = _mm512_mask_mov_epi32(id, lanes(hi - blk, hi - blk + 1), end);
    if (content) {
      __m128i bytes = block_bytes(src, pl->n, pl->rc, pl->keep_off + blk + a - lo, a, b);
      id = _mm512_mask_i32gather_epi32(id, content, _mm512_cvtepu8_epi32(bytes), ids_tab, 4);
    }
    if (!mlm) {
      put16(row + blk, id, keep, stream);
      continue;
    }
    __m512i w[4];
    rng_block16(kmlm, (uint32_t)blk, w);
    __mmask16 pick = content & _mm512_cmp_ps_mask(u01_16(w[0]), pick_p, _CMP_LT_OQ);
    __m512 u = u01_16(w[1]);
    __mmask16 to_mask = pick & _mm512_cmp_ps_mask(u, mask_p, _CMP_LT_OQ);
    __mmask16 to_random = pick & (__mmask16)~to_mask & _mm512_cmp_ps_mask(u, random_p, _CMP_LT_OQ);
    __m512i out = _mm512_mask_mov_epi32(id, to_mask, mask_id);
    if (to_random) {
      int32_t v[16];
      uint32_t r2[16];
      _mm512_storeu_si512((void *)v, out);
      _mm512_storeu_si512((void *)r2, w[2]);
      for (unsigned m = to_random; m; m &= m - 1) {
        int j = __builtin_ctz(m);
        v[j] = tab[p->ord_off + (int32_t)bfd_below(r2[j], (uint32_t)p->n_ord)];
      }
      out = _mm512_loadu_si512((const void *)v);
    }
    put16(row + blk, out, keep, stream);
    put16(lab + blk, _mm512_mask_mov_epi32(ignore, pick, id), keep, stream);
  }
}

/* Character rows, with token MLM (labels) or without it. */
static int char_row_fast(const bfdk_seq_params *p, const int64_t *lab) {
  return p->tok == BFD_SEQ_TOK_CHAR && (!lab || (!p->mlm_span && p->mlm_p > 0.0f)) &&
         __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif

/* One-hot rows through the 16 possible values of a base's column bits,
 * stored once per call by the ops function (so in the output's dtype, with
 * the same rounding as the CUDA kernel). */
static void onehot_row(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, const bfdk_seq_plan *pl,
                       int64_t lo, int64_t hi, int64_t width, uint8_t *dst) {
  union {
    float f32[64];
    uint16_t f16[64];
  } values;
  const uint8_t *lut = (const uint8_t *)&values;
  const size_t es = p->onehot_dtype == BFD_SEQ_F32 ? 4 : 2;
  for (int32_t m = 0; m < 16; m++)
    for (int32_t c = 0; c < 4; c++)
      bfd_seq_onehot_store(p, &values, m * 4 + c, bfd_seq_onehot_value(p, m << BFD_SEQ_F_ONEHOT_SHIFT, c));
  for (int64_t pos = 0; pos < width; pos++) {
    uint32_t m = 0;
    if (pos >= lo && pos < hi) {
      int32_t f = bfd_seq_fixed_flags(p, tab, src, pl->n, pl->rc, pl->keep_off + pos - lo);
      m = ((uint32_t)f >> BFD_SEQ_F_ONEHOT_SHIFT) & 15u;
    }
    memcpy(dst + (size_t)pos * 4 * es, lut + m * 4 * es, 4 * es);
  }
}

/* Ids of one row without MLM's replacements: specials, content, padding. */
static void row_ids(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, const bfdk_seq_plan *pl,
                    int64_t width, int64_t *row, uint8_t *soft, int stream) {
  const int64_t lo = p->begin_id >= 0, hi = lo + pl->keep_n;
  const int64_t pad = p->pad_id;
  /* Every store to a row goes the same way: a cached store to a line that is
   * being streamed costs a read of the line and a flush. */
  if (lo) put_id(row, p->begin_id, stream);
  content_ids(p, tab, src, pl, row + lo, soft && p->tok == BFD_SEQ_TOK_NT ? soft + lo : NULL, stream);
  if (p->end_id >= 0) put_id(row + hi, p->end_id, stream);
  if (stream)
    for (int64_t pos = pl->len; pos < width; pos++) put_id(row + pos, pad, 1);
  else
    for (int64_t pos = pl->len; pos < width; pos++) row[pos] = pad;
}

static void emit_sample(const bfdk_seq_params *p, const int32_t *tab, const bfdk_seq_input *in,
                        const bfdk_seq_output *out, const bfdk_seq_plan *pl, int64_t b, int64_t width) {
  const uint8_t *src = in->data + pl->src;
  const int64_t lo = p->begin_id >= 0, hi = lo + pl->keep_n;
  /* NT rows are written by the shared ops walker with plain stores. */
  const int stream = out->labels == NULL && p->tok != BFD_SEQ_TOK_NT;
  int64_t *row = out->ids + b * width;
  int64_t *lab = out->labels ? out->labels + b * width : NULL;
  uint8_t *soft = out->softmask ? out->softmask + b * width : NULL;
  const bfd_rng_key kmlm = bfd_seq_key(in->seed, in->epoch, in->sample[b], BFD_RNG_MLM);
  int fused = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  fused = char_row_fast(p, lab);
  if (fused) char_row_avx512(p, tab, kmlm, src, pl, width, row, lab);
#endif
  if (!fused) row_ids(p, tab, src, pl, width, row, soft, stream);
  if (out->attn) {
    memset(out->attn + b * width, 1, (size_t)pl->len);
    memset(out->attn + b * width + pl->len, 0, (size_t)(width - pl->len));
  }
  if (soft) {
    for (int64_t pos = 0; pos < width; pos++) {
      if (pos >= lo && pos < hi) {
        if (p->tok != BFD_SEQ_TOK_NT)
          soft[pos] = (bfd_seq_fixed_flags(p, tab, src, pl->n, pl->rc, pl->keep_off + pos - lo) & BFD_SEQ_F_LOWER) != 0;
      } else {
        soft[pos] = 0;
      }
    }
  }
  if (lab && !fused && !p->mlm_span)
    mlm_row_tokens(p, tab, kmlm, lo, hi, width, row, lab);
  else if (lab && !fused)
    mlm_row(p, tab, kmlm, bfd_seq_key(in->seed, in->epoch, in->sample[b], BFD_RNG_SPAN), lo, hi, width, row, lab);
  if (out->onehot)
    onehot_row(p, tab, src, pl, lo, hi, width,
               (uint8_t *)out->onehot + (size_t)(b * width) * 4 * (p->onehot_dtype == BFD_SEQ_F32 ? 4 : 2));
  if (out->lengths) out->lengths[b] = pl->len;
  if (out->start) out->start[b] = pl->start;
  if (out->redraws) out->redraws[b] = pl->redraws;
  if (out->rc) out->rc[b] = (uint8_t)pl->rc;
}

bfd_status bfdk_seq_batch_check(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                                const bfdk_seq_output *out, const void *work, const int32_t *width) {
  if (!p || !tables || !in || !out || !work || !width)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: NULL params, tables, input, output, work or width");
  if (in->n < 0 || in->n > INT32_MAX)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: %lld samples (0..2^31-1)", (long long)in->n);
  if (in->n && (!in->data || !in->offsets || !in->sample || !out->ids))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: data, offsets, sample indices and the ids output are required");
  if (p->sample_mode == BFD_SEQ_WINDOW_TILED && in->n && !in->tile)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: tiled windows need each sample's tile number");
  if (p->mlm_p > 0.0f && !out->labels)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: MLM (mlm.p > 0) needs the labels output");
  if (out->onehot && p->tok != BFD_SEQ_TOK_CHAR)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "onehot: one-hot rows are per base; the tokenizer makes k-mers");
  if (in->regions.off && (!in->regions.start || !in->regions.end || !in->regions.cum))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sequence batch: BED regions are incomplete");
  return BFD_OK;
}

bfd_status bfdk_seq_batch_cpu(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                              const bfdk_seq_output *out, void *work, int32_t *width) {
  BFD_TRY(bfdk_seq_batch_check(p, tables, in, out, work, width));
  bfdk_seq_plan *plans = (bfdk_seq_plan *)((char *)work + WORK_HEAD);
  const int64_t n = in->n;
  int32_t longest = 0;
  /* libgomp makes a futex call per parallel region even for a team of one
   * (an if clause too): small batches on a pipeline thread of their own
   * notice it, so a team of one runs plain loops */
  if (omp_get_max_threads() > 1) {
#pragma omp parallel for schedule(dynamic, 8) reduction(max : longest)
    for (int64_t b = 0; b < n; b++) longest = max32(longest, plan_sample(p, tables, in, b, &plans[b]));
  } else {
    for (int64_t b = 0; b < n; b++) longest = max32(longest, plan_sample(p, tables, in, b, &plans[b]));
  }
  int64_t w = p->pad_longest ? (int64_t)(longest + 7) / 8 * 8 : p->max_len;
  /* Rows are streamed without a fence each (a fence waits for the row to
   * reach memory); every thread fences once, before the batch is handed on. */
  if (omp_get_max_threads() > 1) {
#pragma omp parallel
    {
#pragma omp for schedule(dynamic, 8)
      for (int64_t b = 0; b < n; b++) emit_sample(p, tables, in, out, &plans[b], b, w);
      stream_fence();
    }
  } else {
    for (int64_t b = 0; b < n; b++) emit_sample(p, tables, in, out, &plans[b], b, w);
    stream_fence();
  }
  *width = (int32_t)w;
  return BFD_OK;
}

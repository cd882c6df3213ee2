/* The CPU backend of the sequence ops: OpenMP over the samples of a batch,
 * each sample planned (window, N rejection, shift, reverse complement,
 * truncation) and then written row by row with the ops/ functions the CUDA
 * kernels call, so both backends give the same bits with any thread count. */
#include <limits.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "ops/seq_mask.h"
#include "ops/seq_onehot.h"
#include "ops/seq_tok.h"
#include "seq.h"

/* The work area: the row width at the front (where the CUDA backend keeps
 * its atomic maximum), then one plan per sample. */
#define WORK_HEAD 64

size_t bfdk_seq_work_bytes(int64_t n) { return WORK_HEAD + (size_t)(n > 0 ? n : 0) * sizeof(bfdk_seq_plan); }

static void plan_sample(const bfdk_seq_params *p, const int32_t *tab, const bfdk_seq_input *in, int64_t b,
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
      int64_t c = bfd_seq_count_n(tab, in->data + base + s, 0, m, 1);
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
}

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

static void emit_sample(const bfdk_seq_params *p, const int32_t *tab, const bfdk_seq_input *in,
                        const bfdk_seq_output *out, const bfdk_seq_plan *pl, int64_t b, int64_t width) {
  const uint8_t *src = in->data + pl->src;
  const int64_t nb = p->begin_id >= 0, lo = nb, hi = nb + pl->keep_n;
  /* NT rows are written by the shared ops walker with plain stores. */
  const int stream = out->labels == NULL && p->tok != BFD_SEQ_TOK_NT;
  int64_t *row = out->ids + b * width;
  uint8_t *soft = out->softmask ? out->softmask + b * width : NULL;
  const int64_t pad = p->pad_id;
  /* Every store to a row goes the same way: a cached store to a line that is
   * being streamed costs a read of the line and a flush. */
  if (nb) put_id(row, p->begin_id, stream);
  content_ids(p, tab, src, pl, row + lo, soft && p->tok == BFD_SEQ_TOK_NT ? soft + lo : NULL, stream);
  if (p->end_id >= 0) put_id(row + hi, p->end_id, stream);
  if (stream)
    for (int64_t pos = pl->len; pos < width; pos++) put_id(row + pos, pad, 1);
  else
    for (int64_t pos = pl->len; pos < width; pos++) row[pos] = pad;
  if (stream) stream_fence();
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
  if (out->labels && !p->mlm_span)
    mlm_row_tokens(p, tab, bfd_seq_key(in->seed, in->epoch, in->sample[b], BFD_RNG_MLM), lo, hi, width, row,
                   out->labels + b * width);
  else if (out->labels)
    mlm_row(p, tab, bfd_seq_key(in->seed, in->epoch, in->sample[b], BFD_RNG_MLM),
            bfd_seq_key(in->seed, in->epoch, in->sample[b], BFD_RNG_SPAN), lo, hi, width, row, out->labels + b * width);
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
#pragma omp parallel for schedule(dynamic, 8) reduction(max : longest)
  for (int64_t b = 0; b < n; b++) {
    plan_sample(p, tables, in, b, &plans[b]);
    if (plans[b].len > longest) longest = plans[b].len;
  }
  int64_t w = p->pad_longest ? (int64_t)(longest + 7) / 8 * 8 : p->max_len;
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t b = 0; b < n; b++) emit_sample(p, tables, in, out, &plans[b], b, w);
  *width = (int32_t)w;
  return BFD_OK;
}

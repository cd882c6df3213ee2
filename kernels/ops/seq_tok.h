/* Per-element tokenizer math: the id of content token t of a span (one byte,
 * a k-mer, or a Nucleotide Transformer token), its flags, how many tokens a
 * span makes, and where each token of a row comes from. All lookups go
 * through the table blob (ops/seq_params.h), so case handling and reverse
 * complement are folded into the tables rather than branched on here. */
#ifndef BFD_OPS_SEQ_TOK_H
#define BFD_OPS_SEQ_TOK_H

#include "ops/seq_params.h"

/* Byte i of the span as this sample reads it: from the end when reverse
 * complemented (the complement itself is in the rc half of the tables). */
BFD_OP uint8_t bfd_seq_byte(const uint8_t *src, int64_t n, int32_t rc, int64_t i) {
  return src[rc ? n - 1 - i : i];
}

BFD_OP int32_t bfd_seq_byte_id(const int32_t *tab, int32_t rc, uint8_t b) {
  return tab[BFD_SEQ_TAB_ID + (rc << 8) + b];
}

BFD_OP int32_t bfd_seq_byte_flag(const int32_t *tab, int32_t rc, uint8_t b) {
  return tab[BFD_SEQ_TAB_FLAG + (rc << 8) + b];
}

/* Content tokens a span of n bytes makes in CHAR and KMER modes (NT needs
 * the bytes: bfd_seq_nt_*). A span shorter than k makes none. */
BFD_OP int64_t bfd_seq_fixed_tokens(const bfdk_seq_params *p, int64_t n) {
  if (p->tok == BFD_SEQ_TOK_CHAR) return n;
  if (n < p->k) return 0;
  return (n - p->k) / p->stride + 1;
}

/* Id of the k-mer whose first base is byte i: unk if any base is not
 * A, C, G or T/U. */
BFD_OP int32_t bfd_seq_kmer_at(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, int64_t n,
                               int32_t rc, int64_t i) {
  uint32_t idx = 0;
  for (int32_t j = 0; j < p->k; j++) {
    int32_t d = bfd_seq_byte_flag(tab, rc, bfd_seq_byte(src, n, rc, i + j)) & BFD_SEQ_F_DIGIT;
    if (d > 3) return p->unk_id;
    idx = idx * 4u + (uint32_t)d;
  }
  return tab[BFD_SEQ_TAB_KMER + idx];
}

/* OR of the flags of bytes [i, i + w): a k-mer is soft-masked when any of
 * its bases is. */
BFD_OP int32_t bfd_seq_flags_or(const int32_t *tab, const uint8_t *src, int64_t n, int32_t rc, int64_t i,
                                int32_t w) {
  int32_t f = 0;
  for (int32_t j = 0; j < w; j++) f |= bfd_seq_byte_flag(tab, rc, bfd_seq_byte(src, n, rc, i + j));
  return f;
}

/* Content token t in CHAR and KMER modes. */
BFD_OP int32_t bfd_seq_fixed_id(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, int64_t n,
                                int32_t rc, int64_t t) {
  if (p->tok == BFD_SEQ_TOK_CHAR) return bfd_seq_byte_id(tab, rc, bfd_seq_byte(src, n, rc, t));
  return bfd_seq_kmer_at(p, tab, src, n, rc, t * p->stride);
}

BFD_OP int32_t bfd_seq_fixed_flags(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, int64_t n,
                                   int32_t rc, int64_t t) {
  if (p->tok == BFD_SEQ_TOK_CHAR) return bfd_seq_byte_flag(tab, rc, bfd_seq_byte(src, n, rc, t));
  return bfd_seq_flags_or(tab, src, n, rc, t * p->stride, p->k);
}

/* Nucleotide Transformer token counts. A run of r bases between Ns makes
 * r / k k-mers and r % k single-base tokens; each N is one token. Counting a
 * span in pieces (one per GPU thread) and combining the pieces in order
 * gives the same count as one pass: nt_sum is that combinable summary. */
typedef struct bfd_seq_nt_sum {
  int64_t has_n; /* the piece holds an N */
  int64_t left;  /* bases before its first N (all of them if none) */
  int64_t right; /* bases after its last N */
  int64_t inner; /* tokens fixed inside the piece: its Ns and the runs between them */
} bfd_seq_nt_sum;

BFD_OP int64_t bfd_seq_nt_run(int64_t r, int32_t k) { return r / k + r % k; }

/* Summary of bytes [lo, hi) of the span (forward order: N positions and so
 * the count are the same on both strands). */
BFD_OP bfd_seq_nt_sum bfd_seq_nt_piece(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, int64_t lo,
                                       int64_t hi) {
  bfd_seq_nt_sum s = {0, 0, 0, 0};
  int64_t run = 0;
  for (int64_t i = lo; i < hi; i++) {
    if (bfd_seq_byte_flag(tab, 0, src[i]) & BFD_SEQ_F_N) {
      if (s.has_n)
        s.inner += bfd_seq_nt_run(run, p->k);
      else
        s.left = run;
      s.has_n = 1;
      s.inner += 1;
      run = 0;
    } else {
      run++;
    }
  }
  if (s.has_n)
    s.right = run;
  else
    s.left = run;
  return s;
}

BFD_OP bfd_seq_nt_sum bfd_seq_nt_combine(bfd_seq_nt_sum a, bfd_seq_nt_sum b, int32_t k) {
  bfd_seq_nt_sum s;
  if (!a.has_n && !b.has_n) {
    s.has_n = 0;
    s.left = a.left + b.left;
    s.right = 0;
    s.inner = 0;
  } else if (!a.has_n) {
    s.has_n = 1;
    s.left = a.left + b.left;
    s.right = b.right;
    s.inner = b.inner;
  } else if (!b.has_n) {
    s.has_n = 1;
    s.left = a.left;
    s.right = a.right + b.left;
    s.inner = a.inner;
  } else {
    s.has_n = 1;
    s.left = a.left;
    s.right = b.right;
    s.inner = a.inner + b.inner + bfd_seq_nt_run(a.right + b.left, k);
  }
  return s;
}

BFD_OP int64_t bfd_seq_nt_total(bfd_seq_nt_sum s, int32_t k) {
  if (!s.has_n) return bfd_seq_nt_run(s.left, k);
  return bfd_seq_nt_run(s.left, k) + s.inner + bfd_seq_nt_run(s.right, k);
}

/* Writes the kept Nucleotide Transformer tokens of a span, in reading order
 * (reverse complemented or not): content token t goes to ids[t - keep_off]
 * for keep_off <= t < keep_off + keep_n, with its soft-mask bit in soft[]
 * (soft may be NULL). One pass over the span, stopping after the last kept
 * token. */
BFD_OP void bfd_seq_nt_emit(const bfdk_seq_params *p, const int32_t *tab, const uint8_t *src, int64_t n, int32_t rc,
                            int64_t keep_off, int64_t keep_n, int64_t *ids, uint8_t *soft) {
  const int32_t k = p->k;
  const int64_t stop = keep_off + keep_n;
  int64_t t = 0, i = 0;
  while (i < n && t < stop) {
    int32_t f = bfd_seq_byte_flag(tab, rc, bfd_seq_byte(src, n, rc, i));
    if (f & BFD_SEQ_F_N) {
      if (t >= keep_off) {
        ids[t - keep_off] = bfd_seq_byte_id(tab, rc, bfd_seq_byte(src, n, rc, i));
        if (soft) soft[t - keep_off] = (uint8_t)((f & BFD_SEQ_F_LOWER) != 0);
      }
      t++;
      i++;
      continue;
    }
    int64_t j = i + 1;
    while (j < n && !(bfd_seq_byte_flag(tab, rc, bfd_seq_byte(src, n, rc, j)) & BFD_SEQ_F_N)) j++;
    int64_t full = (j - i) / k;
    if (t + full <= keep_off) {
      t += full;
      i += full * k;
    } else {
      for (int64_t q = 0; q < full && t < stop; q++, t++, i += k) {
        if (t < keep_off) continue;
        ids[t - keep_off] = bfd_seq_kmer_at(p, tab, src, n, rc, i);
        if (soft) soft[t - keep_off] = (uint8_t)((bfd_seq_flags_or(tab, src, n, rc, i, k) & BFD_SEQ_F_LOWER) != 0);
      }
      if (t >= stop) break;
    }
    for (; i < j && t < stop; i++, t++) {
      if (t < keep_off) continue;
      uint8_t b = bfd_seq_byte(src, n, rc, i);
      ids[t - keep_off] = bfd_seq_byte_id(tab, rc, b);
      if (soft) soft[t - keep_off] = (uint8_t)((bfd_seq_byte_flag(tab, rc, b) & BFD_SEQ_F_LOWER) != 0);
    }
  }
}

/* What position pos of a row holds. */
enum { BFD_SEQ_POS_BEGIN = 0, BFD_SEQ_POS_CONTENT = 1, BFD_SEQ_POS_END = 2, BFD_SEQ_POS_PAD = 3 };

BFD_OP int32_t bfd_seq_pos_kind(const bfdk_seq_params *p, const bfdk_seq_plan *pl, int64_t pos) {
  int32_t nb = p->begin_id >= 0;
  if (pos >= pl->len) return BFD_SEQ_POS_PAD;
  if (pos < nb) return BFD_SEQ_POS_BEGIN;
  if (pos < nb + pl->keep_n) return BFD_SEQ_POS_CONTENT;
  return BFD_SEQ_POS_END;
}

/* Row id of a non-content position. */
BFD_OP int32_t bfd_seq_frame_id(const bfdk_seq_params *p, int32_t kind) {
  if (kind == BFD_SEQ_POS_BEGIN) return p->begin_id;
  if (kind == BFD_SEQ_POS_END) return p->end_id;
  return p->pad_id;
}

#endif

/* Per-position MLM masking (the BERT recipe): whether row position pos is
 * picked, and what a picked token becomes (mask / random ordinary token /
 * unchanged). A position's draws depend only on its row position, so any
 * thread can decide any position. Only content positions are ever picked:
 * specials and padding never are. */
#ifndef BFD_OPS_SEQ_MASK_H
#define BFD_OPS_SEQ_MASK_H

#include "ops/philox.h"
#include "ops/seq_params.h"

/* The Hugging Face label for positions that are not predicted. */
#define BFD_SEQ_IGNORE_LABEL (-100)

/* Span masking (DNABERT): a centre at c masks positions
 * c - (k - 1) / 2 .. c + k / 2, the k overlapping k-mers that share c's
 * middle bases, clipped to the content [lo, hi). */
BFD_OP int32_t bfd_seq_span_centre(const bfdk_seq_params *p, bfd_rng_key kspan, int64_t c) {
  return bfd_u01(bfd_rng4(kspan, (uint32_t)c).v[0]) < p->mlm_p;
}

BFD_OP int32_t bfd_seq_mlm_picked(const bfdk_seq_params *p, bfd_rng_key kmlm, bfd_rng_key kspan, int64_t pos,
                                  int64_t lo, int64_t hi) {
  if (p->mlm_p <= 0.0f || pos < lo || pos >= hi) return 0;
  if (!p->mlm_span) return bfd_u01(bfd_rng4(kmlm, (uint32_t)pos).v[0]) < p->mlm_p;
  int64_t c0 = pos - p->k / 2, c1 = pos + (p->k - 1) / 2;
  if (c0 < lo) c0 = lo;
  if (c1 > hi - 1) c1 = hi - 1;
  for (int64_t c = c0; c <= c1; c++)
    if (bfd_seq_span_centre(p, kspan, c)) return 1;
  return 0;
}

/* What a picked token with original id becomes, given the position's draw
 * r = bfd_rng4(kmlm, pos) (the one that picked it). */
BFD_OP int32_t bfd_seq_mlm_replace_draw(const bfdk_seq_params *p, const int32_t *tab, philox4x32_ctr_t r, int32_t id) {
  float u = bfd_u01(r.v[1]);
  if (u < p->mlm_mask) return p->mask_id;
  if (u < p->mlm_mask + p->mlm_random) return tab[p->ord_off + (int32_t)bfd_below(r.v[2], (uint32_t)p->n_ord)];
  return id;
}

BFD_OP int32_t bfd_seq_mlm_replace(const bfdk_seq_params *p, const int32_t *tab, bfd_rng_key kmlm, int64_t pos,
                                   int32_t id) {
  return bfd_seq_mlm_replace_draw(p, tab, bfd_rng4(kmlm, (uint32_t)pos), id);
}

#endif

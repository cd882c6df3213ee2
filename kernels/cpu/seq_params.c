/* Defaults for the sequence op settings and the checks that run once, on
 * the host, before any batch: kernels cannot report errors, so every
 * combination they could not handle is refused here, naming the config key. */
#include <math.h>

#include "core/error.h"
#include "seq.h"

void bfdk_seq_params_init(bfdk_seq_params *p, const bfdk_seq_vocab *v) {
  p->tok = v->tok;
  p->k = v->k;
  p->stride = v->stride;
  p->ord_off = BFD_SEQ_TAB_KMER + (v->tok == BFD_SEQ_TOK_CHAR ? 0 : 1 << (2 * v->k));
  p->n_ord = v->n_ord;
  p->unk_id = v->unk;
  p->pad_id = v->pad;
  p->mask_id = v->mask;
  p->begin_id = v->begin;
  p->end_id = v->end;
  p->sample_mode = BFD_SEQ_RECORD;
  p->window = 0;
  p->tile_stride = 0;
  p->max_n_frac = 1.0;
  p->max_attempts = 16;
  p->shift = 0;
  p->rc_p = 0.0f;
  p->max_len = 512;
  p->pad_longest = 0;
  p->truncation = BFD_SEQ_TRUNC_RIGHT;
  p->mlm_p = 0.0f;
  p->mlm_mask = 0.8f;
  p->mlm_random = 0.1f;
  p->mlm_span = 0;
  p->onehot_dtype = BFD_SEQ_F32;
  p->onehot_uniform = 0;
}

static int prob_ok(double x) { return isfinite(x) && x >= 0.0 && x <= 1.0; }

bfd_status bfdk_seq_params_check(const bfdk_seq_params *p, const bfdk_seq_vocab *v, int32_t case_mode) {
  if (!p || !v) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_params_check: NULL argument");
  const char *name = v->name;
  int protein = v->alphabet == BFDK_SEQ_PROTEIN;
  if (p->tok != v->tok || p->k != v->k || p->stride != v->stride || p->n_ord != v->n_ord)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "tokenizer: settings were made for another vocabulary than %s", name);
  if (p->pad_id < 0 || p->pad_id >= v->size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "tokenizer %s: no padding token", name);
  if (p->begin_id < -1 || p->begin_id >= v->size || p->end_id < -1 || p->end_id >= v->size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "specials: begin id %d or end id %d is not in vocabulary %s (0..%d)",
                     (int)p->begin_id, (int)p->end_id, name, (int)v->size - 1);
  int32_t specials = (p->begin_id >= 0) + (p->end_id >= 0);
  if (p->max_len <= specials || p->max_len > (1 << 30))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "max_len: %d; it must leave room for a token beside the %d special(s), up to 2^30",
                     (int)p->max_len, (int)specials);
  if (p->truncation < BFD_SEQ_TRUNC_RIGHT || p->truncation > BFD_SEQ_TRUNC_RANDOM)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "truncation: %d is not right, left or random", (int)p->truncation);
  if (case_mode == BFD_SEQ_CASE_N && protein)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "case: n turns lowercase into N, a nucleotide; tokenizer %s is protein (use upper or softmask)",
                     name);
  if (p->sample_mode < BFD_SEQ_RECORD || p->sample_mode > BFD_SEQ_WINDOW_TILED)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "window.mode: %d is not random or tiled", (int)p->sample_mode);
  if (p->sample_mode != BFD_SEQ_RECORD) {
    if (p->window < 1 || p->window > ((int64_t)1 << 40))
      return bfdi_fail(BFD_ERR_INVALID_ARG, "window.length: %lld; it must be 1..2^40 bases", (long long)p->window);
    if (p->sample_mode == BFD_SEQ_WINDOW_TILED && p->tile_stride < 1)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "window.stride: %lld; tiled windows need a stride of at least 1 base",
                       (long long)p->tile_stride);
  } else if (p->shift != 0) {
    return bfdi_fail(BFD_ERR_INVALID_ARG, "shift: %d, but samples are whole records; shifting needs window mode (window.length)",
                     (int)p->shift);
  }
  if (!(p->max_n_frac >= 0.0 && p->max_n_frac <= 1.0))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "window.max_n_frac: %g; it must be in [0, 1] (1: off)", p->max_n_frac);
  if (p->max_n_frac < 1.0 && protein)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "window.max_n_frac: N rejection is for nucleotides; tokenizer %s is protein", name);
  if (p->max_attempts < 1 || p->max_attempts > 1000)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "window.max_attempts: %d; it must be 1..1000", (int)p->max_attempts);
  if (p->shift < 0 || p->shift > (1 << 30))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "shift: %d; it must be 0..2^30 bases", (int)p->shift);
  if (!prob_ok(p->rc_p)) return bfdi_fail(BFD_ERR_INVALID_ARG, "rc: %g is not a probability in [0, 1]", (double)p->rc_p);
  if (p->rc_p > 0.0f && protein)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "rc: reverse complement needs a nucleotide tokenizer; %s is protein", name);
  if (!prob_ok(p->mlm_p)) return bfdi_fail(BFD_ERR_INVALID_ARG, "mlm.p: %g is not a probability in [0, 1]", (double)p->mlm_p);
  if (!prob_ok(p->mlm_mask) || !prob_ok(p->mlm_random) || p->mlm_mask + p->mlm_random > 1.0f)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "mlm.mask %g and mlm.random %g: each in [0, 1] and together at most 1",
                     (double)p->mlm_mask, (double)p->mlm_random);
  if (p->mlm_p > 0.0f) {
    if (p->mlm_mask > 0.0f && p->mask_id < 0)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "mlm: tokenizer %s has no mask token (use a vocabulary file with <mask>)", name);
    if (p->mlm_random > 0.0f && p->n_ord < 1)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "mlm.random: tokenizer %s has no ordinary tokens to draw from", name);
  }
  if (p->mlm_span && !(p->tok == BFD_SEQ_TOK_KMER && p->stride == 1))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "mlm.span: span masking is for overlapping k-mers (stride 1); tokenizer %s is not",
                     name);
  if (p->onehot_dtype < BFD_SEQ_F32 || p->onehot_dtype > BFD_SEQ_BF16)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "onehot.dtype: %d is not float32, float16 or bfloat16", (int)p->onehot_dtype);
  return BFD_OK;
}

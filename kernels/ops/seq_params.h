/* The plain-data settings of the sequence ops and the per-sample plan they
 * compute: passed by value to CUDA kernels and read by the CPU loops, so
 * they hold numbers only (no host pointers). kernels/seq.h builds on them. */
#ifndef BFD_OPS_SEQ_PARAMS_H
#define BFD_OPS_SEQ_PARAMS_H

#include "ops/common.h"

/* How the bytes of a sample become tokens. */
enum {
  BFD_SEQ_TOK_CHAR = 0, /* one token per byte, through a 256-entry table */
  BFD_SEQ_TOK_KMER = 1, /* k-mers every `stride` bases (DNABERT: stride 1) */
  BFD_SEQ_TOK_NT = 2    /* Nucleotide Transformer: split at N, k-mers, remainder as single bases */
};

/* Soft-masked (lowercase) input. */
enum {
  BFD_SEQ_CASE_UPPER = 0,    /* uppercase it (the default) */
  BFD_SEQ_CASE_SOFTMASK = 1, /* uppercase it and report it in the per-token soft-mask output */
  BFD_SEQ_CASE_N = 2         /* turn it into N (nucleotide alphabets only) */
};

enum { BFD_SEQ_TRUNC_RIGHT = 0, BFD_SEQ_TRUNC_LEFT = 1, BFD_SEQ_TRUNC_RANDOM = 2 };

/* What a sample is: a whole record, or a window of one. */
enum { BFD_SEQ_RECORD = 0, BFD_SEQ_WINDOW_RANDOM = 1, BFD_SEQ_WINDOW_TILED = 2 };

enum { BFD_SEQ_F32 = 0, BFD_SEQ_F16 = 1, BFD_SEQ_BF16 = 2 };

/* Layout of the int32 table blob built by bfdk_seq_tables_build (kernels/seq.h):
 * token id of each byte on the forward and reverse-complement strand, flags
 * of each byte on both strands, then the 4^k k-mer ids (k-mode and NT only),
 * then the ordinary ids that MLM's random replacement draws from. */
#define BFD_SEQ_TAB_ID 0
#define BFD_SEQ_TAB_FLAG 512
#define BFD_SEQ_TAB_KMER 1024

/* Flag bits of a byte (after case handling and, on the reverse strand,
 * complementing). */
#define BFD_SEQ_F_DIGIT 7          /* bits 0-2: A=0 C=1 G=2 T/U=3, 4: anything else */
#define BFD_SEQ_F_N (1 << 3)       /* N: splits NT tokens, counts against max_n_frac */
#define BFD_SEQ_F_LOWER (1 << 4)   /* the input byte was lowercase (soft-masked) */
#define BFD_SEQ_F_ONEHOT_SHIFT 5   /* bits 5-8: which of A, C, G, T the IUPAC code stands for */

typedef struct bfdk_seq_params {
  /* Tokenizer, from the vocabulary (bfdk_seq_params_set_vocab). */
  int32_t tok;      /* BFD_SEQ_TOK_* */
  int32_t k;        /* k-mer length (KMER, NT) */
  int32_t stride;   /* bases between k-mer starts (KMER) */
  int32_t n_ord;    /* ordinary ids after the k-mer table (MLM random replacement) */
  int32_t ord_off;  /* where they start in the table blob */
  int32_t unk_id, pad_id, mask_id;
  int32_t begin_id; /* first token of a row (CLS/BOS), -1 for none */
  int32_t end_id;   /* after the content (EOS/SEP), -1 for none */

  /* What a sample is. */
  int32_t sample_mode;  /* BFD_SEQ_RECORD or BFD_SEQ_WINDOW_* */
  int64_t window;       /* window length in bases */
  int64_t tile_stride;  /* bases between tiled windows */
  double max_n_frac;    /* reject windows with more N than this fraction (>= 1: off) */
  int32_t max_attempts; /* draws per window before keeping the one with the fewest N */
  int32_t shift;        /* window start moved by a uniform draw in [-shift, shift] */
  float rc_p;           /* probability of reverse complement */

  /* Row shape. */
  int32_t max_len;      /* tokens per row, specials included */
  int32_t pad_longest;  /* 1: rows padded to the longest in the batch rounded up to 8 */
  int32_t truncation;   /* BFD_SEQ_TRUNC_* */

  /* MLM. */
  float mlm_p;       /* probability a content token (span mode: a span centre) is picked */
  float mlm_mask;    /* of the picked: replaced by mask_id (0.8) */
  float mlm_random;  /* of the picked: replaced by a random ordinary id (0.1) */
  int32_t mlm_span;  /* 1: a pick masks the k tokens sharing its bases (overlapping k-mers) */

  /* One-hot output. */
  int32_t onehot_dtype;    /* BFD_SEQ_F32, F16 or BF16 */
  int32_t onehot_uniform;  /* 1: ambiguity codes spread 1/n over their bases (N: 0.25); 0: zeros */
} bfdk_seq_params;

/* Where one sample's content comes from and how much of it is kept: the
 * first op (plan) computes it, the others read it. */
typedef struct bfdk_seq_plan {
  int64_t src;      /* byte offset of the span in the batch data */
  int64_t n;        /* bytes in the span */
  int64_t start;    /* span start within its record */
  int64_t total;    /* content tokens the span makes */
  int64_t keep_off; /* first content token kept after truncation */
  int32_t keep_n;   /* content tokens kept */
  int32_t len;      /* tokens in the row: specials + keep_n */
  int32_t rc;       /* 1: reverse complemented */
  int32_t redraws;  /* windows redrawn for N; -1: none passed, fewest-N kept */
} bfdk_seq_plan;

#endif

/* The sequence ops' batch-level C API, what the pipeline calls: vocabularies
 * (presets and user files), the table blob they compile to, BED regions, and
 * one fused call per batch that turns variable-length records into
 * fixed-shape rows, on the CPU (OpenMP) or on a CUDA stream. The CPU and CUDA
 * calls produce the same bits, whatever the thread count.
 *
 * Outputs, for B samples and rows of width W (max_len, or with pad_longest the
 * longest row of the batch rounded up to 8, at most roundup8(max_len)):
 *   ids      int64 [B, W]  token ids (int64: what PyTorch embeddings and HF take)
 *   attn     uint8 [B, W]  1 for tokens, 0 for padding (padding is on the right)
 *   lengths  int32 [B]     tokens in each row, specials included
 *   labels   int64 [B, W]  MLM: the original id where a token was picked, -100 elsewhere
 *   softmask uint8 [B, W]  1 where a token came from lowercase (soft-masked) bases
 *   onehot   [B, W, 4]     A, C, G, T (character tokenizers of nucleotides only), float32,
 *                          float16 or bfloat16 (stored as uint16); zeros at specials and
 *                          padding; the sequence before MLM
 *   start    int64 [B]     where the sample's bytes start in its record
 *   redraws  int32 [B]     windows redrawn for N; -1 when no draw passed max_n_frac
 *                          (then the window with the fewest N is used)
 *   rc       uint8 [B]     1 if the sample was reverse complemented
 * Every output but ids may be NULL.
 *
 * Rules, the same on both backends:
 *   - A row is [begin] content [end] then padding; truncation (right, left or
 *     a random crop) cuts content tokens only, never the specials.
 *   - Random draws are Philox keyed by (seed, epoch, global sample index, op):
 *     WINDOW (start), REDRAW (N rejection), SHIFT, RC, TRUNCATE, MLM and SPAN
 *     (per row position), so a sample's row does not depend on its batch.
 *   - Windows: a record no longer than the window is the whole window and the
 *     row is padded (it is not redrawn). N rejection draws up to max_attempts
 *     windows of the same record and keeps the first with at most max_n_frac
 *     N (after case handling); when none passes it keeps the one with the
 *     fewest N (the earliest of equals) and reports redraws = -1. Tiled
 *     windows cover their record: the last tile ends at the record's end. A
 *     BED region shorter than the window holds one window, at its start. The
 *     shift moves a start by a uniform draw in [-shift, shift], kept inside
 *     the record (so up to shift bases outside its BED region).
 *   - Reverse complement is IUPAC-aware (A/T, C/G, R/Y, K/M, B/V, D/H; S, W, N
 *     are their own; U for RNA) and keeps case; other bytes stay as they are.
 *   - A k-mer, and its soft-mask bit, covers its k bases: unknown if any is not
 *     A/C/G/T(U), soft-masked if any is lowercase.
 *   - MLM never picks specials or padding; a picked token becomes mask (mlm_mask),
 *     a random ordinary id (mlm_random) or stays, and its label is the original id. */
#ifndef BFD_KERNELS_SEQ_H
#define BFD_KERNELS_SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "biofeed/biofeed.h"
#include "ops/seq_params.h"
#include "ops/seq_window.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which complement table and which options apply. */
enum { BFDK_SEQ_DNA = 0, BFDK_SEQ_RNA = 1, BFDK_SEQ_PROTEIN = 2, BFDK_SEQ_BYTES = 3 };

#define BFDK_SEQ_MAX_K 8

/* A vocabulary: how bytes and k-mers map to ids, and its special tokens
 * (-1 where it has none). */
typedef struct bfdk_seq_vocab {
  char name[32];        /* preset name, or "vocabulary file" */
  int32_t tok;          /* BFD_SEQ_TOK_* */
  int32_t k, stride;    /* KMER and NT modes */
  int32_t alphabet;     /* BFDK_SEQ_* */
  int32_t size;         /* ids are 0 .. size - 1 */
  int32_t byte_id[256]; /* id of an (uppercased) byte; -1: not in the vocabulary */
  int32_t *kmer;        /* [4^k], index sum d_i 4^(k-1-i) with A=0 C=1 G=2 T=3; -1: absent */
  int32_t *ord;         /* the ordinary ids MLM's random replacement draws from */
  int32_t n_ord;
  int32_t unk, pad, mask, cls, sep, bos, eos;
  int32_t begin, end;   /* the specials a row gets by default */
} bfdk_seq_vocab;

/* Presets (ids exactly as the published tokenizers):
 *   "dna"      [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4 A5 C6 G7 T8 N9 R10 Y11 S12 W13 K14 M15
 *              B16 D17 H18 V19 -20; no specials added by default
 *   "rna"      the same with U8 in place of T
 *   "esm2"     <cls>0 <pad>1 <eos>2 <unk>3 L A G V S E R T I D P K Q N F Y M H W C X B U Z O
 *              (4..28) .29 -30 <null_1>31 <mask>32; rows are <cls> ... <eos>
 *   "hyenadna" [CLS]0 [SEP]1 [BOS]2 [MASK]3 [PAD]4 [RESERVED]5 [UNK]6 A7 C8 G9 T10 N11;
 *              rows end with [SEP]
 *   "dnabert"  [PAD]0 [UNK]1 [CLS]2 [SEP]3 [MASK]4, then the 4^k k-mers in A,T,C,G order
 *              (k = 3..6), overlapping (stride 1); rows are [CLS] ... [SEP]
 *   "nt"       <unk>0 <pad>1 <mask>2 <cls>3, the 4096 6-mers in A,T,C,G order, A T C G N
 *              (4100..4104), <eos>4105 <bos>4106; split at N; rows start with <cls>
 *   "byte"     the raw byte values (Evo); padding is 1 and end of text 0, as Evo's
 *              tokenizer has them; no mask token, so no MLM
 * k is read by "dnabert" only. Bytes outside a preset's alphabet become its
 * unknown token (dna, rna, esm2, hyenadna, nt; for dnabert and nt, a k-mer
 * with any base other than A C G T). */
bfd_status bfdk_seq_vocab_preset(const char *name, int32_t k, bfdk_seq_vocab *v);

/* A vocabulary file's text: one token per line, id = line number from 0.
 * Specials are recognised by name (<pad> or [PAD], likewise unk, cls, sep,
 * bos, eos, mask; a padding and an unknown token are required); single-byte
 * tokens map bytes, and in KMER/NT modes tokens of k bases (A C G T, or U)
 * map k-mers. Blank lines (gaps) and repeated tokens are errors naming the
 * line; `what` (the file name) starts every message. */
bfd_status bfdk_seq_vocab_parse(const char *text, size_t n, const char *what, int32_t tok, int32_t k,
                                int32_t stride, int32_t alphabet, bfdk_seq_vocab *v);

void bfdk_seq_vocab_free(bfdk_seq_vocab *v);

/* Default settings (record mode, no augmentation, no MLM, max_len 512) with
 * the vocabulary's tokenizer and default specials. */
void bfdk_seq_params_init(bfdk_seq_params *p, const bfdk_seq_vocab *v);

/* Checks the settings against each other and the vocabulary; messages name
 * the setting as a config key (e.g. "mlm.p"). */
bfd_status bfdk_seq_params_check(const bfdk_seq_params *p, const bfdk_seq_vocab *v, int32_t case_mode);

/* The int32 table blob (layout in ops/seq_params.h) for a vocabulary and a
 * case mode (BFD_SEQ_CASE_*); *count ints, malloc'd. The CPU call reads it
 * where it is, the CUDA call from a device copy (bfdk_seq_cuda_upload). */
bfd_status bfdk_seq_tables_build(const bfdk_seq_vocab *v, int32_t case_mode, int32_t **tables, size_t *count);

/* BED intervals (chrom, start, end; 0-based, end exclusive) parsed from a
 * file's text. Comment (#), track and browser lines are skipped. */
typedef struct bfdk_seq_bed {
  size_t n;
  char **chrom;
  int64_t *start, *end;
  uint64_t *line; /* 1-based line of each interval, for messages */
} bfdk_seq_bed;

bfd_status bfdk_seq_bed_parse(const char *text, size_t n, const char *what, bfdk_seq_bed *bed);
void bfdk_seq_bed_free(bfdk_seq_bed *bed);

/* BED intervals resolved against a batch's records for one window setting:
 * intervals of the same record are sorted and merged, then counted in
 * windows of the params' mode (random starts or tiles). A record is named by
 * the first word of its name. Intervals on chromosomes that no record has
 * are left out (*unmatched counts them); one reaching past its record's end
 * is an error naming its line. */
typedef struct bfdk_seq_regions_owned {
  bfdk_seq_regions view; /* what the batch call takes (host pointers) */
  uint64_t *off, *cum;
  int64_t *start, *end;
  size_t n;              /* regions after merging */
} bfdk_seq_regions_owned;

bfd_status bfdk_seq_regions_resolve(const bfdk_seq_bed *bed, const char *what, const char *const *names,
                                    const uint64_t *lengths, uint64_t n_records, const bfdk_seq_params *p,
                                    bfdk_seq_regions_owned *out, size_t *unmatched);
void bfdk_seq_regions_free(bfdk_seq_regions_owned *r);

/* A batch: records as bytes plus offsets (as /seq/data and /seq/offsets),
 * and per sample its record, its global sample index and, for tiled windows,
 * its window number within the record (or within its BED regions; see
 * bfd_seq_record_windows in ops/seq_window.h for the count; numbers past it
 * wrap around). */
typedef struct bfdk_seq_input {
  const uint8_t *data;
  const uint64_t *offsets; /* [n_records + 1] */
  uint64_t n_records;
  const uint64_t *record;  /* [n], or NULL: sample b is record b */
  const uint64_t *sample;  /* [n] global sample index */
  const uint64_t *tile;    /* [n] tiled windows; NULL otherwise */
  bfdk_seq_regions regions; /* all NULL: windows anywhere in the record */
  int64_t n;
  uint64_t seed;
  uint32_t epoch;
} bfdk_seq_input;

typedef struct bfdk_seq_output {
  int64_t *ids;
  uint8_t *attn;
  int32_t *lengths;
  int64_t *labels;
  uint8_t *softmask;
  void *onehot;
  int64_t *start;
  int32_t *redraws;
  uint8_t *rc;
} bfdk_seq_output;

/* Scratch the batch call needs for n samples (host memory for the CPU call,
 * device memory for the CUDA call). */
size_t bfdk_seq_work_bytes(int64_t n);

/* bfd_seq_count_n(tables, src, 0, n, 1) on the host: N bytes among src[0, n),
 * 64 at a time where the CPU has AVX-512 VBMI. */
int64_t bfdk_seq_count_n_cpu(const int32_t *tables, const uint8_t *src, int64_t n);

/* Window starts of N-rejection attempts first .. first + n - 1 of a sample
 * (n <= 8; first >= 1): bfd_seq_window_start of bfd_seq_window_idx for each,
 * their eight REDRAW draws computed together. */
void bfdk_seq_redraw_starts_cpu(const bfdk_seq_params *p, const bfdk_seq_regions *rg, uint64_t rec, int64_t len,
                                bfd_rng_key key, uint64_t total, int32_t first, int32_t n, int64_t starts[8]);

/* The checks both backends run on the host before a batch: what a kernel
 * could not report (missing arrays, outputs the settings need). */
bfd_status bfdk_seq_batch_check(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                                const bfdk_seq_output *out, const void *work, const int32_t *width);

/* Runs the ops on a batch; *width gets the row width W. All pointers are
 * host memory. */
bfd_status bfdk_seq_batch_cpu(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                              const bfdk_seq_output *out, void *work, int32_t *width);

#if BFD_CUDA || defined(__CUDACC__)
/* The same on a CUDA stream (a cudaStream_t; NULL for the default stream):
 * tables, every input array and every output are device memory; p, in and
 * out themselves are host structs. Returns after the kernels are queued,
 * except that pad_longest waits for the row width. */
bfd_status bfdk_seq_batch_cuda(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                               const bfdk_seq_output *out, void *work, int32_t *width, void *stream);

/* Device memory for C callers that do not include the CUDA headers: a
 * device copy of n host bytes (tables, regions), a copy back, and free. */
bfd_status bfdk_seq_cuda_upload(const void *host, size_t n, void **dev);
bfd_status bfdk_seq_cuda_download(void *host, const void *dev, size_t n);
bfd_status bfdk_seq_cuda_alloc(size_t n, void **dev);
void bfdk_seq_cuda_free(void *dev);
#endif

#ifdef __cplusplus
}
#endif

#endif

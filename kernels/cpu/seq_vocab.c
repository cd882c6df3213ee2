/* Vocabularies for the sequence tokenizers: the published presets (ESM-2,
 * HyenaDNA, DNABERT, Nucleotide Transformer, byte level, DNA/RNA with IUPAC
 * codes), user vocabulary files, and their compilation into the table blob
 * the CPU loops and CUDA kernels read (case handling and the reverse
 * complement folded in). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "seq.h"

static int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static int to_upper(int c) { return is_lower(c) ? c - 'a' + 'A' : c; }
static int is_letter(int c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }

static void vocab_blank(bfdk_seq_vocab *v, const char *name, int32_t tok, int32_t alphabet) {
  memset(v, 0, sizeof *v);
  snprintf(v->name, sizeof v->name, "%s", name);
  v->tok = tok;
  v->k = 1;
  v->stride = 1;
  v->alphabet = alphabet;
  for (int i = 0; i < 256; i++) v->byte_id[i] = -1;
  v->unk = v->pad = v->mask = v->cls = v->sep = v->bos = v->eos = -1;
  v->begin = v->end = -1;
}

static bfd_status ord_range(bfdk_seq_vocab *v, int32_t lo, int32_t n) {
  v->ord = malloc((size_t)n * sizeof *v->ord);
  if (!v->ord) return bfdi_fail(BFD_ERR_NOMEM, "vocabulary %s: out of memory", v->name);
  for (int32_t i = 0; i < n; i++) v->ord[i] = lo + i;
  v->n_ord = n;
  return BFD_OK;
}

static void map_chars(bfdk_seq_vocab *v, const char *chars, int32_t first) {
  for (int32_t i = 0; chars[i]; i++) v->byte_id[(uint8_t)chars[i]] = first + i;
}

/* Fills the k-mer table with ids base + (rank of the k-mer when all k-mers
 * are listed in the given base order, e.g. "ATCG"). */
static bfd_status kmers_in_order(bfdk_seq_vocab *v, int32_t k, const char *order, int32_t base) {
  static const char acgt[] = "ACGT";
  int32_t rank_of[4];
  for (int d = 0; d < 4; d++) rank_of[d] = (int32_t)(strchr(order, acgt[d]) - order);
  size_t n = (size_t)1 << (2 * k);
  v->kmer = malloc(n * sizeof *v->kmer);
  if (!v->kmer) return bfdi_fail(BFD_ERR_NOMEM, "vocabulary %s: out of memory for %zu k-mers", v->name, n);
  for (size_t idx = 0; idx < n; idx++) {
    int32_t r = 0;
    for (int32_t j = k - 1; j >= 0; j--) r = r * 4 + rank_of[(idx >> (2 * j)) & 3];
    v->kmer[idx] = base + r;
  }
  v->k = k;
  return BFD_OK;
}

static const char esm2_tokens[] = "LAGVSERTIDPKQNFYMHWCXBUZO.-";

bfd_status bfdk_seq_vocab_preset(const char *name, int32_t k, bfdk_seq_vocab *v) {
  if (!name || !v) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_vocab_preset: name or v is NULL");
  bfd_status st = BFD_OK;
  if (!strcmp(name, "dna") || !strcmp(name, "rna")) {
    int rna = name[0] == 'r';
    vocab_blank(v, name, BFD_SEQ_TOK_CHAR, rna ? BFDK_SEQ_RNA : BFDK_SEQ_DNA);
    v->pad = 0, v->unk = 1, v->cls = 2, v->sep = 3, v->mask = 4;
    map_chars(v, rna ? "ACGUNRYSWKMBDHV-" : "ACGTNRYSWKMBDHV-", 5);
    v->size = 21;
    st = ord_range(v, 5, 4);
  } else if (!strcmp(name, "esm2")) {
    vocab_blank(v, name, BFD_SEQ_TOK_CHAR, BFDK_SEQ_PROTEIN);
    v->cls = 0, v->pad = 1, v->eos = 2, v->unk = 3, v->mask = 32;
    map_chars(v, esm2_tokens, 4);
    v->size = 33;
    v->begin = v->cls, v->end = v->eos;
    st = ord_range(v, 4, 20);
  } else if (!strcmp(name, "hyenadna")) {
    vocab_blank(v, name, BFD_SEQ_TOK_CHAR, BFDK_SEQ_DNA);
    v->cls = 0, v->sep = 1, v->bos = 2, v->mask = 3, v->pad = 4, v->unk = 6;
    map_chars(v, "ACGTN", 7);
    v->size = 12;
    v->end = v->sep;
    st = ord_range(v, 7, 4);
  } else if (!strcmp(name, "dnabert")) {
    if (k < 3 || k > 6)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "tokenizer dnabert: k = %d, but DNABERT's vocabularies are k = 3, 4, 5 or 6",
                       (int)k);
    vocab_blank(v, name, BFD_SEQ_TOK_KMER, BFDK_SEQ_DNA);
    v->pad = 0, v->unk = 1, v->cls = 2, v->sep = 3, v->mask = 4;
    v->size = 5 + (1 << (2 * k));
    v->begin = v->cls, v->end = v->sep;
    st = kmers_in_order(v, k, "ATCG", 5);
    if (st == BFD_OK) st = ord_range(v, 5, 1 << (2 * k));
  } else if (!strcmp(name, "nt")) {
    vocab_blank(v, name, BFD_SEQ_TOK_NT, BFDK_SEQ_DNA);
    v->unk = 0, v->pad = 1, v->mask = 2, v->cls = 3, v->eos = 4105, v->bos = 4106;
    v->stride = 6;
    map_chars(v, "ATCGN", 4100);
    v->size = 4107;
    v->begin = v->cls;
    st = kmers_in_order(v, 6, "ATCG", 4);
    if (st == BFD_OK) st = ord_range(v, 4, 4096);
  } else if (!strcmp(name, "byte")) {
    vocab_blank(v, name, BFD_SEQ_TOK_CHAR, BFDK_SEQ_BYTES);
    for (int i = 0; i < 256; i++) v->byte_id[i] = i;
    v->pad = 1, v->eos = 0;
    v->size = 256;
    v->ord = malloc(4 * sizeof *v->ord);
    if (!v->ord) return bfdi_fail(BFD_ERR_NOMEM, "vocabulary byte: out of memory");
    v->ord[0] = 'A', v->ord[1] = 'C', v->ord[2] = 'G', v->ord[3] = 'T';
    v->n_ord = 4;
  } else {
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "unknown tokenizer preset '%s' (valid: dna, rna, esm2, hyenadna, dnabert, nt, byte)", name);
  }
  if (st != BFD_OK) bfdk_seq_vocab_free(v);
  return st;
}

void bfdk_seq_vocab_free(bfdk_seq_vocab *v) {
  if (!v) return;
  free(v->kmer);
  free(v->ord);
  v->kmer = NULL;
  v->ord = NULL;
  v->n_ord = 0;
}

/* Which special a token names ("<pad>", "[PAD]", any case), or NULL. */
static int32_t *special_slot(bfdk_seq_vocab *v, const char *tok, size_t len) {
  if (len < 3) return NULL;
  if (!((tok[0] == '<' && tok[len - 1] == '>') || (tok[0] == '[' && tok[len - 1] == ']'))) return NULL;
  static const char *names[] = {"pad", "unk", "cls", "sep", "bos", "eos", "mask"};
  int32_t *slots[] = {&v->pad, &v->unk, &v->cls, &v->sep, &v->bos, &v->eos, &v->mask};
  for (int i = 0; i < 7; i++) {
    size_t n = strlen(names[i]);
    if (len - 2 != n) continue;
    size_t j = 0;
    while (j < n && (tok[1 + j] | 0x20) == names[i][j]) j++;
    if (j == n) return slots[i];
  }
  return NULL;
}

/* k-mer table index of a token of k bases, or -1. */
static int64_t kmer_index(const char *tok, size_t len, int32_t k) {
  if ((int32_t)len != k) return -1;
  int64_t idx = 0;
  for (size_t i = 0; i < len; i++) {
    const char *d = tok[i] ? strchr("ACGT", tok[i] == 'U' ? 'T' : tok[i]) : NULL;
    if (!d) return -1;
    idx = idx * 4 + (d - "ACGT");
  }
  return idx;
}

typedef struct seen_tok {
  const char *s;
  size_t len;
  uint64_t line;
} seen_tok;

static int seen_cmp(const void *a, const void *b) {
  const seen_tok *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

static bfd_status check_duplicates(seen_tok *toks, size_t n, const char *what) {
  qsort(toks, n, sizeof *toks, seen_cmp);
  for (size_t i = 1; i < n; i++)
    if (toks[i].len == toks[i - 1].len && !memcmp(toks[i].s, toks[i - 1].s, toks[i].len))
      return bfdi_fail(BFD_ERR_FORMAT, "%s: line %llu repeats the token '%.*s' of line %llu (each token once: ids are line numbers)",
                       what, (unsigned long long)toks[i].line, (int)toks[i].len, toks[i].s,
                       (unsigned long long)toks[i - 1].line);
  return BFD_OK;
}

bfd_status bfdk_seq_vocab_parse(const char *text, size_t n, const char *what, int32_t tok, int32_t k,
                                int32_t stride, int32_t alphabet, bfdk_seq_vocab *v) {
  if (!text || !what || !v) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_vocab_parse: NULL argument");
  if (tok < BFD_SEQ_TOK_CHAR || tok > BFD_SEQ_TOK_NT || alphabet < BFDK_SEQ_DNA || alphabet > BFDK_SEQ_BYTES)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: bad tokenizer mode %d or alphabet %d", what, (int)tok, (int)alphabet);
  if (tok != BFD_SEQ_TOK_CHAR && (k < 1 || k > BFDK_SEQ_MAX_K || stride < 1))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: k = %d and stride = %d; k must be 1..%d and stride at least 1", what,
                     (int)k, (int)stride, BFDK_SEQ_MAX_K);
  vocab_blank(v, "vocabulary file", tok, alphabet);
  if (tok != BFD_SEQ_TOK_CHAR) {
    v->k = k;
    v->stride = tok == BFD_SEQ_TOK_NT ? k : stride;
    size_t nk = (size_t)1 << (2 * k);
    v->kmer = malloc(nk * sizeof *v->kmer);
    if (!v->kmer) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", what);
    for (size_t i = 0; i < nk; i++) v->kmer[i] = -1;
  }
  size_t lines = 0;
  for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
  lines += n > 0 && text[n - 1] != '\n';
  seen_tok *seen = malloc((lines ? lines : 1) * sizeof *seen);
  v->ord = malloc((lines ? lines : 1) * sizeof *v->ord);
  bfd_status st = BFD_OK;
  if (!seen || !v->ord) {
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu lines", what, lines);
    goto done;
  }
  if (lines > (size_t)INT32_MAX) {
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: %zu lines; a vocabulary holds at most 2^31 - 1 tokens", what, lines);
    goto done;
  }
  size_t pos = 0;
  for (size_t id = 0; id < lines; id++) {
    const char *s = text + pos;
    const char *nl = memchr(s, '\n', n - pos);
    size_t len = nl ? (size_t)(nl - s) : n - pos;
    pos += len + 1;
    if (len && s[len - 1] == '\r') len--;
    uint64_t line = id + 1;
    if (len == 0) {
      st = bfdi_fail(BFD_ERR_FORMAT,
                     "%s: line %llu is blank; ids are line numbers, so a vocabulary may not have gaps (remove the line "
                     "or put a placeholder token on it)",
                     what, (unsigned long long)line);
      goto done;
    }
    seen[id].s = s;
    seen[id].len = len;
    seen[id].line = line;
    int32_t *slot = special_slot(v, s, len);
    int64_t ki = tok == BFD_SEQ_TOK_CHAR ? -1 : kmer_index(s, len, k);
    if (slot) {
      if (*slot < 0) *slot = (int32_t)id;
    } else if (len == 1) {
      v->byte_id[(uint8_t)s[0]] = (int32_t)id;
      if (tok == BFD_SEQ_TOK_CHAR && is_letter((uint8_t)s[0])) v->ord[v->n_ord++] = (int32_t)id;
    }
    if (ki >= 0) {
      v->kmer[ki] = (int32_t)id;
      v->ord[v->n_ord++] = (int32_t)id;
    }
  }
  st = check_duplicates(seen, lines, what);
  if (st != BFD_OK) goto done;
  v->size = (int32_t)lines;
  if (v->pad < 0)
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: no padding token (<pad> or [PAD]); rows are padded to a fixed length", what);
  else if (v->unk < 0)
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: no unknown token (<unk> or [UNK]) for bytes or k-mers outside the vocabulary",
                   what);
  v->begin = v->cls >= 0 ? v->cls : v->bos;
  v->end = v->eos >= 0 ? v->eos : v->sep;
done:
  free(seen);
  if (st != BFD_OK) bfdk_seq_vocab_free(v);
  return st;
}

/* The IUPAC complement, case kept; bytes without one are their own. */
static int complement(int c, int rna) {
  static const char from[] = "ACGTURYSWKMBDHVN";
  static const char dna[] = "TGCAAYRSWMKVHDBN";
  int up = to_upper(c);
  const char *f = up ? strchr(from, up) : NULL;
  if (!f) return c;
  int r = dna[f - from];
  if (rna && r == 'T') r = 'U';
  return is_lower(c) ? r - 'A' + 'a' : r;
}

/* Which of A, C, G, T (bits 0-3) an uppercase IUPAC code stands for. */
static int32_t iupac_bases(int c) {
  static const char codes[] = "ACGTURYSWKMBDHVN";
  static const uint8_t bits[] = {1, 2, 4, 8, 8, 1 | 4, 2 | 8, 2 | 4, 1 | 8, 4 | 8, 1 | 2, 2 | 4 | 8, 1 | 4 | 8,
                                 1 | 2 | 8, 1 | 2 | 4, 15};
  const char *f = c ? strchr(codes, c) : NULL;
  return f ? bits[f - codes] : 0;
}

static int32_t digit_of(int c, int32_t alphabet) {
  switch (c) {
    case 'A': return 0;
    case 'C': return 1;
    case 'G': return 2;
    case 'T': return alphabet == BFDK_SEQ_RNA ? 4 : 3;
    case 'U': return alphabet == BFDK_SEQ_RNA ? 3 : 4;
    default: return 4;
  }
}

bfd_status bfdk_seq_tables_build(const bfdk_seq_vocab *v, int32_t case_mode, int32_t **tables, size_t *count) {
  if (!v || !tables || !count) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_tables_build: NULL argument");
  if (case_mode < BFD_SEQ_CASE_UPPER || case_mode > BFD_SEQ_CASE_N)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "case: mode %d is not upper, softmask or n", (int)case_mode);
  size_t nk = v->tok == BFD_SEQ_TOK_CHAR ? 0 : (size_t)1 << (2 * v->k);
  size_t total = BFD_SEQ_TAB_KMER + nk + (size_t)v->n_ord;
  int32_t *t = malloc(total * sizeof *t);
  if (!t) return bfdi_fail(BFD_ERR_NOMEM, "vocabulary %s: out of memory for its tables", v->name);
  int nucleotide = v->alphabet != BFDK_SEQ_PROTEIN;
  for (int32_t rc = 0; rc < 2; rc++) {
    for (int b = 0; b < 256; b++) {
      int c = rc ? complement(b, v->alphabet == BFDK_SEQ_RNA) : b;
      int lower = is_lower(c);
      int f = lower && case_mode == BFD_SEQ_CASE_N && nucleotide ? 'N' : to_upper(c);
      int32_t id = v->byte_id[f] >= 0 ? v->byte_id[f] : v->unk;
      int32_t flags = digit_of(f, v->alphabet) | (f == 'N' && nucleotide ? BFD_SEQ_F_N : 0) |
                      (lower ? BFD_SEQ_F_LOWER : 0) | (nucleotide ? iupac_bases(f) << BFD_SEQ_F_ONEHOT_SHIFT : 0);
      t[BFD_SEQ_TAB_ID + rc * 256 + b] = id;
      t[BFD_SEQ_TAB_FLAG + rc * 256 + b] = flags;
    }
  }
  for (size_t i = 0; i < nk; i++) t[BFD_SEQ_TAB_KMER + i] = v->kmer[i] >= 0 ? v->kmer[i] : v->unk;
  for (int32_t i = 0; i < v->n_ord; i++) t[BFD_SEQ_TAB_KMER + nk + (size_t)i] = v->ord[i];
  *tables = t;
  *count = total;
  return BFD_OK;
}

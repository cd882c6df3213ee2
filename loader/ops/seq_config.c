/* Parses the sequence op settings from a YAML mapping (libyaml) into a
 * vocabulary and a bfdk_seq_params, reading the vocabulary file it names.
 * Errors say file:line, the key, the value and what is valid. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/yaml_file.h"
#include "seq_config.h"

typedef struct ctx {
  yaml_document_t *doc;
  const char *file;
} ctx;

static unsigned long line_of(const yaml_node_t *n) { return (unsigned long)n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static bfd_status need_scalar(const ctx *c, const yaml_node_t *n, const char *key, const char **out) {
  *out = scalar(n);
  if (!*out) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a single value", c->file, line_of(n), key);
  return BFD_OK;
}

/* Index of the value among the '|'-free list of choices "a, b, c". */
static bfd_status choose(const ctx *c, const yaml_node_t *n, const char *key, const char *const *choices, int count,
                         int32_t *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, key, &v));
  for (int i = 0; i < count; i++)
    if (!strcmp(v, choices[i])) {
      *out = i;
      return BFD_OK;
    }
  char list[256] = "";
  for (int i = 0; i < count; i++) {
    strncat(list, choices[i], sizeof list - strlen(list) - 1);
    if (i + 1 < count) strncat(list, ", ", sizeof list - strlen(list) - 1);
  }
  return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not one of %s", c->file, line_of(n), key, v, list);
}

static bfd_status get_int(const ctx *c, const yaml_node_t *n, const char *key, int64_t lo, int64_t hi, int64_t *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, key, &v));
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not an integer in %lld..%lld", c->file, line_of(n), key, v,
                     (long long)lo, (long long)hi);
  *out = x;
  return BFD_OK;
}

static bfd_status get_i32(const ctx *c, const yaml_node_t *n, const char *key, int64_t lo, int64_t hi, int32_t *out) {
  int64_t x;
  BFD_TRY(get_int(c, n, key, lo, hi, &x));
  *out = (int32_t)x;
  return BFD_OK;
}

static bfd_status get_real(const ctx *c, const yaml_node_t *n, const char *key, double lo, double hi, double *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, key, &v));
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not a number in [%g, %g]", c->file, line_of(n), key, v, lo,
                     hi);
  *out = x;
  return BFD_OK;
}

static bfd_status get_prob(const ctx *c, const yaml_node_t *n, const char *key, float *out) {
  double x;
  BFD_TRY(get_real(c, n, key, 0.0, 1.0, &x));
  *out = (float)x;
  return BFD_OK;
}

static bfd_status get_bool(const ctx *c, const yaml_node_t *n, const char *key, int32_t *out) {
  static const char *const choices[] = {"false", "true", "no", "yes"};
  int32_t i;
  BFD_TRY(choose(c, n, key, choices, 4, &i));
  *out = i & 1;
  return BFD_OK;
}

/* Iterates a mapping; an unknown key fails with the list of known ones. */
typedef struct kv {
  const char *key;
  yaml_node_t *knode, *value;
} kv;

static bfd_status mapping(const ctx *c, const yaml_node_t *n, const char *what, kv **out, size_t *count) {
  if (n->type != YAML_MAPPING_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a mapping (key: value lines)", c->file, line_of(n), what);
  size_t m = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  kv *a = calloc(m ? m : 1, sizeof *a);
  if (!a) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", c->file);
  for (size_t i = 0; i < m; i++) {
    yaml_node_pair_t *pr = n->data.mapping.pairs.start + i;
    a[i].knode = yaml_document_get_node(c->doc, pr->key);
    a[i].value = yaml_document_get_node(c->doc, pr->value);
    a[i].key = a[i].knode ? scalar(a[i].knode) : NULL;
    if (!a[i].key || !a[i].value) {
      free(a);
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: keys must be plain names", c->file, line_of(n), what);
    }
  }
  *out = a;
  *count = m;
  return BFD_OK;
}

static bfd_status unknown_key(const ctx *c, const kv *e, const char *what, const char *valid) {
  return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: unknown key '%s' (valid: %s)", c->file, line_of(e->knode), what,
                   e->key, valid);
}

static char *resolve_path(const char *file, const char *rel) {
  if (rel[0] == '/') return strdup(rel);
  const char *slash = strrchr(file, '/');
  size_t dl = slash ? (size_t)(slash - file) + 1 : 0;
  char *p = malloc(dl + strlen(rel) + 1);
  if (!p) return NULL;
  memcpy(p, file, dl);
  strcpy(p + dl, rel);
  return p;
}

static bfd_status read_text(const char *path, const char *key, char **text, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return bfdi_fail_errno(errno, "%s: cannot open %s", key, path);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  bfd_status st = BFD_OK;
  while (buf) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) break;
    char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
    if (!nb) {
      free(buf);
      buf = NULL;
      break;
    }
    buf = nb;
    cap *= 2;
  }
  if (!buf)
    st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory reading %s", key, path);
  else if (ferror(f))
    st = bfdi_fail(BFD_ERR_IO, "%s: read error in %s", key, path);
  fclose(f);
  if (st != BFD_OK) {
    free(buf);
    return st;
  }
  *text = buf;
  *n = len;
  return BFD_OK;
}

static bfd_status parse_vocab(const ctx *c, const yaml_node_t *n, bfdk_seq_vocab *v) {
  static const char *const modes[] = {"char", "kmer", "nt"};
  static const char *const alphabets[] = {"dna", "rna", "protein", "any"};
  kv *e;
  size_t m;
  BFD_TRY(mapping(c, n, "vocab", &e, &m));
  const char *file = NULL;
  const yaml_node_t *file_node = NULL;
  int32_t mode = BFD_SEQ_TOK_CHAR, k = 6, stride = 1, alphabet = BFDK_SEQ_DNA;
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    if (!strcmp(e[i].key, "file")) {
      st = need_scalar(c, e[i].value, "vocab.file", &file);
      file_node = e[i].value;
    } else if (!strcmp(e[i].key, "mode")) {
      st = choose(c, e[i].value, "vocab.mode", modes, 3, &mode);
    } else if (!strcmp(e[i].key, "k")) {
      st = get_i32(c, e[i].value, "vocab.k", 1, BFDK_SEQ_MAX_K, &k);
    } else if (!strcmp(e[i].key, "stride")) {
      st = get_i32(c, e[i].value, "vocab.stride", 1, 1 << 20, &stride);
    } else if (!strcmp(e[i].key, "alphabet")) {
      st = choose(c, e[i].value, "vocab.alphabet", alphabets, 4, &alphabet);
    } else {
      st = unknown_key(c, &e[i], "vocab", "file, mode, k, stride, alphabet");
    }
  }
  free(e);
  BFD_TRY(st);
  if (!file)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: vocab: file is missing (a vocabulary file, one token per line)", c->file,
                     line_of(n));
  char *path = resolve_path(c->file, file), *text = NULL;
  size_t len = 0;
  if (!path) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", c->file);
  st = read_text(path, "vocab.file", &text, &len);
  if (st == BFD_OK) st = bfdk_seq_vocab_parse(text, len, path, mode, k, stride, alphabet, v);
  if (st != BFD_OK) st = bfdi_wrap(st, "%s:%lu", c->file, line_of(file_node));
  free(text);
  free(path);
  return st;
}

/* First pass: the tokenizer, which the defaults of everything else depend on. */
static bfd_status parse_tokenizer(const ctx *c, const yaml_node_t *root, const kv *e, size_t m, bfdk_seq_vocab *v) {
  static const char *const names[] = {"dna", "rna", "esm2", "hyenadna", "dnabert", "nt", "byte", "vocab"};
  const kv *tok = NULL, *vocab = NULL, *kkey = NULL;
  int32_t k = 6;
  for (size_t i = 0; i < m; i++) {
    if (!strcmp(e[i].key, "tokenizer")) tok = &e[i];
    if (!strcmp(e[i].key, "vocab")) vocab = &e[i];
    if (!strcmp(e[i].key, "k")) {
      kkey = &e[i];
      BFD_TRY(get_i32(c, e[i].value, "k", 3, 6, &k));
    }
  }
  if (!tok)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: tokenizer is missing (one of dna, rna, esm2, hyenadna, dnabert, nt, byte, vocab)",
                     c->file, line_of(root));
  int32_t which;
  BFD_TRY(choose(c, tok->value, "tokenizer", names, 8, &which));
  if (which == 7) {
    if (!vocab)
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: tokenizer: vocab needs a vocab mapping (vocab: {file: ...})", c->file,
                       line_of(tok->value));
    return parse_vocab(c, vocab->value, v);
  }
  if (vocab)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: vocab is for tokenizer: vocab, not %s", c->file, line_of(vocab->knode),
                     names[which]);
  if (kkey && which != 4)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: k is for tokenizer: dnabert (vocabulary files take vocab.k), not %s",
                     c->file, line_of(kkey->knode), names[which]);
  bfd_status st = bfdk_seq_vocab_preset(names[which], k, v);
  if (st != BFD_OK) return bfdi_wrap(st, "%s:%lu", c->file, line_of(tok->value));
  return BFD_OK;
}

static bfd_status parse_specials(const ctx *c, const yaml_node_t *n, const bfdk_seq_vocab *v, bfdk_seq_params *p) {
  static const char *const begins[] = {"default", "none", "cls", "bos"};
  static const char *const ends[] = {"default", "none", "eos", "sep"};
  kv *e;
  size_t m;
  BFD_TRY(mapping(c, n, "specials", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    int32_t w;
    int is_begin = !strcmp(e[i].key, "begin");
    if (!is_begin && strcmp(e[i].key, "end")) {
      st = unknown_key(c, &e[i], "specials", "begin, end");
      break;
    }
    st = choose(c, e[i].value, is_begin ? "specials.begin" : "specials.end", is_begin ? begins : ends, 4, &w);
    if (st != BFD_OK) break;
    int32_t id = is_begin ? (w == 0 ? v->begin : w == 2 ? v->cls : w == 3 ? v->bos : -1)
                          : (w == 0 ? v->end : w == 2 ? v->eos : w == 3 ? v->sep : -1);
    if (w >= 2 && id < 0)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: specials.%s: tokenizer %s has no %s token", c->file, line_of(e[i].value),
                     e[i].key, v->name, (is_begin ? begins : ends)[w]);
    else if (is_begin)
      p->begin_id = id;
    else
      p->end_id = id;
  }
  free(e);
  return st;
}

static bfd_status parse_window(const ctx *c, const yaml_node_t *n, bfdk_seq_params *p, bfd_seq_config *cfg) {
  static const char *const modes[] = {"random", "tiled"};
  kv *e;
  size_t m;
  BFD_TRY(mapping(c, n, "window", &e, &m));
  bfd_status st = BFD_OK;
  int32_t mode = 0;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *key = e[i].key;
    yaml_node_t *val = e[i].value;
    if (!strcmp(key, "length")) {
      st = get_int(c, val, "window.length", 1, (int64_t)1 << 40, &p->window);
    } else if (!strcmp(key, "mode")) {
      st = choose(c, val, "window.mode", modes, 2, &mode);
    } else if (!strcmp(key, "stride")) {
      st = get_int(c, val, "window.stride", 1, (int64_t)1 << 40, &p->tile_stride);
    } else if (!strcmp(key, "max_n_frac")) {
      st = get_real(c, val, "window.max_n_frac", 0.0, 1.0, &p->max_n_frac);
    } else if (!strcmp(key, "max_attempts")) {
      st = get_i32(c, val, "window.max_attempts", 1, 1000, &p->max_attempts);
    } else if (!strcmp(key, "bed")) {
      const char *b;
      st = need_scalar(c, val, "window.bed", &b);
      if (st == BFD_OK) {
        free(cfg->bed_path);
        cfg->bed_path = resolve_path(c->file, b);
        if (!cfg->bed_path) st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", c->file);
      }
    } else {
      st = unknown_key(c, &e[i], "window", "length, mode, stride, bed, max_n_frac, max_attempts");
    }
  }
  if (st == BFD_OK && p->window == 0)
    st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: window: length is missing (bases per window)", c->file, line_of(n));
  if (st == BFD_OK && mode == 1 && p->tile_stride == 0) p->tile_stride = p->window;
  p->sample_mode = mode == 1 ? BFD_SEQ_WINDOW_TILED : BFD_SEQ_WINDOW_RANDOM;
  free(e);
  return st;
}

static bfd_status parse_mlm(const ctx *c, const yaml_node_t *n, bfdk_seq_params *p) {
  kv *e;
  size_t m;
  BFD_TRY(mapping(c, n, "mlm", &e, &m));
  bfd_status st = BFD_OK;
  p->mlm_p = 0.15f;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    const char *key = e[i].key;
    if (!strcmp(key, "p"))
      st = get_prob(c, e[i].value, "mlm.p", &p->mlm_p);
    else if (!strcmp(key, "mask"))
      st = get_prob(c, e[i].value, "mlm.mask", &p->mlm_mask);
    else if (!strcmp(key, "random"))
      st = get_prob(c, e[i].value, "mlm.random", &p->mlm_random);
    else if (!strcmp(key, "span"))
      st = get_bool(c, e[i].value, "mlm.span", &p->mlm_span);
    else
      st = unknown_key(c, &e[i], "mlm", "p, mask, random, span");
  }
  free(e);
  return st;
}

static bfd_status parse_onehot(const ctx *c, const yaml_node_t *n, bfdk_seq_params *p) {
  static const char *const dtypes[] = {"float32", "float16", "bfloat16"};
  static const char *const ns[] = {"zeros", "uniform"};
  kv *e;
  size_t m;
  BFD_TRY(mapping(c, n, "onehot", &e, &m));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < m && st == BFD_OK; i++) {
    if (!strcmp(e[i].key, "dtype"))
      st = choose(c, e[i].value, "onehot.dtype", dtypes, 3, &p->onehot_dtype);
    else if (!strcmp(e[i].key, "n"))
      st = choose(c, e[i].value, "onehot.n", ns, 2, &p->onehot_uniform);
    else
      st = unknown_key(c, &e[i], "onehot", "dtype, n");
  }
  free(e);
  return st;
}

static bfd_status parse_rest(const ctx *c, const kv *e, size_t m, bfd_seq_config *cfg) {
  static const char *const cases[] = {"upper", "softmask", "n"};
  static const char *const paddings[] = {"max_len", "longest"};
  static const char *const truncs[] = {"right", "left", "random"};
  bfdk_seq_params *p = &cfg->params;
  for (size_t i = 0; i < m; i++) {
    const char *key = e[i].key;
    yaml_node_t *val = e[i].value;
    if (!strcmp(key, "tokenizer") || !strcmp(key, "vocab") || !strcmp(key, "k")) continue;
    if (!strcmp(key, "case")) {
      BFD_TRY(choose(c, val, "case", cases, 3, &cfg->case_mode));
    } else if (!strcmp(key, "specials")) {
      BFD_TRY(parse_specials(c, val, &cfg->vocab, p));
    } else if (!strcmp(key, "max_len")) {
      BFD_TRY(get_i32(c, val, "max_len", 1, 1 << 30, &p->max_len));
    } else if (!strcmp(key, "padding")) {
      BFD_TRY(choose(c, val, "padding", paddings, 2, &p->pad_longest));
    } else if (!strcmp(key, "truncation")) {
      BFD_TRY(choose(c, val, "truncation", truncs, 3, &p->truncation));
    } else if (!strcmp(key, "window")) {
      BFD_TRY(parse_window(c, val, p, cfg));
    } else if (!strcmp(key, "rc")) {
      BFD_TRY(get_prob(c, val, "rc", &p->rc_p));
    } else if (!strcmp(key, "shift")) {
      BFD_TRY(get_i32(c, val, "shift", 0, 1 << 30, &p->shift));
    } else if (!strcmp(key, "mlm")) {
      BFD_TRY(parse_mlm(c, val, p));
    } else if (!strcmp(key, "onehot")) {
      cfg->onehot = 1;
      if (val->type == YAML_MAPPING_NODE) BFD_TRY(parse_onehot(c, val, p));
      else {
        int32_t on;
        BFD_TRY(get_bool(c, val, "onehot", &on));
        cfg->onehot = on;
      }
    } else {
      return unknown_key(c, &e[i], "sequence ops",
                         "tokenizer, k, vocab, case, specials, max_len, padding, truncation, window, rc, shift, mlm, "
                         "onehot");
    }
  }
  if (cfg->onehot && (cfg->vocab.tok != BFD_SEQ_TOK_CHAR || cfg->vocab.alphabet == BFDK_SEQ_PROTEIN))
    return bfdi_fail(BFD_ERR_FORMAT, "%s: onehot: one-hot rows are per nucleotide; tokenizer %s is not a nucleotide "
                     "character tokenizer (use dna, rna, hyenadna or byte)", c->file, cfg->vocab.name);
  bfd_status st = bfdk_seq_params_check(p, &cfg->vocab, cfg->case_mode);
  return st == BFD_OK ? st : bfdi_wrap(st, "%s", c->file);
}

bfd_status bfd_seq_config_parse(yaml_document_t *doc, yaml_node_t *node, const char *file, bfd_seq_config *cfg) {
  if (!doc || !node || !file || !cfg) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_seq_config_parse: NULL argument");
  memset(cfg, 0, sizeof *cfg);
  ctx c = {doc, file};
  kv *e;
  size_t m;
  BFD_TRY(mapping(&c, node, "sequence ops", &e, &m));
  bfd_status st = parse_tokenizer(&c, node, e, m, &cfg->vocab);
  if (st == BFD_OK) {
    bfdk_seq_params_init(&cfg->params, &cfg->vocab);
    st = parse_rest(&c, e, m, cfg);
  }
  free(e);
  if (st != BFD_OK) bfd_seq_config_free(cfg);
  return st;
}

bfd_status bfd_seq_config_load(const char *path, bfd_seq_config *cfg) {
  if (!path || !cfg) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_seq_config_load: NULL argument");
  memset(cfg, 0, sizeof *cfg);
  yaml_document_t doc;
  BFD_TRY(bfdi_yaml_load_file(path, "sequence config", &doc));
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  bfd_status st = root ? bfd_seq_config_parse(&doc, root, path, cfg)
                       : bfdi_fail(BFD_ERR_FORMAT, "%s: empty; a sequence config needs at least 'tokenizer:'", path);
  yaml_document_delete(&doc);
  return st;
}

void bfd_seq_config_free(bfd_seq_config *cfg) {
  if (!cfg) return;
  bfdk_seq_vocab_free(&cfg->vocab);
  free(cfg->bed_path);
  cfg->bed_path = NULL;
}

/* Parses the image op list from YAML (libyaml) into a bfdk_img_spec: op
 * names, parameters, ranges and the order rules of img_config.h. Errors
 * say file:line, the op, the parameter, the value and what is valid. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "img_config.h"
#include "ops/yaml_file.h"
#include "ops/philox.h"

typedef struct ctx {
  yaml_document_t *doc;
  const char *file;
  bfdk_img_spec *sp;
  unsigned long ndim_line; /* where the dimensionality was fixed */
  const char *ndim_what;
  int intensity_seen; /* an intensity op came already: no geometry op after it */
  int geo_seen[6];
  int norm_seen;
} ctx;

static const char *const OPS[] = {"crop",       "flip",     "rot90", "permute", "affine", "elastic", "normalize",
                                  "brightness", "contrast", "gamma", "noise",   "blur",   "lowres"};
enum { N_OPS = 13, N_GEO = 6 };

static unsigned long line_of(const yaml_node_t *n) { return (unsigned long)n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void join(char *buf, size_t n, const char *const *items, int count) {
  buf[0] = 0;
  for (int i = 0; i < count; i++) {
    strncat(buf, items[i], n - strlen(buf) - 1);
    if (i + 1 < count) strncat(buf, ", ", n - strlen(buf) - 1);
  }
}

static bfd_status need_scalar(const ctx *c, const yaml_node_t *n, const char *op, const char *key, const char **out) {
  *out = scalar(n);
  if (!*out) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s must be a single value", c->file, line_of(n), op, key);
  return BFD_OK;
}

static bfd_status choose(const ctx *c, const yaml_node_t *n, const char *op, const char *key,
                         const char *const *choices, int count, int32_t *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, op, key, &v));
  for (int i = 0; i < count; i++)
    if (!strcmp(v, choices[i])) {
      *out = i;
      return BFD_OK;
    }
  char list[256];
  join(list, sizeof list, choices, count);
  return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s: '%s' is not one of %s", c->file, line_of(n), op, key, v, list);
}

static bfd_status get_real(const ctx *c, const yaml_node_t *n, const char *op, const char *key, double lo, double hi,
                           double *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, op, key, &v));
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s: '%s' is not a number in [%g, %g]", c->file, line_of(n), op, key, v,
                     lo, hi);
  *out = x;
  return BFD_OK;
}

static bfd_status get_float(const ctx *c, const yaml_node_t *n, const char *op, const char *key, double lo, double hi,
                            float *out) {
  double x = 0.0;
  BFD_TRY(get_real(c, n, op, key, lo, hi, &x));
  *out = (float)x;
  return BFD_OK;
}

static bfd_status get_int(const ctx *c, const yaml_node_t *n, const char *op, const char *key, int64_t lo, int64_t hi,
                          int64_t *out) {
  const char *v;
  BFD_TRY(need_scalar(c, n, op, key, &v));
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s: '%s' is not an integer in %lld..%lld", c->file, line_of(n), op,
                     key, v, (long long)lo, (long long)hi);
  *out = x;
  return BFD_OK;
}

static bfd_status get_bool(const ctx *c, const yaml_node_t *n, const char *op, const char *key, int32_t *out) {
  static const char *const choices[] = {"false", "true", "no", "yes"};
  int32_t i = 0;
  BFD_TRY(choose(c, n, op, key, choices, 4, &i));
  *out = i & 1;
  return BFD_OK;
}

static size_t seq_len(const yaml_node_t *n) {
  return n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) : 0;
}

static yaml_node_t *seq_item(const ctx *c, const yaml_node_t *n, size_t i) {
  return yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
}

/* A range: one number (low = high) or [low, high] within [lo, hi]. */
static bfd_status get_range(const ctx *c, const yaml_node_t *n, const char *op, const char *key, double lo, double hi,
                            float *rlo, float *rhi) {
  double a = 0.0, b = 0.0;
  if (n->type == YAML_SCALAR_NODE) {
    BFD_TRY(get_real(c, n, op, key, lo, hi, &a));
    b = a;
  } else {
    if (seq_len(n) != 2)
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s must be a number or [low, high]", c->file, line_of(n), op, key);
    BFD_TRY(get_real(c, seq_item(c, n, 0), op, key, lo, hi, &a));
    BFD_TRY(get_real(c, seq_item(c, n, 1), op, key, lo, hi, &b));
    if (a > b)
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s.%s: low %g is above high %g", c->file, line_of(n), op, key, a, b);
  }
  *rlo = (float)a;
  *rhi = (float)b;
  return BFD_OK;
}

static bfd_status set_ndim(ctx *c, int nd, const yaml_node_t *n, const char *what) {
  if (c->sp->ndim && c->sp->ndim != nd)
    return bfdi_fail(BFD_ERR_FORMAT,
                     "%s:%lu: %s has %d axes but %s (line %lu) has %d: write the op list for 2D or for 3D data",
                     c->file, line_of(n), what, nd, c->ndim_what, c->ndim_line, c->sp->ndim);
  c->sp->ndim = nd;
  c->ndim_line = line_of(n);
  c->ndim_what = what;
  return BFD_OK;
}

/* The parameters of op `op`: pairs of a mapping whose keys are all among
 * `allowed` (NULL params: the op was named without any). */
typedef struct kv {
  const char *key;
  yaml_node_t *value;
} kv;

static bfd_status params(const ctx *c, const char *op, yaml_node_t *n, const char *const *allowed, int n_allowed,
                         kv *out, size_t cap, size_t *count) {
  *count = 0;
  if (!n) return BFD_OK;
  if (n->type != YAML_MAPPING_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: parameters must be a mapping, e.g. {prob: 0.5}", c->file, line_of(n),
                     op);
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
    const char *key = scalar(k);
    int ok = 0;
    for (int i = 0; key && i < n_allowed; i++) ok |= !strcmp(key, allowed[i]);
    if (!ok || *count >= cap) {
      char list[256];
      join(list, sizeof list, allowed, n_allowed);
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: unknown parameter '%s' (valid: %s)", c->file, line_of(k ? k : n),
                       op, key ? key : "?", list);
    }
    out[*count].key = key;
    out[*count].value = yaml_document_get_node(c->doc, p->value);
    (*count)++;
  }
  return BFD_OK;
}

/* ---- geometry ops ------------------------------------------------------------------- */

static bfd_status op_crop(ctx *c, yaml_node_t *n, unsigned long line) {
  static const char *const keys[] = {"size", "mode", "fg_prob", "pad", "pad_value", "label_pad"};
  static const char *const modes[] = {"random", "center", "foreground"};
  static const char *const pads[] = {"none", "constant", "reflect"};
  kv p[8];
  size_t np;
  BFD_TRY(params(c, "crop", n, keys, 6, p, 8, &np));
  bfdk_img_spec *sp = c->sp;
  sp->crop_mode = BFDK_CROP_RANDOM;
  sp->fg_prob = 0.33f;
  int have_size = 0;
  for (size_t i = 0; i < np; i++) {
    const char *k = p[i].key;
    yaml_node_t *v = p[i].value;
    if (!strcmp(k, "size")) {
      size_t m = seq_len(v);
      if (m != 2 && m != 3)
        return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: crop.size must be [y, x] or [z, y, x]", c->file, line_of(v));
      BFD_TRY(set_ndim(c, (int)m, v, "crop.size"));
      for (size_t a = 0; a < m; a++) {
        int64_t x = 0;
        BFD_TRY(get_int(c, seq_item(c, v, a), "crop", "size", 1, 1 << 24, &x));
        sp->size[3 - m + a] = (int32_t)x;
      }
      have_size = 1;
    } else if (!strcmp(k, "mode")) {
      int32_t m = 0;
      BFD_TRY(choose(c, v, "crop", "mode", modes, 3, &m));
      sp->crop_mode = m == 0 ? BFDK_CROP_RANDOM : (m == 1 ? BFDK_CROP_CENTER : BFDK_CROP_FOREGROUND);
    } else if (!strcmp(k, "fg_prob")) {
      BFD_TRY(get_float(c, v, "crop", "fg_prob", 0.0, 1.0, &sp->fg_prob));
    } else if (!strcmp(k, "pad")) {
      BFD_TRY(choose(c, v, "crop", "pad", pads, 3, &sp->pad));
    } else if (!strcmp(k, "pad_value")) {
      BFD_TRY(get_float(c, v, "crop", "pad_value", -3.4e38, 3.4e38, &sp->pad_value));
    } else {
      BFD_TRY(get_int(c, v, "crop", "label_pad", INT64_MIN, INT64_MAX, &sp->label_pad));
    }
  }
  if (!have_size)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: crop needs a size, e.g. crop: {size: [256, 256]}", c->file, line);
  return BFD_OK;
}

static bfd_status op_flip(ctx *c, yaml_node_t *n) {
  static const char *const keys[] = {"axes", "prob"};
  static const char *const names[] = {"z", "y", "x"};
  kv p[4];
  size_t np;
  BFD_TRY(params(c, "flip", n, keys, 2, p, 4, &np));
  float prob = 0.5f;
  int axes[3] = {1, 1, 1};
  for (size_t i = 0; i < np; i++) {
    if (!strcmp(p[i].key, "prob")) {
      BFD_TRY(get_float(c, p[i].value, "flip", "prob", 0.0, 1.0, &prob));
      continue;
    }
    yaml_node_t *v = p[i].value;
    size_t m = seq_len(v);
    if (m < 1 || m > 3)
      return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: flip.axes must be a list of z, y, x, e.g. [y, x]", c->file, line_of(v));
    axes[0] = axes[1] = axes[2] = 0;
    for (size_t a = 0; a < m; a++) {
      int32_t ax = 0;
      BFD_TRY(choose(c, seq_item(c, v, a), "flip", "axes", names, 3, &ax));
      axes[ax] = 1;
      if (ax == 0) BFD_TRY(set_ndim(c, 3, v, "flip.axes (z)"));
    }
  }
  for (int a = 0; a < 3; a++) c->sp->flip_prob[a] = axes[a] ? prob : 0.0f;
  return BFD_OK;
}

static bfd_status op_prob_only(ctx *c, yaml_node_t *n, const char *op, float *prob) {
  static const char *const keys[] = {"prob"};
  kv p[2];
  size_t np;
  BFD_TRY(params(c, op, n, keys, 1, p, 2, &np));
  *prob = 0.5f;
  for (size_t i = 0; i < np; i++) BFD_TRY(get_float(c, p[i].value, op, "prob", 0.0, 1.0, prob));
  return BFD_OK;
}

static bfd_status op_affine(ctx *c, yaml_node_t *n) {
  static const char *const keys[] = {"prob", "rotate", "scale", "isotropic", "shear", "translate"};
  kv p[8];
  size_t np;
  BFD_TRY(params(c, "affine", n, keys, 6, p, 8, &np));
  bfdk_img_spec *sp = c->sp;
  sp->affine = 1;
  sp->affine_prob = 1.0f;
  for (size_t i = 0; i < np; i++) {
    const char *k = p[i].key;
    yaml_node_t *v = p[i].value;
    if (!strcmp(k, "prob")) {
      BFD_TRY(get_float(c, v, "affine", "prob", 0.0, 1.0, &sp->affine_prob));
    } else if (!strcmp(k, "rotate")) {
      if (seq_len(v) == 3 && seq_item(c, v, 0)->type == YAML_SEQUENCE_NODE) {
        BFD_TRY(set_ndim(c, 3, v, "affine.rotate"));
        for (int a = 0; a < 3; a++)
          BFD_TRY(get_range(c, seq_item(c, v, (size_t)a), "affine", "rotate", -360.0, 360.0, &sp->rot_lo[a],
                            &sp->rot_hi[a]));
      } else {
        BFD_TRY(get_range(c, v, "affine", "rotate", -360.0, 360.0, &sp->rot_lo[0], &sp->rot_hi[0]));
        for (int a = 1; a < 3; a++) {
          sp->rot_lo[a] = sp->rot_lo[0];
          sp->rot_hi[a] = sp->rot_hi[0];
        }
      }
    } else if (!strcmp(k, "scale")) {
      BFD_TRY(get_range(c, v, "affine", "scale", 0.01, 100.0, &sp->scale_lo, &sp->scale_hi));
    } else if (!strcmp(k, "isotropic")) {
      BFD_TRY(get_bool(c, v, "affine", "isotropic", &sp->scale_iso));
    } else if (!strcmp(k, "shear")) {
      BFD_TRY(get_range(c, v, "affine", "shear", -1.0, 1.0, &sp->shear_lo, &sp->shear_hi));
    } else {
      BFD_TRY(get_range(c, v, "affine", "translate", -1e6, 1e6, &sp->shift_lo, &sp->shift_hi));
    }
  }
  return BFD_OK;
}

static bfd_status op_elastic(ctx *c, yaml_node_t *n) {
  static const char *const keys[] = {"prob", "spacing", "magnitude"};
  kv p[4];
  size_t np;
  BFD_TRY(params(c, "elastic", n, keys, 3, p, 4, &np));
  bfdk_img_spec *sp = c->sp;
  sp->elastic = 1;
  sp->elastic_prob = 1.0f;
  sp->mag_lo = 1.0f;
  sp->mag_hi = 3.0f;
  for (size_t i = 0; i < np; i++) {
    const char *k = p[i].key;
    yaml_node_t *v = p[i].value;
    if (!strcmp(k, "prob")) {
      BFD_TRY(get_float(c, v, "elastic", "prob", 0.0, 1.0, &sp->elastic_prob));
    } else if (!strcmp(k, "magnitude")) {
      BFD_TRY(get_range(c, v, "elastic", "magnitude", 0.0, 1000.0, &sp->mag_lo, &sp->mag_hi));
    } else if (v->type == YAML_SCALAR_NODE) {
      int64_t x = 0;
      BFD_TRY(get_int(c, v, "elastic", "spacing", 2, 1 << 24, &x));
      for (int a = 0; a < 3; a++) sp->spacing[a] = (int32_t)x;
    } else {
      size_t m = seq_len(v);
      if (m != 2 && m != 3)
        return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: elastic.spacing must be a number, [y, x] or [z, y, x]", c->file,
                         line_of(v));
      BFD_TRY(set_ndim(c, (int)m, v, "elastic.spacing"));
      for (size_t a = 0; a < m; a++) {
        int64_t x = 0;
        BFD_TRY(get_int(c, seq_item(c, v, a), "elastic", "spacing", 2, 1 << 24, &x));
        sp->spacing[3 - m + a] = (int32_t)x;
      }
    }
  }
  return BFD_OK;
}

/* ---- intensity ops ---------------------------------------------------------------------- */

static bfd_status op_normalize(ctx *c, yaml_node_t *n, bfdk_img_iop *op, unsigned long line) {
  static const char *const keys[] = {"mode", "pmin", "pmax", "clip", "eps", "mean", "std", "factor"};
  static const char *const modes[] = {"percentile", "zscore", "minmax", "scale"};
  kv p[10];
  size_t np;
  BFD_TRY(params(c, "normalize", n, keys, 8, p, 10, &np));
  if (c->norm_seen++) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: normalize appears twice: keep one", c->file, line);
  op->norm_mode = BFDK_NORM_PERCENTILE;
  for (size_t i = 0; i < np; i++)
    if (!strcmp(p[i].key, "mode")) {
      int32_t m = 0;
      BFD_TRY(choose(c, p[i].value, "normalize", "mode", modes, 4, &m));
      op->norm_mode = m + 1;
    }
  op->pmin = 1.0;
  op->pmax = 99.8;
  op->eps = op->norm_mode == BFDK_NORM_ZSCORE ? 1e-8f : 1e-20f;
  op->factor = 1.0f;
  op->std = 1.0f;
  int have_mean = 0, have_std = 0;
  const int32_t m = op->norm_mode;
  for (size_t i = 0; i < np; i++) {
    const char *k = p[i].key;
    yaml_node_t *v = p[i].value;
    int fits = !strcmp(k, "mode") || !strcmp(k, "eps") ||
               ((!strcmp(k, "pmin") || !strcmp(k, "pmax") || !strcmp(k, "clip")) && m == BFDK_NORM_PERCENTILE) ||
               ((!strcmp(k, "mean") || !strcmp(k, "std")) && m == BFDK_NORM_ZSCORE) ||
               (!strcmp(k, "factor") && m == BFDK_NORM_SCALE);
    if (!fits)
      return bfdi_fail(BFD_ERR_FORMAT,
                       "%s:%lu: normalize: parameter '%s' does not apply to mode %s (percentile: pmin, pmax, clip, "
                       "eps; zscore: mean, std, eps; minmax: eps; scale: factor)",
                       c->file, line_of(v), k, modes[m - 1]);
    if (!strcmp(k, "pmin"))
      BFD_TRY(get_real(c, v, "normalize", "pmin", 0.0, 100.0, &op->pmin));
    else if (!strcmp(k, "pmax"))
      BFD_TRY(get_real(c, v, "normalize", "pmax", 0.0, 100.0, &op->pmax));
    else if (!strcmp(k, "clip"))
      BFD_TRY(get_bool(c, v, "normalize", "clip", &op->clip));
    else if (!strcmp(k, "eps"))
      BFD_TRY(get_float(c, v, "normalize", "eps", 0.0, 1e30, &op->eps));
    else if (!strcmp(k, "mean")) {
      BFD_TRY(get_float(c, v, "normalize", "mean", -3.4e38, 3.4e38, &op->mean));
      have_mean = 1;
    } else if (!strcmp(k, "std")) {
      BFD_TRY(get_float(c, v, "normalize", "std", 1e-30, 3.4e38, &op->std));
      have_std = 1;
    } else if (!strcmp(k, "factor")) {
      BFD_TRY(get_float(c, v, "normalize", "factor", -3.4e38, 3.4e38, &op->factor));
    }
  }
  if (op->pmin >= op->pmax)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: normalize: pmin %g must be below pmax %g", c->file, line, op->pmin,
                     op->pmax);
  if (have_mean != have_std)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: normalize: give both mean and std (fixed), or neither (each image's own)",
                     c->file, line);
  op->fixed = have_mean;
  op->prob = 1.0f;
  return BFD_OK;
}

/* A jitter op: prob and a range under `rkey` (gamma also invert_prob). */
static bfd_status op_jitter(ctx *c, yaml_node_t *n, const char *name, int32_t kind, bfdk_img_iop *op) {
  const char *rkey =
      kind == BFDK_IMG_NOISE || kind == BFDK_IMG_BLUR ? "sigma" : (kind == BFDK_IMG_LOWRES ? "zoom" : "range");
  const char *keys[] = {"prob", rkey, "invert_prob"};
  int nk = kind == BFDK_IMG_GAMMA ? 3 : 2;
  kv p[4];
  size_t np;
  BFD_TRY(params(c, name, n, keys, nk, p, 4, &np));
  double lo = -1e6, hi = 1e6;
  switch (kind) {
    case BFDK_IMG_BRIGHTNESS:
      op->lo = -0.1f;
      op->hi = 0.1f;
      break;
    case BFDK_IMG_CONTRAST:
      op->lo = 0.75f;
      op->hi = 1.25f;
      lo = 0.0;
      hi = 100.0;
      break;
    case BFDK_IMG_GAMMA:
      op->lo = 0.7f;
      op->hi = 1.5f;
      lo = 0.01;
      hi = 100.0;
      break;
    case BFDK_IMG_NOISE:
      op->lo = 0.0f;
      op->hi = 0.1f;
      lo = 0.0;
      break;
    case BFDK_IMG_BLUR:
      op->lo = 0.5f;
      op->hi = 1.0f;
      lo = 0.0;
      hi = 16.0;
      break;
    default:
      op->lo = 0.5f;
      op->hi = 1.0f;
      lo = 0.01;
      hi = 1.0;
      break;
  }
  op->prob = 1.0f;
  for (size_t i = 0; i < np; i++) {
    if (!strcmp(p[i].key, "prob"))
      BFD_TRY(get_float(c, p[i].value, name, "prob", 0.0, 1.0, &op->prob));
    else if (!strcmp(p[i].key, "invert_prob"))
      BFD_TRY(get_float(c, p[i].value, name, "invert_prob", 0.0, 1.0, &op->invert_prob));
    else
      BFD_TRY(get_range(c, p[i].value, name, rkey, lo, hi, &op->lo, &op->hi));
  }
  return BFD_OK;
}

/* ---- the list ---------------------------------------------------------------------------- */

static bfd_status one_op(ctx *c, yaml_node_t *item) {
  const char *name = scalar(item);
  yaml_node_t *pnode = NULL;
  if (!name && item->type == YAML_MAPPING_NODE && item->data.mapping.pairs.top - item->data.mapping.pairs.start == 1) {
    yaml_node_pair_t *pr = item->data.mapping.pairs.start;
    name = scalar(yaml_document_get_node(c->doc, pr->key));
    pnode = yaml_document_get_node(c->doc, pr->value);
    /* `- flip:` with nothing after the colon is a null scalar: no parameters */
    if (pnode && pnode->type == YAML_SCALAR_NODE && pnode->data.scalar.length == 0) pnode = NULL;
  }
  char list[256];
  join(list, sizeof list, OPS, N_OPS);
  if (!name)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: an op is a name or 'name: {parameters}' (ops: %s)", c->file,
                     line_of(item), list);
  int id = -1;
  for (int i = 0; i < N_OPS; i++)
    if (!strcmp(name, OPS[i])) id = i;
  if (id < 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: unknown op '%s' (valid: %s)", c->file, line_of(item), name, list);
  unsigned long line = line_of(item);
  bfdk_img_spec *sp = c->sp;

  if (id < N_GEO) {
    if (c->intensity_seen)
      return bfdi_fail(BFD_ERR_FORMAT,
                       "%s:%lu: geometry op %s comes after an intensity op: geometry ops are fused into one "
                       "resampling pass that runs first; move it before the intensity ops",
                       c->file, line, name);
    if (c->geo_seen[id]++) return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s appears twice: keep one", c->file, line, name);
    switch (id) {
      case 0: return op_crop(c, pnode, line);
      case 1: return op_flip(c, pnode);
      case 2: return op_prob_only(c, pnode, "rot90", &sp->rot90_prob);
      case 3: return op_prob_only(c, pnode, "permute", &sp->permute_prob);
      case 4: return op_affine(c, pnode);
      default: return op_elastic(c, pnode);
    }
  }

  c->intensity_seen = 1;
  if (sp->n_iops >= BFDK_IMG_MAX_OPS)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: more than %d intensity ops: merge some", c->file, line, BFDK_IMG_MAX_OPS);
  int k = sp->n_iops;
  bfdk_img_iop *op = &sp->iops[k];
  memset(op, 0, sizeof *op);
  int32_t kind = BFDK_IMG_NORMALIZE + (id - N_GEO);
  op->kind = kind;
  uint32_t base =
      kind == BFDK_IMG_NOISE
          ? BFD_RNG_NOISE
          : (kind == BFDK_IMG_BLUR ? BFD_RNG_BLUR : (kind == BFDK_IMG_LOWRES ? BFD_RNG_LOWRES : BFD_RNG_INTENSITY));
  op->rng_op = base | ((uint32_t)k << 16);
  bfd_status st = kind == BFDK_IMG_NORMALIZE ? op_normalize(c, pnode, op, line) : op_jitter(c, pnode, name, kind, op);
  if (st == BFD_OK) sp->n_iops++;
  return st;
}

bfd_status bfd_img_config_parse(yaml_document_t *doc, yaml_node_t *node, const char *file, bfdk_img_spec *spec) {
  if (!doc || !node || !spec) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_img_config_parse: NULL argument");
  if (!file) file = "<config>";
  bfdk_img_spec_init(spec);
  if (node->type != YAML_SEQUENCE_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: the image ops must be a list, one '- op' per line", file, line_of(node));
  ctx c;
  memset(&c, 0, sizeof c);
  c.doc = doc;
  c.file = file;
  c.sp = spec;
  for (size_t i = 0; i < seq_len(node); i++) BFD_TRY(one_op(&c, seq_item(&c, node, i)));
  return BFD_OK;
}

bfd_status bfd_img_config_load(const char *path, bfdk_img_spec *spec) {
  if (!path || !spec) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_img_config_load: NULL argument");
  yaml_document_t doc;
  BFD_TRY(bfdi_yaml_load_file(path, "image ops config", &doc));
  bfd_status st = BFD_OK;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (root && root->type == YAML_MAPPING_NODE) {
    yaml_node_t *ops = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
      const char *k = scalar(yaml_document_get_node(&doc, p->key));
      if (k && !strcmp(k, "ops"))
        ops = yaml_document_get_node(&doc, p->value);
      else
        st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: unknown key '%s' (an image ops file holds 'ops:' only)", path,
                       line_of(yaml_document_get_node(&doc, p->key)), k ? k : "?");
      if (st != BFD_OK) break;
    }
    if (st == BFD_OK && !ops) st = bfdi_fail(BFD_ERR_FORMAT, "%s: no 'ops:' list", path);
    root = ops;
  }
  if (st == BFD_OK) {
    if (!root)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: empty; expected a list of image ops", path);
    else
      st = bfd_img_config_parse(&doc, root, path, spec);
  }
  yaml_document_delete(&doc);
  return st;
}

/* Host-side checks and workspace layout for the image ops, shared by the
 * CPU and CUDA backends: everything that can be wrong with a batch is found
 * here, before any kernel runs, with a message that says what to change. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "img.h"
#include "ops/img_intensity.h"

static const char *op_name(int32_t kind) {
  switch (kind) {
    case BFDK_IMG_NORMALIZE: return "normalize";
    case BFDK_IMG_BRIGHTNESS: return "brightness";
    case BFDK_IMG_CONTRAST: return "contrast";
    case BFDK_IMG_GAMMA: return "gamma";
    case BFDK_IMG_NOISE: return "noise";
    case BFDK_IMG_BLUR: return "blur";
    case BFDK_IMG_LOWRES: return "lowres";
    default: return "?";
  }
}

static int label_in_ok(bfd_dtype t) {
  return t == BFD_DTYPE_UINT8 || t == BFD_DTYPE_UINT16 || t == BFD_DTYPE_INT16 || t == BFD_DTYPE_INT32 ||
         t == BFD_DTYPE_UINT32 || t == BFD_DTYPE_INT64;
}

/* Whether every value of label type `in` (and the pad value) fits `out`. */
static int label_fits(bfd_dtype in, bfd_dtype out) {
  if (out == BFD_DTYPE_INT64) return 1;
  if (out == BFD_DTYPE_INT32)
    return in == BFD_DTYPE_UINT8 || in == BFD_DTYPE_UINT16 || in == BFD_DTYPE_INT16 || in == BFD_DTYPE_INT32;
  return in == BFD_DTYPE_UINT8;
}

static int pad_fits(int64_t v, bfd_dtype out) {
  if (out == BFD_DTYPE_INT64) return 1;
  if (out == BFD_DTYPE_INT32) return v >= INT32_MIN && v <= INT32_MAX;
  return v >= 0 && v <= 255;
}

static void fmt_shape(char *buf, size_t n, const int64_t *s, int nd) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)s[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
}

static const char *axis_name(int a) { return a == 0 ? "z" : (a == 1 ? "y" : "x"); }

/* Every window shape the discrete transforms can give must fit the source
 * when padding is off: the patch itself, with y and x swapped by rot90 (or
 * the 2D permutation), and any order in 3D with permute. */
static bfd_status check_fit(const bfdk_img_spec *sp, const bfdk_img_dims *d) {
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  int swap_yx = sp->rot90_prob > 0.0f || (d->nd == 2 && sp->permute_prob > 0.0f);
  int any = d->nd == 3 && sp->permute_prob > 0.0f;
  for (int p = 0; p < 6; p++) {
    if (p > 0 && !any && !(swap_yx && p == 1)) continue;
    for (int a = 3 - d->nd; a < 3; a++) {
      int64_t w = d->out[perms[p][a]];
      if (w <= d->src[a]) continue;
      if (sp->crop_mode == BFDK_CROP_NONE)
        return bfdi_fail(BFD_ERR_INVALID_ARG,
                         "image ops: %s can turn the patch so that %lld voxels fall along %s, where the images have "
                         "%lld: without a crop op the images must have equal extents along the turned axes; add a "
                         "crop with a size that fits",
                         p == 1 && !any ? "rot90" : "permute", (long long)w, axis_name(a), (long long)d->src[a]);
      if (sp->pad == BFDK_PAD_NONE)
        return bfdi_fail(BFD_ERR_INVALID_ARG,
                         "image ops: crop needs %lld voxels along %s%s but the images have %lld and crop pad is none: "
                         "set pad: constant or pad: reflect, or a smaller crop size",
                         (long long)w, axis_name(a), p == 0 ? "" : " (after rot90 or permute)", (long long)d->src[a]);
    }
  }
  return BFD_OK;
}

void bfdk_img_spec_init(bfdk_img_spec *sp) {
  memset(sp, 0, sizeof *sp);
  sp->crop_mode = BFDK_CROP_NONE;
  sp->pad = BFDK_PAD_CONSTANT;
  for (int a = 0; a < 3; a++) {
    sp->size[a] = 1;
    sp->spacing[a] = 32;
  }
  sp->scale_lo = sp->scale_hi = 1.0f;
  sp->scale_iso = 1;
}

static size_t take(size_t *at, size_t bytes) {
  size_t o = *at;
  *at += (bytes + 255) & ~(size_t)255;
  return o;
}

bfd_status bfdk_img_plan_make(const bfdk_img_spec *sp, const bfdk_img_batch *bt, bfdk_img_plan *pl) {
  if (!sp || !bt || !pl) return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: spec, batch and plan must not be NULL");
  memset(pl, 0, sizeof *pl);
  bfdk_img_dims *d = &pl->dims;
  char sh[128], sh2[128];

  if (bt->ndim != 3 && bt->ndim != 4)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "image ops: samples have %d dimensions; expected 3 [C, Y, X] or 4 [C, Z, Y, X] (add a channel "
                     "axis of 1 to single-channel images)",
                     bt->ndim);
  if (bt->batch < 1 || bt->batch > INT32_MAX)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: batch size %zu is out of range [1, %d]", bt->batch, INT32_MAX);
  for (int i = 0; i < bt->ndim; i++)
    if (bt->shape[i] < 1 || bt->shape[i] > INT32_MAX / 2) {
      fmt_shape(sh, sizeof sh, bt->shape, bt->ndim);
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: sample shape %s has an extent out of range [1, %d]", sh,
                       INT32_MAX / 2);
    }
  d->nd = bt->ndim - 1;
  d->B = (int32_t)bt->batch;
  d->C = (int32_t)bt->shape[0];
  d->src[0] = d->nd == 3 ? bt->shape[1] : 1;
  d->src[1] = bt->shape[bt->ndim - 2];
  d->src[2] = bt->shape[bt->ndim - 1];
  if (sp->ndim && sp->ndim != d->nd)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "image ops: the op list is written for %dD %s (crop size or rotation has %d axes) but the samples "
                     "are %dD, %s: write the op list for %dD",
                     sp->ndim, sp->ndim == 3 ? "volumes" : "images", sp->ndim, d->nd,
                     d->nd == 3 ? "[C, Z, Y, X]" : "[C, Y, X]", d->nd);

  if (bt->dtype != BFD_DTYPE_UINT8 && bt->dtype != BFD_DTYPE_UINT16 && bt->dtype != BFD_DTYPE_INT16 &&
      bt->dtype != BFD_DTYPE_FLOAT32)
    return bfdi_fail(BFD_ERR_UNSUPPORTED,
                     "image ops: image dtype %s is not supported (uint8, uint16, int16 or float32): repack the data "
                     "as one of these",
                     bfd_dtype_name(bt->dtype));
  if (!bt->images || !bt->out || !bt->sample_index)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: images, out and sample_index must not be NULL");
  if (bt->out_dtype != BFDK_F32 && bt->out_dtype != BFDK_F16 && bt->out_dtype != BFDK_BF16)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: output dtype %d is not float32, float16 or bfloat16",
                     (int)bt->out_dtype);
  d->src_dtype = bt->dtype;
  d->out_dtype = bt->out_dtype;
  d->channels_last = bt->channels_last ? 1 : 0;
  d->seed = bt->seed;
  d->epoch = bt->epoch;

  if (bt->labels) {
    if (bt->label_ndim != d->nd || memcmp(bt->label_shape, bt->shape + 1, sizeof(int64_t) * (size_t)d->nd) != 0) {
      fmt_shape(sh, sizeof sh, bt->label_shape, bt->label_ndim > 0 && bt->label_ndim <= 3 ? bt->label_ndim : 0);
      fmt_shape(sh2, sizeof sh2, bt->shape + 1, d->nd);
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "image ops: label shape %s differs from the images' spatial shape %s: labels must cover the "
                       "image voxel for voxel",
                       sh, sh2);
    }
    if (!label_in_ok(bt->label_dtype))
      return bfdi_fail(BFD_ERR_UNSUPPORTED,
                       "image ops: label dtype %s is not supported (uint8, uint16, int16, int32, uint32, int64)",
                       bfd_dtype_name(bt->label_dtype));
    if (!bt->out_labels)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: the batch has labels but out_labels is NULL");
    if (bt->out_label_dtype != BFD_DTYPE_INT64 && bt->out_label_dtype != BFD_DTYPE_INT32 &&
        bt->out_label_dtype != BFD_DTYPE_UINT8)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: output label dtype %s is not int64, int32 or uint8",
                       bfd_dtype_name(bt->out_label_dtype));
    if (!label_fits(bt->label_dtype, bt->out_label_dtype))
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "image ops: %s labels do not fit %s outputs: choose int64%s, or pack the masks as uint8",
                       bfd_dtype_name(bt->label_dtype), bfd_dtype_name(bt->out_label_dtype),
                       bt->label_dtype == BFD_DTYPE_UINT32 ? "" : " or int32");
    if (!pad_fits(sp->label_pad, bt->out_label_dtype))
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: crop label_pad %lld does not fit %s labels",
                       (long long)sp->label_pad, bfd_dtype_name(bt->out_label_dtype));
    d->label_dtype = bt->label_dtype;
    d->out_label_dtype = bt->out_label_dtype;
  } else if (sp->crop_mode == BFDK_CROP_FOREGROUND) {
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "image ops: crop mode foreground needs labels, and this dataset has none: use mode random or "
                     "center, or pack the data with --labels");
  }

  for (int a = 0; a < 3; a++)
    d->out[a] = sp->crop_mode == BFDK_CROP_NONE ? d->src[a] : (a < 3 - d->nd ? 1 : sp->size[a]);
  for (int a = 3 - d->nd; a < 3; a++)
    if (d->out[a] < 1 || d->out[a] > INT32_MAX / 2)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: crop size along %s is %lld, out of range [1, %d]", axis_name(a),
                       (long long)d->out[a], INT32_MAX / 2);
  BFD_TRY(check_fit(sp, d));
  d->src_vox = d->src[0] * d->src[1] * d->src[2];
  d->out_vox = d->out[0] * d->out[1] * d->out[2];
  /* Noise streams index elements c * out_vox + v in 4-number draws of 32 bits. */
  if ((uint64_t)d->C * (uint64_t)d->out_vox >= ((uint64_t)1 << 33) || (uint64_t)d->src_vox >= ((uint64_t)1 << 32))
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "image ops: a sample of %lld voxels x %d channels (patch %lld voxels) is too large: at most 2^32 "
                     "voxels per channel and 2^33 patch elements per sample",
                     (long long)d->src_vox, d->C, (long long)d->out_vox);

  pl->norm = -1;
  int n_norm = 0;
  for (int k = 0; k < sp->n_iops; k++) {
    const bfdk_img_iop *op = &sp->iops[k];
    if (op->kind < BFDK_IMG_NORMALIZE || op->kind > BFDK_IMG_LOWRES)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: intensity op %d has unknown kind %d", k, (int)op->kind);
    if (op->kind == BFDK_IMG_NORMALIZE) {
      if (++n_norm > 1) return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: normalize appears more than once; keep one");
      pl->norm = k;
      pl->norm_data = op->norm_mode == BFDK_NORM_PERCENTILE || op->norm_mode == BFDK_NORM_MINMAX ||
                      (op->norm_mode == BFDK_NORM_ZSCORE && !op->fixed);
    }
    if (op->kind == BFDK_IMG_BLUR || op->kind == BFDK_IMG_LOWRES) pl->has_spatial = 1;
    if (op->kind == BFDK_IMG_BLUR) pl->has_blur = 1;
    if (!(op->prob >= 0.0f && op->prob <= 1.0f) || !(op->invert_prob >= 0.0f && op->invert_prob <= 1.0f) ||
        !(op->lo <= op->hi))
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "image ops: %s (intensity op %d): probabilities must be in [0, 1] and the range low <= high",
                       op_name(op->kind), k);
    if ((op->kind == BFDK_IMG_LOWRES && !(op->lo > 0.0f && op->hi <= 1.0f)) ||
        ((op->kind == BFDK_IMG_NOISE || op->kind == BFDK_IMG_BLUR) && !(op->lo >= 0.0f)) ||
        (op->kind == BFDK_IMG_GAMMA && !(op->lo > 0.0f)))
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "image ops: %s (intensity op %d): range [%g, %g] is out of bounds (lowres zoom in (0, 1], "
                       "sigma >= 0, gamma > 0)",
                       op_name(op->kind), k, (double)op->lo, (double)op->hi);
  }
  while (d->fused < sp->n_iops && bfd_img_pure_point(sp->iops[d->fused].kind)) d->fused++;

  int is_float = d->src_dtype == BFD_DTYPE_FLOAT32;
  const bfdk_img_iop *norm = pl->norm_data ? &sp->iops[pl->norm] : NULL;
  if (norm && !is_float) d->hist_bins = d->src_dtype == BFD_DTYPE_UINT8 ? 256 : 65536;
  d->radix = norm && is_float && bfd_img_radix_targets(norm) > 0;
  int float_moments = norm && is_float && norm->norm_mode == BFDK_NORM_ZSCORE;
  int need_pstat = 0;
  for (int k = 0; k < sp->n_iops; k++) need_pstat |= bfd_img_needs_pstat(sp->iops[k].kind);

  if (sp->elastic && (sp->spacing[0] < 1 || sp->spacing[1] < 1 || sp->spacing[2] < 1))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: elastic spacing [%d, %d, %d] must be at least 1 on every axis",
                     (int)sp->spacing[0], (int)sp->spacing[1], (int)sp->spacing[2]);
  if (sp->affine && !(sp->scale_lo > 0.0f && sp->scale_lo <= sp->scale_hi))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: affine scale range [%g, %g] must be positive, low <= high",
                     (double)sp->scale_lo, (double)sp->scale_hi);
  d->enodes[0] = 1;
  for (int a = 3 - d->nd; a < 3; a++) {
    int32_t spc = sp->spacing[a] > 0 ? sp->spacing[a] : 1;
    d->enodes[a] = (d->out[a] - 1) / spc + 2;
  }
  pl->nodes = sp->elastic ? d->enodes[0] * d->enodes[1] * d->enodes[2] : 0;
  if (pl->nodes > 1000000)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "image ops: elastic spacing gives %lld control points per sample: use a larger spacing",
                     (long long)pl->nodes);

  pl->need_fg = sp->crop_mode == BFDK_CROP_FOREGROUND;
  pl->src_chunks = (d->src_vox + BFDK_IMG_CHUNK - 1) / BFDK_IMG_CHUNK;
  pl->out_chunks = (d->out_vox + BFDK_IMG_CHUNK - 1) / BFDK_IMG_CHUNK;
  pl->lab_chunks = pl->need_fg ? pl->src_chunks : 0;

  size_t B = (size_t)d->B, BC = B * (size_t)d->C, N = (size_t)d->out_vox;
  size_t at = 0;
  pl->off_gidx = take(&at, B * sizeof(uint64_t));
  pl->off_samples = take(&at, B * sizeof(bfdk_img_sample));
  pl->off_cstat = take(&at, BC * sizeof(bfdk_img_cstat));
  pl->off_fg = take(&at, B * sizeof(int64_t));
  pl->off_hist = take(&at, d->hist_bins ? BC * (size_t)d->hist_bins * 4
                                        : (d->radix ? BC * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS * 4 : 0));
  pl->off_radix = take(&at, d->radix ? BC * BFDK_IMG_RADIX_TARGETS * sizeof(bfdk_img_radix) : 0);
  size_t parts = 0;
  if (float_moments) parts = (size_t)pl->src_chunks;
  if (need_pstat && (size_t)pl->out_chunks > parts) parts = (size_t)pl->out_chunks;
  pl->off_partials = take(&at, BC * parts * sizeof(bfdk_img_partial));
  pl->off_pstat = take(&at, BC * sizeof(bfdk_img_pstat));
  pl->off_fgcount = take(&at, B * (size_t)pl->lab_chunks * 4);
  pl->off_nodes = take(&at, B * (size_t)pl->nodes * 3 * sizeof(float));
  pl->off_blur = take(&at, !pl->has_blur ? 0 : B * BFDK_IMG_MAX_OPS * BFDK_IMG_BLUR_TAPS * sizeof(float));
  int direct = d->out_dtype == BFDK_F32 && !d->channels_last;
  pl->off_x = take(&at, direct || d->fused == sp->n_iops ? 0 : BC * N * sizeof(float));
  pl->off_y = take(&at, pl->has_spatial ? BC * N * sizeof(float) : 0);
  /* a multiple of 16 floats: no two threads' rows share a cache line */
  pl->row_floats = (d->C * d->out[2] + d->enodes[2] * 3 + 29 * d->out[2] + 16 + 15) / 16 * 16;
  pl->off_rows = take(&at, BFDK_IMG_CPU_TEAM * (size_t)pl->row_floats * sizeof(float));
  pl->work_bytes = at;

  if (bt->boxes) {
    if (pl->norm_data || pl->need_fg)
      return bfdi_fail(BFD_ERR_INVALID_ARG,
                       "image ops: source boxes given, but %s needs whole images: pass whole samples",
                       pl->need_fg ? "the foreground crop" : "normalize");
    for (size_t b = 0; b < bt->batch; b++)
      for (int a = 0; a < 3; a++)
        if (bt->boxes[b].lo[a] < 0 || bt->boxes[b].n[a] < 1 || bt->boxes[b].lo[a] + (int64_t)bt->boxes[b].n[a] > d->src[a])
          return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: sample %zu's source box along %s, [%d, +%d), is outside "
                           "the image's %lld voxels", b, axis_name(a), (int)bt->boxes[b].lo[a],
                           (int)bt->boxes[b].n[a], (long long)d->src[a]);
  }

  int o = 0;
  pl->out_shape[o++] = d->B;
  if (!d->channels_last) pl->out_shape[o++] = d->C;
  for (int a = 3 - d->nd; a < 3; a++) pl->out_shape[o++] = d->out[a];
  if (d->channels_last) pl->out_shape[o++] = d->C;
  pl->out_ndim = o;
  return BFD_OK;
}

/* Along one axis of n voxels, the inclusive range [lo, hi] of voxels read
 * after the border rule: constant padding never reads outside, reflection
 * may read anywhere. */
static void box_axis(double lo, double hi, int64_t n, int32_t pad, int32_t *blo, int32_t *bn) {
  if (pad == BFDK_PAD_REFLECT && (lo < 0.0 || hi > (double)(n - 1))) lo = 0.0, hi = (double)(n - 1);
  int64_t l = lo < 0.0 ? 0 : (lo > (double)(n - 1) ? n - 1 : (int64_t)lo);
  int64_t h = hi > (double)(n - 1) ? n - 1 : (hi < (double)l ? l : (int64_t)hi);
  *blo = (int32_t)l;
  *bn = (int32_t)(h - l + 1);
}

int bfdk_img_source_box(const bfdk_img_spec *sp, const bfdk_img_plan *pl, const bfdk_img_dims *d, uint64_t gidx,
                        float *nodes, bfdk_img_box *box) {
  if (pl->norm_data || pl->need_fg) return 0;
  bfdk_img_sample s;
  bfd_img_draw_sample(sp, d, gidx, -1, &s);
  double lo[3], hi[3];
  if (!s.interp) {
    for (int a = 0; a < 3; a++) {
      lo[a] = s.origin[a];
      hi[a] = (double)s.origin[a] + s.win[a] - 1;
    }
  } else {
    /* u_j spans the output axis plus the displacement's range: every
     * voxel's displacement is a blend of control points. */
    double ulo[3], uhi[3], dmin[3] = {0.0, 0.0, 0.0}, dmax[3] = {0.0, 0.0, 0.0};
    if (s.elastic)
      for (int64_t n = 0; n < pl->nodes; n++) {
        bfd_img_elastic_node(d, gidx, s.emag, n, nodes);
        for (int j = 0; j < 3; j++) {
          dmin[j] = nodes[j] < dmin[j] ? nodes[j] : dmin[j];
          dmax[j] = nodes[j] > dmax[j] ? nodes[j] : dmax[j];
        }
      }
    for (int j = 0; j < 3; j++) {
      ulo[j] = s.rev[j] ? -dmax[j] : dmin[j];
      uhi[j] = (double)(d->out[j] - 1) + (s.rev[j] ? -dmin[j] : dmax[j]);
    }
    /* The pass computes in float: a voxel of margin covers its rounding,
     * and the corners past floor(sc) (linear) or floor(sc + 0.5) (labels)
     * another. */
    for (int i = 0; i < 3; i++) {
      lo[i] = hi[i] = s.b[i];
      for (int j = 0; j < 3; j++) {
        double m = s.Mo[i][j];
        lo[i] += m * (m >= 0.0 ? ulo[j] : uhi[j]);
        hi[i] += m * (m >= 0.0 ? uhi[j] : ulo[j]);
      }
      lo[i] = floor(lo[i] - 1.0);
      hi[i] = floor(hi[i] + 1.0) + 1.0;
    }
  }
  for (int a = 0; a < 3; a++) box_axis(lo[a], hi[a], d->src[a], sp->pad, &box->lo[a], &box->n[a]);
  return 1;
}

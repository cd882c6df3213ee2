/* Per-element intensity ops on the float patch, shared by both backends:
 * the pointwise ops (normalize, brightness, contrast, gamma, noise), one
 * output voxel of a Gaussian blur pass along one axis and of the
 * low-resolution simulation, and the final stores (float32, float16 and
 * bfloat16 with round-to-nearest-even done on the bits, so no backend's
 * conversion instructions are involved; labels as int64, int32, uint8).
 * Patch element e of channel c is e = c * out_vox + voxel: the index of the
 * noise stream. */
#ifndef BFD_OPS_IMG_INTENSITY_H
#define BFD_OPS_IMG_INTENSITY_H

#include "ops/half.h"
#include "ops/img_stats.h"

/* Intensity op k with its per-sample draws ip, the channel's normalization
 * statistics cs and patch statistics ps (contrast, gamma), at element e. */
BFD_OP float bfd_img_point(const bfdk_img_iop *op, const float ip[3], bfdk_img_cstat cs, bfdk_img_pstat ps,
                           const bfdk_img_dims *d, uint64_t gidx, uint64_t e, float x) {
  switch (op->kind) {
    case BFDK_IMG_NORMALIZE: {
      if (op->norm_mode == BFDK_NORM_SCALE) return x * op->factor;
      float y = (x - cs.a) / cs.d;
      if (op->clip) y = y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
      return y;
    }
    case BFDK_IMG_BRIGHTNESS: return ip[0] != 0.0f ? x + ip[1] : x;
    case BFDK_IMG_CONTRAST: return ip[0] != 0.0f ? (x - ps.mean) * ip[1] + ps.mean : x;
    case BFDK_IMG_GAMMA: {
      if (ip[0] == 0.0f) return x;
      int inv = ip[2] != 0.0f;
      float r = ps.mx - ps.mn;
      float y = inv ? -x : x;
      float lo = inv ? -ps.mx : ps.mn;
      float o = bfd_powf((y - lo) / (r + 1e-7f), ip[1]) * r + lo;
      return inv ? -o : o;
    }
    case BFDK_IMG_NOISE: return ip[0] != 0.0f ? x + ip[1] * bfd_img_normal(bfd_img_key(d, gidx, op->rng_op), e) : x;
    default: return x;
  }
}

/* Whether op kind runs element by element without a statistic of the
 * patch: such ops fuse into the pass before them. */
BFD_OP int bfd_img_pure_point(int32_t kind) {
  return kind == BFDK_IMG_NORMALIZE || kind == BFDK_IMG_BRIGHTNESS || kind == BFDK_IMG_NOISE;
}

/* Whether op kind needs the patch statistics (a reduction) first. */
BFD_OP int bfd_img_needs_pstat(int32_t kind) { return kind == BFDK_IMG_CONTRAST || kind == BFDK_IMG_GAMMA; }

/* ---- blur ------------------------------------------------------------------- */

BFD_OP int bfd_img_blur_radius(float sigma) {
  int r = (int)(4.0f * sigma + 0.5f);
  return r < 0 ? 0 : (r > BFDK_IMG_MAX_BLUR_RADIUS ? BFDK_IMG_MAX_BLUR_RADIUS : r);
}

/* Normalized Gaussian taps w[0 .. 2r] for sigma; returns r. */
BFD_OP int bfd_img_blur_weights(float sigma, float *w) {
  int r = sigma > 0.0f ? bfd_img_blur_radius(sigma) : 0;
  if (r == 0) {
    w[0] = 1.0f;
    return 0;
  }
  float inv = -0.5f / (sigma * sigma);
  float sum = 0.0f;
  for (int k = -r; k <= r; k++) {
    w[k + r] = bfd_expf((float)(k * k) * inv);
    sum = sum + w[k + r];
  }
  for (int k = 0; k <= 2 * r; k++) w[k] = w[k] / sum;
  return r;
}

/* scipy.ndimage 'reflect' (edge repeated): d c b a | a b c d | d c b a. */
BFD_OP int64_t bfd_img_symmetric(int64_t i, int64_t n) {
  int64_t period = 2 * n;
  i %= period;
  if (i < 0) i += period;
  return i >= n ? period - 1 - i : i;
}

BFD_OP int64_t bfd_img_axis_stride(const bfdk_img_dims *d, int axis) {
  return axis == 2 ? 1 : (axis == 1 ? d->out[2] : d->out[1] * d->out[2]);
}

/* Blurred value of voxel v (coordinate pos along axis) of one channel. */
BFD_OP float bfd_img_blur_at(const float *ch, const bfdk_img_dims *d, const float *w, int r, int axis, int64_t v,
                             int64_t pos) {
  int64_t n = d->out[axis], stride = bfd_img_axis_stride(d, axis);
  int64_t base = v - pos * stride;
  float acc = 0.0f;
  for (int k = -r; k <= r; k++) acc = acc + w[k + r] * ch[base + bfd_img_symmetric(pos + k, n) * stride];
  return acc;
}

/* ---- low resolution ------------------------------------------------------------- */

/* Low-resolution extent of an axis of extent P at zoom z. */
BFD_OP int64_t bfd_img_lowres_extent(int64_t P, float z) {
  int64_t m = (int64_t)((float)P * z + 0.5f);
  return m < 1 ? 1 : (m > P ? P : m);
}

/* Position along one axis: the two low-resolution voxels, as the source
 * voxels their nearest-neighbour down-sampling took, and the weight. */
BFD_OP void bfd_img_lowres_axis(int64_t o, int64_t P, float z, int64_t *s0, int64_t *s1, float *f) {
  int64_t m = bfd_img_lowres_extent(P, z);
  float q = ((float)o + 0.5f) * (float)m / (float)P - 0.5f;
  float qmax = (float)(m - 1);
  q = q < 0.0f ? 0.0f : (q > qmax ? qmax : q);
  int64_t i0 = bfd_floori(q);
  *f = q - (float)i0;
  int64_t i1 = i0 + 1 < m ? i0 + 1 : m - 1;
  *s0 = ((2 * i0 + 1) * P) / (2 * m);
  *s1 = ((2 * i1 + 1) * P) / (2 * m);
}

/* Voxel (oz, oy, ox) of one channel after down-sampling by zoom z (nearest)
 * and up-sampling back (linear, half-pixel centres, edges clamped). */
BFD_OP float bfd_img_lowres_at(const float *ch, const bfdk_img_dims *d, float z, int64_t oz, int64_t oy, int64_t ox) {
  int64_t sz[2], sy[2], sx[2];
  float fz = 0.0f, fy, fx;
  sz[0] = sz[1] = 0;
  if (d->nd == 3) bfd_img_lowres_axis(oz, d->out[0], z, &sz[0], &sz[1], &fz);
  bfd_img_lowres_axis(oy, d->out[1], z, &sy[0], &sy[1], &fy);
  bfd_img_lowres_axis(ox, d->out[2], z, &sx[0], &sx[1], &fx);
  float v[2];
  for (int a = 0; a < 2; a++) {
    if (a && fz == 0.0f) break;
    float r[2];
    for (int b = 0; b < 2; b++) {
      if (b && fy == 0.0f) break;
      const float *row = ch + (sz[a] * d->out[1] + sy[b]) * d->out[2];
      r[b] = fx != 0.0f ? bfd_img_lerp(row[sx[0]], row[sx[1]], fx) : row[sx[0]];
    }
    v[a] = fy != 0.0f ? bfd_img_lerp(r[0], r[1], fy) : r[0];
  }
  return fz != 0.0f ? bfd_img_lerp(v[0], v[1], fz) : v[0];
}

/* ---- stores -------------------------------------------------------------------- */

BFD_OP void bfd_img_store(void *out, int32_t odt, int64_t i, float v) {
  if (odt == BFDK_F32)
    ((float *)out)[i] = v;
  else if (odt == BFDK_F16)
    ((uint16_t *)out)[i] = bfd_f32_to_f16(v);
  else
    ((uint16_t *)out)[i] = bfd_f32_to_bf16(v);
}

BFD_OP void bfd_img_store_label(void *out, int32_t dt, int64_t i, int64_t v) {
  if (dt == BFD_DTYPE_INT64)
    ((int64_t *)out)[i] = v;
  else if (dt == BFD_DTYPE_INT32)
    ((int32_t *)out)[i] = (int32_t)v;
  else
    ((uint8_t *)out)[i] = (uint8_t)v;
}

/* Output index of channel c at patch voxel v of sample b. */
BFD_OP int64_t bfd_img_out_index(const bfdk_img_dims *d, int64_t b, int64_t c, int64_t v) {
  return d->channels_last ? (b * d->out_vox + v) * d->C + c : (b * d->C + c) * d->out_vox + v;
}

#endif

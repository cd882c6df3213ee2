/* Per-element geometry of the image ops, shared by the CPU loops and the
 * CUDA kernels: element loads, border handling, what is drawn per sample
 * (crop window, flips, rot90, permutation, affine matrix, elastic control
 * points), and the source coordinate and value of one output voxel. The
 * conventions are in ops/img_types.h. Every random number comes from
 * Philox keyed by (seed, epoch, global sample index, op). A sample's
 * parameters are the first words of their op's stream; the two ops with a
 * stream of normal numbers (elastic control points, noise) take their
 * parameters from draw 0 only and the stream from draws 1 and up. */
#ifndef BFD_OPS_IMG_GEOM_H
#define BFD_OPS_IMG_GEOM_H

#include "biofeed/shard.h"
#include "ops/img_types.h"
#include "ops/philox.h"
#include "ops/pmath.h"

/* Bytes per element of the dtypes the image ops read and write. */
BFD_OP size_t bfd_img_dtype_size(int32_t dtype) {
  switch (dtype) {
    case BFD_DTYPE_UINT8: return 1;
    case BFD_DTYPE_UINT16:
    case BFD_DTYPE_INT16: return 2;
    case BFD_DTYPE_INT64: return 8;
    default: return 4;
  }
}

BFD_OP float bfd_img_load(const void *p, int32_t dtype, int64_t i) {
  switch (dtype) {
    case BFD_DTYPE_UINT8: return (float)((const uint8_t *)p)[i];
    case BFD_DTYPE_UINT16: return (float)((const uint16_t *)p)[i];
    case BFD_DTYPE_INT16: return (float)((const int16_t *)p)[i];
    default: return ((const float *)p)[i];
  }
}

BFD_OP int64_t bfd_img_label_load(const void *p, int32_t dtype, int64_t i) {
  switch (dtype) {
    case BFD_DTYPE_UINT8: return ((const uint8_t *)p)[i];
    case BFD_DTYPE_UINT16: return ((const uint16_t *)p)[i];
    case BFD_DTYPE_INT16: return ((const int16_t *)p)[i];
    case BFD_DTYPE_INT32: return ((const int32_t *)p)[i];
    case BFD_DTYPE_UINT32: return ((const uint32_t *)p)[i];
    default: return ((const int64_t *)p)[i];
  }
}

BFD_OP bfd_rng_key bfd_img_key(const bfdk_img_dims *d, uint64_t gidx, uint32_t op) {
  bfd_rng_key k;
  k.seed = d->seed;
  k.epoch = d->epoch;
  k.sample = gidx;
  k.op = op;
  return k;
}

/* Uniform in [0, 1) from word `word` of draw 0. */
BFD_OP float bfd_img_u01(bfd_rng_key k, uint32_t word) { return bfd_u01(bfd_rng_u32(k, word)); }

BFD_OP float bfd_img_uniform(bfd_rng_key k, uint32_t word, float lo, float hi) {
  return lo + (hi - lo) * bfd_img_u01(k, word);
}

/* Box-Muller from two words: the squared radius from a (u1 in (0, 1], so
 * that the log is finite) and the angle from b. */
BFD_OP float bfd_img_bm_r2(uint32_t a) { return -2.0f * bfd_logf_pos((float)((a >> 8) + 1) * (1.0f / 16777216.0f)); }
BFD_OP void bfd_img_bm_angle(uint32_t b, float *s, float *c) { bfd_sincos_turns(bfd_u01(b), s, c); }

/* Standard normal number e of the stream: draw 1 + e/4 gives four words,
 * two (radius, angle) pairs and so four numbers: r cos, r sin of the first
 * pair, then of the second. */
BFD_OP float bfd_img_normal(bfd_rng_key k, uint64_t e) {
  philox4x32_ctr_t w = bfd_rng4(k, (uint32_t)(1 + (e >> 2)));
  uint32_t lane = (uint32_t)(e & 3);
  float r = sqrtf(bfd_img_bm_r2(w.v[lane & 2u])), s, c;
  bfd_img_bm_angle(w.v[(lane & 2u) + 1], &s, &c);
  return (lane & 1u) ? r * s : r * c;
}

/* numpy.pad 'reflect' (no edge repeat) index for any i; n >= 1. */
BFD_OP int64_t bfd_img_mirror(int64_t i, int64_t n) {
  if (n == 1) return 0;
  int64_t period = 2 * (n - 1);
  i %= period;
  if (i < 0) i += period;
  return i >= n ? period - i : i;
}

/* Source index along an axis of extent n, or -1 when the read is padding. */
BFD_OP int64_t bfd_img_border(int64_t i, int64_t n, int32_t pad) {
  if (i >= 0 && i < n) return i;
  return pad == BFDK_PAD_REFLECT ? bfd_img_mirror(i, n) : -1;
}

BFD_OP float bfd_img_lerp(float a, float b, float f) { return a + f * (b - a); }

/* ---- per-sample draws ---------------------------------------------------- */

/* Foreground crop: whether this sample centres on a foreground voxel, and
 * which (its rank among the count non-zero label voxels in raster order).
 * -1 when it does not. */
BFD_OP int64_t bfd_img_fg_rank(const bfdk_img_spec *sp, const bfdk_img_dims *d, uint64_t gidx, uint64_t count) {
  if (sp->crop_mode != BFDK_CROP_FOREGROUND || count == 0) return -1;
  bfd_rng_key k = bfd_img_key(d, gidx, BFD_RNG_CROP);
  if (!(bfd_img_u01(k, 0) < sp->fg_prob)) return -1;
  return (int64_t)(((uint64_t)bfd_rng_u32(k, 1) * count) >> 32);
}

/* C = A B for 3x3 matrices, each element summed in index order. */
BFD_OP void bfd_img_mat3(const float A[3][3], const float B[3][3], float C[3][3]) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) C[i][j] = (A[i][0] * B[0][j] + A[i][1] * B[1][j]) + A[i][2] * B[2][j];
}

BFD_OP void bfd_img_eye3(float A[3][3]) {
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) A[i][j] = i == j ? 1.0f : 0.0f;
}

/* Rotation by `deg` degrees in the plane of axes (p, q). */
BFD_OP void bfd_img_rot3(float deg, int p, int q, float R[3][3]) {
  float s, c;
  bfd_sincos_turns(deg / 360.0f, &s, &c);
  bfd_img_eye3(R);
  R[p][p] = c;
  R[p][q] = -s;
  R[q][p] = s;
  R[q][q] = c;
}

/* Window origin along one axis: random, or centred on voxel v (v < 0: random). */
BFD_OP int32_t bfd_img_origin(const bfdk_img_spec *sp, int64_t S, int64_t W, int64_t v, bfd_rng_key k, uint32_t word) {
  int64_t lo = S - W < 0 ? S - W : 0, hi = S - W > 0 ? S - W : 0;
  int64_t o;
  if (sp->crop_mode == BFDK_CROP_CENTER) {
    int64_t g = S - W;
    o = g >= 0 ? g / 2 : -((1 - g) / 2);
  } else if (sp->crop_mode == BFDK_CROP_FOREGROUND && v >= 0) {
    o = v - W / 2;
    o = o < lo ? lo : (o > hi ? hi : o);
  } else if (sp->crop_mode == BFDK_CROP_NONE) {
    o = 0;
  } else {
    o = lo + (int64_t)bfd_below(bfd_rng_u32(k, word), (uint32_t)(hi - lo + 1));
  }
  return (int32_t)o;
}

/* Everything drawn for one sample; fg is the chosen foreground voxel's
 * linear index in the source, or -1. */
BFD_OP void bfd_img_draw_sample(const bfdk_img_spec *sp, const bfdk_img_dims *d, uint64_t gidx, int64_t fg,
                                bfdk_img_sample *s) {
  int nd = d->nd;
  int32_t aF[3] = {0, 1, 2}, rF[3] = {0, 0, 0};
  int32_t aR[3] = {0, 1, 2}, rR[3] = {0, 0, 0};
  int32_t aP[3] = {0, 1, 2}, rP[3] = {0, 0, 0};

  bfd_rng_key kf = bfd_img_key(d, gidx, BFD_RNG_FLIP);
  for (int a = 3 - nd; a < 3; a++) rF[a] = bfd_img_u01(kf, (uint32_t)a) < sp->flip_prob[a];

  bfd_rng_key kr = bfd_img_key(d, gidx, BFD_RNG_ROT90);
  if (bfd_img_u01(kr, 0) < sp->rot90_prob) {
    /* numpy.rot90 by k in the (y, x) plane, as output axis -> input axis */
    uint32_t rk = 1 + bfd_below(bfd_rng_u32(kr, 1), 3);
    if (rk == 1) {
      aR[1] = 2;
      rR[1] = 1;
      aR[2] = 1;
    } else if (rk == 2) {
      rR[1] = 1;
      rR[2] = 1;
    } else {
      aR[1] = 2;
      aR[2] = 1;
      rR[2] = 1;
    }
  }

  bfd_rng_key kp = bfd_img_key(d, gidx, BFD_RNG_PERMUTE);
  if (bfd_img_u01(kp, 0) < sp->permute_prob) {
    if (nd == 2) {
      aP[1] = 2;
      aP[2] = 1;
    } else {
      /* the five permutations other than the identity */
      const int32_t perms[5][3] = {{0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
      uint32_t pi = bfd_below(bfd_rng_u32(kp, 1), 5);
      for (int i = 0; i < 3; i++) aP[i] = perms[pi][i];
    }
  }

  for (int i = 0; i < 3; i++) {
    int32_t j = aP[i];
    s->axis[i] = aF[aR[j]];
    s->rev[i] = rP[i] ^ rR[j] ^ rF[aR[j]];
    s->win[s->axis[i]] = (int32_t)d->out[i];
  }

  int64_t v[3] = {-1, -1, -1};
  if (fg >= 0) {
    v[2] = fg % d->src[2];
    v[1] = (fg / d->src[2]) % d->src[1];
    v[0] = fg / (d->src[2] * d->src[1]);
  }
  bfd_rng_key kc = bfd_img_key(d, gidx, BFD_RNG_CROP);
  for (int a = 0; a < 3; a++) s->origin[a] = bfd_img_origin(sp, d->src[a], s->win[a], v[a], kc, 2 + (uint32_t)a);

  float A[3][3], t[3] = {0.0f, 0.0f, 0.0f};
  bfd_img_eye3(A);
  int affine = 0;
  bfd_rng_key ka = bfd_img_key(d, gidx, BFD_RNG_AFFINE);
  if (sp->affine && bfd_img_u01(ka, 0) < sp->affine_prob) {
    affine = 1;
    float R[3][3], T[3][3], U[3][3], Sh[3][3], Sc[3][3];
    bfd_img_rot3(bfd_img_uniform(ka, 1, sp->rot_lo[0], sp->rot_hi[0]), 1, 2, R);
    if (nd == 3) {
      bfd_img_rot3(bfd_img_uniform(ka, 2, sp->rot_lo[1], sp->rot_hi[1]), 2, 0, T);
      bfd_img_mat3(R, T, U);
      bfd_img_rot3(bfd_img_uniform(ka, 3, sp->rot_lo[2], sp->rot_hi[2]), 0, 1, T);
      bfd_img_mat3(U, T, R);
    }
    bfd_img_eye3(Sh);
    Sh[2][1] = bfd_img_uniform(ka, 7, sp->shear_lo, sp->shear_hi);
    if (nd == 3) {
      Sh[2][0] = bfd_img_uniform(ka, 8, sp->shear_lo, sp->shear_hi);
      Sh[1][0] = bfd_img_uniform(ka, 9, sp->shear_lo, sp->shear_hi);
    }
    bfd_img_eye3(Sc);
    float iso = bfd_img_uniform(ka, 4, sp->scale_lo, sp->scale_hi);
    for (int a = 3 - nd; a < 3; a++) {
      float sc = sp->scale_iso ? iso : bfd_img_uniform(ka, 4 + (uint32_t)a, sp->scale_lo, sp->scale_hi);
      Sc[a][a] = 1.0f / sc;
      t[a] = bfd_img_uniform(ka, 10 + (uint32_t)a, sp->shift_lo, sp->shift_hi);
    }
    bfd_img_mat3(R, Sh, T);
    bfd_img_mat3(T, Sc, A);
  }

  s->elastic = 0;
  s->emag = 0.0f;
  bfd_rng_key ke = bfd_img_key(d, gidx, BFD_RNG_ELASTIC);
  if (sp->elastic && bfd_img_u01(ke, 0) < sp->elastic_prob) {
    s->elastic = 1;
    s->emag = bfd_img_uniform(ke, 1, sp->mag_lo, sp->mag_hi);
  }
  s->interp = affine || s->elastic;
  for (int a = 0; a < 3; a++) {
    s->blo[a] = 0;
    s->bn[a] = (int32_t)d->src[a];
  }

  float c[3];
  for (int a = 0; a < 3; a++) c[a] = (float)(s->win[a] - 1) * 0.5f;
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 3; j++) s->Mo[i][j] = A[i][s->axis[j]];
    s->b[i] = (((float)s->origin[i] + c[i]) + t[i]) - ((A[i][0] * c[0] + A[i][1] * c[1]) + A[i][2] * c[2]);
  }

  for (int k = 0; k < sp->n_iops; k++) {
    const bfdk_img_iop *op = &sp->iops[k];
    bfd_rng_key ki = bfd_img_key(d, gidx, op->rng_op);
    s->ip[k][0] = (op->kind == BFDK_IMG_NORMALIZE || bfd_img_u01(ki, 0) < op->prob) ? 1.0f : 0.0f;
    s->ip[k][1] = bfd_img_uniform(ki, 1, op->lo, op->hi);
    s->ip[k][2] = bfd_img_u01(ki, 2) < op->invert_prob ? 1.0f : 0.0f;
  }
}

/* ---- elastic field ------------------------------------------------------- */

/* Control point n (linear over enodes) of a sample: Gaussian displacements
 * drawn per point and axis, smoothed over the neighbouring points with a
 * [1 2 1]/4 filter per axis (edges clamped) and rescaled so that an
 * interior point has standard deviation emag. out[a] is along output axis a. */
BFD_OP void bfd_img_elastic_node(const bfdk_img_dims *d, uint64_t gidx, float emag, int64_t n, float out[3]) {
  bfd_rng_key k = bfd_img_key(d, gidx, BFD_RNG_ELASTIC);
  int64_t nz = d->enodes[0], ny = d->enodes[1], nx = d->enodes[2];
  int64_t kx = n % nx, ky = (n / nx) % ny, kz = n / (nx * ny);
  const float w3[3] = {0.25f, 0.5f, 0.25f};
  float norm = d->nd == 3 ? sqrtf(0.375f * 0.375f * 0.375f) : 0.375f;
  int zr = d->nd == 3 ? 1 : 0;
  out[0] = 0.0f;
  for (int comp = 3 - d->nd; comp < 3; comp++) {
    float acc = 0.0f;
    for (int dz = -zr; dz <= zr; dz++)
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++) {
          int64_t z = kz + dz, y = ky + dy, x = kx + dx;
          z = z < 0 ? 0 : (z >= nz ? nz - 1 : z);
          y = y < 0 ? 0 : (y >= ny ? ny - 1 : y);
          x = x < 0 ? 0 : (x >= nx ? nx - 1 : x);
          float w = (zr ? w3[dz + 1] : 1.0f) * w3[dy + 1] * w3[dx + 1];
          acc = acc + w * bfd_img_normal(k, (uint64_t)((((z * ny + y) * nx) + x) * 3 + comp));
        }
    out[comp] = acc / norm * emag;
  }
}

BFD_OP float bfd_img_enode(const float *nodes, const bfdk_img_dims *d, int64_t kz, int64_t ky, int64_t kx, int comp) {
  return nodes[((kz * d->enodes[1] + ky) * d->enodes[2] + kx) * 3 + comp];
}

/* Cell and fraction of output coordinate o along an axis of spacing sp. */
BFD_OP int64_t bfd_img_ecell(int64_t o, int32_t sp, float *f) {
  int64_t k = o / sp;
  *f = (float)(o - k * sp) / (float)sp;
  return k;
}

/* The field interpolated along z then y at x node kx: the part of a
 * voxel's displacement that is constant along an output row. */
BFD_OP float bfd_img_elastic_zy(const float *nodes, const bfdk_img_dims *d, int64_t kz, float fz, int64_t ky, float fy,
                                int64_t kx, int comp) {
  float e0 = bfd_img_enode(nodes, d, kz, ky, kx, comp);
  if (fz != 0.0f) e0 = bfd_img_lerp(e0, bfd_img_enode(nodes, d, kz + 1, ky, kx, comp), fz);
  if (fy == 0.0f) return e0;
  float e1 = bfd_img_enode(nodes, d, kz, ky + 1, kx, comp);
  if (fz != 0.0f) e1 = bfd_img_lerp(e1, bfd_img_enode(nodes, d, kz + 1, ky + 1, kx, comp), fz);
  return bfd_img_lerp(e0, e1, fy);
}

/* ---- resampling ---------------------------------------------------------- */

/* Window coordinate along output axis j for output index o and displacement
 * dj: the integer walk of the signed permutation, plus dj with its sign. */
BFD_OP float bfd_img_ucoord(const bfdk_img_sample *s, int j, int64_t o, int elastic, float dj) {
  int64_t q = s->rev[j] ? s->win[s->axis[j]] - 1 - o : o;
  if (!elastic) return (float)q;
  return (float)q + (s->rev[j] ? -dj : dj);
}

/* Source coordinate along source axis i from the three window coordinates. */
BFD_OP float bfd_img_scoord(const bfdk_img_sample *s, int i, const float u[3]) {
  return ((s->b[i] + s->Mo[i][0] * u[0]) + s->Mo[i][1] * u[1]) + s->Mo[i][2] * u[2];
}

/* Elastic displacement of output voxel (oz, oy, ox), per output axis. The
 * field is interpolated along z, then y (bfd_img_elastic_zy, constant along
 * a row), then x. */
BFD_OP void bfd_img_elastic_disp(const bfdk_img_dims *d, const int32_t spacing[3], const float *nodes, int64_t oz,
                                 int64_t oy, int64_t ox, float dd[3]) {
  float fz, fy, fx;
  int64_t kz = bfd_img_ecell(oz, spacing[0], &fz);
  int64_t ky = bfd_img_ecell(oy, spacing[1], &fy);
  int64_t kx = bfd_img_ecell(ox, spacing[2], &fx);
  dd[0] = 0.0f;
  for (int comp = 3 - d->nd; comp < 3; comp++) {
    float e0 = bfd_img_elastic_zy(nodes, d, kz, fz, ky, fy, kx, comp);
    dd[comp] = fx == 0.0f ? e0 : bfd_img_lerp(e0, bfd_img_elastic_zy(nodes, d, kz, fz, ky, fy, kx + 1, comp), fx);
  }
}

/* Source coordinate of output voxel (oz, oy, ox) on the resampling path,
 * given its elastic displacement dd (ignored without elastic). */
BFD_OP void bfd_img_source_coord(const bfdk_img_sample *s, int64_t oz, int64_t oy, int64_t ox, const float dd[3],
                                 float sc[3]) {
  float u[3] = {bfd_img_ucoord(s, 0, oz, s->elastic, dd[0]), bfd_img_ucoord(s, 1, oy, s->elastic, dd[1]),
                bfd_img_ucoord(s, 2, ox, s->elastic, dd[2])};
  for (int i = 0; i < 3; i++) sc[i] = bfd_img_scoord(s, i, u);
}

/* Offset in the sample's buffer of source voxel (z, y, x), which its box holds. */
BFD_OP int64_t bfd_img_at(const bfdk_img_sample *s, int64_t z, int64_t y, int64_t x) {
  return ((z - s->blo[0]) * s->bn[1] + (y - s->blo[1])) * s->bn[2] + (x - s->blo[2]);
}

/* One source value with the border rule; pad is the constant for padding. */
BFD_OP float bfd_img_tap(const void *src, int32_t dtype, const bfdk_img_dims *d, const bfdk_img_sample *s, int32_t pad,
                         float padv, int64_t z, int64_t y, int64_t x) {
  z = bfd_img_border(z, d->src[0], pad);
  y = bfd_img_border(y, d->src[1], pad);
  x = bfd_img_border(x, d->src[2], pad);
  if (z < 0 || y < 0 || x < 0) return padv;
  return bfd_img_load(src, dtype, bfd_img_at(s, z, y, x));
}

/* The lerps of a bilinear / trilinear sample from its corner values
 * v[dz][dy][dx]: along x, then y, then z. Corners across a zero weight are
 * never read, so integer coordinates give the source value exactly. */
BFD_OP float bfd_img_trilerp(const float v[2][2][2], const float f[3]) {
  float r[2][2] = {{0.0f, 0.0f}, {0.0f, 0.0f}};
  for (int dz = 0; dz < 2; dz++) {
    if (dz && f[0] == 0.0f) break;
    for (int dy = 0; dy < 2; dy++) {
      if (dy && f[1] == 0.0f) break;
      r[dz][dy] = f[2] != 0.0f ? bfd_img_lerp(v[dz][dy][0], v[dz][dy][1], f[2]) : v[dz][dy][0];
    }
  }
  float a = f[1] != 0.0f ? bfd_img_lerp(r[0][0], r[0][1], f[1]) : r[0][0];
  if (f[0] == 0.0f) return a;
  float b = f[1] != 0.0f ? bfd_img_lerp(r[1][0], r[1][1], f[1]) : r[1][0];
  return bfd_img_lerp(a, b, f[0]);
}

/* Bilinear / trilinear value of one channel at source coordinate sc. Reads
 * straight from the source when every corner needed is inside it, else
 * through the border rule. */
BFD_OP float bfd_img_sample_linear(const void *src, int32_t dtype, const bfdk_img_dims *d, const bfdk_img_sample *s,
                                   int32_t pad, float padv, const float sc[3]) {
  int64_t i[3];
  float f[3];
  int inside = 1;
  for (int a = 0; a < 3; a++) {
    int32_t fl = bfd_floori(sc[a]);
    i[a] = fl;
    f[a] = sc[a] - (float)fl;
    inside &= fl >= 0 && fl + (f[a] != 0.0f) < d->src[a];
  }
  int nz = f[0] != 0.0f ? 2 : 1, ny = f[1] != 0.0f ? 2 : 1, nx = f[2] != 0.0f ? 2 : 1;
  float v[2][2][2];
  if (inside) {
    int64_t sy = s->bn[2], sz = (int64_t)s->bn[1] * s->bn[2];
    int64_t base = bfd_img_at(s, i[0], i[1], i[2]);
    for (int dz = 0; dz < nz; dz++)
      for (int dy = 0; dy < ny; dy++)
        for (int dx = 0; dx < nx; dx++) v[dz][dy][dx] = bfd_img_load(src, dtype, base + dz * sz + dy * sy + dx);
  } else {
    for (int dz = 0; dz < nz; dz++)
      for (int dy = 0; dy < ny; dy++)
        for (int dx = 0; dx < nx; dx++)
          v[dz][dy][dx] = bfd_img_tap(src, dtype, d, s, pad, padv, i[0] + dz, i[1] + dy, i[2] + dx);
  }
  return bfd_img_trilerp(v, f);
}

/* Nearest label at sc (halves round up). */
BFD_OP int64_t bfd_img_sample_label(const void *lab, int32_t dtype, const bfdk_img_dims *d, const bfdk_img_sample *s,
                                    int32_t pad, int64_t padv, const float sc[3]) {
  int64_t z = bfd_img_border(bfd_floori(sc[0] + 0.5f), d->src[0], pad);
  int64_t y = bfd_img_border(bfd_floori(sc[1] + 0.5f), d->src[1], pad);
  int64_t x = bfd_img_border(bfd_floori(sc[2] + 0.5f), d->src[2], pad);
  if (z < 0 || y < 0 || x < 0) return padv;
  return bfd_img_label_load(lab, dtype, bfd_img_at(s, z, y, x));
}

/* Source voxel of output voxel o on the copy path, as unbordered indices. */
BFD_OP void bfd_img_copy_coord(const bfdk_img_sample *s, int64_t oz, int64_t oy, int64_t ox, int64_t w[3]) {
  int64_t o[3] = {oz, oy, ox};
  for (int j = 0; j < 3; j++) {
    int32_t a = s->axis[j];
    w[a] = s->origin[a] + (s->rev[j] ? s->win[a] - 1 - o[j] : o[j]);
  }
}

#endif

// The CUDA backend of the image ops: one kernel per step of
// kernels/cpu/img_cpu.c, each thread calling the same kernels/ops/img_*.h
// functions for one element, so the results equal the CPU backend's bit
// for bit. Histograms and counts use integer atomics only (their totals do
// not depend on order); float sums run in fixed-size chunks whose 256
// lanes and shared-memory tree match the CPU's loop. Everything is queued
// on the caller's stream; nothing here waits for the GPU.
#include <cuda_runtime.h>

#include "cuda/launch.h"
#include "img.h"
#include "ops/img_intensity.h"

#define T BFDK_IMG_THREADS

static unsigned grid_for(int64_t n) {
  int64_t g = (n + T - 1) / T;
  return (unsigned)(g > (1 << 24) ? (1 << 24) : g);
}

// Blocks for a kernel that loops over `n` blocks' worth of work itself.
static unsigned blocks_for(int64_t n) { return (unsigned)(n > (1 << 24) ? (1 << 24) : n); }

__device__ static int64_t gtid() { return (int64_t)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ static int64_t gstride() { return (int64_t)gridDim.x * blockDim.x; }

__device__ static const void *channel(const void *base, size_t esize, int64_t bc, int64_t n) {
  return (const char *)base + (size_t)bc * (size_t)n * esize;
}

// ---- image statistics ----------------------------------------------------------

__global__ void img_hist_kernel(bfdk_img_dims d, const void *images, uint32_t *hist, int64_t total) {
  size_t es = d.src_dtype == BFD_DTYPE_UINT8 ? 1 : 2;
  for (int64_t i = gtid(); i < total; i += gstride()) {
    int64_t bc = i / d.src_vox;
    uint32_t bin = bfd_img_hist_bin(channel(images, es, bc, d.src_vox), d.src_dtype, i % d.src_vox);
    atomicAdd(&hist[(size_t)bc * (size_t)d.hist_bins + bin], 1u);
  }
}

__global__ void img_hist_stats_kernel(bfdk_img_iop norm, bfdk_img_dims d, const uint32_t *hist, bfdk_img_cstat *cst,
                                      int64_t bcs) {
  for (int64_t bc = gtid(); bc < bcs; bc += gstride())
    cst[bc] = bfd_img_hist_cstat(&norm, d.src_dtype, hist + (size_t)bc * (size_t)d.hist_bins, d.hist_bins,
                                 (uint64_t)d.src_vox);
}

__global__ void img_cstat_fixed_kernel(bfdk_img_iop norm, bfdk_img_cstat *cst, int64_t bcs) {
  double v[4] = {0.0, 0.0, 0.0, 0.0}, t[2] = {0.0, 0.0};
  for (int64_t bc = gtid(); bc < bcs; bc += gstride()) cst[bc] = bfd_img_cstat_make(&norm, 0, v, t, 0.0, 0.0);
}

__global__ void img_radix_init_kernel(bfdk_img_iop norm, bfdk_img_dims d, bfdk_img_radix *radix, int64_t bcs) {
  for (int64_t bc = gtid(); bc < bcs; bc += gstride())
    bfd_img_radix_init(&norm, (uint64_t)d.src_vox, radix + bc * BFDK_IMG_RADIX_TARGETS);
}

__global__ void img_radix_count_kernel(bfdk_img_dims d, int nt, int pass, const float *images,
                                       const bfdk_img_radix *radix, uint32_t *hist, int64_t total) {
  for (int64_t i = gtid(); i < total; i += gstride()) {
    int64_t bc = i / d.src_vox;
    int32_t bin[4];
    bfd_img_radix_bins(radix + bc * BFDK_IMG_RADIX_TARGETS, nt, pass, bfd_img_fkey(images[i]), bin);
    uint32_t *h = hist + (size_t)bc * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS;
    for (int j = 0; j < nt; j++)
      if (bin[j] >= 0) atomicAdd(&h[j * BFDK_IMG_RADIX_BINS + bin[j]], 1u);
  }
}

__global__ void img_radix_step_kernel(int nt, int pass, bfdk_img_radix *radix, const uint32_t *hist, int64_t bcs) {
  for (int64_t bc = gtid(); bc < bcs; bc += gstride())
    bfd_img_radix_step(radix + bc * BFDK_IMG_RADIX_TARGETS, nt, pass,
                       hist + (size_t)bc * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS);
}

// One block per (channel, chunk): lanes as in bfd_img_lane, then the tree.
__global__ void img_partials_kernel(const void *base, int32_t dtype, size_t esize, int64_t n, int64_t nch,
                                    int64_t blocks, bfdk_img_partial *part) {
  __shared__ bfdk_img_partial lane[T];
  int t = (int)threadIdx.x;
  for (int64_t blk = blockIdx.x; blk < blocks; blk += gridDim.x) {
    int64_t bc = blk / nch, ch = blk % nch;
    bfd_img_lane(channel(base, esize, bc, n), dtype, ch * BFDK_IMG_CHUNK, n, t, &lane[t]);
    __syncthreads();
    for (int s = T / 2; s > 0; s >>= 1) {
      if (t < s) bfd_img_partial_add(&lane[t], &lane[t + s]);
      __syncthreads();
    }
    if (t == 0) part[blk] = lane[0];
    __syncthreads();
  }
}

__global__ void img_float_stats_kernel(bfdk_img_iop norm, bfdk_img_dims d, int nt, const bfdk_img_radix *radix,
                                       const bfdk_img_partial *part, int64_t nch, bfdk_img_cstat *cst, int64_t bcs) {
  for (int64_t bc = gtid(); bc < bcs; bc += gstride()) {
    double v[4] = {0.0, 0.0, 0.0, 0.0}, t[2] = {0.0, 0.0}, mean = 0.0, sd = 0.0;
    uint64_t ranks[4];
    bfd_img_stat_ranks(&norm, (uint64_t)d.src_vox, ranks, t);
    for (int j = 0; j < nt; j++) v[j] = (double)bfd_img_fkey_value(radix[bc * BFDK_IMG_RADIX_TARGETS + j].prefix);
    if (norm.norm_mode == BFDK_NORM_ZSCORE) {
      bfdk_img_partial tot = bfd_img_partials_total(part + bc * nch, nch);
      mean = tot.sum / (double)d.src_vox;
      double var = tot.sumsq / (double)d.src_vox - mean * mean;
      sd = sqrt(var > 0.0 ? var : 0.0);
    }
    cst[bc] = bfd_img_cstat_make(&norm, 1, v, t, mean, sd);
  }
}

// ---- foreground, draws, control points --------------------------------------------

__global__ void img_fg_count_kernel(bfdk_img_dims d, const void *labels, int64_t nch, uint32_t *fgc) {
  __shared__ uint32_t cnt[T];
  size_t es = bfd_img_dtype_size(d.label_dtype);
  int t = (int)threadIdx.x;
  for (int64_t blk = blockIdx.x; blk < (int64_t)d.B * nch; blk += gridDim.x) {
    int64_t b = blk / nch, base = (blk % nch) * BFDK_IMG_CHUNK;
    const void *lab = channel(labels, es, b, d.src_vox);
    uint32_t c = 0;
    for (int k = 0; k < BFDK_IMG_CHUNK / T; k++) {
      int64_t i = base + t + (int64_t)k * T;
      if (i < d.src_vox) c += bfd_img_label_load(lab, d.label_dtype, i) != 0;
    }
    cnt[t] = c;
    __syncthreads();
    for (int s = T / 2; s > 0; s >>= 1) {
      if (t < s) cnt[t] += cnt[t + s];
      __syncthreads();
    }
    if (t == 0) fgc[blk] = cnt[0];
    __syncthreads();
  }
}

__global__ void img_fg_pick_kernel(bfdk_img_spec sp, bfdk_img_dims d, const void *labels, const uint64_t *gidx,
                                   const uint32_t *fgc, int64_t nch, int64_t *fg) {
  size_t es = bfd_img_dtype_size(d.label_dtype);
  for (int64_t b = gtid(); b < d.B; b += gstride()) {
    const uint32_t *c = fgc + b * nch;
    uint64_t count = 0;
    for (int64_t ch = 0; ch < nch; ch++) count += c[ch];
    int64_t r = bfd_img_fg_rank(&sp, &d, gidx[b], count);
    fg[b] = -1;
    if (r < 0) continue;
    int64_t ch = 0;
    while ((int64_t)c[ch] <= r) r -= c[ch++];
    const void *lab = channel(labels, es, b, d.src_vox);
    for (int64_t i = ch * BFDK_IMG_CHUNK; i < d.src_vox; i++)
      if (bfd_img_label_load(lab, d.label_dtype, i) != 0 && r-- == 0) {
        fg[b] = i;
        break;
      }
  }
}

__global__ void img_draw_kernel(bfdk_img_spec sp, bfdk_img_dims d, const uint64_t *gidx, const int64_t *fg,
                                bfdk_img_sample *smp, float *blur, int has_blur) {
  for (int64_t b = gtid(); b < d.B; b += gstride()) {
    bfd_img_draw_sample(&sp, &d, gidx[b], fg[b], &smp[b]);
    for (int k = 0; k < sp.n_iops && has_blur; k++)
      if (sp.iops[k].kind == BFDK_IMG_BLUR)
        bfd_img_blur_weights(smp[b].ip[k][1], blur + ((size_t)b * BFDK_IMG_MAX_OPS + (size_t)k) * BFDK_IMG_BLUR_TAPS);
  }
}

__global__ void img_nodes_kernel(bfdk_img_dims d, const uint64_t *gidx, const bfdk_img_sample *smp, int64_t nn,
                                 float *nodes) {
  for (int64_t i = gtid(); i < (int64_t)d.B * nn; i += gstride()) {
    int64_t b = i / nn;
    if (smp[b].elastic) bfd_img_elastic_node(&d, gidx[b], smp[b].emag, i % nn, nodes + (size_t)i * 3);
  }
}

// ---- the resampling pass: one thread per output voxel, all channels ------------------

__global__ void img_resample_kernel(bfdk_img_spec sp, bfdk_img_dims d, const void *images, const void *labels,
                                    const uint64_t *gidx, const bfdk_img_sample *smp, const bfdk_img_cstat *cst,
                                    const float *nodes, int64_t nn, void *dst, int dst_final, void *out_labels,
                                    int has_norm) {
  size_t es = bfd_img_dtype_size(d.src_dtype), les = labels ? bfd_img_dtype_size(d.label_dtype) : 0;
  bfdk_img_pstat none = {0.0f, 0.0f, 0.0f};
  for (int64_t i = gtid(); i < (int64_t)d.B * d.out_vox; i += gstride()) {
    int64_t b = i / d.out_vox, v = i % d.out_vox;
    int64_t ox = v % d.out[2], oy = (v / d.out[2]) % d.out[1], oz = v / (d.out[2] * d.out[1]);
    const bfdk_img_sample *s = &smp[b];
    const void *lab = labels ? channel(labels, les, b, d.src_vox) : NULL;
    float sc[3] = {0.0f, 0.0f, 0.0f};
    int64_t wv[3] = {0, 0, 0};
    if (s->interp) {
      float dd[3] = {0.0f, 0.0f, 0.0f};
      if (s->elastic) bfd_img_elastic_disp(&d, sp.spacing, nodes + (size_t)b * (size_t)nn * 3, oz, oy, ox, dd);
      bfd_img_source_coord(s, oz, oy, ox, dd, sc);
    } else {
      bfd_img_copy_coord(s, oz, oy, ox, wv);
    }
    for (int64_t c = 0; c < d.C; c++) {
      const void *src = channel(images, es, b * d.C + c, d.src_vox);
      float val = s->interp ? bfd_img_sample_linear(src, d.src_dtype, &d, s, sp.pad, sp.pad_value, sc)
                            : bfd_img_tap(src, d.src_dtype, &d, s, sp.pad, sp.pad_value, wv[0], wv[1], wv[2]);
      bfdk_img_cstat cs = {0.0f, 1.0f};
      if (has_norm) cs = cst[b * d.C + c];
      uint64_t e = (uint64_t)c * (uint64_t)d.out_vox + (uint64_t)v;
      for (int k = 0; k < d.fused; k++) val = bfd_img_point(&sp.iops[k], s->ip[k], cs, none, &d, gidx[b], e, val);
      if (dst_final)
        bfd_img_store(dst, d.out_dtype, bfd_img_out_index(&d, b, c, v), val);
      else
        ((float *)dst)[(b * d.C + c) * d.out_vox + v] = val;
    }
    if (lab) {
      int64_t lv;
      if (s->interp) {
        lv = bfd_img_sample_label(lab, d.label_dtype, &d, s, sp.pad, sp.label_pad, sc);
      } else {
        int64_t z = bfd_img_border(wv[0], d.src[0], sp.pad), y = bfd_img_border(wv[1], d.src[1], sp.pad),
                x = bfd_img_border(wv[2], d.src[2], sp.pad);
        lv = (z < 0 || y < 0 || x < 0) ? sp.label_pad
                                       : bfd_img_label_load(lab, d.label_dtype, bfd_img_at(s, z, y, x));
      }
      bfd_img_store_label(out_labels, d.out_label_dtype, b * d.out_vox + v, lv);
    }
  }
}

// ---- intensity stages --------------------------------------------------------------

__global__ void img_pstat_kernel(bfdk_img_dims d, const bfdk_img_partial *part, int64_t nch, bfdk_img_pstat *pst) {
  for (int64_t bc = gtid(); bc < (int64_t)d.B * d.C; bc += gstride())
    pst[bc] = bfd_img_pstat_make(bfd_img_partials_total(part + bc * nch, nch), d.out_vox);
}

__global__ void img_point_kernel(bfdk_img_spec sp, bfdk_img_dims d, const uint64_t *gidx, const bfdk_img_sample *smp,
                                 const bfdk_img_cstat *cst, const bfdk_img_pstat *pst, float *cur, int k0, int k1,
                                 int has_norm) {
  for (int64_t i = gtid(); i < (int64_t)d.B * d.C * d.out_vox; i += gstride()) {
    int64_t bc = i / d.out_vox, b = bc / d.C, c = bc % d.C, v = i % d.out_vox;
    bfdk_img_cstat cs = {0.0f, 1.0f};
    if (has_norm) cs = cst[bc];
    uint64_t e = (uint64_t)c * (uint64_t)d.out_vox + (uint64_t)v;
    float val = cur[i];
    for (int k = k0; k < k1; k++) val = bfd_img_point(&sp.iops[k], smp[b].ip[k], cs, pst[bc], &d, gidx[b], e, val);
    cur[i] = val;
  }
}

__global__ void img_spatial_kernel(bfdk_img_dims d, const bfdk_img_sample *smp, const float *blur, const float *cur,
                                   float *nxt, int k, int axis) {
  for (int64_t i = gtid(); i < (int64_t)d.B * d.C * d.out_vox; i += gstride()) {
    int64_t bc = i / d.out_vox, b = bc / d.C, v = i % d.out_vox;
    int64_t ox = v % d.out[2], oy = (v / d.out[2]) % d.out[1], oz = v / (d.out[2] * d.out[1]);
    const bfdk_img_sample *s = &smp[b];
    const float *ch = cur + (size_t)bc * (size_t)d.out_vox;
    if (s->ip[k][0] == 0.0f) {
      nxt[i] = ch[v];
    } else if (axis < 0) {
      nxt[i] = bfd_img_lowres_at(ch, &d, s->ip[k][1], oz, oy, ox);
    } else {
      const float *wt = blur + ((size_t)b * BFDK_IMG_MAX_OPS + (size_t)k) * BFDK_IMG_BLUR_TAPS;
      int rad = s->ip[k][1] > 0.0f ? bfd_img_blur_radius(s->ip[k][1]) : 0;
      nxt[i] = bfd_img_blur_at(ch, &d, wt, rad, axis, v, axis == 2 ? ox : (axis == 1 ? oy : oz));
    }
  }
}

__global__ void img_store_kernel(bfdk_img_dims d, const float *cur, void *out) {
  for (int64_t i = gtid(); i < (int64_t)d.B * d.C * d.out_vox; i += gstride()) {
    int64_t bc = i / d.out_vox;
    bfd_img_store(out, d.out_dtype, bfd_img_out_index(&d, bc / d.C, bc % d.C, i % d.out_vox), cur[i]);
  }
}

// ---- host side ---------------------------------------------------------------------

static bfd_status stats(const bfdk_img_spec *sp, const bfdk_img_plan *pl, const bfdk_img_batch *bt,
                        const bfdk_img_views *w, cudaStream_t st) {
  const bfdk_img_dims &d = pl->dims;
  int64_t bcs = (int64_t)d.B * d.C, total = bcs * d.src_vox;
  const bfdk_img_iop &norm = sp->iops[pl->norm];
  if (!pl->norm_data) return BFD_LAUNCH(img_cstat_fixed_kernel, grid_for(bcs), T, st, norm, w->cst, bcs);
  if (d.hist_bins) {
    BFD_TRY(BFD_CUDA_CHECK(cudaMemsetAsync(w->hist, 0, (size_t)bcs * (size_t)d.hist_bins * 4, st)));
    BFD_TRY(BFD_LAUNCH(img_hist_kernel, grid_for(total), T, st, d, bt->images, w->hist, total));
    return BFD_LAUNCH(img_hist_stats_kernel, grid_for(bcs), T, st, norm, d, w->hist, w->cst, bcs);
  }
  int nt = bfd_img_radix_targets(&norm);
  if (nt > 0) {
    BFD_TRY(BFD_LAUNCH(img_radix_init_kernel, grid_for(bcs), T, st, norm, d, w->radix, bcs));
    for (int pass = 0; pass < 3; pass++) {
      BFD_TRY(BFD_CUDA_CHECK(
          cudaMemsetAsync(w->hist, 0, (size_t)bcs * BFDK_IMG_RADIX_TARGETS * BFDK_IMG_RADIX_BINS * 4, st)));
      BFD_TRY(BFD_LAUNCH(img_radix_count_kernel, grid_for(total), T, st, d, nt, pass, (const float *)bt->images,
                         w->radix, w->hist, total));
      BFD_TRY(BFD_LAUNCH(img_radix_step_kernel, grid_for(bcs), T, st, nt, pass, w->radix, w->hist, bcs));
    }
  }
  if (norm.norm_mode == BFDK_NORM_ZSCORE)
    BFD_TRY(BFD_LAUNCH(img_partials_kernel, blocks_for(bcs * pl->src_chunks), T, st, bt->images,
                       (int32_t)BFD_DTYPE_FLOAT32, sizeof(float), d.src_vox, pl->src_chunks, bcs * pl->src_chunks,
                       w->part));
  return BFD_LAUNCH(img_float_stats_kernel, grid_for(bcs), T, st, norm, d, nt, w->radix, w->part, pl->src_chunks,
                    w->cst, bcs);
}

static bfd_status stages(const bfdk_img_spec *sp, const bfdk_img_plan *pl, const bfdk_img_batch *bt,
                         const bfdk_img_views *w, float *cur, cudaStream_t st) {
  const bfdk_img_dims &d = pl->dims;
  int64_t total = (int64_t)d.B * d.C * d.out_vox, bcs = (int64_t)d.B * d.C;
  float *other = w->y;
  int has_norm = pl->norm >= 0;
  int k = d.fused;
  while (k < sp->n_iops) {
    int32_t kind = sp->iops[k].kind;
    if (kind == BFDK_IMG_BLUR || kind == BFDK_IMG_LOWRES) {
      for (int axis = 3 - d.nd; axis < 3; axis++) {
        BFD_TRY(BFD_LAUNCH(img_spatial_kernel, grid_for(total), T, st, d, w->smp, w->blur, cur, other, k,
                           kind == BFDK_IMG_LOWRES ? -1 : axis));
        float *t = cur;
        cur = other;
        other = t;
        if (kind == BFDK_IMG_LOWRES) break;
      }
      k++;
      continue;
    }
    if (bfd_img_needs_pstat(kind)) {
      BFD_TRY(BFD_LAUNCH(img_partials_kernel, blocks_for(bcs * pl->out_chunks), T, st, (const void *)cur,
                         (int32_t)BFD_DTYPE_FLOAT32, sizeof(float), d.out_vox, pl->out_chunks, bcs * pl->out_chunks,
                         w->part));
      BFD_TRY(BFD_LAUNCH(img_pstat_kernel, grid_for(bcs), T, st, d, w->part, pl->out_chunks, w->pst));
    }
    int j = k + 1;
    while (j < sp->n_iops && bfd_img_pure_point(sp->iops[j].kind)) j++;
    BFD_TRY(BFD_LAUNCH(img_point_kernel, grid_for(total), T, st, *sp, d, w->gidx, w->smp, w->cst, w->pst, cur, k, j,
                       has_norm));
    k = j;
  }
  if ((void *)cur != bt->out) return BFD_LAUNCH(img_store_kernel, grid_for(total), T, st, d, cur, bt->out);
  return BFD_OK;
}

extern "C" bfd_status bfdk_img_run_cuda(const bfdk_img_spec *sp, const bfdk_img_batch *bt, void *work,
                                        size_t work_bytes, struct CUstream_st *stream) {
  bfdk_img_plan pl;
  BFD_TRY(bfdk_img_plan_make(sp, bt, &pl));
  if (!work || work_bytes < pl.work_bytes)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "image ops: workspace of %zu bytes is too small: the plan needs %zu",
                     work_bytes, pl.work_bytes);
  if (bt->boxes)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "image ops: source boxes are for the CPU backend; pass whole samples");
  cudaStream_t st = stream;
  const bfdk_img_dims &d = pl.dims;
  bfdk_img_views w = bfdk_img_carve(&pl, work);
  BFD_TRY(BFD_CUDA_CHECK(
      cudaMemcpyAsync(w.gidx, bt->sample_index, (size_t)d.B * sizeof(uint64_t), cudaMemcpyHostToDevice, st)));
  if (pl.norm >= 0) BFD_TRY(stats(sp, &pl, bt, &w, st));
  if (pl.need_fg) {
    BFD_TRY(BFD_LAUNCH(img_fg_count_kernel, blocks_for((int64_t)d.B * pl.lab_chunks), T, st, d, bt->labels,
                       pl.lab_chunks, w.fgc));
    BFD_TRY(
        BFD_LAUNCH(img_fg_pick_kernel, grid_for(d.B), T, st, *sp, d, bt->labels, w.gidx, w.fgc, pl.lab_chunks, w.fg));
  } else {
    BFD_TRY(BFD_CUDA_CHECK(cudaMemsetAsync(w.fg, 0xff, (size_t)d.B * sizeof(int64_t), st)));
  }
  BFD_TRY(BFD_LAUNCH(img_draw_kernel, grid_for(d.B), T, st, *sp, d, w.gidx, w.fg, w.smp, w.blur, pl.has_blur));
  if (pl.nodes)
    BFD_TRY(
        BFD_LAUNCH(img_nodes_kernel, grid_for((int64_t)d.B * pl.nodes), T, st, d, w.gidx, w.smp, pl.nodes, w.nodes));

  int direct = d.out_dtype == BFDK_F32 && !d.channels_last;
  int dst_final = d.fused == sp->n_iops;
  void *dst = dst_final || direct ? bt->out : (void *)w.x;
  BFD_TRY(BFD_LAUNCH(img_resample_kernel, grid_for((int64_t)d.B * d.out_vox), T, st, *sp, d, bt->images, bt->labels,
                     w.gidx, w.smp, w.cst, w.nodes, pl.nodes, dst, dst_final, bt->out_labels, (int)(pl.norm >= 0)));
  if (!dst_final) BFD_TRY(stages(sp, &pl, bt, &w, (float *)dst, st));
  return BFD_OK;
}

extern "C" bfd_status bfdk_img_cuda_alloc(size_t n, void **dev) {
  if (!dev) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_img_cuda_alloc: dev is NULL");
  *dev = NULL;
  return BFD_CUDA_CHECK(cudaMalloc(dev, n ? n : 1));
}

extern "C" void bfdk_img_cuda_free(void *dev) {
  if (dev) cudaFree(dev);
}

extern "C" bfd_status bfdk_img_cuda_copy(void *dst, const void *src, size_t n, int to_device) {
  if (!n) return BFD_OK;
  return BFD_CUDA_CHECK(cudaMemcpy(dst, src, n, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost));
}

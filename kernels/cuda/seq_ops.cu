// The CUDA backend of the sequence ops: a plan kernel (one block per sample:
// window draws with block-wide N counts, Nucleotide Transformer token counts
// by combining per-thread pieces), an NT kernel (one thread per sample walks
// its span), and an emit kernel (one thread per row position: ids, attention,
// MLM, soft mask, one-hot). They call the same ops/ functions as
// kernels/cpu/seq_batch.c, so the outputs are the CPU backend's, bit for bit.
#include <cuda_runtime.h>

#include "core/error.h"
#include "cuda/launch.h"
#include "ops/seq_mask.h"
#include "ops/seq_onehot.h"
#include "ops/seq_tok.h"
#include "seq.h"

// Power of two: the N count is a tree reduction.
#define PLAN_THREADS 128
#define EMIT_THREADS 256
#define NT_THREADS 64
// Matches the CPU backend's layout: the longest row at the front, then plans.
#define WORK_HEAD 64

__global__ void seq_plan_kernel(bfdk_seq_params p, const int32_t *tab, bfdk_seq_input in, bfdk_seq_output out,
                                bfdk_seq_plan *plans, int32_t *longest) {
  __shared__ long long red[PLAN_THREADS];
  __shared__ bfd_seq_nt_sum sums[PLAN_THREADS];
  const int t = threadIdx.x;
  const int64_t b = blockIdx.x;
  const uint64_t rec = in.record ? in.record[b] : (uint64_t)b;
  const int64_t base = (int64_t)in.offsets[rec];
  const int64_t len = (int64_t)in.offsets[rec + 1] - base;
  bfd_rng_key key = bfd_seq_key(in.seed, in.epoch, in.sample[b], 0);
  int64_t start = 0, n = len;
  int32_t redraws = 0;
  if (p.sample_mode != BFD_SEQ_RECORD) {
    const uint64_t total = bfd_seq_record_windows(&p, &in.regions, rec, len);
    const uint64_t tile = in.tile ? in.tile[b] : 0;
    const int32_t attempts = bfd_seq_attempts(&p);
    int64_t best = 0, best_count = INT64_MAX;
    redraws = -1;
    // Every thread takes the same branches: the draws are pure and the
    // count is read back from shared memory by all.
    for (int32_t a = 0; a < attempts; a++) {
      int64_t s = bfd_seq_window_start(&p, &in.regions, rec, len, bfd_seq_window_idx(&p, key, tile, total, a));
      if (attempts == 1) {
        best = s;
        redraws = 0;
        break;
      }
      int64_t m = bfd_seq_window_bytes(&p, s, len);
      red[t] = bfd_seq_count_n(tab, in.data + base + s, t, m, PLAN_THREADS);
      __syncthreads();
      for (int h = PLAN_THREADS / 2; h > 0; h >>= 1) {
        if (t < h) red[t] += red[t + h];
        __syncthreads();
      }
      int64_t c = red[0];
      __syncthreads();
      if (bfd_seq_n_ok(&p, c, m)) {
        best = s;
        redraws = a;
        break;
      }
      if (c < best_count) {
        best_count = c;
        best = s;
      }
    }
    start = bfd_seq_shifted(&p, key, best, len);
    n = bfd_seq_window_bytes(&p, start, len);
  }
  bfdk_seq_plan pl;
  pl.src = base + start;
  pl.n = n;
  pl.start = start;
  pl.redraws = redraws;
  pl.rc = bfd_seq_rc_draw(&p, key);
  pl.total = bfd_seq_fixed_tokens(&p, n);
  if (p.tok == BFD_SEQ_TOK_NT) {
    const int64_t chunk = (n + PLAN_THREADS - 1) / PLAN_THREADS;
    const int64_t lo = t * chunk < n ? t * chunk : n;
    const int64_t hi = lo + chunk < n ? lo + chunk : n;
    sums[t] = bfd_seq_nt_piece(&p, tab, in.data + pl.src, lo, hi);
    __syncthreads();
    if (t != 0) return;
    bfd_seq_nt_sum s = sums[0];
    for (int i = 1; i < PLAN_THREADS; i++) s = bfd_seq_nt_combine(s, sums[i], p.k);
    pl.total = bfd_seq_nt_total(s, p.k);
  }
  if (t != 0) return;
  bfd_seq_plan_finish(&p, key, &pl);
  plans[b] = pl;
  atomicMax(longest, pl.len);
  if (out.lengths) out.lengths[b] = pl.len;
  if (out.start) out.start[b] = pl.start;
  if (out.redraws) out.redraws[b] = pl.redraws;
  if (out.rc) out.rc[b] = (uint8_t)pl.rc;
}

__global__ void seq_nt_kernel(bfdk_seq_params p, const int32_t *tab, const uint8_t *data, const bfdk_seq_plan *plans,
                              int64_t n, int64_t width, int64_t *ids, uint8_t *soft) {
  const int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= n) return;
  const bfdk_seq_plan pl = plans[b];
  const int64_t at = b * width + (p.begin_id >= 0);
  bfd_seq_nt_emit(&p, tab, data + pl.src, pl.n, pl.rc, pl.keep_off, pl.keep_n, ids + at, soft ? soft + at : NULL);
}

__global__ void seq_emit_kernel(bfdk_seq_params p, const int32_t *tab, bfdk_seq_input in, bfdk_seq_output out,
                                const bfdk_seq_plan *plans, int64_t width) {
  const int64_t total = in.n * width;
  const int64_t step = (int64_t)gridDim.x * blockDim.x;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += step) {
    const int64_t b = i / width, pos = i % width;
    const bfdk_seq_plan pl = plans[b];
    const int32_t kind = bfd_seq_pos_kind(&p, &pl, pos);
    const int64_t lo = p.begin_id >= 0, hi = lo + pl.keep_n;
    const uint8_t *src = in.data + pl.src;
    const int32_t nt = p.tok == BFD_SEQ_TOK_NT;
    int32_t id, flags = 0;
    if (kind == BFD_SEQ_POS_CONTENT) {
      const int64_t t = pl.keep_off + pos - lo;
      id = nt ? (int32_t)out.ids[i] : bfd_seq_fixed_id(&p, tab, src, pl.n, pl.rc, t);
      if (!nt && (out.softmask || out.onehot)) flags = bfd_seq_fixed_flags(&p, tab, src, pl.n, pl.rc, t);
    } else {
      id = bfd_seq_frame_id(&p, kind);
    }
    if (out.labels) {
      bfd_rng_key kmlm = bfd_seq_key(in.seed, in.epoch, in.sample[b], BFD_RNG_MLM);
      bfd_rng_key kspan = bfd_seq_key(in.seed, in.epoch, in.sample[b], BFD_RNG_SPAN);
      int64_t label = BFD_SEQ_IGNORE_LABEL;
      if (bfd_seq_mlm_picked(&p, kmlm, kspan, pos, lo, hi)) {
        label = id;
        id = bfd_seq_mlm_replace(&p, tab, kmlm, pos, id);
      }
      out.labels[i] = label;
    }
    out.ids[i] = id;
    if (out.attn) out.attn[i] = (uint8_t)(pos < pl.len);
    if (out.softmask && !(nt && kind == BFD_SEQ_POS_CONTENT)) out.softmask[i] = (uint8_t)((flags & BFD_SEQ_F_LOWER) != 0);
    if (out.onehot)
      for (int32_t c = 0; c < 4; c++) bfd_seq_onehot_store(&p, out.onehot, i * 4 + c, bfd_seq_onehot_value(&p, flags, c));
  }
}

extern "C" bfd_status bfdk_seq_batch_cuda(const bfdk_seq_params *p, const int32_t *tables, const bfdk_seq_input *in,
                                          const bfdk_seq_output *out, void *work, int32_t *width, void *stream) {
  BFD_TRY(bfdk_seq_batch_check(p, tables, in, out, work, width));
  cudaStream_t s = (cudaStream_t)stream;
  int32_t *longest = (int32_t *)work;
  bfdk_seq_plan *plans = (bfdk_seq_plan *)((char *)work + WORK_HEAD);
  const int64_t n = in->n;
  if (n == 0) {
    *width = p->pad_longest ? 0 : p->max_len;
    return BFD_OK;
  }
  BFD_TRY(BFD_CUDA_CHECK(cudaMemsetAsync(longest, 0, sizeof *longest, s)));
  BFD_TRY(BFD_LAUNCH(seq_plan_kernel, (unsigned)n, PLAN_THREADS, s, *p, tables, *in, *out, plans, longest));
  int64_t w = p->max_len;
  if (p->pad_longest) {
    int32_t host = 0;
    BFD_TRY(BFD_CUDA_CHECK(cudaMemcpyAsync(&host, longest, sizeof host, cudaMemcpyDeviceToHost, s)));
    BFD_TRY(BFD_CUDA_CHECK(cudaStreamSynchronize(s)));
    w = (int64_t)(host + 7) / 8 * 8;
  }
  if (p->tok == BFD_SEQ_TOK_NT)
    BFD_TRY(BFD_LAUNCH(seq_nt_kernel, (unsigned)((n + NT_THREADS - 1) / NT_THREADS), NT_THREADS, s, *p, tables,
                       in->data, plans, n, w, out->ids, out->softmask));
  if (w > 0) {
    int64_t blocks = (n * w + EMIT_THREADS - 1) / EMIT_THREADS;
    if (blocks > (1 << 20)) blocks = 1 << 20;
    BFD_TRY(BFD_LAUNCH(seq_emit_kernel, (unsigned)blocks, EMIT_THREADS, s, *p, tables, *in, *out, plans, w));
  }
  *width = (int32_t)w;
  return BFD_OK;
}

extern "C" bfd_status bfdk_seq_cuda_alloc(size_t n, void **dev) {
  if (!dev) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_cuda_alloc: dev is NULL");
  *dev = NULL;
  return BFD_CUDA_CHECK(cudaMalloc(dev, n ? n : 1));
}

extern "C" bfd_status bfdk_seq_cuda_upload(const void *host, size_t n, void **dev) {
  if (!host && n) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdk_seq_cuda_upload: host is NULL");
  BFD_TRY(bfdk_seq_cuda_alloc(n, dev));
  bfd_status st = n ? BFD_CUDA_CHECK(cudaMemcpy(*dev, host, n, cudaMemcpyHostToDevice)) : BFD_OK;
  if (st != BFD_OK) {
    cudaFree(*dev);
    *dev = NULL;
  }
  return st;
}

extern "C" bfd_status bfdk_seq_cuda_download(void *host, const void *dev, size_t n) {
  if (!n) return BFD_OK;
  return BFD_CUDA_CHECK(cudaMemcpy(host, dev, n, cudaMemcpyDeviceToHost));
}

extern "C" void bfdk_seq_cuda_free(void *dev) {
  if (dev) cudaFree(dev);
}

/* The upload, ops and batch stages. On the CPU backend upload has nothing to
 * do and the ops write the outputs in host memory. On the CUDA backend the
 * upload copies the batch input (and the sample, valid and class rows) on
 * the copy stream and records an event; the ops stage makes the compute
 * stream wait for it, queues the kernels and records the batch's event,
 * which bfd_batch_wait hands to the consumer's stream. */
#include <omp.h>
#include <string.h>

#include "gpu.h"
#include "pipeline/dist.h"
#include "pipeline/pipe_impl.h"

bfd_status bfdi_stage_upload(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  (void)w;
  if (p->dist) BFD_TRY(bfdi_dist_upload(p, s));
  if (!p->cuda) return BFD_OK;
#if BFD_CUDA
  void *cs = p->copy_stream;
  uint64_t bytes = s->in_used + s->lab_used;
  BFD_TRY(bfdk_gpu_upload(s->d_in, s->in, s->in_used, cs));
  BFD_TRY(bfdk_gpu_upload(s->d_lab, s->lab, s->lab_used, cs));
  if (p->src->kind == BFD_KIND_SEQUENCE) {
    BFD_TRY(bfdk_gpu_upload(s->d_offsets, s->offsets, ((size_t)s->n + 1) * 8, cs));
    BFD_TRY(bfdk_gpu_upload(s->d_key, s->key, (size_t)s->n * 8, cs));
    bytes += ((uint64_t)s->n * 2 + 1) * 8;
  }
  BFD_TRY(bfdk_gpu_upload(bfdi_out_ptr(p, s, "sample"), s->h_sample, (size_t)s->n * 8, cs));
  BFD_TRY(bfdk_gpu_upload(bfdi_out_ptr(p, s, "valid"), s->h_valid, s->n, cs));
  if (p->src->has_classes) BFD_TRY(bfdk_gpu_upload(bfdi_out_ptr(p, s, "class"), s->h_class, (size_t)s->n * 8, cs));
  bytes += (uint64_t)s->n * (p->src->has_classes ? 17 : 9);
  BFD_TRY(bfdk_gpu_event_record(s->ev_up, cs));
  s->bytes[S_UPLOAD] = bytes;
  return BFD_OK;
#else
  return bfdi_fail(BFD_ERR_INTERNAL, "CUDA upload in a build without CUDA");
#endif
}

/* Output bytes worth one more CPU thread: a thread team on a small batch
 * costs more in start-up and idle spinning than it saves. */
#define OPS_GRAIN (256u << 10)

static int team_for(const bfdi_pipe *p, const bfdi_slot *s) {
  /* sequences: about 16 output bytes per input byte (ids, labels, masks) */
  uint64_t bytes = p->src->kind == BFD_KIND_SEQUENCE ? s->in_used * 16
                                                     : (uint64_t)s->n * (uint64_t)(p->img_out_sample + p->lab_out_sample);
  uint64_t n = bytes / OPS_GRAIN;
  return n < 1 ? 1 : (n > p->job.workers ? (int)p->job.workers : (int)n);
}

static bfd_status seq_ops(bfdi_pipe *p, bfdi_slot *s) {
  const int dev = p->cuda;
  bfdk_seq_input in;
  memset(&in, 0, sizeof in);
  in.data = dev ? s->d_in : s->in;
  in.offsets = dev ? s->d_offsets : s->offsets;
  in.n_records = s->n;
  in.sample = dev ? s->d_key : s->key;
  in.n = s->n;
  in.seed = p->job.seed;
  in.epoch = s->c.epoch;
  bfdk_seq_output out = {
      .ids = bfdi_out_ptr(p, s, "ids"),
      .attn = bfdi_out_ptr(p, s, "attention_mask"),
      .lengths = bfdi_out_ptr(p, s, "lengths"),
      .labels = bfdi_out_ptr(p, s, "labels"),
      .softmask = bfdi_out_ptr(p, s, "softmask"),
      .onehot = bfdi_out_ptr(p, s, "onehot"),
  };
  if (!dev) return bfdk_seq_batch_cpu(&p->kp, p->tables, &in, &out, s->work, &s->width);
#if BFD_CUDA
  return bfdk_seq_batch_cuda(&p->kp, (const int32_t *)p->d_tables, &in, &out, s->work, &s->width, p->compute_stream);
#else
  return bfdi_fail(BFD_ERR_INTERNAL, "CUDA ops in a build without CUDA");
#endif
}

/* One kernel call per run of rows of one shape group (usually the batch). */
static bfd_status img_ops(bfdi_pipe *p, bfdi_slot *s) {
  const bfdi_job *j = &p->job;
  const int dev = p->cuda;
  uint8_t *in = dev ? s->d_in : s->in, *lab = dev ? s->d_lab : s->lab;
  uint8_t *out = bfdi_out_ptr(p, s, "image"), *out_lab = bfdi_out_ptr(p, s, "label");
  for (uint32_t b0 = 0, b1; b0 < s->n; b0 = b1) {
    for (b1 = b0 + 1; b1 < s->n && s->group[b1] == s->group[b0];) b1++;
    const bfdi_src_group *g = &p->src->groups[s->group[b0]];
    bfdk_img_batch bt;
    memset(&bt, 0, sizeof bt);
    bt.batch = b1 - b0;
    bt.ndim = g->ndim;
    memcpy(bt.shape, g->shape, sizeof bt.shape);
    bt.dtype = g->dtype;
    bt.images = in + s->offsets[b0];
    bt.sample_index = s->key + b0;
    bt.seed = j->seed;
    bt.epoch = s->c.epoch;
    bt.out_dtype = j->out_dtype;
    bt.channels_last = j->layout == BFDI_CHANNELS_LAST;
    bt.out = out + (size_t)b0 * (size_t)p->img_out_sample;
    bt.boxes = s->boxed ? s->box + b0 : NULL;
    if (g->has_labels) {
      bt.labels = lab + s->lab_off[b0];
      bt.label_ndim = g->ndim - 1;
      memcpy(bt.label_shape, g->shape + 1, sizeof(int64_t) * (size_t)(g->ndim - 1));
      bt.label_dtype = g->label_dtype;
      bt.out_label_dtype = j->label_dtype;
      bt.out_labels = out_lab + (size_t)b0 * (size_t)p->lab_out_sample;
    }
    if (!dev) {
      BFD_TRY(bfdk_img_run_cpu(&j->img, &bt, s->work, p->work_cap));
    } else {
#if BFD_CUDA
      BFD_TRY(bfdk_img_run_cuda(&j->img, &bt, s->work, p->work_cap, (struct CUstream_st *)p->compute_stream));
#endif
    }
  }
  return BFD_OK;
}

/* The outputs' bytes in this batch. */
static uint64_t batch_bytes(const bfdi_pipe *p, const bfdi_slot *s) {
  uint64_t total = 0;
  for (size_t i = 0; i < p->n_outs; i++) {
    const bfdi_out_desc *d = &p->outs[i];
    uint64_t n = d->esize;
    for (int k = 0; k < d->ndim; k++)
      n *= d->dims[k] == DIM_B ? s->n : (d->dims[k] == DIM_W ? (uint64_t)s->width : (uint64_t)d->dims[k]);
    total += n;
  }
  return total;
}

bfd_status bfdi_stage_ops(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
#if BFD_CUDA
  if (p->cuda) BFD_TRY(bfdk_gpu_stream_wait(p->compute_stream, s->ev_up));
#endif
  const int team = p->cuda || w->whole ? 1 : bfdi_team_take(p, team_for(p, s));
  if (!p->cuda) omp_set_num_threads(team);
  bfd_status st = bfdi_dist_skip_ops(p) ? BFD_OK : p->src->kind == BFD_KIND_SEQUENCE ? seq_ops(p, s) : img_ops(p, s);
  bfdi_team_give(p, team);
  BFD_TRY(st);
  s->bytes[S_OPS] = batch_bytes(p, s);
#if BFD_CUDA
  if (p->cuda) {
    BFD_TRY(bfdk_gpu_event_record(s->ev_done, p->compute_stream));
    s->gpu_used = 1;
  }
#endif
  return p->dist ? bfdi_dist_after_ops(p, s) : BFD_OK;
}

bfd_status bfdi_stage_batch(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  (void)w;
  s->bytes[S_BATCH] = batch_bytes(p, s);
  return BFD_OK;
}

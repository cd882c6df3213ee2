/* Broadcast mode (pipeline/dist.h): the group leader's batch goes to every
 * member of its group. The plan stage of a member reads nothing (its slot
 * carries no rows until the batch arrives); after the ops, the leader sends
 * a header (rows, row width) and then the slot's output block from its start
 * to the end of the last output's bytes: every output in one buffer, in
 * host or device memory as the batch lives. */

#include "gpu.h"
#include "pipeline/dist.h"

bfd_status bfdi_broadcast_plan(bfdi_pipe *p, bfdi_slot *s) {
  bfdi_pdist *d = p->dist;
  bfdi_plan_reset(s);
  if (!d->leader) {
    d->rows[s->index] = s->n;
    s->n = 0;
    return bfdi_plan_done(p, s);
  }
  for (uint32_t b = 0; b < s->n; b++) {
    bfdi_plan_meta(p, s, b, &s->refs_buf[b]);
    BFD_TRY(bfdi_plan_row(p, s, b, &s->refs_buf[b]));
  }
  return bfdi_plan_done(p, s);
}

/* Bytes of the output block that n rows of width w use. */
static size_t block_bytes(const bfdi_pipe *p, uint64_t n, int32_t w) {
  size_t end = 0;
  for (size_t i = 0; i < p->n_outs; i++) {
    const bfdi_out_desc *o = &p->outs[i];
    size_t bytes = o->esize;
    for (int k = 0; k < o->ndim; k++)
      bytes *= o->dims[k] == DIM_B ? (size_t)n : (o->dims[k] == DIM_W ? (size_t)w : (size_t)o->dims[k]);
    if (o->off + bytes > end) end = o->off + bytes;
  }
  return end;
}

bfd_status bfdi_broadcast_run(bfdi_pipe *p, bfdi_slot *s) {
  bfdi_pdist *d = p->dist;
  BFD_TRY(bfdi_dist_wait(p, s, S_OPS));
#if BFD_CUDA
  /* the leader's kernels must be done before their output is sent */
  if (p->cuda && d->leader) BFD_TRY(bfdk_gpu_event_sync(s->ev_done));
#endif
  uint64_t head[2] = {s->n, (uint64_t)(uint32_t)s->width};
  BFD_TRY(bfdi_dist_bcast(p, d->group, head, sizeof head, 0, 0));
  if (!d->leader) {
    if (head[0] != d->rows[s->index] || head[1] > (uint64_t)INT32_MAX)
      return bfdi_fail(BFD_ERR_CORRUPT, "broadcast: the group leader (rank %u) sent a batch of %llu rows for step %llu "
                       "of epoch %u; this rank's plan has %u: the ranks of the group run different configs",
                       d->rank - d->rank % d->group_size, (unsigned long long)head[0], (unsigned long long)s->step,
                       s->c.epoch, d->rows[s->index]);
    s->n = (uint32_t)head[0];
    s->width = (int32_t)head[1];
  }
  size_t bytes = block_bytes(p, s->n, s->width);
  if (bytes > p->out_bytes)
    return bfdi_fail(BFD_ERR_INTERNAL, "broadcast: %zu bytes of outputs for a block of %zu", bytes, p->out_bytes);
  BFD_TRY(bfdi_dist_bcast(p, d->group, s->out, bytes, p->cuda, 0));
#if BFD_CUDA
  if (p->cuda && !d->leader) {
    BFD_TRY(bfdk_gpu_event_record(s->ev_done, p->compute_stream));
    s->gpu_used = 1;
  }
#endif
  return BFD_OK;
}

/* The distribution stage's common part (pipeline/dist.h): joining the job
 * for the mode, the lock-step wait, failure through the comm, dispatch to
 * the broadcast and exchange files, and moving batch memory through a comm
 * whose memory (host for local and mpi, device for nccl) differs. */
#include "pipeline/dist.h"

#include <stdlib.h>

#include "gpu.h"

static bfdi_comm_kind pick_kind(const bfdi_pipe *p, const bfdi_dist_env *env) {
  if (p->job.backend != BFDI_BACKEND_AUTO) return (bfdi_comm_kind)(p->job.backend - 1);
  if (env->world_size == 1) return BFDI_COMM_LOCAL;
  if (p->cuda && bfdi_comm_kind_built(BFDI_COMM_NCCL)) return BFDI_COMM_NCCL;
  return BFDI_COMM_MPI;
}

bfd_status bfdi_dist_open(bfdi_pipe *p, const bfdi_dist_env *env) {
  const bfdi_job *j = &p->job;
  p->rank = env->rank;
  p->world = env->world_size;
  if (j->dist_mode == BFDI_DIST_SHARD) return BFD_OK;
  if (j->dist_mode == BFDI_DIST_BROADCAST && env->world_size % j->group_size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s:%lu: dist.group_size: %u does not divide the world size %u (from %s): "
                     "every broadcast group needs group_size ranks", j->file, j->line_group, j->group_size,
                     env->world_size, env->world_from);
  bfdi_pdist *d = calloc(1, sizeof *d);
  if (!d) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  p->dist = d;
  d->mode = j->dist_mode;
  d->rank = env->rank;
  d->size = env->world_size;
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  o.kind = pick_kind(p, env);
  o.timeout_s = j->timeout_s;
  o.device = p->cuda ? p->device_id : -1;
  bfd_status st = bfdi_comm_create(&o, env, &d->comm);
  if (st != BFD_OK) return bfdi_wrap(st, "%s: dist.mode %s", j->file, d->mode == BFDI_DIST_EXCHANGE ? "exchange" : "broadcast");
  if (d->mode == BFDI_DIST_BROADCAST) {
    d->group_size = j->group_size;
    d->leader = env->rank % j->group_size == 0;
    BFD_TRY(bfdi_comm_split(d->comm, env->rank / j->group_size, env->rank % j->group_size, &d->group));
    p->rank = env->rank / j->group_size;
    p->world = env->world_size / j->group_size;
  }
  return BFD_OK;
}

bfd_status bfdi_dist_setup(bfdi_pipe *p) {
  p->read_rows = p->max_batch;
  if (!p->dist) return BFD_OK;
  if (p->dist->mode == BFDI_DIST_EXCHANGE) return bfdi_exchange_setup(p);
  return BFD_OK;
}

bfd_status bfdi_dist_slots(bfdi_pipe *p) {
  bfdi_pdist *d = p->dist;
  if (!d) return BFD_OK;
  if (d->mode == BFDI_DIST_EXCHANGE) return bfdi_exchange_slots(p);
  d->rows = calloc((size_t)p->R, sizeof *d->rows);
  return d->rows ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory");
}

void bfdi_dist_close(bfdi_pipe *p) {
  bfdi_pdist *d = p->dist;
  if (!d) return;
  bfdi_exchange_close(p);
  free(d->rows);
#if BFD_CUDA
  bfdk_gpu_free(d->dev);
#endif
  free(d->host);
  bfdi_comm_destroy(d->group);
  bfdi_comm_destroy(d->comm);
  free(d);
  p->dist = NULL;
}

bfd_status bfdi_dist_fail(bfdi_pipe *p, bfd_status st) {
  if (!p->dist || !p->dist->comm || st == BFD_OK) return st;
  return bfdi_comm_abort(p->dist->comm, st, bfd_last_error());
}

bfd_status bfdi_dist_plan(bfdi_pipe *p, bfdi_slot *s) {
  if (p->dist->mode == BFDI_DIST_EXCHANGE) return bfdi_exchange_plan(p, s);
  return bfdi_broadcast_plan(p, s);
}

bfd_status bfdi_dist_upload(bfdi_pipe *p, bfdi_slot *s) {
  if (p->dist->mode == BFDI_DIST_EXCHANGE) return bfdi_exchange_run(p, s);
  return BFD_OK;
}

int bfdi_dist_reads_shard(const bfdi_pipe *p, size_t d, size_t k) {
  if (!p->dist) return 1;
  if (p->dist->mode == BFDI_DIST_BROADCAST) return p->dist->leader;
  return p->dist->owner[d][k] == p->dist->rank;
}

int bfdi_dist_skip_ops(const bfdi_pipe *p) {
  return p->dist && p->dist->mode == BFDI_DIST_BROADCAST && !p->dist->leader;
}

bfd_status bfdi_dist_after_ops(bfdi_pipe *p, bfdi_slot *s) {
  if (p->dist->mode == BFDI_DIST_BROADCAST) return bfdi_broadcast_run(p, s);
  return BFD_OK;
}

bfd_status bfdi_dist_wait(bfdi_pipe *p, const bfdi_slot *s, int k) {
  pthread_mutex_lock(&p->mu);
  while (p->running && !p->stop && p->allowed <= s->seq) pthread_cond_wait(&p->cv[k], &p->mu);
  int stopped = p->running && p->stop;
  pthread_mutex_unlock(&p->mu);
  return stopped ? bfdi_fail(BFD_ERR_INTERNAL, "the pipeline stopped before step %llu's exchange",
                             (unsigned long long)s->step)
                 : BFD_OK;
}

void bfdi_dist_allow(bfdi_pipe *p) {
  if (p->allowed > p->cons_seq) return;
  p->allowed = p->cons_seq + 1;
  pthread_cond_broadcast(&p->cv[S_UPLOAD]);
  pthread_cond_broadcast(&p->cv[S_OPS]);
}

static int ready(const bfdi_pipe *p, uint64_t seq) {
  for (int i = 0; i < p->R; i++) {
    const bfdi_slot *s = &p->slots[i];
    if (s->in_flight && s->seq == seq) return s->stage == S_READY && !s->busy;
  }
  return 0;
}

void bfdi_dist_drain(bfdi_pipe *p) {
  while (p->allowed > p->cons_seq && !(p->err && p->err_seq < p->allowed) && !ready(p, p->allowed - 1))
    pthread_cond_wait(&p->cv[S_READY], &p->mu);
  if (p->err && p->err_seq < p->allowed) {
    /* this rank cannot join a collective its peers may be in */
    bfd_status st = bfdi_fail(p->err, "%s", p->err_msg);
    pthread_mutex_unlock(&p->mu);
    bfdi_dist_fail(p, st);
    pthread_mutex_lock(&p->mu);
  }
}

#if BFD_CUDA
static bfd_status grow_host(bfdi_pdist *d, size_t n) {
  if (n <= d->host_cap) return BFD_OK;
  void *m = realloc(d->host, n);
  if (!m) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu bytes of comm staging", n);
  d->host = m;
  d->host_cap = n;
  return BFD_OK;
}

static uint64_t sum(const uint64_t *v, uint32_t n) {
  uint64_t t = 0;
  for (uint32_t i = 0; i < n; i++) t += v[i];
  return t;
}

static bfd_status grow_dev(bfdi_pdist *d, size_t n) {
  if (n <= d->dev_cap) return BFD_OK;
  bfdk_gpu_free(d->dev);
  d->dev = NULL;
  d->dev_cap = 0;
  BFD_TRY(bfdk_gpu_alloc(n, &d->dev));
  d->dev_cap = n;
  return BFD_OK;
}
#endif

bfd_status bfdi_dist_bcast(bfdi_pipe *p, bfdi_comm *c, void *buf, size_t bytes, int dev, uint32_t root) {
  const int comm_dev = bfdi_comm_kind_of(c) == BFDI_COMM_NCCL;
  if (dev == comm_dev || bytes == 0) return bfdi_comm_bcast(c, buf, bytes, root);
#if BFD_CUDA
  bfdi_pdist *d = p->dist;
  const int is_root = bfdi_comm_rank(c) == root;
  if (comm_dev) {
    /* host batch memory, device comm */
    BFD_TRY(grow_dev(d, bytes));
    if (is_root) {
      BFD_TRY(bfdk_gpu_upload(d->dev, buf, bytes, NULL));
      BFD_TRY(bfdk_gpu_stream_sync(NULL));
    }
    BFD_TRY(bfdi_comm_bcast(c, d->dev, bytes, root));
    return is_root ? BFD_OK : bfdk_gpu_download(buf, d->dev, bytes);
  }
  /* device batch memory, host comm */
  BFD_TRY(grow_host(d, bytes));
  if (is_root) BFD_TRY(bfdk_gpu_download(d->host, buf, bytes));
  BFD_TRY(bfdi_comm_bcast(c, d->host, bytes, root));
  if (is_root) return BFD_OK;
  BFD_TRY(bfdk_gpu_upload(buf, d->host, bytes, p->compute_stream));
  return bfdk_gpu_stream_sync(p->compute_stream);
#else
  (void)p;
  return bfdi_fail(BFD_ERR_INTERNAL, "device memory in a build without CUDA");
#endif
}

bfd_status bfdi_dist_alltoallv(bfdi_pipe *p, const void *send, const uint64_t *send_bytes, void *recv,
                               const uint64_t *recv_bytes) {
  bfdi_pdist *d = p->dist;
  if (bfdi_comm_kind_of(d->comm) != BFDI_COMM_NCCL)
    return bfdi_comm_alltoallv(d->comm, send, send_bytes, recv, recv_bytes);
#if BFD_CUDA
  /* the records are host memory (decoded on the host): one device buffer
   * holds the send half and then the receive half */
  const uint64_t ns = sum(send_bytes, d->size), nr = sum(recv_bytes, d->size);
  BFD_TRY(grow_dev(d, (size_t)(ns + nr + 1)));
  uint8_t *dev = d->dev;
  BFD_TRY(bfdk_gpu_upload(dev, send, (size_t)ns, NULL));
  BFD_TRY(bfdk_gpu_stream_sync(NULL));
  BFD_TRY(bfdi_comm_alltoallv(d->comm, dev, send_bytes, dev + ns, recv_bytes));
  return bfdk_gpu_download(recv, dev + ns, (size_t)nr);
#else
  return bfdi_fail(BFD_ERR_INTERNAL, "the nccl comm in a build without CUDA");
#endif
}

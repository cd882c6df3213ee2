/* The nccl backend (comm.h): device buffers on one CUDA device per rank.
 * The communicator is non-blocking (ncclConfig_t.blocking = 0), so that no
 * NCCL call can block: each call is enqueued, then polled through
 * ncclCommGetAsyncError and cudaStreamQuery against the comm's deadline;
 * on a timeout or an asynchronous error the comm is aborted
 * (ncclCommAbort) and the call returns the error. The unique id travels
 * over MPI when the job has it, else over the TCP rendezvous (rdzv.h).
 * Variable-size all-to-all is native ncclAlltoAll (NCCL >= 2.28) when every
 * pair moves the same byte count, else grouped ncclSend/ncclRecv. Host
 * values (allgather, sizes) go through a small device scratch buffer. */
#if BFD_NCCL

#include <cuda_runtime_api.h>
#include <nccl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/comm_impl.h"
#include "dist/rdzv.h"

#if NCCL_VERSION_CODE < NCCL_VERSION(2, 18, 0)
#error "biofeed's nccl backend needs NCCL >= 2.18 (ncclCommSplit, non-blocking communicators)"
#endif
#define NATIVE_ALLTOALL (NCCL_VERSION_CODE >= NCCL_VERSION(2, 28, 0))

typedef struct nccl_impl {
  ncclComm_t comm;
  cudaStream_t stream;
  int device;
  void *scratch; /* device */
  size_t scratch_cap;
  int aborted;
} nccl_impl;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Polling: yield at first (collectives of small buffers finish in
 * microseconds), then sleep 50 us between looks. */
static void pause_poll(unsigned *polls) {
  if ((*polls)++ < 1000) {
    sched_yield();
    return;
  }
  struct timespec ts = {0, 50000};
  nanosleep(&ts, NULL);
}

static bfd_status cuda_fail(cudaError_t e, const char *what) {
  return bfdi_fail(BFD_ERR_CUDA, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

static void abort_comm(nccl_impl *m) {
  if (!m->aborted && m->comm) ncclCommAbort(m->comm);
  m->aborted = 1;
}

static bfd_status nccl_fail(nccl_impl *m, ncclResult_t r, const char *what) {
  const char *detail = m->comm ? ncclGetLastError(m->comm) : NULL;
  abort_comm(m);
  return bfdi_fail(BFD_ERR_IO, "%s: %s%s%s", what, ncclGetErrorString(r), detail && detail[0] ? ": " : "",
                   detail ? detail : "");
}

static bfd_status timed_out(const bfdi_comm *c, nccl_impl *m, const char *what) {
  abort_comm(m);
  return bfdi_fail(BFD_ERR_IO,
                   "%s did not complete within %g s on rank %u of %u: another rank died, hung or ran out of data "
                   "(the communicator is aborted)",
                   what, c->timeout_s, c->rank, c->size);
}

/* Until a non-blocking NCCL call (init, split, group end, finalize) has
 * taken effect on comm. */
static bfd_status wait_ready(const bfdi_comm *c, nccl_impl *m, ncclComm_t comm, const char *what, double deadline) {
  unsigned polls = 0;
  for (;;) {
    ncclResult_t ar = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(comm, &ar);
    if (r != ncclSuccess) return nccl_fail(m, r, what);
    if (ar == ncclSuccess) return BFD_OK;
    if (ar != ncclInProgress) return nccl_fail(m, ar, what);
    if (now_s() > deadline) return timed_out(c, m, what);
    pause_poll(&polls);
  }
}

/* An NCCL call's immediate result. A non-blocking communicator may still be
 * enqueuing (ncclInProgress): nothing else may touch it or its stream until
 * that is done. */
static bfd_status enqueued(const bfdi_comm *c, nccl_impl *m, ncclResult_t r, const char *what) {
  if (r == ncclSuccess) return BFD_OK;
  if (r != ncclInProgress) return nccl_fail(m, r, what);
  return wait_ready(c, m, m->comm, what, now_s() + c->timeout_s);
}

/* Until the work queued on the comm's stream is done. */
static bfd_status wait_stream(const bfdi_comm *c, nccl_impl *m, const char *what) {
  double deadline = now_s() + c->timeout_s;
  BFD_TRY(wait_ready(c, m, m->comm, what, deadline));
  unsigned polls = 0;
  for (;;) {
    cudaError_t e = cudaStreamQuery(m->stream);
    if (e == cudaSuccess) return BFD_OK;
    if (e != cudaErrorNotReady) {
      abort_comm(m);
      return cuda_fail(e, what);
    }
    ncclResult_t ar = ncclSuccess;
    ncclCommGetAsyncError(m->comm, &ar);
    if (ar != ncclSuccess && ar != ncclInProgress) return nccl_fail(m, ar, what);
    if (now_s() > deadline) return timed_out(c, m, what);
    pause_poll(&polls);
  }
}

static bfd_status use_device(nccl_impl *m) {
  cudaError_t e = cudaSetDevice(m->device);
  return e == cudaSuccess ? BFD_OK : cuda_fail(e, "cudaSetDevice");
}

static bfd_status scratch(nccl_impl *m, size_t bytes) {
  if (bytes <= m->scratch_cap) return BFD_OK;
  if (m->scratch) cudaFree(m->scratch);
  m->scratch = NULL;
  m->scratch_cap = 0;
  cudaError_t e = cudaMalloc(&m->scratch, bytes);
  if (e != cudaSuccess) return cuda_fail(e, "cudaMalloc of the comm's scratch buffer");
  m->scratch_cap = bytes;
  return BFD_OK;
}

static bfd_status copy(nccl_impl *m, void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind) {
  cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kind, m->stream);
  return e == cudaSuccess ? BFD_OK : cuda_fail(e, "cudaMemcpyAsync");
}

/* Device to pageable host memory blocks until the stream's earlier work is
 * done, so it runs only after wait_stream has seen the collective finish:
 * a dead peer must show up as a timeout, not as a copy that never returns. */
static bfd_status to_host(const bfdi_comm *c, nccl_impl *m, void *dst, const void *src, size_t bytes) {
  BFD_TRY(copy(m, dst, src, bytes, cudaMemcpyDeviceToHost));
  return wait_stream(c, m, "cudaMemcpyAsync to the host");
}

static bfd_status nccl_barrier(bfdi_comm *c) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
  BFD_TRY(scratch(m, sizeof(uint64_t)));
  BFD_TRY(enqueued(c, m, ncclAllReduce(m->scratch, m->scratch, 1, ncclUint64, ncclMax, m->comm, m->stream),
                 "ncclAllReduce (barrier)"));
  return wait_stream(c, m, "barrier (ncclAllReduce)");
}

static bfd_status nccl_bcast(bfdi_comm *c, void *buf, size_t bytes, uint32_t root) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
  BFD_TRY(enqueued(c, m, ncclBroadcast(buf, buf, bytes, ncclUint8, (int)root, m->comm, m->stream), "ncclBroadcast"));
  return wait_stream(c, m, "ncclBroadcast");
}

static bfd_status nccl_allgather(bfdi_comm *c, const void *mine, size_t bytes, void *all) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
  size_t total = bytes * c->size;
  BFD_TRY(scratch(m, total));
  char *dev = m->scratch;
  BFD_TRY(copy(m, dev + bytes * c->rank, mine, bytes, cudaMemcpyHostToDevice));
  BFD_TRY(enqueued(c, m, ncclAllGather(dev + bytes * c->rank, dev, bytes, ncclUint8, m->comm, m->stream),
                   "ncclAllGather"));
  BFD_TRY(wait_stream(c, m, "ncclAllGather"));
  return to_host(c, m, all, dev, total);
}

/* count elements of type t to and from every peer; rank order. */
static bfd_status alltoall_uniform(bfdi_comm *c, nccl_impl *m, const void *send, void *recv, size_t count,
                                   ncclDataType_t t, size_t esize) {
#if NATIVE_ALLTOALL
  (void)esize;
  return enqueued(c, m, ncclAlltoAll(send, recv, count, t, m->comm, m->stream), "ncclAlltoAll");
#else
  BFD_TRY(enqueued(c, m, ncclGroupStart(), "ncclGroupStart"));
  for (uint32_t p = 0; p < c->size; p++) {
    ncclSend((const char *)send + p * count * esize, count, t, (int)p, m->comm, m->stream);
    ncclRecv((char *)recv + p * count * esize, count, t, (int)p, m->comm, m->stream);
  }
  return enqueued(c, m, ncclGroupEnd(), "ncclGroupEnd (all-to-all)");
#endif
}

static bfd_status nccl_alltoall_sizes(bfdi_comm *c, const uint64_t *send, uint64_t *recv) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
  size_t row = (size_t)c->size * sizeof(uint64_t);
  BFD_TRY(scratch(m, 2 * row));
  char *dev = m->scratch;
  BFD_TRY(copy(m, dev, send, row, cudaMemcpyHostToDevice));
  BFD_TRY(alltoall_uniform(c, m, dev, dev + row, 1, ncclUint64, sizeof(uint64_t)));
  BFD_TRY(wait_stream(c, m, "all-to-all of sizes"));
  return to_host(c, m, recv, dev + row, row);
}

#if NATIVE_ALLTOALL
/* The byte count every pair moves when it is the same for all pairs of all
 * ranks, else UINT64_MAX: one all-reduce (max) of {v, ~v}, i.e. of the
 * largest and the smallest per-rank value. */
static bfd_status uniform_count(bfdi_comm *c, nccl_impl *m, const uint64_t *send_bytes, const uint64_t *recv_bytes,
                                uint64_t *out) {
  uint64_t v = send_bytes[0];
  for (uint32_t p = 0; p < c->size && v != UINT64_MAX; p++)
    if (send_bytes[p] != v || recv_bytes[p] != v) v = UINT64_MAX;
  uint64_t host[2] = {v, ~v};
  BFD_TRY(scratch(m, sizeof host));
  BFD_TRY(copy(m, m->scratch, host, sizeof host, cudaMemcpyHostToDevice));
  BFD_TRY(enqueued(c, m, ncclAllReduce(m->scratch, m->scratch, 2, ncclUint64, ncclMax, m->comm, m->stream),
                 "ncclAllReduce (all-to-all sizes)"));
  BFD_TRY(wait_stream(c, m, "ncclAllReduce (all-to-all sizes)"));
  BFD_TRY(to_host(c, m, host, m->scratch, sizeof host));
  *out = host[0] == ~host[1] ? host[0] : UINT64_MAX;
  return BFD_OK;
}
#endif

static bfd_status nccl_alltoallv(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                                 const uint64_t *recv_bytes) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
#if NATIVE_ALLTOALL
  uint64_t same;
  BFD_TRY(uniform_count(c, m, send_bytes, recv_bytes, &same));
  if (same == 0) return BFD_OK;
  if (same != UINT64_MAX) {
    BFD_TRY(alltoall_uniform(c, m, send, recv, (size_t)same, ncclUint8, 1));
    return wait_stream(c, m, "ncclAlltoAll");
  }
#endif
  BFD_TRY(enqueued(c, m, ncclGroupStart(), "ncclGroupStart"));
  uint64_t soff = 0, roff = 0;
  for (uint32_t p = 0; p < c->size; p++) {
    if (send_bytes[p])
      ncclSend((const char *)send + soff, (size_t)send_bytes[p], ncclUint8, (int)p, m->comm, m->stream);
    if (recv_bytes[p]) ncclRecv((char *)recv + roff, (size_t)recv_bytes[p], ncclUint8, (int)p, m->comm, m->stream);
    soff += send_bytes[p];
    roff += recv_bytes[p];
  }
  BFD_TRY(enqueued(c, m, ncclGroupEnd(), "ncclGroupEnd (ncclSend/ncclRecv all-to-all)"));
  return wait_stream(c, m, "ncclSend/ncclRecv all-to-all");
}

static bfd_status wrap(bfdi_comm *c, ncclComm_t comm, int device, nccl_impl **out);

static bfd_status nccl_split(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm *child) {
  nccl_impl *m = c->impl;
  BFD_TRY(use_device(m));
  ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
  cfg.blocking = 0;
  ncclComm_t sub = NULL;
  BFD_TRY(enqueued(c, m, ncclCommSplit(m->comm, (int)color, (int)key, &sub, &cfg), "ncclCommSplit"));
  bfd_status st = wait_ready(c, m, sub, "ncclCommSplit", now_s() + c->timeout_s);
  if (st != BFD_OK) {
    if (sub) ncclCommAbort(sub);
    return st;
  }
  nccl_impl *cm;
  st = wrap(child, sub, m->device, &cm);
  if (st != BFD_OK) ncclCommAbort(sub);
  return st;
}

static void nccl_abort(bfdi_comm *c, bfd_status why) {
  (void)why;
  abort_comm(c->impl);
}

static void nccl_destroy(bfdi_comm *c) {
  nccl_impl *m = c->impl;
  cudaSetDevice(m->device);
  if (!m->aborted) {
    /* A finalize that cannot complete (a peer is gone) is aborted instead. */
    if (enqueued(c, m, ncclCommFinalize(m->comm), "ncclCommFinalize") == BFD_OK)
      ncclCommDestroy(m->comm);
    else
      bfdi_log(BFD_LOG_WARN, "biofeed nccl comm: rank %u of %u: %s", c->rank, c->size, bfd_last_error());
  }
  if (m->stream) cudaStreamDestroy(m->stream);
  if (m->scratch) cudaFree(m->scratch);
  free(m);
}

static const bfdi_comm_ops NCCL_OPS = {
    nccl_barrier, nccl_bcast, nccl_allgather, nccl_alltoall_sizes, nccl_alltoallv, nccl_split, nccl_abort,
    nccl_destroy,
};

/* Makes c own comm (already initialized) on device. */
static bfd_status wrap(bfdi_comm *c, ncclComm_t comm, int device, nccl_impl **out) {
  int rank = 0, size = 0;
  ncclCommUserRank(comm, &rank);
  ncclCommCount(comm, &size);
  nccl_impl *m = calloc(1, sizeof *m);
  if (!m) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  m->comm = comm;
  m->device = device;
  cudaError_t e = cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    free(m);
    return cuda_fail(e, "cudaStreamCreateWithFlags");
  }
  c->rank = (uint32_t)rank;
  c->size = (uint32_t)size;
  c->impl = m;
  c->ops = &NCCL_OPS;
  *out = m;
  return BFD_OK;
}

static int mpi_launched(const bfdi_dist_env *env) {
  return env->launcher == BFDI_LAUNCHER_OPENMPI || env->launcher == BFDI_LAUNCHER_PMI ||
         env->launcher == BFDI_LAUNCHER_PMIX;
}

/* Rank 0's unique id to every rank: over MPI when the job has it. */
static bfd_status share_id(const bfdi_comm *c, const bfdi_dist_env *env, ncclUniqueId *id) {
#if BFD_MPI
  if (mpi_launched(env)) {
    bfdi_comm_options o;
    bfdi_comm_options_init(&o);
    o.kind = BFDI_COMM_MPI;
    o.timeout_s = c->timeout_s;
    bfdi_comm *mc;
    BFD_TRY(bfdi_comm_create(&o, env, &mc));
    bfd_status st = bfdi_comm_bcast(mc, id, sizeof *id, 0);
    bfdi_comm_destroy(mc);
    return st;
  }
#else
  if (mpi_launched(env))
    bfdi_log(BFD_LOG_INFO, "biofeed nccl comm: built without MPI; using the TCP rendezvous at %s port %u",
             env->master_addr, (unsigned)env->rdzv_port);
#endif
  return bfdi_rdzv_share(env->master_addr, env->rdzv_port, env->rank, env->world_size, id, sizeof *id, c->timeout_s);
}

bfd_status bfdi_comm_nccl_init(bfdi_comm *c, const bfdi_comm_options *o, const bfdi_dist_env *env) {
  int n_dev = 0;
  cudaError_t e = cudaGetDeviceCount(&n_dev);
  if (e != cudaSuccess || n_dev == 0)
    return bfdi_fail(BFD_ERR_CUDA, "the nccl backend needs a CUDA device, and this process sees none%s%s",
                     e != cudaSuccess ? ": " : "", e != cudaSuccess ? cudaGetErrorString(e) : "");
  int device = o->device >= 0 ? o->device
               : env->local_rank >= 0 ? env->local_rank % n_dev
                                      : (int)(env->rank % (uint32_t)n_dev);
  if (device >= n_dev)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "device %d does not exist: this process sees %d CUDA devices", device, n_dev);
  e = cudaSetDevice(device);
  if (e != cudaSuccess) return cuda_fail(e, "cudaSetDevice");

  c->rank = env->rank;
  c->size = env->world_size;
  nccl_impl boot = {0};
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  if (env->rank == 0) {
    ncclResult_t r = ncclGetUniqueId(&id);
    if (r != ncclSuccess) return nccl_fail(&boot, r, "ncclGetUniqueId");
  }
  BFD_TRY(share_id(c, env, &id));

  ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
  cfg.blocking = 0;
  ncclComm_t comm = NULL;
  ncclResult_t r = ncclCommInitRankConfig(&comm, (int)env->world_size, id, (int)env->rank, &cfg);
  boot.comm = comm;
  if (r != ncclSuccess && r != ncclInProgress) return nccl_fail(&boot, r, "ncclCommInitRankConfig");
  BFD_TRY(wait_ready(c, &boot, comm, "ncclCommInitRankConfig", now_s() + c->timeout_s));
  nccl_impl *m;
  bfd_status st = wrap(c, comm, device, &m);
  if (st != BFD_OK) ncclCommAbort(comm);
  return st;
}

#endif

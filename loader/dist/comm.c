/* The comm interface (comm.h): argument checks, the broken state and its
 * first reason, and dispatch to the local, mpi and nccl backends. */
#include "dist/comm.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "dist/comm_impl.h"

const char *bfdi_comm_kind_name(bfdi_comm_kind k) {
  switch (k) {
    case BFDI_COMM_LOCAL: return "local";
    case BFDI_COMM_MPI: return "mpi";
    case BFDI_COMM_NCCL: return "nccl";
  }
  return "unknown";
}

int bfdi_comm_kind_built(bfdi_comm_kind k) {
  switch (k) {
    case BFDI_COMM_LOCAL: return 1;
    case BFDI_COMM_MPI: return BFD_MPI;
    case BFDI_COMM_NCCL: return BFD_NCCL;
  }
  return 0;
}

void bfdi_comm_options_init(bfdi_comm_options *o) {
  o->kind = BFDI_COMM_LOCAL;
  o->timeout_s = BFDI_COMM_DEFAULT_TIMEOUT_S;
  o->device = -1;
}

static bfd_status init_backend(bfdi_comm *c, const bfdi_comm_options *o, const bfdi_dist_env *env) {
  switch (o->kind) {
    case BFDI_COMM_LOCAL:
      if (env->world_size != 1)
        return bfdi_fail(BFD_ERR_INVALID_ARG,
                         "the local backend runs one rank, but the world size is %u (from %s): choose the mpi or "
                         "nccl backend",
                         env->world_size, env->world_from);
      return bfdi_comm_local_init(c);
    case BFDI_COMM_MPI:
#if BFD_MPI
      return bfdi_comm_mpi_init(c, env);
#else
      return bfdi_fail(BFD_ERR_UNSUPPORTED,
                       "this biofeed was built without MPI (mpi.h was not found at build time): install Open MPI "
                       "(libopenmpi-dev) and rebuild, or use the nccl or local backend");
#endif
    case BFDI_COMM_NCCL:
#if BFD_NCCL
      return bfdi_comm_nccl_init(c, o, env);
#else
      return bfdi_fail(BFD_ERR_UNSUPPORTED,
                       "this biofeed was built without NCCL (nccl.h and nvcc were not found at build time): install "
                       "NCCL with the CUDA toolkit and rebuild, or use the mpi backend");
#endif
  }
  return bfdi_fail(BFD_ERR_INVALID_ARG, "comm backend %d is not local (0), mpi (1) or nccl (2)", (int)o->kind);
}

bfd_status bfdi_comm_create(const bfdi_comm_options *o, const bfdi_dist_env *env, bfdi_comm **out) {
  if (!o || !env || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_comm_create: o, env and out must not be NULL");
  *out = NULL;
  bfdi_comm *c = calloc(1, sizeof *c);
  if (!c) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a %s comm", bfdi_comm_kind_name(o->kind));
  c->kind = o->kind;
  c->timeout_s = o->timeout_s > 0 ? o->timeout_s : BFDI_COMM_DEFAULT_TIMEOUT_S;
  c->max_message = INT_MAX;
  bfd_status st = init_backend(c, o, env);
  if (st != BFD_OK) {
    free(c);
    return bfdi_wrap(st, "%s comm for rank %u of %u", bfdi_comm_kind_name(o->kind), env->rank, env->world_size);
  }
  *out = c;
  return BFD_OK;
}

void bfdi_comm_destroy(bfdi_comm *c) {
  if (!c) return;
  c->ops->destroy(c);
  free(c);
}

uint32_t bfdi_comm_rank(const bfdi_comm *c) { return c->rank; }
uint32_t bfdi_comm_size(const bfdi_comm *c) { return c->size; }
bfdi_comm_kind bfdi_comm_kind_of(const bfdi_comm *c) { return c->kind; }

void bfdi_comm_set_max_message(bfdi_comm *c, size_t bytes) {
  if (bytes > 0 && bytes <= INT_MAX) c->max_message = bytes;
}

static bfd_status refuse_if_broken(const bfdi_comm *c, const char *op) {
  if (!c->broken) return BFD_OK;
  return bfdi_fail(BFD_ERR_IO, "%s comm, %s on rank %u of %u: the comm failed earlier and cannot be used: %s",
                   bfdi_comm_kind_name(c->kind), op, c->rank, c->size, c->why);
}

/* The first failure breaks the comm: a collective that failed on one rank
 * leaves the ranks out of step. */
static bfd_status after(bfdi_comm *c, const char *op, bfd_status st) {
  if (st == BFD_OK) return st;
  bfdi_wrap(st, "%s comm, %s on rank %u of %u", bfdi_comm_kind_name(c->kind), op, c->rank, c->size);
  if (!c->broken) {
    c->broken = 1;
    snprintf(c->why, sizeof c->why, "%s", bfd_last_error());
  }
  return st;
}

bfd_status bfdi_comm_barrier(bfdi_comm *c) {
  BFD_TRY(refuse_if_broken(c, "barrier"));
  return after(c, "barrier", c->ops->barrier(c));
}

bfd_status bfdi_comm_bcast(bfdi_comm *c, void *buf, size_t bytes, uint32_t root) {
  BFD_TRY(refuse_if_broken(c, "broadcast"));
  if (root >= c->size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "broadcast: root %u is not a rank of this comm (size %u)", root, c->size);
  if (!buf && bytes) return bfdi_fail(BFD_ERR_INVALID_ARG, "broadcast: buf is NULL for %zu bytes", bytes);
  if (bytes == 0) return BFD_OK;
  return after(c, "broadcast", c->ops->bcast(c, buf, bytes, root));
}

bfd_status bfdi_comm_allgather(bfdi_comm *c, const void *mine, size_t bytes, void *all) {
  BFD_TRY(refuse_if_broken(c, "allgather"));
  if (bytes == 0 || bytes > BFDI_COMM_SMALL || !mine || !all)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "allgather: %zu bytes per rank (needs 1 .. %d, and both buffers)", bytes,
                     BFDI_COMM_SMALL);
  return after(c, "allgather", c->ops->allgather(c, mine, bytes, all));
}

bfd_status bfdi_comm_alltoall_sizes(bfdi_comm *c, const uint64_t *send, uint64_t *recv) {
  BFD_TRY(refuse_if_broken(c, "all-to-all of sizes"));
  if (!send || !recv) return bfdi_fail(BFD_ERR_INVALID_ARG, "all-to-all of sizes: send and recv must not be NULL");
  return after(c, "all-to-all of sizes", c->ops->alltoall_sizes(c, send, recv));
}

static bfd_status check_counts(const bfdi_comm *c, const void *buf, const uint64_t *bytes, const char *what) {
  if (!bytes) return bfdi_fail(BFD_ERR_INVALID_ARG, "all-to-all: %s_bytes is NULL", what);
  uint64_t total = 0;
  for (uint32_t r = 0; r < c->size; r++) {
    if (bytes[r] > UINT64_MAX - total)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "all-to-all: %s_bytes overflow at rank %u", what, r);
    total += bytes[r];
  }
  if (total && !buf) return bfdi_fail(BFD_ERR_INVALID_ARG, "all-to-all: %s buffer is NULL for %llu bytes", what,
                                      (unsigned long long)total);
  return BFD_OK;
}

bfd_status bfdi_comm_alltoallv(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                               const uint64_t *recv_bytes) {
  BFD_TRY(refuse_if_broken(c, "all-to-all"));
  BFD_TRY(check_counts(c, send, send_bytes, "send"));
  BFD_TRY(check_counts(c, recv, recv_bytes, "recv"));
  return after(c, "all-to-all", c->ops->alltoallv(c, send, send_bytes, recv, recv_bytes));
}

bfd_status bfdi_comm_split(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "split: out is NULL");
  *out = NULL;
  BFD_TRY(refuse_if_broken(c, "split"));
  if (color > INT32_MAX || key > INT32_MAX)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "split: color %u and key %u must be below 2^31", color, key);
  bfdi_comm *child = calloc(1, sizeof *child);
  if (!child) return bfdi_fail(BFD_ERR_NOMEM, "split: out of memory");
  child->kind = c->kind;
  child->timeout_s = c->timeout_s;
  child->max_message = c->max_message;
  bfd_status st = after(c, "split", c->ops->split(c, color, key, child));
  if (st != BFD_OK) {
    free(child);
    return st;
  }
  *out = child;
  return BFD_OK;
}

bfd_status bfdi_comm_abort(bfdi_comm *c, bfd_status why, const char *reason) {
  /* reason may be bfd_last_error()'s buffer, which bfdi_fail rewrites. */
  char msg[BFDI_COMM_WHY_MAX];
  snprintf(msg, sizeof msg, "%s", reason ? reason : "(no reason given)");
  if (why == BFD_OK) why = BFD_ERR_INTERNAL;
  bfdi_log(BFD_LOG_ERROR, "biofeed %s comm: rank %u of %u failed (%s) and takes the job down: %s",
           bfdi_comm_kind_name(c->kind), c->rank, c->size, bfd_status_name(why), msg);
  if (!c->broken) {
    c->broken = 1;
    snprintf(c->why, sizeof c->why, "rank %u aborted: %.900s", c->rank, msg);
  }
  c->ops->abort(c, why);
  return bfdi_fail(why, "%s", msg);
}

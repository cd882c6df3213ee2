/* The mpi backend (comm.h) over Open MPI: host buffers, MPI_Bcast,
 * MPI_Alltoall of sizes, MPI_Alltoallv, MPI_Comm_split, MPI_Abort. MPI calls
 * have no timeout of their own, so a watchdog thread per comm aborts the job
 * when one overruns. Errors return (MPI_ERRORS_RETURN) on the comm's own
 * duplicate of MPI_COMM_WORLD, so the program's communicators keep their
 * handlers. */
#if BFD_MPI

#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>

#include "dist/comm_impl.h"
#include "dist/watchdog.h"

typedef struct mpi_impl {
  MPI_Comm comm;
  bfdi_watchdog *dog;
} mpi_impl;

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;

static void finalize_at_exit(void) {
  int done = 0;
  MPI_Finalized(&done);
  if (!done) MPI_Finalize();
}

static bfd_status mpi_error(const bfdi_comm *c, int err, const char *call) {
  char s[MPI_MAX_ERROR_STRING + 1];
  int n = 0;
  if (MPI_Error_string(err, s, &n) != MPI_SUCCESS) n = 0;
  s[n] = '\0';
  return bfdi_fail(BFD_ERR_IO, "%s failed on rank %u of %u: %s", call, c->rank, c->size, n ? s : "unknown MPI error");
}

/* A collective that overran: the peers are dead, hung or starved, and MPI
 * cannot cancel it, so the job ends. */
static void on_timeout(void *ctx, const char *op, double timeout_s) {
  const bfdi_comm *c = ctx;
  bfdi_log(BFD_LOG_ERROR,
           "biofeed mpi comm: %s on rank %u of %u did not complete within %g s: another rank died, hung or ran out "
           "of data; ending the job with MPI_Abort (exit code %d)",
           op, c->rank, c->size, timeout_s, BFDI_COMM_EXIT_TIMEOUT);
  MPI_Abort(MPI_COMM_WORLD, BFDI_COMM_EXIT_TIMEOUT);
}

/* Brackets one blocking MPI call with the comm's deadline. */
static void arm(const bfdi_comm *c, const char *op) { bfdi_watchdog_arm(((mpi_impl *)c->impl)->dog, op); }
static void disarm(const bfdi_comm *c) { bfdi_watchdog_disarm(((mpi_impl *)c->impl)->dog); }

static bfd_status mpi_barrier(bfdi_comm *c) {
  mpi_impl *m = c->impl;
  arm(c, "MPI_Barrier");
  int rc = MPI_Barrier(m->comm);
  disarm(c);
  return rc == MPI_SUCCESS ? BFD_OK : mpi_error(c, rc, "MPI_Barrier");
}

static bfd_status mpi_bcast(bfdi_comm *c, void *buf, size_t bytes, uint32_t root) {
  mpi_impl *m = c->impl;
  for (size_t off = 0; off < bytes; off += c->max_message) {
    size_t n = bytes - off < c->max_message ? bytes - off : c->max_message;
    arm(c, "MPI_Bcast");
    int rc = MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, (int)root, m->comm);
    disarm(c);
    if (rc != MPI_SUCCESS) return mpi_error(c, rc, "MPI_Bcast");
  }
  return BFD_OK;
}

static bfd_status mpi_allgather(bfdi_comm *c, const void *mine, size_t bytes, void *all) {
  mpi_impl *m = c->impl;
  arm(c, "MPI_Allgather");
  int rc = MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, m->comm);
  disarm(c);
  return rc == MPI_SUCCESS ? BFD_OK : mpi_error(c, rc, "MPI_Allgather");
}

static bfd_status mpi_alltoall_sizes(bfdi_comm *c, const uint64_t *send, uint64_t *recv) {
  mpi_impl *m = c->impl;
  arm(c, "MPI_Alltoall");
  int rc = MPI_Alltoall(send, 1, MPI_UINT64_T, recv, 1, MPI_UINT64_T, m->comm);
  disarm(c);
  return rc == MPI_SUCCESS ? BFD_OK : mpi_error(c, rc, "MPI_Alltoall");
}

/* Counts and displacements as MPI's ints; 0 when one does not fit. */
static int to_int_counts(const uint64_t *bytes, uint32_t n, size_t limit, int *count, int *displ) {
  uint64_t off = 0;
  for (uint32_t r = 0; r < n; r++) {
    if (bytes[r] > limit || off > limit) return 0;
    count[r] = (int)bytes[r];
    displ[r] = (int)off;
    off += bytes[r];
  }
  return 1;
}

/* Transfers beyond int counts: each pair's bytes in messages of at most
 * max_message, which sender and receiver cut the same way. Messages between
 * two ranks with one tag arrive in order. */
static bfd_status alltoallv_pieces(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                                   const uint64_t *recv_bytes) {
  mpi_impl *m = c->impl;
  const uint64_t piece = c->max_message;
  size_t n_req = 0;
  for (uint32_t r = 0; r < c->size; r++)
    n_req += (size_t)((send_bytes[r] + piece - 1) / piece + (recv_bytes[r] + piece - 1) / piece);
  MPI_Request *req = malloc((n_req ? n_req : 1) * sizeof *req);
  if (!req) return bfdi_fail(BFD_ERR_NOMEM, "all-to-all: out of memory for %zu MPI requests", n_req);
  size_t k = 0;
  int rc = MPI_SUCCESS;
  uint64_t off = 0;
  for (uint32_t r = 0; r < c->size && rc == MPI_SUCCESS; off += recv_bytes[r], r++)
    for (uint64_t done = 0; done < recv_bytes[r] && rc == MPI_SUCCESS; done += piece) {
      uint64_t n = recv_bytes[r] - done < piece ? recv_bytes[r] - done : piece;
      rc = MPI_Irecv((char *)recv + off + done, (int)n, MPI_BYTE, (int)r, 0, m->comm, &req[k++]);
    }
  off = 0;
  for (uint32_t r = 0; r < c->size && rc == MPI_SUCCESS; off += send_bytes[r], r++)
    for (uint64_t done = 0; done < send_bytes[r] && rc == MPI_SUCCESS; done += piece) {
      uint64_t n = send_bytes[r] - done < piece ? send_bytes[r] - done : piece;
      rc = MPI_Isend((const char *)send + off + done, (int)n, MPI_BYTE, (int)r, 0, m->comm, &req[k++]);
    }
  if (rc == MPI_SUCCESS) {
    arm(c, "MPI_Waitall (all-to-all in pieces)");
    rc = MPI_Waitall((int)k, req, MPI_STATUSES_IGNORE);
    disarm(c);
  }
  free(req);
  return rc == MPI_SUCCESS ? BFD_OK : mpi_error(c, rc, "all-to-all in pieces (MPI_Isend/MPI_Irecv)");
}

static bfd_status mpi_alltoallv(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                                const uint64_t *recv_bytes) {
  mpi_impl *m = c->impl;
  int *v = malloc(4 * (size_t)c->size * sizeof *v);
  if (!v) return bfdi_fail(BFD_ERR_NOMEM, "all-to-all: out of memory for %u ranks' counts", c->size);
  int *sc = v, *sd = v + c->size, *rcount = v + 2 * (size_t)c->size, *rd = v + 3 * (size_t)c->size;
  int fits = to_int_counts(send_bytes, c->size, c->max_message, sc, sd) &&
             to_int_counts(recv_bytes, c->size, c->max_message, rcount, rd);
  /* Every rank must take the same path. */
  int all_fit = 0;
  arm(c, "MPI_Allreduce (all-to-all path)");
  int rc = MPI_Allreduce(&fits, &all_fit, 1, MPI_INT, MPI_MIN, m->comm);
  disarm(c);
  bfd_status st;
  if (rc != MPI_SUCCESS) {
    st = mpi_error(c, rc, "MPI_Allreduce (all-to-all path)");
  } else if (all_fit) {
    arm(c, "MPI_Alltoallv");
    rc = MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rcount, rd, MPI_BYTE, m->comm);
    disarm(c);
    st = rc == MPI_SUCCESS ? BFD_OK : mpi_error(c, rc, "MPI_Alltoallv");
  } else {
    st = alltoallv_pieces(c, send, send_bytes, recv, recv_bytes);
  }
  free(v);
  return st;
}

static bfd_status mpi_wrap_comm(bfdi_comm *c, MPI_Comm comm);

static bfd_status mpi_split(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm *child) {
  mpi_impl *m = c->impl;
  MPI_Comm sub;
  arm(c, "MPI_Comm_split");
  int rc = MPI_Comm_split(m->comm, (int)color, (int)key, &sub);
  disarm(c);
  if (rc != MPI_SUCCESS) return mpi_error(c, rc, "MPI_Comm_split");
  bfd_status st = mpi_wrap_comm(child, sub);
  if (st != BFD_OK) MPI_Comm_free(&sub);
  return st;
}

static void mpi_abort(bfdi_comm *c, bfd_status why) {
  (void)c;
  MPI_Abort(MPI_COMM_WORLD, BFDI_COMM_EXIT_BASE + (int)why);
}

static void mpi_destroy(bfdi_comm *c) {
  mpi_impl *m = c->impl;
  bfdi_watchdog_stop(m->dog);
  /* After MPI_Finalize (an exit handler that ran first) there is nothing to free. */
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Comm_free(&m->comm);
  free(m);
}

static const bfdi_comm_ops MPI_OPS = {
    mpi_barrier, mpi_bcast, mpi_allgather, mpi_alltoall_sizes, mpi_alltoallv, mpi_split, mpi_abort, mpi_destroy,
};

/* Makes c own comm: its rank, size, error handler and watchdog. */
static bfd_status mpi_wrap_comm(bfdi_comm *c, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  c->rank = (uint32_t)rank;
  c->size = (uint32_t)size;
  mpi_impl *m = calloc(1, sizeof *m);
  if (!m) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  int rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  if (rc != MPI_SUCCESS) {
    free(m);
    return mpi_error(c, rc, "MPI_Comm_set_errhandler");
  }
  bfd_status st = bfdi_watchdog_start(c->timeout_s, on_timeout, c, &m->dog);
  if (st != BFD_OK) {
    free(m);
    return st;
  }
  m->comm = comm;
  c->impl = m;
  c->ops = &MPI_OPS;
  return BFD_OK;
}

static bfd_status ensure_initialized(void) {
  pthread_mutex_lock(&init_mu);
  bfd_status st = BFD_OK;
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (fin) {
    st = bfdi_fail(BFD_ERR_INVALID_ARG, "MPI was already finalized in this process: create the comm before "
                   "MPI_Finalize");
  } else if (!init) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
    if (rc != MPI_SUCCESS) {
      st = bfdi_fail(BFD_ERR_IO, "MPI_Init_thread failed (error %d): is this process started by mpirun or srun?", rc);
    } else if (atexit(finalize_at_exit) != 0) {
      st = bfdi_fail(BFD_ERR_INTERNAL, "cannot register MPI_Finalize to run at exit");
    } else if (provided < MPI_THREAD_MULTIPLE) {
      bfdi_log(BFD_LOG_WARN, "biofeed mpi comm: MPI provides thread level %d, not MPI_THREAD_MULTIPLE: the timeout "
               "watchdog calls MPI_Abort from its own thread regardless", provided);
    }
  }
  pthread_mutex_unlock(&init_mu);
  return st;
}

bfd_status bfdi_comm_mpi_init(bfdi_comm *c, const bfdi_dist_env *env) {
  BFD_TRY(ensure_initialized());
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if ((uint32_t)rank != env->rank || (uint32_t)size != env->world_size)
    return bfdi_fail(BFD_ERR_INVALID_ARG,
                     "MPI says this process is rank %d of %d, but the launcher says rank %u (from %s) of %u (from "
                     "%s): start every rank with mpirun or srun --mpi=pmix, and give no rank or world size that "
                     "disagrees with them",
                     rank, size, env->rank, env->rank_from, env->world_size, env->world_from);
  c->rank = env->rank;
  c->size = env->world_size;
  /* The duplicate is collective: a missing rank already shows here. */
  bfdi_watchdog *dog;
  BFD_TRY(bfdi_watchdog_start(c->timeout_s, on_timeout, c, &dog));
  MPI_Comm dup;
  bfdi_watchdog_arm(dog, "MPI_Comm_dup");
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &dup);
  bfdi_watchdog_disarm(dog);
  bfdi_watchdog_stop(dog);
  if (rc != MPI_SUCCESS) return mpi_error(c, rc, "MPI_Comm_dup");
  bfd_status st = mpi_wrap_comm(c, dup);
  if (st != BFD_OK) MPI_Comm_free(&dup);
  return st;
}

#endif

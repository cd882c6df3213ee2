/* Communication between the ranks of a job, behind one interface with three
 * backends:
 *   local  one rank; host buffers.
 *   mpi    Open MPI between CPU ranks (and in CI); host buffers.
 *   nccl   NCCL between GPUs; device buffers (on the comm's CUDA device).
 *          Built only when nccl.h was found (BFD_NCCL).
 *
 * Every call is collective over the comm's ranks, and every call is bounded
 * by the comm's timeout (default BFDI_COMM_DEFAULT_TIMEOUT_S): a dead, hung
 * or starved peer produces an error, never a hang.
 *   mpi    a watchdog thread calls MPI_Abort when a call overruns: the whole
 *          job ends (MPI has no way to fail one communicator and go on). The
 *          reason goes to the log callback first.
 *   nccl   the call polls ncclCommGetAsyncError and its stream; when it
 *          overruns it calls ncclCommAbort and returns an error.
 * After a failure the comm is broken: every later call fails at once with
 * the first reason. bfdi_comm_abort is how a rank that failed on its own
 * (a bad shard, an I/O error) takes the others down with it. Exit codes of
 * an MPI_Abort: BFDI_COMM_EXIT_TIMEOUT for a timeout, BFDI_COMM_EXIT_BASE +
 * the bfd_status for bfdi_comm_abort.
 *
 * One thread drives a comm at a time. Sub-groups (split) are comms of their
 * own with the parent's timeout; destroy them before the parent. */
#ifndef BFD_DIST_COMM_H
#define BFD_DIST_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "dist/launcher.h"

#define BFDI_COMM_DEFAULT_TIMEOUT_S 300.0
/* Largest value per rank that bfdi_comm_allgather takes. */
#define BFDI_COMM_SMALL 4096
#define BFDI_COMM_EXIT_TIMEOUT 124
#define BFDI_COMM_EXIT_BASE 100

typedef enum bfdi_comm_kind { BFDI_COMM_LOCAL = 0, BFDI_COMM_MPI = 1, BFDI_COMM_NCCL = 2 } bfdi_comm_kind;

/* "local", "mpi", "nccl". */
const char *bfdi_comm_kind_name(bfdi_comm_kind k);
/* Whether this build has the backend (mpi: BFD_MPI; nccl: BFD_NCCL). */
int bfdi_comm_kind_built(bfdi_comm_kind k);

typedef struct bfdi_comm_options {
  bfdi_comm_kind kind;
  double timeout_s; /* per call; <= 0: BFDI_COMM_DEFAULT_TIMEOUT_S */
  int device;       /* nccl: CUDA device; -1: the local rank modulo the device count */
} bfdi_comm_options;

/* local, default timeout, device -1. */
void bfdi_comm_options_init(bfdi_comm_options *o);

typedef struct bfdi_comm bfdi_comm;

/* Joins the job described by env (launcher.h). mpi: initializes MPI with
 * MPI_THREAD_MULTIPLE unless the program already did (then MPI_Finalize is
 * the program's job; otherwise it runs at exit) and checks that MPI agrees
 * with env on rank and size. nccl: the unique id travels over MPI when the
 * job was started by an MPI launcher (or MPI is initialized), else over the
 * TCP rendezvous at env->master_addr:env->rdzv_port (rdzv.h). NCCL's own
 * environment variables (NCCL_SOCKET_IFNAME, NCCL_IB_HCA, ...) are left to
 * NCCL. */
bfd_status bfdi_comm_create(const bfdi_comm_options *o, const bfdi_dist_env *env, bfdi_comm **out);
/* Frees the comm (NULL is fine). Not collective. */
void bfdi_comm_destroy(bfdi_comm *c);

uint32_t bfdi_comm_rank(const bfdi_comm *c);
uint32_t bfdi_comm_size(const bfdi_comm *c);
bfdi_comm_kind bfdi_comm_kind_of(const bfdi_comm *c);

bfd_status bfdi_comm_barrier(bfdi_comm *c);

/* root's bytes into buf on every rank. */
bfd_status bfdi_comm_bcast(bfdi_comm *c, void *buf, size_t bytes, uint32_t root);

/* Every rank's `bytes` (<= BFDI_COMM_SMALL) of host memory at mine, in rank
 * order into all (size x bytes), on every rank. Host memory for every
 * backend. */
bfd_status bfdi_comm_allgather(bfdi_comm *c, const void *mine, size_t bytes, void *all);

/* send[d]: what this rank will send rank d; recv[s] gets what s will send
 * this rank. Host arrays of size() entries for every backend: the first half
 * of an all-to-all whose sizes vary. */
bfd_status bfdi_comm_alltoall_sizes(bfdi_comm *c, const uint64_t *send, uint64_t *recv);

/* send holds, packed in rank order, send_bytes[d] bytes for each rank d;
 * recv receives, packed in rank order, recv_bytes[s] bytes from each rank s.
 * recv_bytes must be what the peers send (bfdi_comm_alltoall_sizes first).
 * Buffers are host memory (local, mpi) or device memory (nccl). */
bfd_status bfdi_comm_alltoallv(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                               const uint64_t *recv_bytes);

/* Sub-groups: ranks with the same color form a comm, ordered by key (ties:
 * rank in c). Every rank of c must call it. */
bfd_status bfdi_comm_split(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm **out);

/* Lowers the largest single message (mpi: default INT_MAX bytes, MPI's int
 * counts; larger transfers go in pieces), so tests reach the piecewise paths
 * with small buffers. Other backends ignore it. */
void bfdi_comm_set_max_message(bfdi_comm *c, size_t bytes);

/* This rank failed with why (not BFD_OK) for reason: logs it and takes the
 * job down. mpi: MPI_Abort, does not return. nccl: ncclCommAbort, so peers
 * fail within the timeout. local: marks the comm broken. Returns why with
 * the message set to reason, for `return bfdi_comm_abort(c, st, bfd_last_error());`. */
bfd_status bfdi_comm_abort(bfdi_comm *c, bfd_status why, const char *reason);

#endif

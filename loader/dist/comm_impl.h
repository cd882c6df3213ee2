/* What a comm backend implements (comm.h) and the state every backend
 * shares. comm.c validates arguments, refuses calls on a broken comm and
 * records the first failure; the backends only move bytes. */
#ifndef BFD_DIST_COMM_IMPL_H
#define BFD_DIST_COMM_IMPL_H

#include "dist/comm.h"

/* Set by the build: 1 when mpi.h (Open MPI) or nccl.h was found. */
#ifndef BFD_MPI
#define BFD_MPI 0
#endif
#ifndef BFD_NCCL
#define BFD_NCCL 0
#endif

typedef struct bfdi_comm_ops {
  bfd_status (*barrier)(bfdi_comm *c);
  bfd_status (*bcast)(bfdi_comm *c, void *buf, size_t bytes, uint32_t root);
  bfd_status (*allgather)(bfdi_comm *c, const void *mine, size_t bytes, void *all);
  bfd_status (*alltoall_sizes)(bfdi_comm *c, const uint64_t *send, uint64_t *recv);
  bfd_status (*alltoallv)(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                          const uint64_t *recv_bytes);
  /* Fills child (zeroed, kind and timeout set) for this rank's group. */
  bfd_status (*split)(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm *child);
  /* Called after the reason is logged; mpi does not return. */
  void (*abort)(bfdi_comm *c, bfd_status why);
  void (*destroy)(bfdi_comm *c);
} bfdi_comm_ops;

#define BFDI_COMM_WHY_MAX 1024

struct bfdi_comm {
  const bfdi_comm_ops *ops;
  bfdi_comm_kind kind;
  uint32_t rank, size;
  double timeout_s;
  size_t max_message; /* mpi: bytes per message (MPI counts are int) */
  int broken;
  char why[BFDI_COMM_WHY_MAX];
  void *impl;
};

/* Each fills c->ops, rank, size and impl; c->kind, timeout_s and
 * max_message are set by the caller. */
bfd_status bfdi_comm_local_init(bfdi_comm *c);
#if BFD_MPI
bfd_status bfdi_comm_mpi_init(bfdi_comm *c, const bfdi_dist_env *env);
#endif
#if BFD_NCCL
bfd_status bfdi_comm_nccl_init(bfdi_comm *c, const bfdi_comm_options *o, const bfdi_dist_env *env);
#endif

#endif

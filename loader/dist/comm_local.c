/* The local backend: a job of one rank. Collectives are copies within the
 * process, so single-process runs take the same code path as distributed
 * ones. Host buffers only. */
#include <string.h>

#include "dist/comm_impl.h"

static bfd_status local_barrier(bfdi_comm *c) {
  (void)c;
  return BFD_OK;
}

static bfd_status local_bcast(bfdi_comm *c, void *buf, size_t bytes, uint32_t root) {
  (void)c, (void)buf, (void)bytes, (void)root;
  return BFD_OK;
}

static bfd_status local_allgather(bfdi_comm *c, const void *mine, size_t bytes, void *all) {
  (void)c;
  memmove(all, mine, bytes);
  return BFD_OK;
}

static bfd_status local_alltoall_sizes(bfdi_comm *c, const uint64_t *send, uint64_t *recv) {
  (void)c;
  recv[0] = send[0];
  return BFD_OK;
}

static bfd_status local_alltoallv(bfdi_comm *c, const void *send, const uint64_t *send_bytes, void *recv,
                                  const uint64_t *recv_bytes) {
  (void)c;
  if (send_bytes[0] != recv_bytes[0])
    return bfdi_fail(BFD_ERR_INVALID_ARG, "rank 0 sends itself %llu bytes but expects %llu: recv_bytes must come "
                     "from bfdi_comm_alltoall_sizes",
                     (unsigned long long)send_bytes[0], (unsigned long long)recv_bytes[0]);
  if (send_bytes[0]) memmove(recv, send, (size_t)send_bytes[0]);
  return BFD_OK;
}

static bfd_status local_split(bfdi_comm *c, uint32_t color, uint32_t key, bfdi_comm *child) {
  (void)c, (void)color, (void)key;
  return bfdi_comm_local_init(child);
}

static void local_abort(bfdi_comm *c, bfd_status why) { (void)c, (void)why; }

static void local_destroy(bfdi_comm *c) { (void)c; }

static const bfdi_comm_ops LOCAL_OPS = {
    local_barrier, local_bcast, local_allgather, local_alltoall_sizes, local_alltoallv, local_split, local_abort,
    local_destroy,
};

bfd_status bfdi_comm_local_init(bfdi_comm *c) {
  c->ops = &LOCAL_OPS;
  c->rank = 0;
  c->size = 1;
  c->impl = NULL;
  return BFD_OK;
}

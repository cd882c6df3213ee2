/* The TCP rendezvous: rank 0 hands a few bytes (an NCCL unique id) to every
 * other rank when there is no MPI to carry them; torchrun-style jobs on
 * cloud clusters. Rank 0 listens on port at addr (on that address when it is
 * a loopback one, else on every interface, since a node's own name may
 * resolve to 127.0.1.1 there), the others connect, retrying until rank 0 is
 * up. Each says its rank and world size; rank 0 answers once all have
 * arrived, and refuses a wrong world size, a duplicate or out-of-range rank
 * or another blob size, so a misconfigured job fails on every rank with the
 * same message. The whole exchange is bounded by timeout_s. */
#ifndef BFD_DIST_RDZV_H
#define BFD_DIST_RDZV_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define BFDI_RDZV_MAX_BLOB 4096

/* On rank 0 blob is read, elsewhere written; len is the same everywhere. */
bfd_status bfdi_rdzv_share(const char *addr, uint16_t port, uint32_t rank, uint32_t world, void *blob, size_t len,
                           double timeout_s);

#endif

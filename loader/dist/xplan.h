/* Exchange planning: for one step of `exchange` mode, which records this
 * rank sends to whom and where the records it receives go.
 *
 * Input: the step's n samples, each with the rank that owns (reads) it and
 * the rank that consumes it. A consumer's batch slots are numbered in the
 * order its samples appear in the list, so passing the step's batches
 * concatenated in rank order (what every rank computes from the sampler)
 * gives each consumer its batch in sampler order. Records between one owner
 * and one consumer travel in list order, so sender and receiver agree on
 * the order with no extra message. Every rank can compute every rank's plan;
 * each computes its own.
 *
 * Wire framing: a record is an 8-byte little-endian length, the bytes, and
 * zero padding to a multiple of 8; a rank's frames for one destination are
 * contiguous. The sizes and the bytes then move with
 * bfdi_comm_alltoall_sizes and bfdi_comm_alltoallv (comm.h). */
#ifndef BFD_DIST_XPLAN_H
#define BFD_DIST_XPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct bfdi_xplan {
  uint32_t world, rank;
  /* Sent by this rank to rank d: send_idx[send_off[d] .. send_off[d + 1]),
   * indices into the step's sample list, ascending. */
  uint64_t *send_off;
  uint64_t *send_idx;
  /* Received from rank s, in arrival order: this rank's batch slots
   * recv_slot[recv_off[s] .. recv_off[s + 1]). */
  uint64_t *recv_off;
  uint64_t *recv_slot;
  uint64_t n_slots; /* samples this rank consumes */
} bfdi_xplan;

/* owner[i], consumer[i] < world for i < n. An index out of range is
 * BFD_ERR_INVALID_ARG naming it. */
bfd_status bfdi_xplan_build(uint32_t world, uint32_t rank, uint64_t n, const uint32_t *owner,
                            const uint32_t *consumer, bfdi_xplan *out);
void bfdi_xplan_free(bfdi_xplan *p);

/* The bytes of record i (an index into the step's list) that this rank
 * owns. Must stay valid until the send buffer is packed. */
typedef bfd_status (*bfdi_xrecord_fn)(void *ctx, uint64_t i, const void **data, uint64_t *len);

/* Frames for one record of len bytes. */
static inline uint64_t bfdi_xframe_bytes(uint64_t len) { return 8 + ((len + 7) & ~(uint64_t)7); }

/* send_bytes[d]: bytes this rank sends rank d. */
bfd_status bfdi_xplan_send_bytes(const bfdi_xplan *p, bfdi_xrecord_fn rec, void *ctx, uint64_t *send_bytes);
/* Packs every record this rank sends into buf (the sum of send_bytes). */
bfd_status bfdi_xplan_pack(const bfdi_xplan *p, bfdi_xrecord_fn rec, void *ctx, void *buf, uint64_t cap);

/* Called once per received record with its slot in this rank's batch; data
 * points into the receive buffer. */
typedef bfd_status (*bfdi_xdeliver_fn)(void *ctx, uint64_t slot, const void *data, uint64_t len);

/* Walks the receive buffer (recv_bytes[s] from each rank s, packed in rank
 * order): each source must deliver exactly its planned records, framed
 * exactly, else BFD_ERR_CORRUPT naming the source and byte offset. */
bfd_status bfdi_xplan_unpack(const bfdi_xplan *p, const void *buf, const uint64_t *recv_bytes, bfdi_xdeliver_fn deliver,
                             void *ctx);

#endif

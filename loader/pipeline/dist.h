/* The pipeline's distribution stage, for the modes that talk between ranks
 * (docs/DISTRIBUTED.md); shard mode has none of it (p->dist is NULL).
 *
 *   broadcast  ranks in groups of G share batches. A group is one rank of
 *              the sampler (rank r / G of R / G); its leader (r mod G = 0)
 *              plans, reads and runs the ops, then broadcasts the batch's
 *              output block (every output in one buffer) to the group; the
 *              members read nothing and receive it in the ops stage.
 *   exchange   each rank reads only the records of the shards it owns
 *              (dist/owners.h; from dist.stage_dir when set). The plan stage
 *              computes every rank's batch of the step, plans this rank's
 *              owned records as the read side of the slot, and keeps the
 *              layout of its own batch; the upload stage moves the decoded
 *              records with one all-to-all (sizes first, dist/xplan.h) and
 *              puts each received record in its row, so the ops see exactly
 *              the input of shard mode.
 *
 * Lock-step. The collectives of step s start only once the consumer has
 * taken step s - 1: p->allowed is one past the step the consumer asks for
 * next (bfdi_dist_allow). Every rank's consumer makes
 * the same calls, so every rank's p->allowed is the same; before the
 * pipeline stops (close, state load) it finishes every collective below
 * p->allowed (bfdi_dist_drain), so no rank leaves a peer waiting in one it
 * will not join. That needs a slot for the step running ahead on every
 * rank: the consumer may hold at most prefetch batches (R - 1) in these
 * modes. Reading and decoding run further ahead; the collective and the ops
 * of step s overlap the consumer's work on step s - 1.
 *
 * Failure. A pipeline error on one rank in these modes goes through
 * bfdi_comm_abort (MPI_Abort; ncclCommAbort), so that every rank ends
 * instead of waiting for it (bfdi_dist_fail). */
#ifndef BFD_PIPELINE_DIST_H
#define BFD_PIPELINE_DIST_H

#include "dist/comm.h"
#include "dist/xplan.h"
#include "pipeline/pipe_impl.h"

/* Exchange state of one slot (exchange.c). */
typedef struct bfdi_xslot {
  /* every rank's batch of the step, concatenated in rank order */
  bfdi_sample_ref *refs;
  uint32_t *owner, *consumer; /* per list entry: a sample's parts (data, label) */
  uint32_t *row;              /* per sample this rank owns: its row on the read side */
  bfdi_xplan plan;
  /* this rank's own batch, as plan.c laid it out */
  uint32_t n;
  uint64_t *key, *offsets, *lab_off;
  uint32_t *group;
  uint64_t in_used, lab_used;
  /* the wire */
  uint64_t *send_bytes, *recv_bytes;
  uint8_t *send, *recv;
  size_t send_cap, recv_cap;
} bfdi_xslot;

typedef struct bfdi_pdist {
  bfdi_dist_mode mode;
  uint32_t rank, size;  /* this process in the world */
  bfdi_comm *comm;      /* the world */
  /* broadcast */
  bfdi_comm *group;
  uint32_t group_size;
  int leader;
  uint32_t *rows;       /* members: per slot, rows of the batch the leader sends */
  /* staging between the comm's memory and the batch's (host or device) */
  void *dev, *host;
  size_t dev_cap, host_cap;
  /* exchange */
  uint32_t **owner;     /* [dataset][shard] */
  uint32_t parts;       /* list entries per sample: 2 for images with labels */
  bfdi_xslot *xs;       /* per slot */
} bfdi_pdist;

/* Moves bytes of batch memory (device memory when dev) through comm c: a
 * broadcast from root, or an all-to-all; staged through host or device
 * memory when the comm's kind and the batch's memory differ. */
bfd_status bfdi_dist_bcast(bfdi_pipe *p, bfdi_comm *c, void *buf, size_t bytes, int dev, uint32_t root);
bfd_status bfdi_dist_alltoallv(bfdi_pipe *p, const void *send, const uint64_t *send_bytes, void *recv,
                               const uint64_t *recv_bytes);

/* Joins the job for the job's dist.mode: the comm (and the broadcast
 * group), and p->rank / p->world as the sampler sees them. Runs before the
 * datasets are opened, so that a failure after it can take the job down. */
bfd_status bfdi_dist_open(bfdi_pipe *p, const bfdi_dist_env *env);
/* After the datasets are open: shard owners and the staged copies
 * (exchange), and p->read_rows. */
bfd_status bfdi_dist_setup(bfdi_pipe *p);
/* After the slots exist: the per-slot state. */
bfd_status bfdi_dist_slots(bfdi_pipe *p);
void bfdi_dist_close(bfdi_pipe *p);

/* This rank failed with st (its message set): takes the job down through
 * the comm (MPI does not return) and returns st. */
bfd_status bfdi_dist_fail(bfdi_pipe *p, bfd_status st);

/* The plan stage once the slot's cursor and this rank's batch are known. */
bfd_status bfdi_dist_plan(bfdi_pipe *p, bfdi_slot *s);
/* Start of the upload stage: the exchange. */
bfd_status bfdi_dist_upload(bfdi_pipe *p, bfdi_slot *s);
/* Whether this rank reads shard k of dataset d (after bfdi_dist_setup):
 * every shard in shard mode, none on a broadcast member, its own in
 * exchange mode. */
int bfdi_dist_reads_shard(const bfdi_pipe *p, size_t d, size_t k);
/* Whether this rank skips the ops (a broadcast member). */
int bfdi_dist_skip_ops(const bfdi_pipe *p);
/* End of the ops stage: the broadcast. */
bfd_status bfdi_dist_after_ops(bfdi_pipe *p, bfdi_slot *s);

/* Waits until slot s may run its collectives (stage k's condition
 * variable); an error when the pipeline stops first. exchange.c and
 * broadcast.c use it. */
bfd_status bfdi_dist_wait(bfdi_pipe *p, const bfdi_slot *s, int k);
/* Under p->mu: the step the consumer asks for next (cons_seq) may run its
 * collectives. */
void bfdi_dist_allow(bfdi_pipe *p);
/* Under p->mu, before the threads stop: waits until every slot below
 * p->allowed is ready; a failure among them takes the job down. */
void bfdi_dist_drain(bfdi_pipe *p);

/* exchange.c */
bfd_status bfdi_exchange_setup(bfdi_pipe *p);
bfd_status bfdi_exchange_slots(bfdi_pipe *p);
void bfdi_exchange_close(bfdi_pipe *p);
bfd_status bfdi_exchange_plan(bfdi_pipe *p, bfdi_slot *s);
bfd_status bfdi_exchange_run(bfdi_pipe *p, bfdi_slot *s);

/* broadcast.c */
bfd_status bfdi_broadcast_plan(bfdi_pipe *p, bfdi_slot *s);
bfd_status bfdi_broadcast_run(bfdi_pipe *p, bfdi_slot *s);

#endif

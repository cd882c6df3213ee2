/* The pipeline: plan -> read -> decode -> upload -> ops -> batch, each stage
 * on its own thread(s) (io.readers for read; the CPU backend's empty upload
 * and the batch stage, which only counts outputs, run on the thread of the
 * stage before them), a ring of batch slots travelling through them in
 * order, bounded queues between the stages, and the consumer side (next,
 * release, state, position, stats) that the C API wraps. Decode and the CPU
 * ops run OpenMP teams that share io.workers threads, smaller for batches
 * too small to share. On the CPU backend, when batches are small or the ring
 * has a slot for each of io.workers + 1 threads, each of those threads runs
 * whole batches through every stage instead (no hand-overs, no teams).
 *
 * Memory: every buffer is sized and allocated when the pipeline is created
 * (prefetch + 1 slots; the consumer may hold up to prefetch of them), so a
 * batch allocates nothing once the largest record has been seen, and the
 * host buffers together stay under the job's memory_limit (creation fails,
 * saying how much one batch takes, when two slots do not fit).
 *
 * Lifetime: a slot handed to the consumer stays valid while it holds
 * references (the batch handle, DLPack tensors); closing the pipeline stops
 * the threads and frees everything once the last reference is dropped. */
#ifndef BFD_PIPELINE_PIPE_H
#define BFD_PIPELINE_PIPE_H

#include <dlpack/dlpack.h>

#include "biofeed/loader.h"
#include "dist/launcher.h"
#include "pipeline/source.h"

typedef struct bfdi_pipe bfdi_pipe;

/* Takes over *job (it is zeroed) whether or not creation succeeds. */
bfd_status bfdi_pipe_create(bfdi_job *job, uint32_t rank, uint32_t world, bfdi_pipe **out);
/* The same with the launcher's view of the job, which the modes that talk
 * between ranks (dist.mode broadcast, exchange) join with it. */
bfd_status bfdi_pipe_create_env(bfdi_job *job, const bfdi_dist_env *env, bfdi_pipe **out);
/* Stops the threads; memory goes when the last batch reference does. */
void bfdi_pipe_close(bfdi_pipe *p);

/* The next batch (one reference, for the handle) or NULL at the end of the
 * epoch. The first call starts the threads. */
bfd_status bfdi_pipe_next(bfdi_pipe *p, bfd_batch **out);
void bfdi_pipe_ref(bfd_batch *b);
void bfdi_pipe_unref(bfd_batch *b);
/* Drops the handle's reference; a second release is an error. */
bfd_status bfdi_pipe_release(bfd_batch *b);

bfd_status bfdi_pipe_steps(bfdi_pipe *p, uint64_t *steps);
void bfdi_pipe_position(bfdi_pipe *p, uint32_t *epoch, uint64_t *step);
/* The first restricted shard the job reads, or NULL (security.c). */
const char *bfdi_pipe_restricted(const bfdi_pipe *p);
bfd_status bfdi_pipe_state_save(bfdi_pipe *p, void *buf, size_t cap, size_t *len);
/* Stops the threads (batches already taken stay valid) and moves to the
 * saved position; the next call to next starts from there. */
bfd_status bfdi_pipe_state_load(bfdi_pipe *p, const void *buf, size_t len);
/* Fills up to cap stage entries; returns the number of stages. */
size_t bfdi_pipe_stats(bfdi_pipe *p, bfd_stage_stats *st, size_t cap);

/* Corrupt records skipped in the batches the consumer took (on_corrupt: skip). */
void bfdi_pipe_faults(bfdi_pipe *p, bfd_fault_stats *f);

/* Runs n batches through the stages one after another on the calling thread
 * (no overlap) from the current position, adding each stage's time to
 * stage_s[0 .. 5]: what each stage costs alone, for the benchmark. Sets the
 * calling thread's OpenMP team size to io.workers; leaves the position where
 * it was. */
bfd_status bfdi_pipe_run_serial(bfdi_pipe *p, uint64_t n, double stage_s[6]);

/* What the C API shows of a batch. */
typedef struct bfdi_view {
  const char *name;
  void *data;
  DLDataType dtype;
  int ndim;
  int64_t shape[6];
} bfdi_view;

typedef struct bfdi_batch_meta {
  uint32_t epoch;
  uint64_t step;
  uint64_t rows;
  size_t n_outputs;
  int device;     /* kDLCPU or kDLCUDA */
  int device_id;
} bfdi_batch_meta;

void bfdi_batch_meta_get(const bfd_batch *b, bfdi_batch_meta *m);
/* Output i (< n_outputs). */
void bfdi_batch_view_get(const bfd_batch *b, size_t i, bfdi_view *v);
/* Makes cuda_stream wait for the batch (a no-op on the CPU backend). */
bfd_status bfdi_batch_wait(bfd_batch *b, void *cuda_stream);

#endif

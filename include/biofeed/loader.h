/* The loader: what a training job uses. Open it from a job config (YAML file
 * or string), take batches, read each output as a DLPack tensor, save and
 * load its state, read its stats, close it.
 *
 * Thread safety: one thread drives a loader (open, next, state, close); the
 * pipeline's own threads are internal. bfd_batch and the tensors taken from
 * it may be released from any thread. bfd_loader_stats may be called from
 * any thread while another drives the loader.
 *
 * Memory rule: a batch's memory stays valid until the batch is released AND
 * every DLManagedTensor taken from it has been deleted (its deleter called).
 * The loader keeps at most `prefetch` batches in flight; a consumer that
 * holds on to batches stalls the pipeline instead of growing memory. For GPU
 * batches, "done" means done on the device too: synchronize (or record an
 * event and wait on it) the streams that read a batch before releasing it,
 * or the pipeline may overwrite memory a queued kernel still reads. */
#ifndef BIOFEED_LOADER_H
#define BIOFEED_LOADER_H

#include <dlpack/dlpack.h>

#include "biofeed/biofeed.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bfd_loader bfd_loader;
typedef struct bfd_batch bfd_batch;

typedef struct bfd_loader_options {
  int rank;        /* -1: from the config, else the launcher's environment, else 0 */
  int world_size;  /* -1: likewise, else 1 */
} bfd_loader_options;

/* rank = world_size = -1. */
BFD_API bfd_status bfd_loader_options_init(bfd_loader_options *o);

/* Opens a loader from a YAML job config file; relative paths in it are
 * relative to the file's folder. opt may be NULL (defaults). */
BFD_API bfd_status bfd_loader_open(const char *config_path, const bfd_loader_options *opt, bfd_loader **out);
/* The same from YAML text; relative paths are relative to base_dir. */
BFD_API bfd_status bfd_loader_open_string(const char *yaml, const char *base_dir, const bfd_loader_options *opt,
                                          bfd_loader **out);
BFD_API bfd_status bfd_loader_close(bfd_loader *l);

/* Whether the job reads restricted (encrypted) shards: *shard gets the path
 * of the first one (belonging to the loader), or NULL when every shard is
 * open. Tools that would write batches to disk refuse restricted data
 * (docs/SECURITY.md). */
BFD_API bfd_status bfd_loader_restricted(const bfd_loader *l, const char **shard);

/* Steps (batches) per epoch for this rank, the same on every rank. */
BFD_API bfd_status bfd_loader_steps_per_epoch(const bfd_loader *l, uint64_t *steps);

/* The next batch of the current epoch, or *out = NULL at the end of the
 * epoch; the call after that starts the next epoch. */
BFD_API bfd_status bfd_loader_next(bfd_loader *l, bfd_batch **out);

/* Where the loader is: epoch and step of the next batch next() returns. */
BFD_API bfd_status bfd_loader_position(const bfd_loader *l, uint32_t *epoch, uint64_t *step);

/* The state after the last batch next() returned: a few dozen bytes. Load
 * it into a loader opened with the same config (any world size) and the
 * batch stream continues exactly. */
BFD_API bfd_status bfd_loader_state_save(const bfd_loader *l, void *buf, size_t cap, size_t *len);
BFD_API bfd_status bfd_loader_state_load(bfd_loader *l, const void *buf, size_t len);

typedef struct bfd_stage_stats {
  const char *name;      /* "plan", "read", "decode", "upload", "ops", "batch" */
  double busy_s;         /* time working */
  double wait_in_s;      /* time stalled waiting for input */
  double wait_out_s;     /* time stalled waiting for room downstream */
  uint64_t bytes;        /* bytes produced */
  uint64_t records;      /* records or samples produced */
} bfd_stage_stats;

/* Fills up to cap entries, one per stage; *n gets the number of stages. */
BFD_API bfd_status bfd_loader_stats(const bfd_loader *l, bfd_stage_stats *stats, size_t cap, size_t *n);

/* Corrupt records met under `on_corrupt: skip` (a CRC32C mismatch, or a
 * chunk that does not decode), counted in the batches next() has returned.
 * A corrupt sample's row gets the next sample of its dataset, in manifest
 * order, that reads back whole (images: of the same shape); that row's
 * "sample" output is the replacement's index. The choice depends on the data
 * alone, so every rank, thread count and resumed run makes the same one.
 * Each skip is also logged (BFD_LOG_WARN) naming shard, record and offset. */
typedef struct bfd_fault_stats {
  uint64_t records_skipped; /* corrupt records left out, candidates for a replacement included */
  uint64_t rows_replaced;   /* rows that carry a replacement instead of their own sample */
  const char *last_shard;   /* the last corrupt record's shard file (NULL: none yet); valid until close */
  uint64_t last_record;     /* its record index in that shard */
  uint64_t last_offset;     /* the byte offset of its data in that file */
} bfd_fault_stats;

/* Fills *f; any thread may call it while another drives the loader. */
BFD_API bfd_status bfd_loader_faults(const bfd_loader *l, bfd_fault_stats *f);

typedef struct bfd_batch_info {
  uint32_t epoch;
  uint64_t step;
  uint64_t samples;      /* rows in the batch, padding rows included */
  size_t n_outputs;
  int device;            /* DLPack device type of the outputs: kDLCPU, kDLCUDAHost or kDLCUDA */
  int device_id;
} bfd_batch_info;

BFD_API bfd_status bfd_batch_info_get(const bfd_batch *b, bfd_batch_info *info);

/* Output i (0 .. n_outputs-1): its name ("ids", "attention_mask", "labels",
 * "image", "label", ...) and a new DLManagedTensor viewing it (strides always
 * filled). The tensor keeps the batch's memory alive until its deleter runs. */
BFD_API bfd_status bfd_batch_output(bfd_batch *b, size_t i, const char **name, DLManagedTensor **tensor);
/* The same by name; BFD_ERR_INVALID_ARG naming the outputs that exist. */
BFD_API bfd_status bfd_batch_get(bfd_batch *b, const char *name, DLManagedTensor **tensor);

/* For GPU batches: makes work queued on cuda_stream (a cudaStream_t; NULL =
 * the legacy default stream) wait until the batch is ready. A no-op for host
 * batches. */
BFD_API bfd_status bfd_batch_wait(bfd_batch *b, void *cuda_stream);

/* The consumer is done with the batch (tensors taken from it stay valid
 * until deleted). */
BFD_API bfd_status bfd_batch_release(bfd_batch *b);

#ifdef __cplusplus
}
#endif

#endif

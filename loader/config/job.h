/* The job config (YAML): which datasets, how they are sampled and batched,
 * the sequence or image ops, the device, prefetch and memory, I/O and rank
 * layout. The schema is in configs/README.md. Unknown keys, wrong types and
 * out-of-range values are errors naming the file, the line and what is
 * valid; relative paths are resolved against the config file's folder. */
#ifndef BFD_CONFIG_JOB_H
#define BFD_CONFIG_JOB_H

#include <stdint.h>

#include "img.h"
#include "io/engine.h"
#include "ops/seq_config.h"

typedef enum bfdi_order_kind { BFDI_ORDER_GLOBAL = 0, BFDI_ORDER_SHARDS, BFDI_ORDER_NONE } bfdi_order_kind;
typedef enum bfdi_device { BFDI_DEVICE_AUTO = 0, BFDI_DEVICE_CPU, BFDI_DEVICE_CUDA } bfdi_device;
typedef enum bfdi_layout { BFDI_CHANNELS_FIRST = 0, BFDI_CHANNELS_LAST } bfdi_layout;
/* What a corrupt record (CRC mismatch, undecodable chunk) does: stop the
 * run with an error, or be replaced by the next good sample (on_corrupt). */
typedef enum bfdi_on_corrupt { BFDI_CORRUPT_ERROR = 0, BFDI_CORRUPT_SKIP } bfdi_on_corrupt;
/* Distribution modes (docs/DISTRIBUTED.md). */
typedef enum bfdi_dist_mode { BFDI_DIST_SHARD = 0, BFDI_DIST_BROADCAST, BFDI_DIST_EXCHANGE } bfdi_dist_mode;
/* The comm backend; the values after AUTO are those of bfdi_comm_kind + 1. */
typedef enum bfdi_dist_backend {
  BFDI_BACKEND_AUTO = 0,
  BFDI_BACKEND_LOCAL,
  BFDI_BACKEND_MPI,
  BFDI_BACKEND_NCCL
} bfdi_dist_backend;

typedef struct bfdi_job_dataset {
  char *path;          /* resolved */
  double weight;
  unsigned long line;  /* of its entry, for messages about the dataset */
} bfdi_job_dataset;

typedef struct bfdi_job {
  char *file;          /* the config file (or "<dir>/<config string>"), for messages */
  uint64_t seed;
  bfdi_job_dataset *datasets;
  size_t n_datasets;
  uint32_t batch_size;
  /* sampling */
  bfdi_order_kind order;
  uint32_t shard_window;
  int drop_last;
  int batching;        /* bfdi_batching (plan/sampler.h) */
  uint32_t bucket_window;
  uint64_t max_tokens;
  /* ops */
  int has_sequence;
  bfd_seq_config seq;
  int has_image;
  bfdk_img_spec img;
  bfdk_fdtype out_dtype;
  bfdi_layout layout;
  bfd_dtype label_dtype;
  /* runtime */
  bfdi_device device;
  uint32_t prefetch;
  uint64_t memory_limit;
  bfdi_io_kind engine;
  uint32_t queue_depth;
  int direct;
  int cache;           /* io.cache: this rank's shard files held in memory (pipeline/cache.c) */
  uint32_t readers;
  uint32_t workers;
  int rank;            /* -1: not given */
  int world_size;      /* -1: not given */
  bfdi_dist_mode dist_mode;
  uint32_t group_size;         /* ranks per broadcast group (1: none) */
  bfdi_dist_backend backend;
  double timeout_s;            /* per collective call */
  char *owners;                /* exchange: owner map file (resolved), NULL: balanced */
  char *stage_dir;             /* exchange: node-local copy of the datasets (resolved), NULL: none */
  bfdi_on_corrupt on_corrupt;
  /* security: (docs/SECURITY.md); NULL: the environment's BIOFEED_KEY_FILE,
   * BIOFEED_AUDIT_LOG, BIOFEED_JOB_ID / SLURM_JOB_ID */
  char *key_file;              /* resolved */
  char *audit_log;             /* resolved */
  char *job_id;
  unsigned long line_key_file, line_audit_log;
  /* lines of keys that later checks refer to (0: absent) */
  unsigned long line_batching, line_sequence, line_image, line_device, line_cache, line_group, line_owners, line_stage,
      line_on_corrupt;
} bfdi_job;

/* Parses a config file. */
bfd_status bfdi_job_load(const char *path, bfdi_job *job);
/* Parses config text; relative paths are relative to base_dir (NULL: the
 * working directory). */
bfd_status bfdi_job_parse(const char *text, size_t n, const char *base_dir, bfdi_job *job);
void bfdi_job_free(bfdi_job *job);

#endif

/* What the loader reads: the job's datasets opened (manifest, every shard's
 * extent table), and their samples. A sample is a record (images, whole
 * sequences) or a window of a sequence record: tiled windows are numbered
 * record by record, and in random-window mode a record of length L holds
 * ceil(L / window) samples (each draws its own window), so that an epoch
 * covers about as many bases as the data holds. With window.bed, windows lie
 * in the BED regions of their record (records without regions: anywhere,
 * as the window op has it), counted over the regions. Everything here is
 * immutable after open and shared by every pipeline thread. */
#ifndef BFD_PIPELINE_SOURCE_H
#define BFD_PIPELINE_SOURCE_H

#include "config/job.h"
#include "io/extents.h"

typedef struct bfdi_src_shard {
  bfdi_extents *x;
  uint64_t first_record; /* dataset record index of its record 0 */
  uint64_t first_sample; /* dataset sample index of its first sample */
  uint64_t n_samples;
  uint32_t file_base;    /* global id of x->files[0] (bfdi_source.files) */
  uint32_t group;        /* images: index into bfdi_source.groups */
} bfdi_src_shard;

typedef struct bfdi_src_ds {
  const char *path;
  bfdi_src_shard *shards;
  size_t n_shards;
  uint64_t n_records, n_samples;
  uint64_t *shard_samples; /* per shard, for the sampler */
  uint64_t *win_cum;       /* window modes: [n_records + 1] samples before each record */
  int64_t *classes;        /* images with classes: per record */
  bfdk_seq_regions_owned regions; /* window.bed resolved against this dataset's records (n = 0: none) */
  int has_regions;
  uint64_t base;           /* global sample index of its sample 0: the datasets' samples in config order */
} bfdi_src_ds;

/* One image shape (a manifest shape group). */
typedef struct bfdi_src_group {
  bfd_dtype dtype;
  int ndim;                /* 3: [C, Y, X]; 4: [C, Z, Y, X] */
  int64_t shape[4];
  int has_labels;
  bfd_dtype label_dtype;
  uint64_t sample_bytes, label_bytes;
  uint64_t stage_bytes;    /* staging one sample (data and label) may take, at most */
} bfdi_src_group;

/* Where a sample lives. */
typedef struct bfdi_src_loc {
  const bfdi_src_shard *shard;
  uint64_t record;         /* in its shard */
  uint64_t ds_record;      /* in its dataset */
  uint64_t len;            /* sequences: the record's length in bytes */
  uint64_t tile;           /* window modes: window number within the record */
} bfdi_src_loc;

typedef struct bfdi_source {
  bfd_kind kind;
  bfdi_src_ds *ds;
  size_t n_ds;
  uint64_t total;          /* samples of all datasets */
  const char **files;      /* every extent table's files, by global id */
  uint32_t n_files;
  /* sequences */
  const bfdk_seq_params *params;
  uint64_t max_record;     /* bytes of the longest record */
  /* images */
  bfdi_src_group *groups;
  size_t n_groups;
  int has_classes;
} bfdi_source;

/* Opens every dataset of the job; errors name the config line of the
 * dataset. The job must outlive the source. */
bfd_status bfdi_source_open(const bfdi_job *job, bfdi_source **out);
void bfdi_source_free(bfdi_source *s);

/* The BED regions of dataset d for the window functions (all NULL: none). */
bfdk_seq_regions bfdi_source_regions(const bfdi_source *s, uint32_t d);

/* Sample i of dataset d. */
void bfdi_source_locate(const bfdi_source *s, uint32_t d, uint64_t i, bfdi_src_loc *loc);

/* Tokens a sequence sample's row takes, specials included: an upper bound
 * for the NT tokenizer (the sampler's length callback; ctx is the source). */
uint32_t bfdi_source_length(void *ctx, uint32_t d, uint64_t i);

#endif

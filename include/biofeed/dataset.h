/* A packed dataset: a directory with manifest.json and the shards it lists. */
#ifndef BIOFEED_DATASET_H
#define BIOFEED_DATASET_H

#include "biofeed/shard.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bfd_dataset bfd_dataset;

typedef struct bfd_dataset_shard {
  const char *path;     /* directory joined with relpath */
  const char *relpath;  /* as written in the manifest */
  uint64_t size;        /* bytes */
  uint64_t records;
  const char *hash;     /* "xxh3-128:<32 hex digits>" */
  int group;            /* image shape group (0 for sequences) */
} bfd_dataset_shard;

/* Reads DIR/manifest.json (or the manifest file itself). A directory
 * without one is an incomplete or interrupted pack: BFD_ERR_FORMAT. */
BFD_API bfd_status bfd_dataset_open(const char *dir, bfd_dataset **out);
BFD_API bfd_status bfd_dataset_close(bfd_dataset *d);
BFD_API bfd_status bfd_dataset_kind(const bfd_dataset *d, bfd_kind *kind);
BFD_API bfd_status bfd_dataset_shard_count(const bfd_dataset *d, size_t *n);
/* The strings in *out belong to d. */
BFD_API bfd_status bfd_dataset_shard_get(const bfd_dataset *d, size_t i, bfd_dataset_shard *out);
/* The manifest's text, for display. */
BFD_API bfd_status bfd_dataset_manifest_text(const bfd_dataset *d, const char **json);

#ifdef __cplusplus
}
#endif

#endif

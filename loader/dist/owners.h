/* Shard ownership for `exchange` mode and staging: which rank reads (and
 * stages) each shard of a dataset.
 *
 *   balanced  a function of the shard paths (as written in the manifest),
 *             sizes and the world size only, so every rank computes the same
 *             map alone and it does not depend on where the dataset is
 *             mounted: shards go, largest first (ties: a stable hash of the
 *             path, XXH3-64), to the rank holding the fewest bytes so far
 *             (ties: the lower rank). Ranks end up within one shard's size
 *             of each other.
 *   map file  lines "shard_path rank" (the manifest's path; lines starting with '#'
 *             and blank lines are skipped), for data already placed on
 *             nodes: every shard of the dataset exactly once. */
#ifndef BFD_DIST_OWNERS_H
#define BFD_DIST_OWNERS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct bfdi_owner_shard {
  const char *relpath; /* as in the manifest */
  uint64_t size;       /* bytes */
} bfdi_owner_shard;

/* owner[i] for each of the n shards. */
bfd_status bfdi_owners_balanced(const bfdi_owner_shard *shards, size_t n, uint32_t world, uint32_t *owner);

/* owner[i] from the map file. A shard missing from the map, a path the
 * dataset does not have, a shard listed twice or a rank >= world is
 * BFD_ERR_FORMAT naming the file and line. */
bfd_status bfdi_owners_load(const char *map_path, const bfdi_owner_shard *shards, size_t n, uint32_t world,
                            uint32_t *owner);

#endif

/* Staging for `exchange` mode: copy the shards a rank owns (owners.h) from
 * shared storage to node-local storage (NVMe, a burst buffer), so that each
 * node then reads 1/N of the data locally. What `biofeed stage` runs.
 *
 * Each shard lands at DEST/<manifest path>, written as .NAME.tmp.PID in its
 * folder and renamed only after its size and XXH3-128 match the manifest
 * (the copy is hashed as read back from DEST, so it checks what the node
 * will read), then the folder is synced. A shard already at DEST with the
 * right size and hash is kept. Last, DEST/manifest.json is written the same
 * way, so DEST describes the dataset and holds this rank's shards (ranks of
 * one node may share DEST). A failure removes the temporary and names the
 * shard; shards staged before it stay (they are complete). */
#ifndef BFD_DIST_STAGE_H
#define BFD_DIST_STAGE_H

#include <stdint.h>

#include "core/error.h"

typedef struct bfdi_stage_stats {
  uint64_t owned;        /* shards this rank owns */
  uint64_t copied;       /* copied now */
  uint64_t present;      /* already at DEST, verified */
  uint64_t bytes_copied;
} bfdi_stage_stats;

/* dataset: a dataset folder or its manifest.json. owner_map: a map file
 * (owners.h) or NULL for the balanced assignment. stats may be NULL. */
bfd_status bfdi_stage(const char *dataset, const char *dest, const char *owner_map, uint32_t rank, uint32_t world,
                      bfdi_stage_stats *stats);

#endif

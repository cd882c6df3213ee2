/* Internal access to an open shard's tables, for verify and the extent
 * resolver. The shard itself is the public bfd_shard (biofeed/shard.h). */
#ifndef BFD_FORMAT_SHARD_READ_H
#define BFD_FORMAT_SHARD_READ_H

#include "biofeed/shard.h"

const uint64_t *bfdi_shard_offsets(const bfd_shard *s);
const uint32_t *bfdi_shard_crc(const bfd_shard *s);
const uint32_t *bfdi_shard_label_crc(const bfd_shard *s);
const char *bfdi_shard_path(const bfd_shard *s);

/* Restricted shards: the 16-byte shard id bound into every record's
 * associated data (NULL for open shards). */
const uint8_t *bfdi_shard_id(const bfd_shard *s);

/* Called for each stored chunk of one sample, in chunk (C) order: its
 * index r within the sample's `chunks`, its stored bytes and filter mask. */
typedef bfd_status (*bfdi_chunk_fn)(uint64_t r, uint64_t chunks, const uint8_t *bytes, size_t n, uint32_t mask,
                                    void *user);
/* Reads sample i's stored chunks (of /label/data with label) as they are
 * on disk, filters not undone: what verify checks in a restricted shard. */
bfd_status bfdi_shard_stored_chunks(bfd_shard *s, int label, uint64_t i, bfdi_chunk_fn fn, void *user);

/* Reads n bytes of /seq/data from byte0 (several records at once). */
bfd_status bfdi_shard_seq_range(bfd_shard *s, uint64_t byte0, uint64_t n, uint8_t *buf);

/* Byte offset in the file of record i's data (its first chunk for images;
 * label selects /label/data), or UINT64_MAX when HDF5 cannot say. */
uint64_t bfdi_shard_record_offset(bfd_shard *s, uint64_t i, int label);

#endif

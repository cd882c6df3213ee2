/* Internal access to an open shard's tables, for verify and the extent
 * resolver. The shard itself is the public bfd_shard (biofeed/shard.h). */
#ifndef BFD_FORMAT_SHARD_READ_H
#define BFD_FORMAT_SHARD_READ_H

#include "biofeed/shard.h"

const uint64_t *bfdi_shard_offsets(const bfd_shard *s);
const uint32_t *bfdi_shard_crc(const bfd_shard *s);
const uint32_t *bfdi_shard_label_crc(const bfd_shard *s);
const char *bfdi_shard_path(const bfd_shard *s);

/* Reads n bytes of /seq/data from byte0 (several records at once). */
bfd_status bfdi_shard_seq_range(bfd_shard *s, uint64_t byte0, uint64_t n, uint8_t *buf);

/* Byte offset in the file of record i's data (its first chunk for images;
 * label selects /label/data), or UINT64_MAX when HDF5 cannot say. */
uint64_t bfdi_shard_record_offset(bfd_shard *s, uint64_t i, int label);

#endif

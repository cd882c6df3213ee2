/* Writing one shard (docs/FORMAT.md). The HDF5 file is built in memory with
 * HDF5's core driver and then written by bfdi_write_new_file, so the whole
 * file hash comes for free, a failed write leaves nothing behind, and a full
 * disk can be simulated with the write hook. */
#ifndef BFD_FORMAT_SHARD_WRITE_H
#define BFD_FORMAT_SHARD_WRITE_H

#include <stdint.h>

#include "biofeed/shard.h"
#include "core/checksum.h"
#include "core/secure.h"

typedef struct bfdi_seq_shard {
  uint64_t n;
  const uint8_t *data;       /* all records concatenated */
  const uint64_t *offsets;   /* n + 1 */
  const uint32_t *crc;       /* n, CRC32C of each record's bytes */
  const char *const *names;  /* n, NUL-terminated */
  const uint8_t *qual;       /* NULL, or offsets[n] bytes parallel to data */
  const char *alphabet;      /* "dna", "rna", "protein" or "any" */
  const bfdi_key *key;       /* not NULL: a restricted shard, every record sealed with it */
} bfdi_seq_shard;

typedef struct bfdi_img_shard {
  uint64_t n;
  bfd_dtype dtype;
  int ndim;                  /* per sample: 3 [C, Y, X] or 4 [C, Z, Y, X] */
  uint64_t shape[4];
  const uint8_t *data;       /* n samples, C-order, little-endian */
  const uint32_t *crc;       /* n */
  const uint8_t *labels;     /* NULL, or n label volumes [(Z,) Y, X] */
  bfd_dtype label_dtype;
  const uint32_t *label_crc; /* n when labels */
  const int64_t *classes;    /* NULL, or n */
  int compress_level;        /* 0: none; 1..12: deflate (libdeflate level) + shuffle */
  const bfdi_key *key;       /* not NULL: a restricted shard, every stored chunk sealed with it */
} bfdi_img_shard;

typedef struct bfdi_written {
  uint64_t size;
  char hash[BFDI_HASH_HEX];  /* XXH3-128 of the file */
} bfdi_written;

bfd_status bfdi_write_seq_shard(const char *path, const bfdi_seq_shard *s, const char *provenance,
                                bfdi_written *out);
bfd_status bfdi_write_img_shard(const char *path, const bfdi_img_shard *s, const char *provenance,
                                bfdi_written *out);

/* The chunk shape a sample of this shape gets: all channels, and the spatial
 * extent halved (largest axis first) until a chunk is at most 1 MiB. */
void bfdi_image_chunk_shape(int ndim, const uint64_t shape[4], size_t esize, uint64_t chunk[4]);

#endif

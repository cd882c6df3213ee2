/* Where the bytes of every record live, for a biofeed shard or for a user's
 * own HDF5 dataset (dataset path + sample axis). HDF5 is called only while
 * the table is built, at open, under the library's HDF5 lock; afterwards a
 * reader needs nothing but these tables, so HDF5's global lock never sits on
 * the read path. A table is immutable once built and may be shared by any
 * number of reader threads. */
#ifndef BFD_IO_EXTENTS_H
#define BFD_IO_EXTENTS_H

#include <stdint.h>

#include "biofeed/shard.h"
#include "core/secure.h"

#define BFDI_MAX_RANK 5

/* One stored piece of a dataset: a whole contiguous dataset, one record of
 * /seq/data, or one chunk. 24 bytes. */
typedef struct bfdi_extent {
  uint64_t offset; /* byte offset in the file, userblock included */
  uint64_t length; /* stored bytes (after filters); 0: never written, reads give the fill value */
  uint32_t file;   /* index into bfdi_extents.files */
  uint32_t mask;   /* HDF5 filter mask: bit k set means pipeline filter k was skipped */
} bfdi_extent;

/* HDF5 filters the decoder undoes (their HDF5 filter ids). */
enum { BFDI_FILTER_DEFLATE = 1, BFDI_FILTER_SHUFFLE = 2, BFDI_FILTER_FLETCHER32 = 3 };
#define BFDI_MAX_FILTERS 8

/* One HDF5 dataset as a reader sees it: shape, element type, storage. A
 * sample is the dataset with the sample axis fixed, the other axes in order. */
typedef struct bfdi_array {
  char *name;                  /* dataset path, for messages */
  bfd_dtype dtype;
  uint32_t esize;              /* bytes per element */
  int swap;                    /* stored big-endian: bytes are swapped after decoding */
  int rank;
  int axis;                    /* the sample axis */
  uint64_t dims[BFDI_MAX_RANK];
  int chunked;
  uint64_t chunk[BFDI_MAX_RANK];   /* chunk shape (chunked only) */
  uint64_t grid[BFDI_MAX_RANK];    /* chunks along each axis (chunked only) */
  uint64_t chunk_bytes;            /* uncompressed bytes of one chunk */
  int n_filters;
  int filters[BFDI_MAX_FILTERS];   /* HDF5 filter ids in pipeline (write) order */
  uint8_t fill[8];                 /* the fill value, native byte order */
  uint64_t n_ext;
  bfdi_extent *ext;                /* contiguous: 1; chunked: one per chunk, grid in C order */
  int sdim;                        /* sample axes: rank - 1 */
  uint64_t sdims[BFDI_MAX_RANK - 1];
  uint64_t sample_bytes;
} bfdi_array;

typedef enum bfdi_part {
  BFDI_PART_DATA = 0, /* /seq/data, /img/data or the user's dataset */
  BFDI_PART_LABEL,    /* /label/data */
  BFDI_PART_QUALITY   /* /seq/quality */
} bfdi_part;

typedef struct bfdi_extents {
  char *path;
  char **files;        /* files[extent.file]; files[0] is path */
  uint32_t n_files;
  bfd_kind kind;       /* user datasets are BFD_KIND_IMAGE: fixed-shape samples */
  int shard;           /* a biofeed shard: CRCs are known */
  uint64_t n_records;
  uint64_t file_size;
  /* sequences: record i is rec[i]; its quality starts at qual_base + (rec[i].offset - data_base) */
  bfdi_extent *rec;
  uint64_t data_base;
  uint64_t qual_base;  /* UINT64_MAX without /seq/quality */
  /* images and user datasets */
  bfdi_array data;
  bfdi_array label;    /* label.ext is NULL without /label/data */
  /* CRC32C per record (shards only; NULL otherwise); in a restricted shard
   * of the stored (sealed) bytes, which the AEAD tag supersedes on reads */
  uint32_t *crc;
  uint32_t *label_crc;
  /* Restricted shards (docs/SECURITY.md): every record (sequences) or
   * stored chunk (images) is sealed; rec[i].length is the plaintext length,
   * the stored record being bfdi_sealed_size() of it. key is set by
   * whoever opened the table, before any read; reads without it fail. */
  int restricted;
  char key_id[24];
  uint8_t shard_id[BFDI_SHARD_ID_BYTES];
  const bfdi_key *key;
} bfdi_extents;

/* A biofeed shard (docs/FORMAT.md). */
bfd_status bfdi_extents_open_shard(const char *path, bfdi_extents **out);

/* A user's HDF5 dataset: samples are indexed by sample_axis. Contiguous or
 * chunked; deflate, shuffle and fletcher32 are decoded, any other filter
 * (szip, LZF, Blosc, scale-offset, n-bit...) is BFD_ERR_UNSUPPORTED here,
 * naming it. */
bfd_status bfdi_extents_open_h5(const char *path, const char *dataset, int sample_axis, bfdi_extents **out);

void bfdi_extents_free(bfdi_extents *x);

/* The array behind a part (NULL for sequences or a missing part). */
const bfdi_array *bfdi_extents_array(const bfdi_extents *x, bfdi_part part);

/* The stored CRC32C of a record's part, or 0 with *known = 0. */
uint32_t bfdi_extents_crc(const bfdi_extents *x, bfdi_part part, uint64_t record, int *known);

/* Whether this HDF5 library reports chunk addresses without the userblock
 * (every release before 1.14.4), so that the reader must add it. */
int bfdi_h5_chunk_addr_needs_userblock(void);

#endif

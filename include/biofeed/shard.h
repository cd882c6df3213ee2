/* biofeed shards: open one HDF5 shard, describe it, read its records, and
 * verify a shard or a packed dataset directory (docs/FORMAT.md). */
#ifndef BIOFEED_SHARD_H
#define BIOFEED_SHARD_H

#include "biofeed/biofeed.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bfd_kind { BFD_KIND_SEQUENCE = 1, BFD_KIND_IMAGE = 2 } bfd_kind;

typedef enum bfd_dtype {
  BFD_DTYPE_UINT8 = 1,
  BFD_DTYPE_UINT16,
  BFD_DTYPE_INT16,
  BFD_DTYPE_INT32,
  BFD_DTYPE_UINT32,
  BFD_DTYPE_INT64,
  BFD_DTYPE_FLOAT32
} bfd_dtype;

/* Bytes per element of a dtype (0 for an unknown value). */
BFD_API size_t bfd_dtype_size(bfd_dtype t);
/* numpy-style name, e.g. "uint16". Never NULL. */
BFD_API const char *bfd_dtype_name(bfd_dtype t);

typedef struct bfd_shard bfd_shard;

typedef struct bfd_shard_info {
  int format_version;
  bfd_kind kind;
  uint64_t n_records;
  int restricted;        /* access = restricted */
  /* sequences */
  uint64_t total_bases;  /* bytes in /seq/data */
  int has_quality;
  /* images: one shape per shard */
  bfd_dtype dtype;
  int ndim;              /* 3: [C, Y, X]; 4: [C, Z, Y, X] (per sample) */
  uint64_t shape[4];
  int has_labels;
  bfd_dtype label_dtype;
  int has_classes;
  int compressed;        /* deflate + shuffle */
  /* restricted shards: the id of the key their records are sealed with
   * (16 hex digits; "" for open shards). Record bytes of a restricted shard
   * are read through the loader with that key (docs/SECURITY.md): the
   * record reads below refuse them. */
  char key_id[24];
} bfd_shard_info;

BFD_API bfd_status bfd_shard_open(const char *path, bfd_shard **out);
BFD_API bfd_status bfd_shard_close(bfd_shard *s);
BFD_API bfd_status bfd_shard_info_get(const bfd_shard *s, bfd_shard_info *info);

/* The shard's provenance (a JSON object as text) and tool version. The
 * strings belong to the shard and live until bfd_shard_close. */
BFD_API bfd_status bfd_shard_provenance(const bfd_shard *s, const char **json, const char **tool);

/* Sequence record i: its length, then its bytes (and quality, if any). */
BFD_API bfd_status bfd_shard_seq_length(const bfd_shard *s, uint64_t i, uint64_t *len);
BFD_API bfd_status bfd_shard_seq_read(bfd_shard *s, uint64_t i, uint8_t *buf, size_t cap,
                                      uint8_t *qual, size_t qual_cap);
/* The record's name; *name belongs to the shard until the next call. */
BFD_API bfd_status bfd_shard_seq_name(bfd_shard *s, uint64_t i, const char **name);

/* Image sample i ([C, (Z,) Y, X] of info.dtype), its label volume
 * ([(Z,) Y, X] of info.label_dtype) and class. cap is in bytes. */
BFD_API bfd_status bfd_shard_image_read(bfd_shard *s, uint64_t i, void *buf, size_t cap);
BFD_API bfd_status bfd_shard_label_read(bfd_shard *s, uint64_t i, void *buf, size_t cap);
BFD_API bfd_status bfd_shard_class_read(bfd_shard *s, uint64_t i, int64_t *cls);

/* What verify found wrong: called once per problem. record is UINT64_MAX for
 * whole-file problems (hash, size, missing file); offset is the byte offset
 * in the shard file of the bad record's data, or UINT64_MAX if unknown. */
typedef void (*bfd_verify_fn)(const char *shard, uint64_t record, uint64_t offset, const char *what,
                              void *user);

typedef struct bfd_verify_report {
  uint64_t shards_checked;
  uint64_t records_checked;
  uint64_t bytes_checked;
  uint64_t problems;
} bfd_verify_report;

/* Verifies a dataset directory (its manifest.json, every listed shard's size
 * and whole-file hash, every record's CRC32C) or a single shard file (record
 * CRCs only). Returns BFD_OK when everything matches, BFD_ERR_CORRUPT when
 * any problem was found (each reported through fn), another status when the
 * check itself could not run. */
BFD_API bfd_status bfd_verify(const char *path, bfd_verify_fn fn, void *user, bfd_verify_report *report);

/* bfd_verify, and with key_file (not NULL) every record of a restricted
 * shard is also authenticated with that key: a wrong key or altered bytes
 * are problems naming the record. Nothing decrypted leaves locked memory. */
BFD_API bfd_status bfd_verify_key(const char *path, const char *key_file, bfd_verify_fn fn, void *user,
                                  bfd_verify_report *report);

#ifdef __cplusplus
}
#endif

#endif

/* biofeed pack: turn FASTA/FASTQ, TIFF, PNG, NIfTI and HDF5 inputs into HDF5
 * shards plus a manifest.json (docs/FORMAT.md). */
#ifndef BIOFEED_PACK_H
#define BIOFEED_PACK_H

#include "biofeed/shard.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bfd_alphabet {
  BFD_ALPHABET_ANY = 0,  /* any printable byte */
  BFD_ALPHABET_DNA,      /* ACGT, N and the IUPAC codes, either case */
  BFD_ALPHABET_RNA,      /* ACGU, N and the IUPAC codes, either case */
  BFD_ALPHABET_PROTEIN   /* the 26 letters, '*' and '-', either case */
} bfd_alphabet;

/* "dna", "rna", "protein" or "any". Never NULL. */
BFD_API const char *bfd_alphabet_name(bfd_alphabet a);

typedef enum bfd_invalid_policy {
  BFD_INVALID_ERROR = 0, /* fail, naming file, line and column */
  BFD_INVALID_REPLACE,   /* replace with N (nucleotides) or X (protein) */
  BFD_INVALID_DROP       /* drop the record, counted */
} bfd_invalid_policy;

typedef enum bfd_pages_as { BFD_PAGES_AS_Z = 0, BFD_PAGES_AS_C = 1 } bfd_pages_as;

typedef struct bfd_pack_progress {
  uint64_t records;
  uint64_t bytes_in;     /* input bytes consumed (compressed size for .gz) */
  uint64_t bytes_total;  /* sum of input file sizes, for the ETA */
  uint64_t shards;
  double elapsed_s;
} bfd_pack_progress;

typedef void (*bfd_pack_progress_fn)(const bfd_pack_progress *p, void *user);

typedef struct bfd_pack_options {
  const char *out_dir;
  /* sequences */
  bfd_alphabet alphabet;
  bfd_invalid_policy on_invalid;
  uint64_t min_length;         /* records shorter are dropped (counted) */
  uint64_t max_length;         /* 0: no limit; longer records are dropped */
  /* sharding: a shard closes when either limit would be passed */
  uint64_t shard_bytes;        /* default 256 MiB of record bytes */
  uint64_t records_per_shard;  /* 0: no limit */
  /* images */
  int compress_level;          /* 0: none; 1..12: deflate + shuffle */
  bfd_pages_as pages_as;       /* multi-page TIFF pages become Z or C */
  const char *labels;          /* directory (same file stem) or glob with '*' for the stem */
  const char *classes_csv;     /* lines "stem,class" */
  const char *h5_dataset;      /* for HDF5 inputs: the dataset path */
  int sample_axis;             /* for HDF5 inputs: the axis that indexes samples */
  /* restricted data (docs/SECURITY.md): not NULL, every record (sequences)
   * or stored chunk (images) is sealed with the key in this file, which
   * must be private to its owner (mode 0600) */
  const char *key_file;
  /* provenance and reporting */
  const char *command_line;    /* recorded in manifest.json */
  bfd_pack_progress_fn progress;
  void *progress_user;
} bfd_pack_options;

typedef struct bfd_pack_summary {
  bfd_kind kind;
  uint64_t records;
  uint64_t shards;
  uint64_t bytes_in;           /* input file bytes */
  uint64_t bytes_records;      /* record bytes written (uncompressed) */
  uint64_t bytes_out;          /* shard file bytes */
  uint64_t dropped_invalid;
  uint64_t dropped_length;
  uint64_t replaced_bytes;
  double elapsed_s;
} bfd_pack_summary;

/* Fills o with the defaults: alphabet any, error on invalid characters,
 * 256 MiB shards, no compression, pages as Z, sample axis 0. */
BFD_API bfd_status bfd_pack_options_init(bfd_pack_options *o);

/* Packs inputs (files or directories of them) into o->out_dir. Shards and
 * the manifest are written under temporary names and renamed only when all
 * of them are complete: on failure the directory holds what it held before. */
BFD_API bfd_status bfd_pack(const bfd_pack_options *o, const char *const *inputs, size_t n_inputs,
                            bfd_pack_summary *summary);

/* Writes a new key (32 random bytes as 64 hex digits) to path, created with
 * mode 0600 and never overwritten; key_id gets its id (16 hex digits). */
BFD_API bfd_status bfd_keygen(const char *path, char key_id[24]);

#ifdef __cplusplus
}
#endif

#endif

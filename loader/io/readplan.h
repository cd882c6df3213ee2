/* Read plans: what reading one record takes: the byte ranges to read (pieces) and where
 * they land. A sequence window is one range of /seq/data; an image crop
 * touches only the chunks (or, for contiguous data, the rows) its box
 * covers. Planning is pure arithmetic on an extent table: no I/O, no HDF5.
 * A plan is reused from record to record so that its array grows only
 * while the largest record has not been seen yet. */
#ifndef BFD_IO_READPLAN_H
#define BFD_IO_READPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "io/extents.h"

/* A box over a sample's axes (bfdi_array.sdims order): [lo[k], hi[k]). */
typedef struct bfdi_box {
  uint64_t lo[BFDI_MAX_RANK - 1];
  uint64_t hi[BFDI_MAX_RANK - 1];
} bfdi_box;

typedef struct bfdi_piece {
  uint64_t offset; /* in the file */
  uint64_t len;    /* bytes to read; 0: an unwritten chunk, filled with the fill value */
  uint64_t at;     /* where they land: in the staging buffer, or in the output when the plan is direct */
  uint64_t chunk;  /* chunked arrays: the chunk's index in the extent table; sealed sequence records: the first segment */
  uint32_t file;
  uint32_t mask;
} bfdi_piece;

typedef struct bfdi_readplan {
  const bfdi_extents *x;
  const bfdi_array *a; /* NULL for sequences */
  bfdi_part part;
  uint64_t record;
  /* arrays: the region in dataset coordinates; sequences: the window lo[0], hi[0] */
  uint64_t lo[BFDI_MAX_RANK], hi[BFDI_MAX_RANK];
  int whole;           /* the whole record: its CRC can be checked */
  int direct;          /* the pieces are read straight into the output; no staging */
  uint32_t align;      /* each staged piece sits at its file offset modulo align, with room around it */
  uint64_t out_bytes;
  uint64_t stage_bytes;
  bfdi_piece *pieces;
  size_t n, cap;
} bfdi_readplan;

/* A plan whose bytes land in place and are not a whole record (no CRC to
 * check): nothing is left to undo or check once it is read. */
static inline int bfdi_readplan_in_place(const bfdi_readplan *p) { return p->direct && !p->whole; }

/* Record i of an image shard or a user dataset, the whole sample or (box not
 * NULL) that region of it, output in C order. align > 1 (O_DIRECT: 4096)
 * lays staged pieces out so that each can be read with aligned I/O. */
bfd_status bfdi_readplan_sample(bfdi_readplan *p, const bfdi_extents *x, bfdi_part part, uint64_t i,
                                const bfdi_box *box, uint32_t align);

/* Bytes [lo, hi) of sequence record i (part DATA or QUALITY); hi = UINT64_MAX
 * means the end of the record. */
bfd_status bfdi_readplan_window(bfdi_readplan *p, const bfdi_extents *x, bfdi_part part, uint64_t i, uint64_t lo,
                                uint64_t hi);

void bfdi_readplan_free(bfdi_readplan *p);

/* Gaps between the rows of a contiguous crop up to this size are read
 * rather than skipped: one larger read is cheaper than two. */
#define BFDI_READPLAN_MERGE_GAP 4096u

/* Calls fn for each run of the region in a contiguous array, in file order
 * (which is also output order): element offset in the dataset, elements. */
typedef void (*bfdi_run_fn)(uint64_t elem, uint64_t n, void *user);
void bfdi_readplan_runs(const bfdi_readplan *p, bfdi_run_fn fn, void *user);

#endif

/* A reader: one thread's engine and decoder, reading batches of records
 * (whole records, sequence windows, image crops) from extent tables. All
 * pieces of a batch are in flight together up to the queue depth, and each
 * record is decoded as soon as its last piece lands. This is the whole read
 * path for one thread; a pipeline runs one reader per reader thread. */
#ifndef BFD_IO_READ_H
#define BFD_IO_READ_H

#include "io/decode.h"
#include "io/engine.h"

typedef struct bfdi_read {
  const bfdi_extents *x;
  bfdi_part part;
  uint64_t record;
  const bfdi_box *box; /* images and user datasets: NULL for the whole sample */
  uint64_t lo, hi;     /* sequences: bytes [lo, hi) of the record; hi = UINT64_MAX: to its end */
  void *dst;
  size_t cap;
} bfdi_read;

typedef struct bfdi_reader bfdi_reader;

bfd_status bfdi_reader_create(const bfdi_io_opts *o, bfdi_reader **out);
void bfdi_reader_free(bfdi_reader *r);
bfdi_io *bfdi_reader_engine(bfdi_reader *r);

/* The bytes a read produces. */
bfd_status bfdi_read_size(const bfdi_read *q, uint64_t *bytes);

/* Reads n records into their dst. On failure nothing is left in flight and
 * the message names the file, record and byte offset of the first error. */
bfd_status bfdi_reader_run(bfdi_reader *r, const bfdi_read *q, size_t n);

#endif

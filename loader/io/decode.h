/* Decoding what a plan read into the record it asked for: undo HDF5's
 * filters per chunk (fletcher32, deflate through libdeflate, shuffle, in
 * reverse pipeline order, honouring each chunk's filter mask), swap
 * big-endian elements, place chunk tiles (edge tiles are padded) and row
 * runs into the output, and check the record's CRC32C when the whole record
 * was read. A decoder holds one thread's scratch: use one per worker. */
#ifndef BFD_IO_DECODE_H
#define BFD_IO_DECODE_H

#include <stdint.h>

#include "io/readplan.h"

typedef struct bfdi_decoder bfdi_decoder;

bfd_status bfdi_decoder_create(bfdi_decoder **out);
/* A decoder for restricted shards: its scratch, which holds decrypted and
 * inflated bytes, is locked memory (never swapped, zeroed when freed). */
bfd_status bfdi_decoder_create_secure(bfdi_decoder **out);
void bfdi_decoder_free(bfdi_decoder *d);

/* One stored chunk of a (n bytes, filter mask as stored) into out, which
 * takes a->chunk_bytes. Errors name the file, dataset, chunk and offset. */
bfd_status bfdi_decode_chunk(bfdi_decoder *d, const bfdi_extents *x, const bfdi_array *a, uint64_t chunk,
                             const uint8_t *in, uint64_t n, uint32_t mask, uint8_t *out);

/* Turns the bytes a plan's pieces read (in stage, or already in out when
 * the plan is direct) into the record in out (p->out_bytes). A CRC32C
 * mismatch is BFD_ERR_CORRUPT naming the shard, record and byte offset. In
 * a restricted shard each sealed record or chunk is authenticated and
 * decrypted first (a failure is BFD_ERR_CORRUPT naming the shard, record
 * and key ids) and the tag stands in for the CRC. */
bfd_status bfdi_decode_plan(bfdi_decoder *d, const bfdi_readplan *p, const uint8_t *stage, void *out);

#endif

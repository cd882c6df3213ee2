/* Checksums: CRC32C per record (ISA-L) and XXH3-128 per file (libxxhash). */
#ifndef BFD_CORE_CHECKSUM_H
#define BFD_CORE_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* CRC32C (Castagnoli) with the usual init and final inversion:
 * crc32c("123456789") = 0xe3069283. */
uint32_t bfdi_crc32c(const void *p, size_t n);

/* The CRC32C of a || p given crc = the CRC32C of a (0 for nothing): the
 * checksum of a record stored in pieces, piece by piece. */
uint32_t bfdi_crc32c_extend(uint32_t crc, const void *p, size_t n);

/* "xxh3-128:" is not included: 32 lowercase hex digits and a NUL. */
#define BFDI_HASH_HEX 33
void bfdi_xxh3_hex(const void *p, size_t n, char out[BFDI_HASH_HEX]);

/* Hashes a whole file by streaming it; also returns its size. */
bfd_status bfdi_hash_file(const char *path, char out[BFDI_HASH_HEX], uint64_t *size);

#endif

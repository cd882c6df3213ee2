/* Whole files read into memory through one I/O engine (io.cache), with the
 * engine's retries, O_DIRECT handling and messages. */
#ifndef BFD_IO_WHOLE_H
#define BFD_IO_WHOLE_H

#include "io/engine.h"

/* Reads bytes [0, len[i]) of file paths[i] into dst[i], for i < n, through
 * one engine made with o. Each dst[i] is 4096-aligned, with room up to
 * len[i] rounded up to 4096 (O_DIRECT reads land in whole blocks). A file
 * shorter than len[i] is an error naming it. */
bfd_status bfdi_io_read_whole(const bfdi_io_opts *o, size_t n, const char *const *paths, uint8_t *const *dst,
                              const uint64_t *len);

#endif

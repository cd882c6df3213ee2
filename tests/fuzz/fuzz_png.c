/* libFuzzer harness: the PNG reader (loader/ingest/png.c, libpng). The
 * input is the file, with one change: the CRC of every chunk is recomputed
 * before it is written, since libpng refuses a critical chunk whose CRC is
 * wrong and mutations would otherwise never get past it. A decoded image
 * must be exactly as large as its shape says: the harness reads every byte
 * of it. */
#include <stdint.h>
#include <stdlib.h>

#include <zlib.h>

#include "fuzzutil.h"

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static void fix_crcs(uint8_t *p, size_t n) {
  size_t at = 8;
  while (at + 12 <= n) {
    uint32_t len = be32(p + at);
    if (len > n - at - 12) break;
    uint32_t crc = (uint32_t)crc32(0, p + at + 4, len + 4);
    uint8_t *c = p + at + 8 + len;
    c[0] = (uint8_t)(crc >> 24);
    c[1] = (uint8_t)(crc >> 16);
    c[2] = (uint8_t)(crc >> 8);
    c[3] = (uint8_t)crc;
    at += (size_t)len + 12;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) fz_die("malloc");
  memcpy(copy, data, size);
  fix_crcs(copy, size);
  const char *path = fz_write("in.png", copy, size);
  free(copy);
  bfdi_image im;
  fz_quiet_begin();
  bfd_status st = bfdi_png_read(path, &im);
  fz_check_image(st, "bfdi_png_read", &im);
  fz_quiet_end("the PNG reader");
  fz_remove("in.png");
  return 0;
}

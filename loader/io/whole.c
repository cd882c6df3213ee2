/* Whole files read into memory: each file in pieces kept queue_depth deep,
 * so a large file streams at the device's rate, not one read's. */
#include "io/whole.h"

#define PIECE ((uint64_t)4 << 20)

static bfd_status read_one(bfdi_io *e, const char *path, uint8_t *dst, uint64_t len) {
  uint32_t file;
  BFD_TRY(bfdi_io_open(e, path, &file));
  bfdi_io_done done[64];
  uint64_t next = 0;
  while (next < len || bfdi_io_outstanding(e)) {
    for (size_t taken = 1; next < len && taken;) {
      const uint64_t n = len - next < PIECE ? len - next : PIECE;
      const bfdi_io_req r = {.offset = next, .len = n, .dst = dst + next, .file = file, .flags = BFDI_IO_ROOM};
      BFD_TRY(bfdi_io_submit(e, &r, 1, &taken));
      if (taken) next += n;
    }
    size_t got;
    BFD_TRY(bfdi_io_reap(e, done, sizeof done / sizeof done[0], 1, &got));
  }
  return bfdi_io_close(e, file);
}

bfd_status bfdi_io_read_whole(const bfdi_io_opts *o, size_t n, const char *const *paths, uint8_t *const *dst,
                              const uint64_t *len) {
  bfdi_io *e;
  BFD_TRY(bfdi_io_create(o, &e));
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < n && st == BFD_OK; i++) st = read_one(e, paths[i], dst[i], len[i]);
  /* after a failure, waits for the pieces still in flight into dst */
  bfdi_io_destroy(e);
  return st;
}

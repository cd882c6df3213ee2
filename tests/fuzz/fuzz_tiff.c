/* libFuzzer harness: the TIFF reader (loader/ingest/tiff.c, libtiff).
 *
 * Input: one control byte (bit 0: multi-page files as Z or as C), then the
 * file. A decoded image must be exactly as large as its shape says: the
 * harness reads every byte of it. */
#include <stdint.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  bfd_pages_as as = (data[0] & 1) ? BFD_PAGES_AS_C : BFD_PAGES_AS_Z;
  const char *path = fz_write("in.tif", data + 1, size - 1);
  bfdi_image im;
  fz_quiet_begin();
  bfd_status st = bfdi_tiff_read(path, as, &im);
  fz_check_image(st, "bfdi_tiff_read", &im);
  fz_quiet_end("the TIFF reader");
  fz_remove("in.tif");
  return 0;
}

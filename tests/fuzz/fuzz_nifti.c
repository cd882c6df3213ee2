/* libFuzzer harness: the NIfTI-1 reader (loader/ingest/nifti.c, niftiio and
 * znzlib).
 *
 * Input: one control byte, then the file. Bit 0 of the control byte stores
 * the file gzip-compressed as .nii.gz (the gzip reading path of both the
 * header and the voxels), else as .nii. A decoded image must be exactly as
 * large as its shape says: the harness reads every byte of it. */
#include <stdint.h>

#include <zlib.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int gz = data[0] & 1;
  const char *name = gz ? "in.nii.gz" : "in.nii";
  const char *path;
  if (gz) {
    path = fz_path(name);
    gzFile g = gzopen(path, "wb");
    if (!g) fz_die("gzopen");
    if (size > 1 && gzwrite(g, data + 1, (unsigned)(size - 1)) != (int)(size - 1)) fz_die("gzwrite");
    if (gzclose(g) != Z_OK) fz_die("gzclose");
  } else {
    path = fz_write(name, data + 1, size - 1);
  }
  bfdi_image im;
  fz_quiet_begin();
  bfd_status st = bfdi_nifti_read(path, &im);
  fz_check_image(st, "bfdi_nifti_read", &im);
  fz_quiet_end("the NIfTI reader");
  fz_remove(name);
  return 0;
}

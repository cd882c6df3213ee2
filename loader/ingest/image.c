/* Shared parts of the image readers: releasing a decoded image and choosing
 * a reader from a file name's extension, case-insensitively, so that
 * `IMG.TIF` and `scan.NII.GZ` from instrument software are picked up. */
#include "ingest/image.h"

#include "core/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void bfdi_image_free(bfdi_image *im) {
  if (!im) return;
  free(im->data);
  memset(im, 0, sizeof *im);
}

/* A name that is only the extension (".tif", "dir/.png") is a hidden file,
 * not an image, so the suffix must follow a non-empty stem. */
static int has_suffix(const char *path, size_t len, const char *suffix) {
  size_t n = strlen(suffix);
  if (len <= n) return 0;
  const char *tail = path + len - n;
  return tail[-1] != '/' && strcasecmp(tail, suffix) == 0;
}

bfdi_image_format bfdi_image_format_of(const char *path) {
  static const struct {
    const char *suffix;
    bfdi_image_format format;
  } table[] = {
      {".tif", BFDI_IMG_TIFF}, {".tiff", BFDI_IMG_TIFF}, {".png", BFDI_IMG_PNG},
      {".nii", BFDI_IMG_NIFTI}, {".nii.gz", BFDI_IMG_NIFTI}, {".h5", BFDI_IMG_HDF5},
      {".hdf5", BFDI_IMG_HDF5}, {".he5", BFDI_IMG_HDF5},
  };
  if (!path) return BFDI_IMG_NONE;
  size_t len = strlen(path);
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (has_suffix(path, len, table[i].suffix)) return table[i].format;
  return BFDI_IMG_NONE;
}

bfd_status bfdi_image_check_file(const char *path, const char *kind, uint64_t *size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bfdi_fail_errno(errno, "%s: cannot open the %s file; check the path and permissions", path, kind);
  struct stat st;
  int rc = fstat(fd, &st);
  int err = errno;
  close(fd);
  if (rc != 0) return bfdi_fail_errno(err, "%s: cannot stat the %s file", path, kind);
  if (S_ISDIR(st.st_mode))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: is a directory, not a %s file; pass the files inside it", path, kind);
  if (st.st_size == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: the file is empty (0 bytes); re-export or re-copy it", path);
  if (size) *size = (uint64_t)st.st_size;
  return BFD_OK;
}

bfd_status bfdi_image_check_claim(const char *path, const char *kind, uint64_t file_size, uint64_t bytes) {
  if (file_size <= UINT64_MAX / BFDI_MAX_EXPANSION && bytes <= file_size * BFDI_MAX_EXPANSION) return BFD_OK;
  return bfdi_fail(BFD_ERR_FORMAT, "%s: the %s header claims %llu bytes of pixels, more than a %llu-byte file can "
                   "hold; the file is truncated or corrupt, re-export it", path, kind, (unsigned long long)bytes,
                   (unsigned long long)file_size);
}

/* Image sources for `pack`: TIFF (libtiff), PNG (libpng), NIfTI-1 (niftiio)
 * and samples of a user's HDF5 dataset, all decoded into one in-memory form. */
#ifndef BFD_INGEST_IMAGE_H
#define BFD_INGEST_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "biofeed/pack.h"

/* One decoded sample: C-order, native (little-endian) element order.
 * ndim 3 is [C, Y, X]; ndim 4 is [C, Z, Y, X]. data is malloc'd and owned. */
typedef struct bfdi_image {
  bfd_dtype dtype;
  int ndim;
  uint64_t shape[4];
  void *data;
  size_t nbytes;
} bfdi_image;

void bfdi_image_free(bfdi_image *im);

/* Samples larger than this are taken as a corrupt or hostile header. */
#define BFDI_MAX_SAMPLE_BYTES ((uint64_t)1 << 34)

/* The readers' first check, so that a missing, unreadable, empty file or a
 * directory gets a clear reason (the libraries often give none): kind names
 * the expected format, e.g. "TIFF". *size (if not NULL) gets the file size. */
bfd_status bfdi_image_check_file(const char *path, const char *kind, uint64_t *size);

/* The most bytes that one stored byte decodes to under any codec the
 * readers accept (deflate and gzip: 1032, TIFF LZW: under 3641, PackBits:
 * 64). A header claiming more pixel bytes than its file could hold this way
 * is corrupt or hostile: it is refused before that much is allocated. */
#define BFDI_MAX_EXPANSION 4096

/* BFD_ERR_FORMAT naming the file when `bytes` of pixels cannot come out of
 * a file of file_size bytes. */
bfd_status bfdi_image_check_claim(const char *path, const char *kind, uint64_t file_size, uint64_t bytes);

/* Which reader a file name selects; BFDI_IMG_NONE for other names. */
typedef enum bfdi_image_format {
  BFDI_IMG_NONE = 0,
  BFDI_IMG_TIFF,   /* .tif .tiff (also .ome.tif) */
  BFDI_IMG_PNG,    /* .png */
  BFDI_IMG_NIFTI,  /* .nii .nii.gz */
  BFDI_IMG_HDF5    /* .h5 .hdf5 .he5 */
} bfdi_image_format;

bfdi_image_format bfdi_image_format_of(const char *path);

/* TIFF: one page gives [spp, Y, X]; several pages give [spp, Z, Y, X] with
 * pages_as Z or [spp * pages, Y, X] with pages_as C. 8/16-bit unsigned,
 * 16-bit signed, 32-bit float; strips or tiles; chunky or planar; no
 * compression, LZW, deflate or PackBits. Anything else is BFD_ERR_UNSUPPORTED
 * naming the file, page and the tag value. */
bfd_status bfdi_tiff_read(const char *path, bfd_pages_as pages_as, bfdi_image *out);

/* PNG: gray, gray+alpha, RGB, RGBA, palette (expanded to RGB); 8 or 16 bits
 * (1/2/4-bit gray expanded to 8). Gives [channels, Y, X]. */
bfd_status bfdi_png_read(const char *path, bfdi_image *out);

/* NIfTI-1 (.nii, .nii.gz): dims x, y, z (and t as channels) give
 * [C, Z, Y, X] (ndim 4) or [C, Y, X] when z is 1. uint8, int16, uint16,
 * int32, float32; raw values (scl_slope/inter are not applied). */
bfd_status bfdi_nifti_read(const char *path, bfdi_image *out);

/* A user's HDF5 dataset whose axis sample_axis indexes samples; each sample
 * is the remaining axes: 2 of them give [1, Y, X], 3 give [C, Y, X], 4 give
 * [C, Z, Y, X]. Errors name the file and dataset. */
typedef struct bfdi_h5src bfdi_h5src;
bfd_status bfdi_h5src_open(const char *path, const char *dataset, int sample_axis, bfdi_h5src **out);
uint64_t bfdi_h5src_count(const bfdi_h5src *s);
bfd_status bfdi_h5src_read(bfdi_h5src *s, uint64_t i, bfdi_image *out);
void bfdi_h5src_close(bfdi_h5src *s);

#endif

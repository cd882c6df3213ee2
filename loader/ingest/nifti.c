/* NIfTI-1 reader (niftiio for the header, znzlib for the voxels): reads
 * the header first so hostile dimensions are refused before anything is
 * allocated (a claim must also fit in the file), then reads the voxels of
 * this very file, plain or gzip, and swaps them to host order. The file stores x fastest, so as a C-order array
 * it is already [t][z][y][x], which is [C, Z, Y, X] with t as channels. Raw
 * values: scl_slope/inter are not applied. */
#include "ingest/image.h"

#include <errno.h>
#include <fcntl.h>
#include <nifti1_io.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"


static pthread_once_t quiet_once = PTHREAD_ONCE_INIT;

/* niftiio prints its diagnostics to stderr at its default debug level. */
static void quiet_nifti(void) { nifti_set_debug_level(0); }

static int dtype_of(int datatype, bfd_dtype *out) {
  switch (datatype) {
    case DT_UINT8: *out = BFD_DTYPE_UINT8; return 1;
    case DT_INT16: *out = BFD_DTYPE_INT16; return 1;
    case DT_UINT16: *out = BFD_DTYPE_UINT16; return 1;
    case DT_INT32: *out = BFD_DTYPE_INT32; return 1;
    case DT_FLOAT32: *out = BFD_DTYPE_FLOAT32; return 1;
  }
  return 0;
}

static uint16_t swap16(uint16_t v) { return (uint16_t)(v << 8 | v >> 8); }
static uint32_t swap32(uint32_t v) { return v << 24 | (v << 8 & 0xff0000u) | (v >> 8 & 0xff00u) | v >> 24; }

_Static_assert(sizeof(nifti_1_header) == 348, "a NIfTI-1 header is 348 bytes");

/* niftiio prints to stderr, whatever its debug level, when it meets a header
 * whose size and dim[0] fit neither byte order, or whose datatype (for its
 * kind of file) or dim[1] is invalid, and it parses the ASCII NIfTI variant.
 * The library must not print, so the raw header is read and checked here: a
 * single-file NIfTI-1 header ("n+1") of a datatype biofeed reads, which
 * niftiio converts silently. It comes back in *hdr, as stored. */
static bfd_status read_header(const char *path, bfd_dtype *dt, nifti_1_header *hdr) {
  uint8_t h[348];
  znzFile f = znzopen(path, "rb", nifti_is_gzfile(path));
  if (znz_isnull(f))
    return bfdi_fail(BFD_ERR_IO, "%s: cannot open the NIfTI file; check the path and permissions", path);
  size_t got = znzread(h, 1, sizeof h, f);
  znzclose(f);
  if (got >= 12 && !memcmp(h, "<nifti_image", 12))
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: an ASCII NIfTI header; convert the image to a binary .nii", path);
  if (got < sizeof h)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not a readable NIfTI-1 file: %zu bytes, fewer than its 348-byte header; "
                     "the file is truncated, re-export it", path, got);
  uint32_t hsize;
  uint16_t dim0, dim1, datatype;
  memcpy(&hsize, h, 4);
  memcpy(&dim0, h + 40, 2);
  memcpy(&dim1, h + 42, 2);
  memcpy(&datatype, h + 70, 2);
  int swap = hsize != 348;
  if (swap) {
    hsize = swap32(hsize);
    dim0 = swap16(dim0);
    dim1 = swap16(dim1);
    datatype = swap16(datatype);
  }
  if (hsize == 540)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: a NIfTI-2 header; convert the image to NIfTI-1", path);
  if (hsize != 348 || dim0 < 1 || dim0 > 7)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not a readable NIfTI-1 file (sizeof_hdr %u, dim[0] %d); check that it is "
                     "a .nii or .nii.gz NIfTI-1 image", path, hsize, (int16_t)dim0);
  if (memcmp(h + 344, "n+1", 4) != 0)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: the header says the voxels are in a separate .img file (NIfTI pair or "
                     "ANALYZE); convert it to a single-file .nii", path);
  if (!dtype_of((int16_t)datatype, dt))
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: NIfTI datatype %s (%d) is not supported; convert to uint8, int16, "
                     "uint16, int32 or float32", path, nifti_datatype_string((int16_t)datatype), (int16_t)datatype);
  if ((int16_t)dim1 < 1)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI dim[1] is %d, not at least 1; the header is corrupt, re-export it",
                     path, (int16_t)dim1);
  memcpy(hdr, h, sizeof h);
  return BFD_OK;
}

/* Only dim[1..dim[0]] count: writers (niftiio itself among them) leave the
 * rest 0, so missing dimensions are taken as 1. */
static void grid_of(const nifti_image *nim, int64_t g[8]) {
  int n = nim->dim[0];
  for (int i = 1; i <= 7; i++) g[i] = i <= n ? (int64_t)nim->dim[i] : 1;
  g[0] = n;
}

static bfd_status check_header(const char *path, const nifti_image *nim, const int64_t g[8], bfd_dtype dt) {
  if (g[0] < 1 || g[0] > 7)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI dim[0] is %lld, not 1 to 7; the header is corrupt, re-export it",
                     path, (long long)g[0]);
  if (g[1] < 1 || g[2] < 1 || g[3] < 1 || g[4] < 1)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI dimensions x=%lld y=%lld z=%lld t=%lld must all be at least 1; the "
                     "header is corrupt, re-export it", path, (long long)g[1], (long long)g[2], (long long)g[3],
                     (long long)g[4]);
  if (g[5] != 1 || g[6] != 1 || g[7] != 1)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: NIfTI dimensions 5-7 (u=%lld v=%lld w=%lld) must be 1; only x, y, z "
                     "and t (as channels) are supported, split the volume", path, (long long)g[5], (long long)g[6],
                     (long long)g[7]);
  uint64_t bytes = bfd_dtype_size(dt);
  for (int i = 1; i <= 4; i++) {
    if ((uint64_t)g[i] > BFDI_MAX_SAMPLE_BYTES / bytes)
      return bfdi_fail(BFD_ERR_NOMEM, "%s: NIfTI volume %lldx%lldx%lldx%lld of %s exceeds the 16 GiB limit per "
                       "sample; split the volume", path, (long long)g[1], (long long)g[2], (long long)g[3],
                       (long long)g[4], bfd_dtype_name(dt));
    bytes *= (uint64_t)g[i];
  }
  if ((uint64_t)nim->nbyper != bfd_dtype_size(dt) || (uint64_t)nim->nvox * bfd_dtype_size(dt) != bytes)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI header is inconsistent (%zu voxels of %d bytes for "
                     "%lldx%lldx%lldx%lld); re-export it", path, nim->nvox, nim->nbyper, (long long)g[1],
                     (long long)g[2], (long long)g[3], (long long)g[4]);
  return BFD_OK;
}

/* The voxels are read here rather than by nifti_image_load: niftiio looks
 * the data file up again by name (so x.nii.gz next to x.nii loads the
 * voxels of x.nii) and zero-fills a truncated file with only a warning. */
static bfd_status read_voxels(const char *path, const nifti_image *nim, void *buf, size_t n) {
  znzFile f = znzopen(path, "rb", nifti_is_gzfile(path));
  if (znz_isnull(f))
    return bfdi_fail(BFD_ERR_IO, "%s: cannot open the NIfTI file to read its voxels; check the path and "
                     "permissions", path);
  size_t got = 0;
  /* znzseek returns fseek's 0 or gzseek's offset, so success is read from znztell. */
  znzseek(f, (znz_off_t)nim->iname_offset, SEEK_SET);
  if (znztell(f) == (znz_off_t)nim->iname_offset) got = znzread(buf, 1, n, f);
  znzclose(f);
  if (got != n)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI voxel data is truncated: %zu of %zu bytes after offset %d; the file "
                     "is truncated or corrupt, re-export it", path, got, n, nim->iname_offset);
  if (nim->byteorder != nifti_short_order() && nim->swapsize > 1) nifti_swap_Nbytes(nim->nvox, nim->swapsize, buf);
  return BFD_OK;
}

/* Checked before the voxel buffer is allocated: a plain file must hold them
 * after vox_offset; a gzip one could expand to them. */
static bfd_status check_voxel_bytes(const char *path, const nifti_image *nim, size_t n, uint64_t file_size) {
  if (nim->iname_offset < 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI vox_offset %d is negative; the header is corrupt, re-export it",
                     path, nim->iname_offset);
  if (nifti_is_gzfile(path)) return bfdi_image_check_claim(path, "NIfTI", file_size, n);
  uint64_t off = (uint64_t)nim->iname_offset;
  if (off <= file_size && n <= file_size - off) return BFD_OK;
  return bfdi_fail(BFD_ERR_FORMAT, "%s: NIfTI voxel data is truncated: the header needs %zu bytes after offset %d "
                   "but the file has %llu bytes; the file is truncated or corrupt, re-export it", path, n,
                   nim->iname_offset, (unsigned long long)file_size);
}

bfd_status bfdi_nifti_read(const char *path, bfdi_image *out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_nifti_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_nifti_read: path is NULL");
  uint64_t file_size = 0;
  BFD_TRY(bfdi_image_check_file(path, "NIfTI", &file_size));
  pthread_once(&quiet_once, quiet_nifti);
  bfd_dtype dt = BFD_DTYPE_UINT8; /* set by read_header on success */
  nifti_1_header hdr;
  BFD_TRY(read_header(path, &dt, &hdr));

  /* from the header already read, not nifti_image_read: that reads the
   * extensions too (never used here), and a short read of one makes znzlib
   * print */
  nifti_image *nim = nifti_convert_nhdr2nim(hdr, path);
  if (!nim)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not a readable NIfTI-1 file (bad or truncated header); check that it is "
                     "a .nii or .nii.gz NIfTI-1 image", path);
  int64_t g[8];
  grid_of(nim, g);
  bfd_status st = check_header(path, nim, g, dt);
  size_t n = nim->nvox * (size_t)nim->nbyper;
  void *data = NULL;
  if (st == BFD_OK) st = check_voxel_bytes(path, nim, n, file_size);
  if (st == BFD_OK) {
    data = malloc(n);
    if (!data) st = bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %zu bytes of voxels", path, n);
  }
  if (st == BFD_OK) st = read_voxels(path, nim, data, n);
  if (st != BFD_OK) {
    free(data);
    nifti_image_free(nim);
    return st;
  }

  out->dtype = dt;
  uint64_t x = (uint64_t)g[1], y = (uint64_t)g[2], z = (uint64_t)g[3], c = (uint64_t)g[4];
  if (z > 1) {
    out->ndim = 4;
    out->shape[0] = c;
    out->shape[1] = z;
    out->shape[2] = y;
    out->shape[3] = x;
  } else {
    out->ndim = 3;
    out->shape[0] = c;
    out->shape[1] = y;
    out->shape[2] = x;
  }
  out->data = data;
  out->nbytes = n;
  nifti_image_free(nim);
  return BFD_OK;
}

/* Samples from a user's HDF5 dataset: one axis indexes samples and each
 * read selects a hyperslab one element thick on that axis, giving the other
 * axes in C order. Everything that would make a read fail later (rank, type,
 * filters we cannot decode, hostile sizes) is checked at open, so errors name
 * the file and dataset up front. All HDF5 calls run under the library's
 * HDF5 lock because Debian's HDF5 is not thread-safe. */
#include "ingest/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/h5.h"


struct bfdi_h5src {
  char *path, *dataset;
  hid_t file, dset, fspace, mspace;
  hid_t mtype; /* a predefined native type: never closed */
  int rank, axis;
  hsize_t dims[5];
  uint64_t count;
  bfd_dtype dtype;
  int ndim;
  uint64_t shape[4];
  size_t nbytes;
  uint64_t file_size;
};

static void dims_text(const hsize_t *dims, int rank, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < rank && n < cap; i++) {
    int w = snprintf(buf + n, cap - n, "%s%llu", i ? " x " : "", (unsigned long long)dims[i]);
    if (w < 0) break;
    n += (size_t)w;
  }
  if (rank == 0) snprintf(buf, cap, "scalar");
}

/* The memory type HDF5 converts to (so byte order is handled by HDF5) and
 * the matching bfd_dtype; 0 when the file type has no match. */
static int map_type(hid_t t, hid_t *mtype, bfd_dtype *dt, char *name, size_t cap) {
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  if (cls == H5T_INTEGER) {
    int is_signed = H5Tget_sign(t) == H5T_SGN_2;
    snprintf(name, cap, "%sint%zu", is_signed ? "" : "u", size * 8);
    struct {
      size_t size;
      int is_signed;
      hid_t mtype;
      bfd_dtype dt;
    } const table[] = {
        {1, 0, H5T_NATIVE_UINT8, BFD_DTYPE_UINT8},   {2, 0, H5T_NATIVE_UINT16, BFD_DTYPE_UINT16},
        {2, 1, H5T_NATIVE_INT16, BFD_DTYPE_INT16},   {4, 1, H5T_NATIVE_INT32, BFD_DTYPE_INT32},
        {4, 0, H5T_NATIVE_UINT32, BFD_DTYPE_UINT32}, {8, 1, H5T_NATIVE_INT64, BFD_DTYPE_INT64},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
      if (table[i].size == size && table[i].is_signed == is_signed) {
        *mtype = table[i].mtype;
        *dt = table[i].dt;
        return 1;
      }
    return 0;
  }
  if (cls == H5T_FLOAT) {
    snprintf(name, cap, "float%zu", size * 8);
    if (size != 4) return 0;
    *mtype = H5T_NATIVE_FLOAT;
    *dt = BFD_DTYPE_FLOAT32;
    return 1;
  }
  const char *what = "unknown";
  switch (cls) {
    case H5T_TIME: what = "time"; break;
    case H5T_STRING: what = "string"; break;
    case H5T_BITFIELD: what = "bitfield"; break;
    case H5T_OPAQUE: what = "opaque"; break;
    case H5T_COMPOUND: what = "compound"; break;
    case H5T_REFERENCE: what = "reference"; break;
    case H5T_ENUM: what = "enum"; break;
    case H5T_VLEN: what = "variable-length"; break;
    case H5T_ARRAY: what = "array"; break;
    default: break;
  }
  snprintf(name, cap, "%s", what);
  return 0;
}

/* Walks the path one link at a time: H5Lexists fails (rather than saying
 * no) when an intermediate group is missing. */
static int dataset_exists(hid_t file, const char *name, char *missing, size_t cap) {
  size_t len = strlen(name);
  char *prefix = malloc(len + 1);
  if (!prefix) return -1;
  int found = 1;
  for (size_t i = 1; i <= len && found; i++) {
    if (i < len && name[i] != '/') continue;
    memcpy(prefix, name, i);
    prefix[i] = '\0';
    if (strcmp(prefix, "/") == 0) continue;
    if (H5Lexists(file, prefix, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      snprintf(missing, cap, "%s", prefix);
      found = 0;
    }
  }
  free(prefix);
  return found;
}

static bfd_status check_filters(bfdi_h5src *s) {
  hid_t dcpl = H5Dget_create_plist(s->dset);
  if (dcpl < 0) return bfdi_h5_fail("%s: dataset %s: cannot read its creation properties", s->path, s->dataset);
  int n = H5Pget_nfilters(dcpl);
  bfd_status st = BFD_OK;
  if (n < 0) st = bfdi_h5_fail("%s: dataset %s: cannot list its filters", s->path, s->dataset);
  for (int i = 0; i < n && st == BFD_OK; i++) {
    unsigned flags = 0, config = 0, cd[16];
    size_t ncd = sizeof cd / sizeof cd[0];
    char name[128] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &config);
    if (id < 0) {
      st = bfdi_h5_fail("%s: dataset %s: cannot read filter %d", s->path, s->dataset, i);
    } else if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32) {
      st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s uses HDF5 filter %d (%s), which is not supported; "
                     "rewrite it with only deflate, shuffle or fletcher32, e.g. h5repack -f GZIP=4", s->path,
                     s->dataset, (int)id, name[0] ? name : "unnamed");
    }
  }
  H5Pclose(dcpl);
  return st;
}

/* HDF5 reads a chunk into a buffer of the size the chunk index gives before
 * it finds the file too short for it, so a damaged index asks for gigabytes:
 * storage beyond what the file holds is refused first (data in external
 * files aside). */
static bfd_status check_storage(const bfdi_h5src *s) {
  hid_t dcpl = H5Dget_create_plist(s->dset);
  if (dcpl < 0) return bfdi_h5_fail("%s: dataset %s: cannot read its creation properties", s->path, s->dataset);
  int external = H5Pget_external_count(dcpl);
  H5Pclose(dcpl);
  if (external < 0) return bfdi_h5_fail("%s: dataset %s: cannot list its external files", s->path, s->dataset);
  if (external > 0) return BFD_OK;
  hsize_t stored = H5Dget_storage_size(s->dset);
  if (stored > s->file_size)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s claims %llu bytes of storage, more than the %llu-byte file "
                     "holds; the file is truncated or corrupt, re-export it", s->path, s->dataset,
                     (unsigned long long)stored, (unsigned long long)s->file_size);
  H5Eclear2(H5E_DEFAULT);
  return BFD_OK;
}

static bfd_status open_locked(bfdi_h5src *s) {
  htri_t is = H5Fis_hdf5(s->path);
  if (is <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: not an HDF5 file; check the file type", s->path);
  }
  s->file = H5Fopen(s->path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (s->file < 0) return bfdi_h5_fail("%s: cannot open the HDF5 file", s->path);

  char missing[512];
  int exists = dataset_exists(s->file, s->dataset, missing, sizeof missing);
  if (exists < 0) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory checking dataset %s", s->path, s->dataset);
  if (!exists)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: dataset %s not found (no object %s); list the datasets with "
                     "`h5ls -r %s`", s->path, s->dataset, missing, s->path);
  s->dset = H5Oopen(s->file, s->dataset, H5P_DEFAULT);
  if (s->dset < 0) return bfdi_h5_fail("%s: cannot open dataset %s", s->path, s->dataset);
  if (H5Iget_type(s->dset) != H5I_DATASET)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: %s is a group or named type, not a dataset; list the datasets with "
                     "`h5ls -r %s`", s->path, s->dataset, s->path);

  s->fspace = H5Dget_space(s->dset);
  if (s->fspace < 0) return bfdi_h5_fail("%s: dataset %s: cannot read its dataspace", s->path, s->dataset);
  hsize_t dims[H5S_MAX_RANK];
  int rank = H5Sget_simple_extent_ndims(s->fspace);
  if (rank < 0) return bfdi_h5_fail("%s: dataset %s: cannot read its rank", s->path, s->dataset);
  if (H5Sget_simple_extent_dims(s->fspace, dims, NULL) < 0)
    return bfdi_h5_fail("%s: dataset %s: cannot read its dimensions", s->path, s->dataset);
  char dtext[256];
  dims_text(dims, rank, dtext, sizeof dtext);
  if (rank < 3 || rank > 5)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s has rank %d (%s); it needs a sample axis plus [C,] [Z,] Y, X, "
                     "rank 3 to 5", s->path, s->dataset, rank, dtext);
  if (s->axis < 0 || s->axis >= rank)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: dataset %s: sample axis %d is out of range for its %d axes (%s); "
                     "use 0 to %d", s->path, s->dataset, s->axis, rank, dtext, rank - 1);
  s->rank = rank;
  memcpy(s->dims, dims, sizeof(hsize_t) * (size_t)rank);
  s->count = dims[s->axis];

  hid_t ftype = H5Dget_type(s->dset);
  if (ftype < 0) return bfdi_h5_fail("%s: dataset %s: cannot read its type", s->path, s->dataset);
  char tname[64];
  int mapped = map_type(ftype, &s->mtype, &s->dtype, tname, sizeof tname);
  H5Tclose(ftype);
  if (!mapped)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s has type %s, which is not supported; store it as uint8, "
                     "uint16, int16, int32, uint32, int64 or float32", s->path, s->dataset, tname);
  BFD_TRY(check_filters(s));
  BFD_TRY(check_storage(s));

  hsize_t rem[4];
  int r = 0;
  for (int i = 0; i < rank; i++)
    if (i != s->axis) rem[r++] = dims[i];
  uint64_t bytes = bfd_dtype_size(s->dtype);
  for (int i = 0; i < r; i++) {
    if (rem[i] == 0)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s (%s) has an empty axis besides the sample axis %d; samples "
                       "would hold no data", s->path, s->dataset, dtext, s->axis);
    if (rem[i] > BFDI_MAX_SAMPLE_BYTES / bytes)
      return bfdi_fail(BFD_ERR_NOMEM, "%s: dataset %s (%s): one sample exceeds the 16 GiB limit; use a smaller "
                       "sample or another sample axis", s->path, s->dataset, dtext);
    bytes *= rem[i];
  }
  BFD_TRY(bfdi_image_check_claim(s->path, "HDF5", s->file_size, bytes));
  s->nbytes = (size_t)bytes;
  s->mspace = H5Screate_simple(r, rem, NULL);
  if (s->mspace < 0) return bfdi_h5_fail("%s: dataset %s: cannot create the sample dataspace", s->path, s->dataset);

  /* Missing leading axes become 1 so the sample is [C, Y, X] or [C, Z, Y, X]. */
  s->ndim = r == 4 ? 4 : 3;
  int lead = s->ndim - r;
  for (int i = 0; i < s->ndim; i++) s->shape[i] = i < lead ? 1 : rem[i - lead];
  return BFD_OK;
}

static void close_locked(bfdi_h5src *s) {
  if (s->mspace >= 0) H5Sclose(s->mspace);
  if (s->fspace >= 0) H5Sclose(s->fspace);
  if (s->dset >= 0) H5Oclose(s->dset);
  if (s->file >= 0) H5Fclose(s->file);
  H5Eclear2(H5E_DEFAULT);
}

static void free_src(bfdi_h5src *s) {
  free(s->path);
  free(s->dataset);
  free(s);
}

bfd_status bfdi_h5src_open(const char *path, const char *dataset, int sample_axis, bfdi_h5src **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_h5src_open: out is NULL");
  *out = NULL;
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_h5src_open: path is NULL");
  if (!dataset || !dataset[0])
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no HDF5 dataset given; name the dataset that holds the samples "
                     "(e.g. /images)", path);
  uint64_t file_size = 0;
  BFD_TRY(bfdi_image_check_file(path, "HDF5", &file_size));
  bfdi_h5src *s = calloc(1, sizeof *s);
  if (!s) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory opening dataset %s", path, dataset);
  s->file_size = file_size;
  s->file = s->dset = s->fspace = s->mspace = H5I_INVALID_HID;
  s->axis = sample_axis;
  s->path = strdup(path);
  s->dataset = strdup(dataset);
  if (!s->path || !s->dataset) {
    free_src(s);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory opening dataset %s", path, dataset);
  }
  bfdi_h5_lock();
  bfd_status st = open_locked(s);
  if (st != BFD_OK) close_locked(s);
  bfdi_h5_unlock();
  if (st != BFD_OK) {
    free_src(s);
    return st;
  }
  *out = s;
  return BFD_OK;
}

uint64_t bfdi_h5src_count(const bfdi_h5src *s) { return s ? s->count : 0; }

bfd_status bfdi_h5src_read(bfdi_h5src *s, uint64_t i, bfdi_image *out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_h5src_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!s) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_h5src_read: source is NULL");
  if (i >= s->count)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: dataset %s: sample %llu is out of range (it has %llu samples)",
                     s->path, s->dataset, (unsigned long long)i, (unsigned long long)s->count);
  void *buf = malloc(s->nbytes);
  if (!buf)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: dataset %s: out of memory for a sample of %zu bytes", s->path, s->dataset,
                     s->nbytes);
  hsize_t start[5] = {0}, count[5];
  memcpy(count, s->dims, sizeof count);
  start[s->axis] = i;
  count[s->axis] = 1;
  bfd_status st = BFD_OK;
  bfdi_h5_lock();
  if (H5Sselect_hyperslab(s->fspace, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
      H5Dread(s->dset, s->mtype, s->mspace, s->fspace, H5P_DEFAULT, buf) < 0)
    st = bfdi_h5_fail("%s: dataset %s: sample %llu cannot be read; the file may be truncated or corrupt", s->path,
                      s->dataset, (unsigned long long)i);
  bfdi_h5_unlock();
  if (st != BFD_OK) {
    free(buf);
    return st;
  }
  out->dtype = s->dtype;
  out->ndim = s->ndim;
  memcpy(out->shape, s->shape, sizeof out->shape);
  out->data = buf;
  out->nbytes = s->nbytes;
  return BFD_OK;
}

void bfdi_h5src_close(bfdi_h5src *s) {
  if (!s) return;
  bfdi_h5_lock();
  close_locked(s);
  bfdi_h5_unlock();
  free_src(s);
}

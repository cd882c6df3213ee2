/* Builds extent tables: one pass through HDF5 per shard or user dataset, at
 * open, under the HDF5 lock. Contiguous data is located with H5Dget_offset,
 * chunks with H5Dget_chunk_info_by_coord (one lookup per chunk: by index,
 * HDF5 1.10 walks the index from the start for every call). Everything a
 * read could trip over later (filters we cannot decode, compact or virtual
 * storage, data past the end of the file) is refused here, by name. */
#include "io/extents.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/h5.h"
#include "format/shard_read.h"

/* A table this large is a hostile or corrupt file, not a big dataset. */
#define MAX_EXTENTS (1ull << 34)
/* A chunk that holds data costs the file its index entry (tens of bytes)
 * and its bytes, so a grid of more chunks than file_size / MIN_CHUNK_COST
 * was mostly never written; past FREE_CHUNKS such a grid is refused, since
 * its table and one HDF5 lookup per chunk would cost more than the file. */
#define MIN_CHUNK_COST 16
#define FREE_CHUNKS (1ull << 16)

int bfdi_h5_chunk_addr_needs_userblock(void) {
  /* HDF5 added the userblock to chunk addresses in 1.14.4 (HDFGroup/hdf5#4236);
   * H5Dget_offset always included it. The headers' version is the library's:
   * HDF5 refuses to run against another one (H5check_version). */
  return !H5_VERSION_GE(1, 14, 4);
}

static const char *filter_name(int id, const char *stored) {
  static const struct {
    int id;
    const char *name;
  } known[] = {{4, "szip"}, {5, "nbit"}, {6, "scaleoffset"}, {307, "bzip2"}, {32000, "LZF"}, {32001, "Blosc"},
               {32004, "LZ4"}, {32008, "bitshuffle"}, {32013, "zfp"}, {32015, "Zstandard"}, {32017, "SZ"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i].id == id) return known[i].name;
  return stored[0] ? stored : "an unregistered filter";
}

static hid_t native_type(bfd_dtype t) {
  switch (t) {
    case BFD_DTYPE_UINT8: return H5T_NATIVE_UINT8;
    case BFD_DTYPE_UINT16: return H5T_NATIVE_UINT16;
    case BFD_DTYPE_INT16: return H5T_NATIVE_INT16;
    case BFD_DTYPE_INT32: return H5T_NATIVE_INT32;
    case BFD_DTYPE_UINT32: return H5T_NATIVE_UINT32;
    case BFD_DTYPE_INT64: return H5T_NATIVE_INT64;
    case BFD_DTYPE_FLOAT32: return H5T_NATIVE_FLOAT;
  }
  return H5I_INVALID_HID;
}

/* The element type as a bfd_dtype, and whether it is stored big-endian. */
static int map_type(hid_t t, bfd_dtype *dt, int *swap, char *name, size_t cap) {
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  *swap = H5Tget_order(t) == H5T_ORDER_BE && size > 1;
  if (cls == H5T_INTEGER) {
    int sgn = H5Tget_sign(t) == H5T_SGN_2;
    snprintf(name, cap, "%sint%zu", sgn ? "" : "u", size * 8);
    if (size == 1 && !sgn) *dt = BFD_DTYPE_UINT8;
    else if (size == 2) *dt = sgn ? BFD_DTYPE_INT16 : BFD_DTYPE_UINT16;
    else if (size == 4) *dt = sgn ? BFD_DTYPE_INT32 : BFD_DTYPE_UINT32;
    else if (size == 8 && sgn) *dt = BFD_DTYPE_INT64;
    else return 0;
    return 1;
  }
  if (cls == H5T_FLOAT) {
    snprintf(name, cap, "float%zu", size * 8);
    if (size != 4) return 0;
    *dt = BFD_DTYPE_FLOAT32;
    return 1;
  }
  snprintf(name, cap, "a non-numeric type (HDF5 class %d)", (int)cls);
  return 0;
}

/* H5Lexists fails rather than saying no when a group on the way is missing,
 * so walk the path one link at a time. 1 found, 0 not (missing names the
 * first absent link), -1 out of memory. */
static int path_exists(hid_t f, const char *name, char *missing, size_t cap) {
  size_t len = strlen(name);
  char *prefix = malloc(len + 1);
  if (!prefix) return -1;
  int found = 1;
  for (size_t i = 1; i <= len && found; i++) {
    if (i < len && name[i] != '/') continue;
    memcpy(prefix, name, i);
    prefix[i] = '\0';
    if (!strcmp(prefix, "/")) continue;
    if (H5Lexists(f, prefix, H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      snprintf(missing, cap, "%s", prefix);
      found = 0;
    }
  }
  free(prefix);
  return found;
}

static bfd_status check_filters(hid_t dcpl, const char *path, bfdi_array *a) {
  int n = H5Pget_nfilters(dcpl);
  if (n < 0) return bfdi_h5_fail("%s: dataset %s: cannot list its filters", path, a->name);
  if (n > BFDI_MAX_FILTERS)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s has %d filters; biofeed decodes at most %d", path, a->name,
                     n, BFDI_MAX_FILTERS);
  for (int i = 0; i < n; i++) {
    unsigned flags = 0, config = 0, cd[16];
    size_t ncd = sizeof cd / sizeof cd[0];
    char name[128] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &config);
    if (id < 0) return bfdi_h5_fail("%s: dataset %s: cannot read filter %d", path, a->name, i);
    if (id != BFDI_FILTER_DEFLATE && id != BFDI_FILTER_SHUFFLE && id != BFDI_FILTER_FLETCHER32)
      return bfdi_fail(BFD_ERR_UNSUPPORTED,
                       "%s: dataset %s is compressed with HDF5 filter %d (%s), which biofeed cannot decode; "
                       "rewrite it with deflate (and shuffle), e.g. `h5repack -f %s:SHUF -f %s:GZIP=4 %s out.h5`",
                       path, a->name, (int)id, filter_name((int)id, name), a->name, a->name, path);
    a->filters[i] = (int)id;
  }
  a->n_filters = n;
  return BFD_OK;
}

/* chunk is the chunk's index, or UINT64_MAX for contiguous data. */
static bfd_status check_within(const char *path, const bfdi_array *a, uint64_t off, uint64_t len, uint64_t fsize,
                               uint64_t chunk) {
  if (off <= fsize && len <= fsize - off) return BFD_OK;
  char what[64] = "the data";
  if (chunk != UINT64_MAX) snprintf(what, sizeof what, "chunk %llu", (unsigned long long)chunk);
  return bfdi_fail(BFD_ERR_FORMAT,
                   "%s: dataset %s: %s spans bytes %llu..%llu but the file has %llu bytes; the file is "
                   "truncated (copy it again)", path, a->name, what, (unsigned long long)off,
                   (unsigned long long)(off + len), (unsigned long long)fsize);
}

static bfd_status chunk_table(hid_t d, const char *path, uint64_t ub, uint64_t fsize, bfdi_array *a) {
  uint64_t n = 1;
  for (int j = 0; j < a->rank; j++) {
    if (a->chunk[j] == 0)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s has a chunk dimension of 0; the file is corrupt", path, a->name);
    a->grid[j] = (a->dims[j] + a->chunk[j] - 1) / a->chunk[j];
    if (a->grid[j] && n > MAX_EXTENTS / a->grid[j])
      return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s has more than 2^34 chunks", path, a->name);
    n *= a->grid[j];
  }
  if (n > FREE_CHUNKS && n > fsize / MIN_CHUNK_COST)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s is cut into %llu chunks but the file has only %llu bytes: most "
                     "chunks were never written (or the file is corrupt); rewrite it with larger chunks, e.g. "
                     "`h5repack -l %s:CHUNK=... %s out.h5`", path, a->name, (unsigned long long)n,
                     (unsigned long long)fsize, a->name, path);
  a->n_ext = n;
  a->ext = calloc(n ? n : 1, sizeof *a->ext);
  if (!a->ext)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: dataset %s: out of memory for a table of %llu chunks", path, a->name,
                     (unsigned long long)n);
  hsize_t coord[BFDI_MAX_RANK];
  for (uint64_t k = 0; k < n; k++) {
    uint64_t r = k;
    for (int j = a->rank - 1; j >= 0; j--) {
      coord[j] = (r % a->grid[j]) * a->chunk[j];
      r /= a->grid[j];
    }
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) < 0)
      return bfdi_h5_fail("%s: dataset %s: cannot locate chunk %llu", path, a->name, (unsigned long long)k);
    if (addr == HADDR_UNDEF || size == 0) continue;
    bfdi_extent *e = &a->ext[k];
    e->offset = addr + ub;
    e->length = size;
    e->mask = mask;
    BFD_TRY(check_within(path, a, e->offset, e->length, fsize, k));
  }
  return BFD_OK;
}

/* Fills a from dataset `name` of the open file f: type, shape, layout,
 * filters, fill value and extents. */
static bfd_status open_array(hid_t f, const char *path, const char *name, int axis, uint64_t ub, uint64_t fsize,
                             bfdi_array *a) {
  a->name = strdup(name);
  if (!a->name) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  char missing[512];
  int ex = path_exists(f, name, missing, sizeof missing);
  if (ex < 0) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (!ex)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: dataset %s not found (no object %s); list the datasets with "
                     "`h5ls -r %s`", path, name, missing, path);
  hid_t d = H5Oopen(f, name, H5P_DEFAULT);
  if (d < 0) return bfdi_h5_fail("%s: cannot open %s", path, name);
  if (H5Iget_type(d) != H5I_DATASET) {
    H5Oclose(d);
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: %s is a group or a named type, not a dataset", path, name);
  }
  bfd_status st = BFD_OK;
  hid_t t = H5Dget_type(d), sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  char tname[96] = "";
  if (t < 0 || sp < 0 || dcpl < 0) {
    st = bfdi_h5_fail("%s: dataset %s: cannot read its type, shape or properties", path, name);
    goto done;
  }
  if (!map_type(t, &a->dtype, &a->swap, tname, sizeof tname)) {
    st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s holds %s; biofeed reads uint8, uint16, int16, int32, "
                   "uint32, int64 and float32", path, name, tname);
    goto done;
  }
  a->esize = (uint32_t)bfd_dtype_size(a->dtype);
  a->rank = H5Sget_simple_extent_ndims(sp);
  if (a->rank < 1 || a->rank > BFDI_MAX_RANK) {
    st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s has rank %d; biofeed reads ranks 1 to %d", path, name,
                   a->rank, BFDI_MAX_RANK);
    goto done;
  }
  hsize_t dims[BFDI_MAX_RANK];
  H5Sget_simple_extent_dims(sp, dims, NULL);
  if (axis < 0 || axis >= a->rank) {
    st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: dataset %s: sample axis %d is out of range for its %d axes; use 0 to %d",
                   path, name, axis, a->rank, a->rank - 1);
    goto done;
  }
  a->axis = axis;
  uint64_t total = a->esize;
  a->sample_bytes = a->esize;
  for (int j = 0; j < a->rank; j++) {
    a->dims[j] = dims[j];
    if (dims[j] && total > (1ull << 62) / dims[j]) {
      st = bfdi_fail(BFD_ERR_FORMAT, "%s: dataset %s: its size overflows 2^62 bytes", path, name);
      goto done;
    }
    total *= dims[j];
    if (j != axis) {
      a->sdims[a->sdim++] = dims[j];
      a->sample_bytes *= dims[j];
    }
  }
  H5D_fill_value_t fv = H5D_FILL_VALUE_UNDEFINED;
  if (H5Pfill_value_defined(dcpl, &fv) < 0 || fv == H5D_FILL_VALUE_UNDEFINED ||
      H5Pget_fill_value(dcpl, native_type(a->dtype), a->fill) < 0)
    memset(a->fill, 0, sizeof a->fill);
  H5Eclear2(H5E_DEFAULT);

  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_COMPACT) {
    st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s uses compact storage (data inside the object header); "
                   "rewrite it contiguous with `h5repack -l %s:CONTI %s out.h5`", path, name, name, path);
    goto done;
  }
  if (layout == H5D_VIRTUAL) {
    st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s is a virtual dataset; point biofeed at its source "
                   "datasets, or materialize it with h5repack", path, name);
    goto done;
  }
  if (H5Pget_external_count(dcpl) > 0) {
    st = bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: dataset %s keeps its data in external files; rewrite it with "
                   "h5repack so the data is inside the HDF5 file", path, name);
    goto done;
  }
  if ((st = check_filters(dcpl, path, a)) != BFD_OK) goto done;

  if (layout == H5D_CHUNKED) {
    hsize_t cd[BFDI_MAX_RANK];
    if (H5Pget_chunk(dcpl, a->rank, cd) != a->rank) {
      st = bfdi_h5_fail("%s: dataset %s: cannot read its chunk shape", path, name);
      goto done;
    }
    a->chunked = 1;
    a->chunk_bytes = a->esize;
    for (int j = 0; j < a->rank; j++) {
      a->chunk[j] = cd[j];
      a->chunk_bytes *= cd[j];
    }
    st = chunk_table(d, path, ub, fsize, a);
  } else {
    a->n_ext = 1;
    a->ext = calloc(1, sizeof *a->ext);
    if (!a->ext) {
      st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
      goto done;
    }
    haddr_t addr = H5Dget_offset(d);
    H5Eclear2(H5E_DEFAULT);
    /* A contiguous dataset that was never written has no address: all fill. */
    if (addr != HADDR_UNDEF && total > 0) {
      a->ext[0].offset = addr;
      a->ext[0].length = total;
      st = check_within(path, a, addr, total, fsize, UINT64_MAX);
    }
  }
done:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
  H5Oclose(d);
  return st;
}

static void free_array(bfdi_array *a) {
  free(a->name);
  free(a->ext);
}

void bfdi_extents_free(bfdi_extents *x) {
  if (!x) return;
  for (uint32_t i = 0; i < x->n_files; i++) free(x->files[i]);
  free(x->files);
  free(x->path);
  free(x->rec);
  free(x->crc);
  free(x->label_crc);
  free_array(&x->data);
  free_array(&x->label);
  free(x);
}

static bfd_status new_extents(const char *path, bfdi_extents **out) {
  *out = NULL;
  struct stat sb;
  if (stat(path, &sb) != 0) return bfdi_fail_errno(errno, "%s: cannot open", path);
  if (!S_ISREG(sb.st_mode)) return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: not a regular file", path);
  bfdi_extents *x = calloc(1, sizeof *x);
  if (!x) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  x->path = strdup(path);
  x->files = calloc(1, sizeof *x->files);
  if (x->files) x->files[0] = strdup(path);
  if (!x->path || !x->files || !x->files[0]) {
    if (x->files) x->n_files = 1;
    bfdi_extents_free(x);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  x->n_files = 1;
  x->file_size = (uint64_t)sb.st_size;
  x->qual_base = UINT64_MAX;
  *out = x;
  return BFD_OK;
}

static uint64_t userblock_of(hid_t f) {
  hid_t fcpl = H5Fget_create_plist(f);
  hsize_t ub = 0;
  if (fcpl >= 0) {
    H5Pget_userblock(fcpl, &ub);
    H5Pclose(fcpl);
  }
  return bfdi_h5_chunk_addr_needs_userblock() ? (uint64_t)ub : 0;
}

/* The address of a 1-D contiguous uint8 dataset of a sequence shard. */
static bfd_status seq_base(hid_t f, const char *path, const char *name, uint64_t len, uint64_t fsize,
                           uint64_t *base) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return bfdi_h5_fail("%s: cannot open %s", path, name);
  hid_t dcpl = H5Dget_create_plist(d);
  int contiguous = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CONTIGUOUS;
  if (dcpl >= 0) H5Pclose(dcpl);
  haddr_t addr = H5Dget_offset(d);
  H5Eclear2(H5E_DEFAULT);
  H5Dclose(d);
  if (!contiguous)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: %s is not stored contiguously, as format 1 requires; re-pack the shard",
                     path, name);
  if (len == 0) {
    *base = 0;
    return BFD_OK;
  }
  if (addr == HADDR_UNDEF) return bfdi_fail(BFD_ERR_FORMAT, "%s: %s has no data address", path, name);
  if (addr > fsize || len > fsize - addr)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: %s spans bytes %llu..%llu but the file has %llu bytes; the shard is "
                     "truncated (copy it again or re-pack)", path, name, (unsigned long long)addr,
                     (unsigned long long)(addr + len), (unsigned long long)fsize);
  *base = addr;
  return BFD_OK;
}

static bfd_status shard_layout(bfdi_extents *x, const bfd_shard_info *info, int has_qual) {
  const char *path = x->path;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return bfdi_h5_fail("%s: cannot open as HDF5", path);
  uint64_t ub = userblock_of(f);
  bfd_status st = BFD_OK;
  if (info->kind == BFD_KIND_SEQUENCE) {
    st = seq_base(f, path, "/seq/data", info->total_bases, x->file_size, &x->data_base);
    if (st == BFD_OK && has_qual)
      st = seq_base(f, path, "/seq/quality", info->total_bases, x->file_size, &x->qual_base);
  } else {
    st = open_array(f, path, "/img/data", 0, ub, x->file_size, &x->data);
    if (st == BFD_OK && info->has_labels) st = open_array(f, path, "/label/data", 0, ub, x->file_size, &x->label);
  }
  H5Fclose(f);
  return st;
}

static bfd_status copy_u32(const uint32_t *src, uint64_t n, uint32_t **dst) {
  *dst = malloc(n ? n * sizeof **dst : 1);
  if (!*dst) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a table of %llu CRCs", (unsigned long long)n);
  if (n) memcpy(*dst, src, n * sizeof **dst);
  return BFD_OK;
}

/* Takes what bfd_shard_open validated (attributes, offsets, CRCs). */
static bfd_status shard_tables(bfdi_extents *x, bfd_shard *s, bfd_shard_info *info) {
  BFD_TRY(bfd_shard_info_get(s, info));
  x->kind = info->kind;
  x->n_records = info->n_records;
  if (info->restricted) {
    x->restricted = 1;
    snprintf(x->key_id, sizeof x->key_id, "%s", info->key_id);
    memcpy(x->shard_id, bfdi_shard_id(s), BFDI_SHARD_ID_BYTES);
  }
  BFD_TRY(copy_u32(bfdi_shard_crc(s), x->n_records, &x->crc));
  if (info->kind == BFD_KIND_IMAGE) {
    if (info->has_labels) BFD_TRY(copy_u32(bfdi_shard_label_crc(s), x->n_records, &x->label_crc));
    return BFD_OK;
  }
  const uint64_t *off = bfdi_shard_offsets(s);
  x->rec = calloc(x->n_records ? x->n_records : 1, sizeof *x->rec);
  if (!x->rec)
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %llu record extents", x->path,
                     (unsigned long long)x->n_records);
  /* bfd_shard_open checked that sealed records are whole sealed segments. */
  for (uint64_t i = 0; i < x->n_records; i++)
    x->rec[i].length = x->restricted ? bfdi_unsealed_size(off[i + 1] - off[i]) : off[i + 1] - off[i];
  return BFD_OK;
}

bfd_status bfdi_extents_open_shard(const char *path, bfdi_extents **out) {
  if (!path || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_extents_open_shard: NULL argument");
  bfdi_extents *x;
  BFD_TRY(new_extents(path, &x));
  bfd_shard *s = NULL;
  bfd_shard_info info;
  bfd_status st = bfd_shard_open(path, &s);
  if (st == BFD_OK) st = shard_tables(x, s, &info);
  const uint64_t *off = st == BFD_OK && info.kind == BFD_KIND_SEQUENCE ? bfdi_shard_offsets(s) : NULL;
  if (st == BFD_OK) {
    bfdi_h5_lock();
    st = shard_layout(x, &info, info.has_quality);
    bfdi_h5_unlock();
  }
  if (st == BFD_OK && off)
    for (uint64_t i = 0; i < x->n_records; i++) x->rec[i].offset = x->data_base + off[i];
  if (st == BFD_OK && info.kind == BFD_KIND_IMAGE) {
    /* The sample shape must be what the shard's attributes promise. */
    int ok = x->data.sdim == info.ndim && x->data.dtype == info.dtype;
    for (int j = 0; ok && j < info.ndim; j++) ok = x->data.sdims[j] == info.shape[j];
    if (!ok) st = bfdi_fail(BFD_ERR_FORMAT, "%s: /img/data's shape does not match the shard's attributes", path);
  }
  if (s) bfd_shard_close(s);
  if (st != BFD_OK) {
    bfdi_extents_free(x);
    return st;
  }
  x->shard = 1;
  *out = x;
  return BFD_OK;
}

bfd_status bfdi_extents_open_h5(const char *path, const char *dataset, int sample_axis, bfdi_extents **out) {
  if (!path || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_extents_open_h5: NULL argument");
  if (!dataset || !dataset[0])
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: no HDF5 dataset given; name the dataset that holds the samples "
                     "(e.g. /images)", path);
  bfdi_extents *x;
  BFD_TRY(new_extents(path, &x));
  bfdi_h5_lock();
  bfd_status st = BFD_OK;
  htri_t is = H5Fis_hdf5(path);
  hid_t f = is > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
  if (is <= 0) {
    H5Eclear2(H5E_DEFAULT);
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: not an HDF5 file", path);
  } else if (f < 0) {
    st = bfdi_h5_fail("%s: cannot open the HDF5 file", path);
  } else {
    st = open_array(f, path, dataset, sample_axis, userblock_of(f), x->file_size, &x->data);
    H5Fclose(f);
  }
  bfdi_h5_unlock();
  if (st != BFD_OK) {
    bfdi_extents_free(x);
    return st;
  }
  x->kind = BFD_KIND_IMAGE;
  x->n_records = x->data.dims[sample_axis];
  *out = x;
  return BFD_OK;
}

const bfdi_array *bfdi_extents_array(const bfdi_extents *x, bfdi_part part) {
  if (x->kind != BFD_KIND_IMAGE) return NULL;
  if (part == BFDI_PART_DATA) return &x->data;
  if (part == BFDI_PART_LABEL && x->label.ext) return &x->label;
  return NULL;
}

uint32_t bfdi_extents_crc(const bfdi_extents *x, bfdi_part part, uint64_t record, int *known) {
  const uint32_t *t = part == BFDI_PART_DATA ? x->crc : part == BFDI_PART_LABEL ? x->label_crc : NULL;
  *known = t != NULL && record < x->n_records;
  return *known ? t[record] : 0;
}

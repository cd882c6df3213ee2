/* Opening a shard through HDF5: its attributes, its per-record tables, and
 * reads of single records. This is the simple path used by inspect, verify
 * and tests; the training read path resolves extents once and bypasses HDF5. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biofeed/shard.h"
#include "core/h5.h"
#include "core/secure.h"
#include "format/shard_read.h"

struct bfd_shard {
  char *path;
  hid_t f;
  bfd_shard_info info;
  uint64_t *offsets; /* sequences: n + 1 */
  uint32_t *crc;
  uint32_t *label_crc;
  char *provenance;
  char *tool;
  char *name; /* last name read */
  hid_t data, qual, names, labels, classes;
  haddr_t userblock;
  uint64_t file_size;
  uint8_t shard_id[BFDI_SHARD_ID_BYTES]; /* restricted shards */
};

/* A string attribute, or NULL. A fixed-size string's length comes from the
 * file: one longer than the file itself is refused (NULL) rather than
 * allocated. */
static char *read_str_attr(hid_t loc, const char *name, uint64_t file_size) {
  if (H5Aexists(loc, name) <= 0) return NULL;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t ft = H5Aget_type(a);
  char *out = NULL;
  if (H5Tget_class(ft) == H5T_STRING) {
    if (H5Tis_variable_str(ft) > 0) {
      /* HDF5 does not convert between character sets: read in the file's. */
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, H5T_VARIABLE);
      H5Tset_cset(mt, H5Tget_cset(ft));
      char *v = NULL;
      if (H5Aread(a, mt, &v) >= 0 && v) {
        out = strdup(v);
        H5free_memory(v);
      }
      H5Tclose(mt);
    } else {
      size_t n = H5Tget_size(ft);
      out = n <= file_size ? calloc(n + 1, 1) : NULL;
      hid_t mt = H5Tcopy(H5T_C_S1);
      H5Tset_size(mt, n + 1);
      H5Tset_cset(mt, H5Tget_cset(ft));
      if (out && H5Aread(a, mt, out) < 0) {
        free(out);
        out = NULL;
      }
      H5Tclose(mt);
    }
  }
  H5Tclose(ft);
  H5Aclose(a);
  return out;
}

static int read_num_attr(hid_t loc, const char *name, hid_t mt, void *v) {
  if (H5Aexists(loc, name) <= 0) return 0;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return 0;
  int ok = H5Aread(a, mt, v) >= 0;
  H5Aclose(a);
  return ok;
}

/* Opens an optional dataset "/group/name": H5Lexists fails (rather than
 * saying no) when the group itself is missing, so look at the group first. */
static hid_t open_opt(hid_t f, const char *path) {
  char group[64];
  const char *slash = strrchr(path, '/');
  size_t n = (size_t)(slash - path);
  if (n > 0 && n < sizeof group) {
    memcpy(group, path, n);
    group[n] = '\0';
    if (H5Lexists(f, group, H5P_DEFAULT) <= 0) return H5I_INVALID_HID;
  }
  return H5Lexists(f, path, H5P_DEFAULT) > 0 ? H5Dopen2(f, path, H5P_DEFAULT) : H5I_INVALID_HID;
}

static int dtype_of(hid_t t, bfd_dtype *out) {
  H5T_class_t c = H5Tget_class(t);
  size_t sz = H5Tget_size(t);
  if (c == H5T_FLOAT && sz == 4) *out = BFD_DTYPE_FLOAT32;
  else if (c == H5T_INTEGER) {
    int sgn = H5Tget_sign(t) == H5T_SGN_2;
    if (sz == 1 && !sgn) *out = BFD_DTYPE_UINT8;
    else if (sz == 2) *out = sgn ? BFD_DTYPE_INT16 : BFD_DTYPE_UINT16;
    else if (sz == 4) *out = sgn ? BFD_DTYPE_INT32 : BFD_DTYPE_UINT32;
    else if (sz == 8 && sgn) *out = BFD_DTYPE_INT64;
    else return 0;
  } else {
    return 0;
  }
  return 1;
}

static hid_t h5_mem_type(bfd_dtype t) {
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

/* Reads a 1-D table of want entries. Format 1 stores the tables whole and
 * uncompressed, so one larger than the file is corrupt: refused before it is
 * allocated. */
static bfd_status read_table(hid_t f, const char *shard, uint64_t file_size, const char *name, hid_t mt,
                             uint64_t want, void **out, size_t esize) {
  hid_t d = open_opt(f, name);
  if (d < 0) return bfdi_fail(BFD_ERR_FORMAT, "%s: %s is missing; re-pack the shard", shard, name);
  hid_t sp = H5Dget_space(d);
  hsize_t n = 0;
  int nd = H5Sget_simple_extent_ndims(sp);
  if (nd == 1) H5Sget_simple_extent_dims(sp, &n, NULL);
  H5Sclose(sp);
  if (nd != 1 || n != want) {
    H5Dclose(d);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: %s has %llu entries, expected %llu", shard, name, (unsigned long long)n,
                     (unsigned long long)want);
  }
  if (want > file_size / esize) {
    H5Dclose(d);
    return bfdi_fail(BFD_ERR_FORMAT, "%s: %s claims %llu entries of %zu bytes but the whole file has %llu bytes; the "
                     "shard is corrupt, re-pack it", shard, name, (unsigned long long)want, esize,
                     (unsigned long long)file_size);
  }
  *out = malloc(want ? want * esize : 1);
  if (!*out) {
    H5Dclose(d);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %s (%llu entries)", shard, name, (unsigned long long)want);
  }
  herr_t r = want ? H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) : 0;
  H5Dclose(d);
  if (r < 0) return bfdi_h5_fail("%s: reading %s", shard, name);
  return BFD_OK;
}

static void shard_free(bfd_shard *s) {
  if (!s) return;
  hid_t ds[] = {s->data, s->qual, s->names, s->labels, s->classes};
  for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++)
    if (ds[i] >= 0) H5Dclose(ds[i]);
  if (s->f >= 0) H5Fclose(s->f);
  free(s->offsets);
  free(s->crc);
  free(s->label_crc);
  free(s->provenance);
  free(s->tool);
  free(s->name);
  free(s->path);
  free(s);
}

/* Upper bound on records a shard may claim: each needs table entries, so a
 * count beyond this is a corrupt or hostile file, not a big one. */
#define MAX_RECORDS (1ull << 34)
/* Largest image sample, as for the image readers of `pack`. */
#define MAX_SAMPLE_BYTES (1ull << 34)
/* Image chunks are stored deflated at best; deflate expands a byte to at
 * most 1032. Samples claiming more than the file could hold this way are
 * chunks that were never written: a corrupt or hostile file. */
#define MAX_DEFLATE_RATIO 1032u

/* Bytes of one sample of dims[1..nd) (the sample axis is dims[0]), or 0
 * when that passes MAX_SAMPLE_BYTES. */
static uint64_t sample_bytes(const hsize_t *dims, int nd, size_t esize) {
  uint64_t b = esize;
  for (int k = 1; k < nd; k++) {
    if (dims[k] && b > MAX_SAMPLE_BYTES / dims[k]) return 0;
    b *= dims[k];
  }
  return b <= MAX_SAMPLE_BYTES ? b : 0;
}

/* The image or label dataset of n samples of `bytes` each must fit in the
 * file (deflated at best). */
static bfd_status check_fits(const char *path, const char *name, uint64_t n, uint64_t bytes, uint64_t file_size) {
  if (bytes == 0)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: %s: one sample would exceed 16 GiB; the shard is corrupt, re-pack it", path,
                     name);
  uint64_t most = file_size > UINT64_MAX / MAX_DEFLATE_RATIO ? UINT64_MAX : file_size * MAX_DEFLATE_RATIO;
  if (n <= most / bytes) return BFD_OK;
  return bfdi_fail(BFD_ERR_FORMAT, "%s: %s claims %llu samples of %llu bytes, more than the %llu-byte file can hold; "
                   "the shard is corrupt or truncated, re-pack it", path, name, (unsigned long long)n,
                   (unsigned long long)bytes, (unsigned long long)file_size);
}

static bfd_status open_locked(const char *path, bfd_shard *s) {
  s->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (s->f < 0)
    return bfdi_h5_fail("%s: cannot open as HDF5 (missing, truncated or not a shard? `biofeed verify` checks the "
                        "dataset; copy the file again or re-pack)", path);
  hid_t fcpl = H5Fget_create_plist(s->f);
  hsize_t ub = 0;
  H5Pget_userblock(fcpl, &ub);
  H5Pclose(fcpl);
  s->userblock = ub;
  hsize_t fsize = 0;
  if (H5Fget_filesize(s->f, &fsize) < 0) return bfdi_h5_fail("%s: cannot read the file size", path);
  s->file_size = fsize;
  int32_t ver = 0;
  if (!read_num_attr(s->f, "biofeed_format", H5T_NATIVE_INT32, &ver))
    return bfdi_fail(BFD_ERR_FORMAT, "%s: no biofeed_format attribute: not a biofeed shard", path);
  if (ver != BFD_FORMAT_VERSION)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: shard format %d; this biofeed reads format %d (upgrade biofeed)", path,
                     ver, BFD_FORMAT_VERSION);
  s->info.format_version = ver;
  char *kind = read_str_attr(s->f, "kind", fsize), *access = read_str_attr(s->f, "access", fsize);
  int seq = kind && !strcmp(kind, "sequence"), img = kind && !strcmp(kind, "image");
  s->info.restricted = access && !strcmp(access, "restricted");
  free(kind);
  free(access);
  if (!seq && !img) return bfdi_fail(BFD_ERR_FORMAT, "%s: attribute kind is not 'sequence' or 'image'", path);
  if (s->info.restricted) {
    char *kid = read_str_attr(s->f, "key_id", fsize), *sid = read_str_attr(s->f, "shard_id", fsize);
    uint8_t kb[8];
    int ok = kid && bfdi_unhex(kid, kb, sizeof kb) && sid && bfdi_unhex(sid, s->shard_id, BFDI_SHARD_ID_BYTES);
    if (ok) snprintf(s->info.key_id, sizeof s->info.key_id, "%s", kid);
    free(kid);
    free(sid);
    if (!ok)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: a restricted shard without a valid key_id (16 hex digits) and shard_id (32 "
                       "hex digits) attribute; the shard is damaged: copy it again or re-pack it", path);
  }
  s->info.kind = seq ? BFD_KIND_SEQUENCE : BFD_KIND_IMAGE;
  uint64_t n = 0;
  if (!read_num_attr(s->f, "n_records", H5T_NATIVE_UINT64, &n) || n > MAX_RECORDS)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: attribute n_records is missing or absurd (%llu)", path,
                     (unsigned long long)n);
  s->info.n_records = n;
  s->provenance = read_str_attr(s->f, "provenance", fsize);
  s->tool = read_str_attr(s->f, "tool_version", fsize);

  if (seq) {
    BFD_TRY(read_table(s->f, path, fsize, "/seq/offsets", H5T_NATIVE_UINT64, n + 1, (void **)&s->offsets, 8));
    BFD_TRY(read_table(s->f, path, fsize, "/seq/crc", H5T_NATIVE_UINT32, n, (void **)&s->crc, 4));
    s->data = open_opt(s->f, "/seq/data");
    if (s->data < 0) return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/data is missing", path);
    hid_t sp = H5Dget_space(s->data);
    hsize_t len = 0;
    H5Sget_simple_extent_dims(sp, &len, NULL);
    H5Sclose(sp);
    if (s->offsets[0] != 0 || s->offsets[n] != len)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/offsets end at %llu but /seq/data has %llu bytes", path,
                       (unsigned long long)s->offsets[n], (unsigned long long)len);
    /* Format 1 stores /seq/data whole and uncompressed. */
    if (len > fsize)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/data claims %llu bytes but the whole file has %llu; the shard is "
                       "corrupt, re-pack it", path, (unsigned long long)len, (unsigned long long)fsize);
    for (uint64_t i = 0; i < n; i++) {
      if (s->offsets[i + 1] < s->offsets[i])
        return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/offsets decrease at record %llu", path, (unsigned long long)i);
      /* A sealed record is whole segments, each with its nonce and tag. */
      uint64_t stored = s->offsets[i + 1] - s->offsets[i];
      if (s->info.restricted && (stored < BFDI_SEAL_OVERHEAD || bfdi_sealed_size(bfdi_unsealed_size(stored)) != stored))
        return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/offsets give record %llu %llu stored bytes, not the size of a sealed "
                         "record; the shard is damaged: copy it again or re-pack it", path, (unsigned long long)i,
                         (unsigned long long)stored);
    }
    s->info.total_bases = len;
    s->qual = open_opt(s->f, "/seq/quality");
    s->info.has_quality = s->qual >= 0;
    if (s->qual >= 0) {
      hsize_t qlen = 0;
      sp = H5Dget_space(s->qual);
      int qnd = H5Sget_simple_extent_ndims(sp);
      if (qnd == 1) H5Sget_simple_extent_dims(sp, &qlen, NULL);
      H5Sclose(sp);
      if (qnd != 1 || qlen != len)
        return bfdi_fail(BFD_ERR_FORMAT, "%s: /seq/quality must hold %llu bytes, one per base of /seq/data", path,
                         (unsigned long long)len);
    }
    s->names = open_opt(s->f, "/seq/names");
    return BFD_OK;
  }

  s->data = open_opt(s->f, "/img/data");
  if (s->data < 0) return bfdi_fail(BFD_ERR_FORMAT, "%s: /img/data is missing", path);
  hid_t t = H5Dget_type(s->data);
  int ok = dtype_of(t, &s->info.dtype);
  H5Tclose(t);
  if (!ok) return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: /img/data has an element type biofeed does not read", path);
  hid_t sp = H5Dget_space(s->data);
  hsize_t dims[5] = {0};
  int nd = H5Sget_simple_extent_ndims(sp);
  if (nd == 4 || nd == 5) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Sclose(sp);
  if ((nd != 4 && nd != 5) || dims[0] != n)
    return bfdi_fail(BFD_ERR_FORMAT, "%s: /img/data must be [n, C, (Z,) Y, X] with n = %llu", path,
                     (unsigned long long)n);
  s->info.ndim = nd - 1;
  for (int i = 0; i < nd - 1; i++) s->info.shape[i] = dims[i + 1];
  BFD_TRY(check_fits(path, "/img/data", n, sample_bytes(dims, nd, bfd_dtype_size(s->info.dtype)), fsize));
  hid_t dcpl = H5Dget_create_plist(s->data);
  s->info.compressed = H5Pget_nfilters(dcpl) > 0;
  H5Pclose(dcpl);
  BFD_TRY(read_table(s->f, path, fsize, "/img/crc", H5T_NATIVE_UINT32, n, (void **)&s->crc, 4));
  s->labels = open_opt(s->f, "/label/data");
  if (s->labels >= 0) {
    hid_t lt = H5Dget_type(s->labels);
    ok = dtype_of(lt, &s->info.label_dtype);
    H5Tclose(lt);
    if (!ok) return bfdi_fail(BFD_ERR_UNSUPPORTED, "%s: /label/data has an unsupported element type", path);
    /* [n, (Z,) Y, X]: the image's shape without its channel axis. */
    hsize_t ldims[5] = {0};
    hid_t lsp = H5Dget_space(s->labels);
    int lnd = H5Sget_simple_extent_ndims(lsp);
    if (lnd == nd - 1) H5Sget_simple_extent_dims(lsp, ldims, NULL);
    H5Sclose(lsp);
    ok = lnd == nd - 1 && ldims[0] == n;
    for (int i = 1; ok && i < lnd; i++) ok = ldims[i] == dims[i + 1];
    if (!ok)
      return bfdi_fail(BFD_ERR_FORMAT, "%s: /label/data must be [n, (Z,) Y, X] with the shape of /img/data without "
                       "its channel axis", path);
    BFD_TRY(check_fits(path, "/label/data", n, sample_bytes(ldims, lnd, bfd_dtype_size(s->info.label_dtype)), fsize));
    s->info.has_labels = 1;
    BFD_TRY(read_table(s->f, path, fsize, "/label/crc", H5T_NATIVE_UINT32, n, (void **)&s->label_crc, 4));
  }
  s->classes = open_opt(s->f, "/label/class");
  s->info.has_classes = s->classes >= 0;
  return BFD_OK;
}

bfd_status bfd_shard_open(const char *path, bfd_shard **out) {
  if (!path || !out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_open: path and out must not be NULL");
  *out = NULL;
  bfd_shard *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  s->f = s->data = s->qual = s->names = s->labels = s->classes = H5I_INVALID_HID;
  bfdi_h5_lock();
  bfd_status st = open_locked(path, s);
  if (st != BFD_OK) shard_free(s);
  bfdi_h5_unlock();
  if (st == BFD_OK) *out = s;
  return st;
}

bfd_status bfd_shard_close(bfd_shard *s) {
  bfdi_h5_lock();
  shard_free(s);
  bfdi_h5_unlock();
  return BFD_OK;
}

bfd_status bfd_shard_info_get(const bfd_shard *s, bfd_shard_info *info) {
  if (!s || !info) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_info_get: NULL argument");
  *info = s->info;
  return BFD_OK;
}

bfd_status bfd_shard_provenance(const bfd_shard *s, const char **json, const char **tool) {
  if (!s) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_provenance: NULL shard");
  if (json) *json = s->provenance ? s->provenance : "{}";
  if (tool) *tool = s->tool ? s->tool : "";
  return BFD_OK;
}

/* Record bytes of a restricted shard are sealed: they are read through the
 * loader (or verify) with the key, never through these calls. */
static bfd_status refuse_restricted(const bfd_shard *s, const char *fn) {
  if (!s->info.restricted) return BFD_OK;
  return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: %s is restricted (encrypted with key id %s): its records are read by the "
                   "loader with the key (security.key_file or BIOFEED_KEY_FILE), not by this call", fn, s->path,
                   s->info.key_id);
}

static bfd_status check_index(const bfd_shard *s, uint64_t i, bfd_kind kind, const char *fn) {
  if (!s) return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: NULL shard", fn);
  if (s->info.kind != kind)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: %s is a %s shard", fn, s->path,
                     s->info.kind == BFD_KIND_SEQUENCE ? "sequence" : "image");
  if (i >= s->info.n_records)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: record %llu is past the end of %s (%llu records)", fn,
                     (unsigned long long)i, s->path, (unsigned long long)s->info.n_records);
  return BFD_OK;
}

bfd_status bfd_shard_seq_length(const bfd_shard *s, uint64_t i, uint64_t *len) {
  BFD_TRY(check_index(s, i, BFD_KIND_SEQUENCE, "bfd_shard_seq_length"));
  uint64_t stored = s->offsets[i + 1] - s->offsets[i];
  *len = s->info.restricted ? bfdi_unsealed_size(stored) : stored;
  return BFD_OK;
}

/* Reads elements [start, start + count) of a 1-D dataset. */
static herr_t read_range(hid_t d, hid_t mt, uint64_t start, uint64_t count, void *buf) {
  if (count == 0) return 0;
  hsize_t st = start, cn = count;
  hid_t fs = H5Dget_space(d);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, &st, NULL, &cn, NULL);
  hid_t ms = H5Screate_simple(1, &cn, NULL);
  herr_t r = H5Dread(d, mt, ms, fs, H5P_DEFAULT, buf);
  H5Sclose(ms);
  H5Sclose(fs);
  return r;
}

bfd_status bfdi_shard_seq_range(bfd_shard *s, uint64_t byte0, uint64_t n, uint8_t *buf) {
  bfdi_h5_lock();
  herr_t r = read_range(s->data, H5T_NATIVE_UINT8, byte0, n, buf);
  bfd_status st = r < 0 ? bfdi_h5_fail("%s: reading /seq/data bytes %llu..%llu", s->path,
                                       (unsigned long long)byte0, (unsigned long long)(byte0 + n))
                        : BFD_OK;
  bfdi_h5_unlock();
  return st;
}

bfd_status bfd_shard_seq_read(bfd_shard *s, uint64_t i, uint8_t *buf, size_t cap, uint8_t *qual, size_t qual_cap) {
  BFD_TRY(check_index(s, i, BFD_KIND_SEQUENCE, "bfd_shard_seq_read"));
  BFD_TRY(refuse_restricted(s, "bfd_shard_seq_read"));
  uint64_t a = s->offsets[i], n = s->offsets[i + 1] - a;
  if (cap < n || (qual && qual_cap < n))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_seq_read: record %llu of %s has %llu bytes; buffer holds %zu",
                     (unsigned long long)i, s->path, (unsigned long long)n, qual && qual_cap < cap ? qual_cap : cap);
  if (qual && s->qual < 0)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_seq_read: %s has no quality (not from FASTQ)", s->path);
  bfdi_h5_lock();
  herr_t r = read_range(s->data, H5T_NATIVE_UINT8, a, n, buf);
  if (r >= 0 && qual) r = read_range(s->qual, H5T_NATIVE_UINT8, a, n, qual);
  bfd_status st = r < 0 ? bfdi_h5_fail("%s: reading record %llu", s->path, (unsigned long long)i) : BFD_OK;
  bfdi_h5_unlock();
  return st;
}

bfd_status bfd_shard_seq_name(bfd_shard *s, uint64_t i, const char **name) {
  BFD_TRY(check_index(s, i, BFD_KIND_SEQUENCE, "bfd_shard_seq_name"));
  if (s->names < 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_seq_name: %s has no /seq/names", s->path);
  bfdi_h5_lock();
  hid_t ft = H5Dget_type(s->names);
  hid_t mt = H5Tcopy(H5T_C_S1);
  H5Tset_size(mt, H5T_VARIABLE);
  H5Tset_cset(mt, H5Tget_cset(ft));
  H5Tclose(ft);
  char *v = NULL;
  herr_t r = read_range(s->names, mt, i, 1, &v);
  H5Tclose(mt);
  bfd_status st = BFD_OK;
  if (r < 0 || !v) {
    st = bfdi_h5_fail("%s: reading name %llu", s->path, (unsigned long long)i);
  } else {
    free(s->name);
    s->name = strdup(v);
    H5free_memory(v);
    if (!s->name) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  }
  bfdi_h5_unlock();
  if (st == BFD_OK) *name = s->name;
  return st;
}

/* Reads sample i of an [n, ...] dataset whole. */
static bfd_status read_sample(bfd_shard *s, hid_t d, const char *name, uint64_t i, bfd_dtype t, void *buf,
                              size_t cap) {
  bfdi_h5_lock();
  hid_t fs = H5Dget_space(d);
  hsize_t dims[5], start[5] = {0}, count[5];
  int nd = H5Sget_simple_extent_ndims(fs);
  H5Sget_simple_extent_dims(fs, dims, NULL);
  size_t need = bfd_dtype_size(t);
  for (int k = 0; k < nd; k++) {
    count[k] = k == 0 ? 1 : dims[k];
    if (k > 0) need *= dims[k];
  }
  start[0] = i;
  bfd_status st = BFD_OK;
  if (cap < need) {
    st = bfdi_fail(BFD_ERR_INVALID_ARG, "%s: sample %llu of %s needs %zu bytes; buffer holds %zu", s->path,
                   (unsigned long long)i, name, need, cap);
  } else {
    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    hid_t ms = H5Screate_simple(nd, count, NULL);
    if (H5Dread(d, h5_mem_type(t), ms, fs, H5P_DEFAULT, buf) < 0)
      st = bfdi_h5_fail("%s: reading sample %llu of %s", s->path, (unsigned long long)i, name);
    H5Sclose(ms);
  }
  H5Sclose(fs);
  bfdi_h5_unlock();
  return st;
}

bfd_status bfd_shard_image_read(bfd_shard *s, uint64_t i, void *buf, size_t cap) {
  BFD_TRY(check_index(s, i, BFD_KIND_IMAGE, "bfd_shard_image_read"));
  BFD_TRY(refuse_restricted(s, "bfd_shard_image_read"));
  return read_sample(s, s->data, "/img/data", i, s->info.dtype, buf, cap);
}

bfd_status bfd_shard_label_read(bfd_shard *s, uint64_t i, void *buf, size_t cap) {
  BFD_TRY(check_index(s, i, BFD_KIND_IMAGE, "bfd_shard_label_read"));
  BFD_TRY(refuse_restricted(s, "bfd_shard_label_read"));
  if (s->labels < 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_label_read: %s has no /label/data", s->path);
  return read_sample(s, s->labels, "/label/data", i, s->info.label_dtype, buf, cap);
}

bfd_status bfd_shard_class_read(bfd_shard *s, uint64_t i, int64_t *cls) {
  BFD_TRY(check_index(s, i, BFD_KIND_IMAGE, "bfd_shard_class_read"));
  if (s->classes < 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_shard_class_read: %s has no /label/class", s->path);
  bfdi_h5_lock();
  herr_t r = read_range(s->classes, H5T_NATIVE_INT64, i, 1, cls);
  bfd_status st = r < 0 ? bfdi_h5_fail("%s: reading class %llu", s->path, (unsigned long long)i) : BFD_OK;
  bfdi_h5_unlock();
  return st;
}

const uint64_t *bfdi_shard_offsets(const bfd_shard *s) { return s->offsets; }
const uint32_t *bfdi_shard_crc(const bfd_shard *s) { return s->crc; }
const uint32_t *bfdi_shard_label_crc(const bfd_shard *s) { return s->label_crc; }
const char *bfdi_shard_path(const bfd_shard *s) { return s->path; }
const uint8_t *bfdi_shard_id(const bfd_shard *s) { return s->info.restricted ? s->shard_id : NULL; }

/* Chunk k of a sample: its coordinates from the dataset's chunk shape. */
bfd_status bfdi_shard_stored_chunks(bfd_shard *s, int label, uint64_t i, bfdi_chunk_fn fn, void *user) {
  BFD_TRY(check_index(s, i, BFD_KIND_IMAGE, "bfdi_shard_stored_chunks"));
  hid_t d = label ? s->labels : s->data;
  const char *name = label ? "/label/data" : "/img/data";
  if (d < 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: has no %s", s->path, name);
  bfdi_h5_lock();
  hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  hsize_t dims[5] = {0}, cd[5] = {0};
  int nd = H5Sget_simple_extent_ndims(sp);
  int ok = nd >= 2 && nd <= 5 && H5Sget_simple_extent_dims(sp, dims, NULL) >= 0 &&
           H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, nd, cd) == nd;
  H5Pclose(dcpl);
  H5Sclose(sp);
  bfdi_h5_unlock();
  if (!ok) return bfdi_fail(BFD_ERR_FORMAT, "%s: %s is not chunked as format 1 requires", s->path, name);
  uint64_t grid[5], per_sample = 1;
  for (int j = 1; j < nd; j++) {
    if (cd[j] == 0) return bfdi_fail(BFD_ERR_FORMAT, "%s: %s has a zero chunk extent", s->path, name);
    grid[j] = (dims[j] + cd[j] - 1) / cd[j];
    per_sample *= grid[j];
  }
  uint8_t *buf = NULL;
  size_t cap = 0;
  bfd_status st = BFD_OK;
  for (uint64_t r = 0; r < per_sample && st == BFD_OK; r++) {
    hsize_t off[5] = {i, 0, 0, 0, 0};
    uint64_t rest = r;
    for (int j = nd - 1; j >= 1; j--) {
      off[j] = (rest % grid[j]) * cd[j];
      rest /= grid[j];
    }
    bfdi_h5_lock();
    /* The index's own size: H5Dget_chunk_storage_size reports the nominal
     * size for unfiltered datasets, which sealed chunks exceed. */
    hsize_t n = 0;
    uint32_t mask = 0;
    unsigned fmask = 0;
    haddr_t addr = HADDR_UNDEF;
    if (H5Dget_chunk_info_by_coord(d, off, &fmask, &addr, &n) < 0 || addr == HADDR_UNDEF || n > s->file_size) {
      st = bfdi_h5_fail("%s: %s: chunk %llu of sample %llu is missing or larger than the file", s->path, name,
                        (unsigned long long)r, (unsigned long long)i);
    } else if (n > cap) {
      free(buf);
      cap = (size_t)n;
      buf = malloc(cap);
      if (!buf) st = bfdi_fail(BFD_ERR_NOMEM, "out of memory for a %zu-byte chunk", cap);
    }
    if (st == BFD_OK && n > 0 && H5Dread_chunk(d, H5P_DEFAULT, off, &mask, buf) < 0)
      st = bfdi_h5_fail("%s: %s: reading chunk %llu of sample %llu", s->path, name, (unsigned long long)r,
                        (unsigned long long)i);
    bfdi_h5_unlock();
    if (st == BFD_OK) st = fn(r, per_sample, buf, (size_t)n, mask, user);
  }
  free(buf);
  return st;
}

uint64_t bfdi_shard_record_offset(bfd_shard *s, uint64_t i, int label) {
  uint64_t off = UINT64_MAX;
  bfdi_h5_lock();
  if (s->info.kind == BFD_KIND_SEQUENCE) {
    haddr_t a = H5Dget_offset(s->data);
    if (a != HADDR_UNDEF) off = a + s->offsets[i];
  } else {
    hid_t d = label ? s->labels : s->data;
    hsize_t coord[5] = {i, 0, 0, 0, 0};
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(d, coord, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF)
      off = addr + s->userblock;
    H5Eclear2(H5E_DEFAULT);
  }
  bfdi_h5_unlock();
  return off;
}

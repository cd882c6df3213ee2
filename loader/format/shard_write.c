/* Writes sequence and image shards: HDF5 in memory (core driver), record
 * layout as in docs/FORMAT.md, image chunks shuffled and deflated by
 * libdeflate on all cores and stored with H5Dwrite_chunk, then one file
 * write. Object timestamps are off so that equal inputs give equal bytes.
 * A restricted shard seals every record (sequences) or stored chunk (images,
 * after compression) and checksums the stored bytes (docs/FORMAT.md). */
#include "format/shard_write.h"

#include <libdeflate.h>
#include <omp.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/h5.h"

#define CHUNK_TARGET_BYTES (1u << 20)

static hid_t h5_type_of(bfd_dtype t) {
  switch (t) {
    case BFD_DTYPE_UINT8: return H5T_STD_U8LE;
    case BFD_DTYPE_UINT16: return H5T_STD_U16LE;
    case BFD_DTYPE_INT16: return H5T_STD_I16LE;
    case BFD_DTYPE_INT32: return H5T_STD_I32LE;
    case BFD_DTYPE_UINT32: return H5T_STD_U32LE;
    case BFD_DTYPE_INT64: return H5T_STD_I64LE;
    case BFD_DTYPE_FLOAT32: return H5T_IEEE_F32LE;
  }
  return H5I_INVALID_HID;
}

static int attr_str(hid_t loc, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, t, &value) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return ok;
}

static int attr_num(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, const void *v) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, file_type, sp, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, mem_type, v) >= 0;
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return ok;
}

/* key not NULL: a restricted shard with this shard id. */
static int root_attrs(hid_t f, const char *kind, uint64_t n, const char *provenance, const bfdi_key *key,
                      const uint8_t *shard_id) {
  int32_t ver = BFD_FORMAT_VERSION;
  int ok = attr_num(f, "biofeed_format", H5T_STD_I32LE, H5T_NATIVE_INT32, &ver) && attr_str(f, "kind", kind) &&
           attr_num(f, "n_records", H5T_STD_U64LE, H5T_NATIVE_UINT64, &n) &&
           attr_str(f, "access", key ? "restricted" : "open") && attr_str(f, "checksum", "crc32c") &&
           attr_str(f, "tool_version", "biofeed " BFD_VERSION_STRING) &&
           attr_str(f, "provenance", provenance ? provenance : "{}");
  if (!ok || !key) return ok;
  char sid[BFDI_SHARD_ID_HEX];
  bfdi_hex(shard_id, BFDI_SHARD_ID_BYTES, sid);
  return attr_str(f, "encryption", "xchacha20poly1305-ietf") && attr_str(f, "key_id", key->id) &&
         attr_str(f, "shard_id", sid);
}

/* A 1-D contiguous dataset written whole. */
static int write_1d(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, uint64_t n, const void *buf) {
  hsize_t dim = n;
  hid_t sp = H5Screate_simple(1, &dim, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_obj_track_times(dcpl, 0);
  hid_t d = H5Dcreate2(loc, name, file_type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  int ok = d >= 0 && (n == 0 || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return ok;
}

static hid_t make_group(hid_t f, const char *name) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  H5Pset_obj_track_times(gcpl, 0);
  hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* Takes the HDF5 lock and creates the in-memory file; finish() releases
 * both. On failure the lock is already released. */
static bfd_status begin(const char *path, hid_t *f) {
  bfdi_h5_lock();
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 64u << 20, 0);
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  H5Pset_obj_track_times(fcpl, 0);
  *f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (*f >= 0) return BFD_OK;
  bfd_status st = bfdi_h5_fail("%s: creating the in-memory shard", path);
  bfdi_h5_unlock();
  return st;
}

/* Takes the in-memory file's bytes and closes it; the caller writes them. */
static bfd_status take_image(hid_t f, const char *path, void **buf, size_t *n) {
  *buf = NULL;
  if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) return bfdi_h5_fail("%s: flushing the in-memory shard", path);
  ssize_t sz = H5Fget_file_image(f, NULL, 0);
  if (sz <= 0) return bfdi_h5_fail("%s: sizing the in-memory shard", path);
  *buf = malloc((size_t)sz);
  if (!*buf) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for a %zd-byte shard image", path, sz);
  if (H5Fget_file_image(f, *buf, (size_t)sz) != sz) {
    free(*buf);
    *buf = NULL;
    return bfdi_h5_fail("%s: copying the in-memory shard", path);
  }
  *n = (size_t)sz;
  return BFD_OK;
}

/* Closes f (under the lock held by the caller), then writes the image with
 * the lock released: the disk write is the slow part and needs no HDF5. */
static bfd_status finish(hid_t f, const char *path, bfd_status st, bfdi_written *out) {
  void *img = NULL;
  size_t n = 0;
  if (st == BFD_OK) st = take_image(f, path, &img, &n);
  H5Fclose(f);
  bfdi_h5_unlock();
  if (st != BFD_OK) return st;
  if (out) {
    out->size = n;
    bfdi_xxh3_hex(img, n, out->hash);
  }
  st = bfdi_write_new_file(path, img, n);
  free(img);
  return st;
}

/* The stored form of a restricted sequence shard: every record (and its
 * quality) sealed segment by segment, offsets and CRCs of the sealed bytes,
 * no names (header lines often carry sample identifiers). */
typedef struct sealed_seq {
  bfdi_seq_shard s;
  uint8_t *data, *qual;
  uint64_t *offsets;
  uint32_t *crc;
} sealed_seq;

static void sealed_seq_free(sealed_seq *z) {
  free(z->data);
  free(z->qual);
  free(z->offsets);
  free(z->crc);
}

static bfd_status seal_seq(const char *path, const bfdi_seq_shard *s, const uint8_t *sid, sealed_seq *z) {
  memset(z, 0, sizeof *z);
  z->s = *s;
  uint64_t n = s->n, stored = 0;
  for (uint64_t i = 0; i < n; i++) stored += bfdi_sealed_size(s->offsets[i + 1] - s->offsets[i]);
  z->data = malloc(stored ? stored : 1);
  z->qual = s->qual ? malloc(stored ? stored : 1) : NULL;
  z->offsets = malloc((n + 1) * sizeof *z->offsets);
  z->crc = malloc((n ? n : 1) * sizeof *z->crc);
  if (!z->data || (s->qual && !z->qual) || !z->offsets || !z->crc) {
    sealed_seq_free(z);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory sealing %llu records", path, (unsigned long long)n);
  }
  z->offsets[0] = 0;
  for (uint64_t i = 0; i < n; i++) {
    uint64_t len = s->offsets[i + 1] - s->offsets[i], at = z->offsets[i];
    z->offsets[i + 1] = at + bfdi_sealed_size(len);
    const uint64_t segs = bfdi_seal_segments(len);
    for (uint64_t g = 0; g < segs; g++) {
      uint64_t from = g * BFDI_SEAL_SEGMENT, m = len - from < BFDI_SEAL_SEGMENT ? len - from : BFDI_SEAL_SEGMENT;
      uint64_t to = at + g * (BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD);
      const bfdi_seal_at sa = {BFDI_SEAL_SEQ, i, g, segs}, qa = {BFDI_SEAL_QUALITY, i, g, segs};
      bfdi_seal(s->key, sid, &sa, s->data + s->offsets[i] + from, m, z->data + to);
      if (s->qual) bfdi_seal(s->key, sid, &qa, s->qual + s->offsets[i] + from, m, z->qual + to);
    }
    z->crc[i] = bfdi_crc32c(z->data + at, z->offsets[i + 1] - at);
  }
  z->s.data = z->data;
  z->s.qual = z->qual;
  z->s.offsets = z->offsets;
  z->s.crc = z->crc;
  z->s.names = NULL;
  return BFD_OK;
}

bfd_status bfdi_write_seq_shard(const char *path, const bfdi_seq_shard *in, const char *provenance,
                                bfdi_written *out) {
  uint8_t sid[BFDI_SHARD_ID_BYTES];
  sealed_seq z;
  const bfdi_seq_shard *s = in;
  if (in->key) {
    BFD_TRY(bfdi_sodium_init());
    randombytes_buf(sid, sizeof sid);
    BFD_TRY(seal_seq(path, in, sid, &z));
    s = &z.s;
  }
  hid_t f;
  bfd_status st = begin(path, &f);
  if (st != BFD_OK) {
    if (in->key) sealed_seq_free(&z);
    return st;
  }
  hid_t g = make_group(f, "seq");
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, H5T_VARIABLE);
  H5Tset_cset(str, H5T_CSET_UTF8);
  uint64_t nbytes = s->offsets[s->n];
  int ok = g >= 0 && root_attrs(f, "sequence", s->n, provenance, s->key, sid) && attr_str(f, "alphabet", s->alphabet) &&
           write_1d(g, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, nbytes, s->data) &&
           write_1d(g, "offsets", H5T_STD_U64LE, H5T_NATIVE_UINT64, s->n + 1, s->offsets) &&
           write_1d(g, "crc", H5T_STD_U32LE, H5T_NATIVE_UINT32, s->n, s->crc) &&
           (!s->names || write_1d(g, "names", str, str, s->n, s->names)) &&
           (!s->qual || write_1d(g, "quality", H5T_STD_U8LE, H5T_NATIVE_UINT8, nbytes, s->qual));
  if (!ok) st = bfdi_h5_fail("%s: writing the sequence datasets", path);
  H5Tclose(str);
  if (g >= 0) H5Gclose(g);
  st = finish(f, path, st, out);
  if (in->key) sealed_seq_free(&z);
  return st;
}

void bfdi_image_chunk_shape(int ndim, const uint64_t shape[4], size_t esize, uint64_t chunk[4]) {
  /* chunk[0] = C always; spatial axes are chunk[1..3] as (Z, Y, X), Z = 1 for 2D. */
  chunk[0] = shape[0];
  chunk[1] = ndim == 4 ? shape[1] : 1;
  chunk[2] = shape[ndim - 2];
  chunk[3] = shape[ndim - 1];
  while (chunk[0] * chunk[1] * chunk[2] * chunk[3] * esize > CHUNK_TARGET_BYTES) {
    int ax = 1;
    for (int a = 2; a < 4; a++)
      if (chunk[a] > chunk[ax]) ax = a;
    if (chunk[ax] <= 1) break;
    chunk[ax] = (chunk[ax] + 1) / 2;
  }
}

typedef struct chunk_out {
  void *buf;
  size_t size;
  uint32_t mask;
} chunk_out;

/* Copies one chunk (spatial origin z0, y0, x0; zero padding past the edge)
 * out of a sample laid out [C, Z, Y, X]. */
static void gather_chunk(const uint8_t *sample, const uint64_t dims[4], const uint64_t chunk[4], uint64_t z0,
                         uint64_t y0, uint64_t x0, size_t esize, uint8_t *dst) {
  memset(dst, 0, chunk[0] * chunk[1] * chunk[2] * chunk[3] * esize);
  uint64_t nz = dims[1] - z0 < chunk[1] ? dims[1] - z0 : chunk[1];
  uint64_t ny = dims[2] - y0 < chunk[2] ? dims[2] - y0 : chunk[2];
  uint64_t nx = dims[3] - x0 < chunk[3] ? dims[3] - x0 : chunk[3];
  for (uint64_t c = 0; c < chunk[0]; c++)
    for (uint64_t z = 0; z < nz; z++)
      for (uint64_t y = 0; y < ny; y++) {
        const uint8_t *src = sample + (((c * dims[1] + z0 + z) * dims[2] + y0 + y) * dims[3] + x0) * esize;
        uint8_t *d = dst + (((c * chunk[1] + z) * chunk[2] + y) * chunk[3]) * esize;
        memcpy(d, src, nx * esize);
      }
}

/* HDF5's shuffle filter: byte k of every element together, k = 0..esize-1. */
static void shuffle(const uint8_t *src, uint8_t *dst, size_t n_elems, size_t esize) {
  for (size_t k = 0; k < esize; k++)
    for (size_t i = 0; i < n_elems; i++) dst[k * n_elems + i] = src[i * esize + k];
}

/* How a restricted shard seals the chunks of one dataset. */
typedef struct chunk_seal {
  const bfdi_key *key; /* NULL: an open shard */
  const uint8_t *shard_id;
  int part;            /* BFDI_SEAL_IMAGE or BFDI_SEAL_LABEL */
} chunk_seal;

/* Replaces o's bytes by their sealed form: chunk r of the per_sample
 * chunks of sample i. 0 when out of memory. */
static int seal_chunk(const chunk_seal *z, uint64_t i, uint64_t r, uint64_t per_sample, chunk_out *o) {
  uint8_t *sealed = malloc(o->size + BFDI_SEAL_OVERHEAD);
  if (!sealed) return 0;
  const bfdi_seal_at at = {z->part, i, r, per_sample};
  bfdi_seal(z->key, z->shard_id, &at, o->buf, o->size, sealed);
  sodium_memzero(o->buf, o->size);
  free(o->buf);
  o->buf = sealed;
  o->size += BFDI_SEAL_OVERHEAD;
  return 1;
}

/* Builds every chunk of n samples, compressed when level > 0 and sealed in
 * a restricted shard. Runs on all cores; the HDF5 writes that follow are
 * serial. */
static bfd_status build_chunks(const uint8_t *data, uint64_t n, const uint64_t dims[4], const uint64_t chunk[4],
                               size_t esize, int level, chunk_out *outs, uint64_t per_sample, const chunk_seal *z) {
  size_t chunk_bytes = chunk[0] * chunk[1] * chunk[2] * chunk[3] * esize;
  size_t sample_bytes = dims[0] * dims[1] * dims[2] * dims[3] * esize;
  uint64_t gy = (dims[2] + chunk[2] - 1) / chunk[2];
  uint64_t gx = (dims[3] + chunk[3] - 1) / chunk[3];
  int64_t total = (int64_t)(n * per_sample);
  int failed = 0;
#pragma omp parallel
  {
    struct libdeflate_compressor *comp = level > 0 ? libdeflate_alloc_compressor(level) : NULL;
    uint8_t *raw = malloc(chunk_bytes), *shuf = level > 0 ? malloc(chunk_bytes) : NULL;
    size_t bound = comp ? libdeflate_zlib_compress_bound(comp, chunk_bytes) : chunk_bytes;
    if (!raw || (level > 0 && (!comp || !shuf))) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 4)
    for (int64_t k = 0; k < total; k++) {
      if (failed) continue;
      uint64_t i = (uint64_t)k / per_sample, r = (uint64_t)k % per_sample;
      uint64_t cz = r / (gy * gx), cy = (r / gx) % gy, cx = r % gx;
      gather_chunk(data + i * sample_bytes, dims, chunk, cz * chunk[1], cy * chunk[2], cx * chunk[3], esize, raw);
      chunk_out *o = &outs[k];
      o->buf = malloc(level > 0 ? bound : chunk_bytes);
      if (!o->buf) {
#pragma omp atomic write
        failed = 1;
        continue;
      }
      if (level == 0) {
        memcpy(o->buf, raw, chunk_bytes);
        o->size = chunk_bytes;
      } else {
        shuffle(raw, shuf, chunk_bytes / esize, esize);
        size_t c = libdeflate_zlib_compress(comp, shuf, chunk_bytes, o->buf, bound);
        if (c == 0 || c >= chunk_bytes) {
          /* Incompressible: store shuffled bytes and mark deflate (filter 1) skipped. */
          memcpy(o->buf, shuf, chunk_bytes);
          o->size = chunk_bytes;
          o->mask = 1u << 1;
        } else {
          o->size = c;
        }
      }
      if (z->key && !seal_chunk(z, i, r, per_sample, o)) {
#pragma omp atomic write
        failed = 1;
      }
    }
    free(raw);
    free(shuf);
    if (comp) libdeflate_free_compressor(comp);
  }
  return failed ? bfdi_fail(BFD_ERR_NOMEM, "out of memory while compressing image chunks") : BFD_OK;
}

/* One chunked image-like dataset: [n, C, (Z,) Y, X] or [n, (Z,) Y, X]. A
 * restricted shard's stored_crc gets each sample's CRC32C over its sealed
 * chunks, in chunk order. */
static bfd_status write_chunked(hid_t g, const char *path, const char *name, bfd_dtype dtype, uint64_t n,
                                int ndim, const uint64_t dims[4], int has_channel, const uint8_t *data,
                                int level, const chunk_seal *z, uint32_t *stored_crc) {
  size_t esize = bfd_dtype_size(dtype);
  uint64_t shape[4] = {dims[0], dims[1], dims[2], dims[3]};
  uint64_t chunk[4];
  int sdim = ndim == 4 ? 4 : 3;
  uint64_t s4[4] = {shape[0], ndim == 4 ? shape[1] : 1, shape[ndim - 2], shape[ndim - 1]};
  bfdi_image_chunk_shape(ndim, shape, esize, chunk);
  uint64_t per_sample = ((s4[1] + chunk[1] - 1) / chunk[1]) * ((s4[2] + chunk[2] - 1) / chunk[2]) *
                        ((s4[3] + chunk[3] - 1) / chunk[3]);

  hsize_t fdims[5], cdims[5];
  int r = 0;
  fdims[r] = n;
  cdims[r++] = 1;
  if (has_channel) {
    fdims[r] = s4[0];
    cdims[r++] = chunk[0];
  }
  if (sdim == 4) {
    fdims[r] = s4[1];
    cdims[r++] = chunk[1];
  }
  fdims[r] = s4[2];
  cdims[r++] = chunk[2];
  fdims[r] = s4[3];
  cdims[r++] = chunk[3];

  chunk_out *outs = calloc(n * per_sample, sizeof *outs);
  if (!outs) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for the chunk table of %s", path, name);
  bfdi_h5_unlock();
  bfd_status st = build_chunks(data, n, s4, chunk, esize, level, outs, per_sample, z);
  bfdi_h5_lock();
  if (st != BFD_OK) st = bfdi_wrap(st, "%s: %s", path, name);

  hid_t sp = H5Screate_simple(r, fdims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_obj_track_times(dcpl, 0);
  H5Pset_chunk(dcpl, r, cdims);
  if (level > 0) {
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, level > 9 ? 9 : (unsigned)level);
  }
  hid_t d = st == BFD_OK ? H5Dcreate2(g, name, h5_type_of(dtype), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT) : -1;
  if (st == BFD_OK && d < 0) st = bfdi_h5_fail("%s: creating %s", path, name);
  uint64_t gy = (s4[2] + chunk[2] - 1) / chunk[2], gx = (s4[3] + chunk[3] - 1) / chunk[3];
  for (uint64_t k = 0; st == BFD_OK && k < n * per_sample; k++) {
    uint64_t i = k / per_sample, rr = k % per_sample;
    hsize_t off[5];
    int q = 0;
    off[q++] = i;
    if (has_channel) off[q++] = 0;
    if (sdim == 4) off[q++] = (rr / (gy * gx)) * chunk[1];
    off[q++] = ((rr / gx) % gy) * chunk[2];
    off[q++] = (rr % gx) * chunk[3];
    if (H5Dwrite_chunk(d, H5P_DEFAULT, outs[k].mask, off, outs[k].size, outs[k].buf) < 0)
      st = bfdi_h5_fail("%s: writing chunk %llu of sample %llu of %s", path, (unsigned long long)rr,
                        (unsigned long long)i, name);
  }
  if (st == BFD_OK && stored_crc)
    for (uint64_t i = 0; i < n; i++) {
      uint32_t c = 0;
      for (uint64_t t = 0; t < per_sample; t++) {
        const chunk_out *o = &outs[i * per_sample + t];
        c = bfdi_crc32c_extend(c, o->buf, o->size);
      }
      stored_crc[i] = c;
    }
  for (uint64_t k = 0; k < n * per_sample; k++) free(outs[k].buf);
  free(outs);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return st;
}

bfd_status bfdi_write_img_shard(const char *path, const bfdi_img_shard *s, const char *provenance,
                                bfdi_written *out) {
  if (s->ndim != 3 && s->ndim != 4)
    return bfdi_fail(BFD_ERR_INTERNAL, "%s: image shard with %d sample axes", path, s->ndim);
  uint8_t sid[BFDI_SHARD_ID_BYTES];
  uint32_t *crc = NULL, *lcrc = NULL;
  if (s->key) {
    BFD_TRY(bfdi_sodium_init());
    randombytes_buf(sid, sizeof sid);
    crc = malloc((s->n ? s->n : 1) * sizeof *crc);
    lcrc = malloc((s->n ? s->n : 1) * sizeof *lcrc);
    if (!crc || !lcrc) {
      free(crc);
      free(lcrc);
      return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", path);
    }
  }
  const chunk_seal zi = {s->key, sid, BFDI_SEAL_IMAGE}, zl = {s->key, sid, BFDI_SEAL_LABEL};
  hid_t f;
  bfd_status st = begin(path, &f);
  if (st != BFD_OK) {
    free(crc);
    free(lcrc);
    return st;
  }
  const char *comp = s->compress_level > 0 ? "deflate+shuffle" : "none";
  hid_t g = make_group(f, "img");
  if (g < 0 || !root_attrs(f, "image", s->n, provenance, s->key, sid) ||
      !attr_str(f, "layout", s->ndim == 4 ? "NCZYX" : "NCYX") || !attr_str(f, "compression", comp))
    st = bfdi_h5_fail("%s: writing the root attributes", path);
  if (st == BFD_OK)
    st = write_chunked(g, path, "data", s->dtype, s->n, s->ndim, s->shape, 1, s->data, s->compress_level, &zi, crc);
  if (st == BFD_OK && !write_1d(g, "crc", H5T_STD_U32LE, H5T_NATIVE_UINT32, s->n, crc ? crc : s->crc))
    st = bfdi_h5_fail("%s: writing /img/crc", path);
  if (g >= 0) H5Gclose(g);

  if (st == BFD_OK && (s->labels || s->classes)) {
    hid_t lg = make_group(f, "label");
    if (lg < 0) st = bfdi_h5_fail("%s: creating /label", path);
    if (st == BFD_OK && s->labels) {
      uint64_t ldims[4] = {1, s->shape[1], s->shape[2], s->shape[3]};
      st = write_chunked(lg, path, "data", s->label_dtype, s->n, s->ndim, ldims, 0, s->labels, s->compress_level,
                         &zl, lcrc);
      if (st == BFD_OK && !write_1d(lg, "crc", H5T_STD_U32LE, H5T_NATIVE_UINT32, s->n, lcrc ? lcrc : s->label_crc))
        st = bfdi_h5_fail("%s: writing /label/crc", path);
    }
    if (st == BFD_OK && s->classes && !write_1d(lg, "class", H5T_STD_I64LE, H5T_NATIVE_INT64, s->n, s->classes))
      st = bfdi_h5_fail("%s: writing /label/class", path);
    if (lg >= 0) H5Gclose(lg);
  }
  free(crc);
  free(lcrc);
  return finish(f, path, st, out);
}

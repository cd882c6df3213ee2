/* `verify`: every listed shard's size and XXH3-128 file hash against the
 * manifest, then every record's CRC32C against /seq/crc, /img/crc and
 * /label/crc. Problems are reported one by one and checking goes on, so one
 * run lists everything that is wrong. In a restricted shard the CRCs cover
 * the stored (sealed) bytes, so this needs no key and learns nothing of the
 * plaintext; with a key every record is also authenticated, decrypted into
 * locked memory that is zeroed right after. */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "biofeed/dataset.h"
#include "core/checksum.h"
#include "core/secure.h"
#include "format/shard_read.h"

/* Sequence records are checked in batches of about this many bytes. */
#define SEQ_BLOCK (64u << 20)

typedef struct vctx {
  bfd_verify_fn fn;
  void *user;
  bfd_verify_report *rep;
  bfdi_key *key;    /* NULL: CRCs only */
  uint8_t *plain;   /* locked scratch for authenticated records */
  size_t plain_cap;
} vctx;

/* Locked room for n decrypted bytes. */
static bfd_status plain_room(vctx *v, size_t n) {
  if (n <= v->plain_cap && v->plain) return BFD_OK;
  bfdi_secure_free(v->plain, v->plain_cap);
  v->plain = NULL;
  v->plain_cap = 0;
  BFD_TRY(bfdi_secure_alloc(n, "verifying restricted records", (void **)&v->plain));
  v->plain_cap = n;
  return BFD_OK;
}

static void problem(vctx *v, const char *shard, uint64_t rec, uint64_t off, const char *fmt, ...)
    BFD_PRINTF(5, 6);

static void problem(vctx *v, const char *shard, uint64_t rec, uint64_t off, const char *fmt, ...) {
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  v->rep->problems++;
  if (v->fn) v->fn(shard, rec, off, what, v->user);
}

/* Authenticates one sealed piece with the key; 0 when it fails. */
static int authentic(vctx *v, const bfd_shard *s, const bfdi_seal_at *at, const uint8_t *c, size_t n) {
  if (n < BFDI_SEAL_OVERHEAD) return 0;
  int ok = bfdi_unseal(v->key, bfdi_shard_id(s), at, c, n, v->plain) == 0;
  sodium_memzero(v->plain, n - BFDI_SEAL_OVERHEAD);
  return ok;
}

/* Every segment of sealed sequence record k (n stored bytes at c). */
static int authentic_record(vctx *v, const bfd_shard *s, uint64_t k, const uint8_t *c, uint64_t n) {
  const uint64_t seg = BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD;
  const uint64_t segs = bfdi_seal_segments(bfdi_unsealed_size(n));
  for (uint64_t g = 0, at = 0; at < n; g++, at += seg) {
    const bfdi_seal_at sa = {BFDI_SEAL_SEQ, k, g, segs};
    if (!authentic(v, s, &sa, c + at, n - at < seg ? n - at : seg)) return 0;
  }
  return 1;
}

static void auth_problem(vctx *v, const bfd_shard *s, const bfd_shard_info *info, uint64_t rec, uint64_t off,
                         const char *what) {
  const char *path = bfdi_shard_path(s);
  if (strcmp(info->key_id, v->key->id) != 0)
    problem(v, path, rec, off, "%s fails authentication: the shard is sealed with key id %s but %s has key id %s "
            "(wrong key file?)", what, info->key_id, v->key->path, v->key->id);
  else
    problem(v, path, rec, off, "%s fails authentication with key id %s: its stored bytes were altered, moved from "
            "another record or shard, or damaged", what, v->key->id);
}

static bfd_status verify_seq(bfd_shard *s, const bfd_shard_info *info, vctx *v) {
  const uint64_t *off = bfdi_shard_offsets(s);
  const uint32_t *crc = bfdi_shard_crc(s);
  const char *path = bfdi_shard_path(s);
  uint64_t n = info->n_records;
  uint8_t *buf = NULL;
  size_t cap = 0;
  for (uint64_t i = 0; i < n;) {
    uint64_t j = i + 1;
    while (j < n && off[j + 1] - off[i] <= SEQ_BLOCK) j++;
    uint64_t bytes = off[j] - off[i];
    if (bytes > cap) {
      free(buf);
      cap = bytes;
      buf = malloc(cap);
      if (!buf) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for %llu bytes", path, (unsigned long long)bytes);
    }
    if (bfdi_shard_seq_range(s, off[i], bytes, buf) != BFD_OK) {
      problem(v, path, i, bfdi_shard_record_offset(s, i, 0), "records %llu..%llu unreadable: %s",
              (unsigned long long)i, (unsigned long long)(j - 1), bfd_last_error());
    } else {
      int auth = v->key && info->restricted;
      bfd_status st = auth ? plain_room(v, BFDI_SEAL_SEGMENT) : BFD_OK;
      if (st != BFD_OK) {
        free(buf);
        return st;
      }
      for (uint64_t k = i; k < j; k++) {
        const uint8_t *rec = buf + (off[k] - off[i]);
        uint32_t c = bfdi_crc32c(rec, off[k + 1] - off[k]);
        if (c != crc[k])
          problem(v, path, k, bfdi_shard_record_offset(s, k, 0),
                  "CRC32C mismatch: stored 0x%08x, computed 0x%08x over %llu bytes", crc[k], c,
                  (unsigned long long)(off[k + 1] - off[k]));
        else if (auth && !authentic_record(v, s, k, rec, off[k + 1] - off[k]))
          auth_problem(v, s, info, k, bfdi_shard_record_offset(s, k, 0), "the record");
      }
    }
    v->rep->records_checked += j - i;
    v->rep->bytes_checked += bytes;
    i = j;
  }
  free(buf);
  return BFD_OK;
}

/* A restricted image shard: per sample, the CRC32C of its stored chunks in
 * order, and with a key each chunk authenticated. */
typedef struct chunk_walk {
  vctx *v;
  bfd_shard *s;
  int part;
  uint64_t sample;
  uint32_t crc;
  uint64_t bytes;
  int64_t bad_chunk; /* first chunk failing authentication, -1: none */
} chunk_walk;

static bfd_status walk_chunk(uint64_t r, uint64_t chunks, const uint8_t *bytes, size_t n, uint32_t mask,
                             void *user) {
  chunk_walk *w = user;
  w->crc = bfdi_crc32c_extend(w->crc, bytes, n);
  w->bytes += n;
  if (!w->v->key || w->bad_chunk >= 0) return BFD_OK;
  if (n >= BFDI_SEAL_OVERHEAD) BFD_TRY(plain_room(w->v, n));
  const bfdi_seal_at at = {w->part, w->sample, r, chunks};
  if (!authentic(w->v, w->s, &at, bytes, n)) w->bad_chunk = (int64_t)r;
  return BFD_OK;
}

static void verify_sealed_sample(bfd_shard *s, const bfd_shard_info *info, vctx *v, uint64_t i, int label) {
  const char *path = bfdi_shard_path(s), *what = label ? "label" : "image";
  chunk_walk w = {v, s, label ? BFDI_SEAL_LABEL : BFDI_SEAL_IMAGE, i, 0, 0, -1};
  uint32_t want = label ? bfdi_shard_label_crc(s)[i] : bfdi_shard_crc(s)[i];
  uint64_t off = bfdi_shard_record_offset(s, i, label);
  if (bfdi_shard_stored_chunks(s, label, i, walk_chunk, &w) != BFD_OK) {
    problem(v, path, i, off, "%s unreadable: %s", what, bfd_last_error());
  } else if (w.crc != want) {
    problem(v, path, i, off, "%s CRC32C mismatch over its stored chunks: stored 0x%08x, computed 0x%08x", what, want,
            w.crc);
  } else if (w.bad_chunk >= 0) {
    char m[96];
    snprintf(m, sizeof m, "%s chunk %lld", what, (long long)w.bad_chunk);
    auth_problem(v, s, info, i, off, m);
  }
  v->rep->bytes_checked += w.bytes;
}

static bfd_status verify_img(bfd_shard *s, const bfd_shard_info *info, vctx *v) {
  if (info->restricted) {
    for (uint64_t i = 0; i < info->n_records; i++) {
      verify_sealed_sample(s, info, v, i, 0);
      if (info->has_labels) verify_sealed_sample(s, info, v, i, 1);
      v->rep->records_checked++;
    }
    return BFD_OK;
  }
  const char *path = bfdi_shard_path(s);
  size_t bytes = bfd_dtype_size(info->dtype), lbytes = info->has_labels ? bfd_dtype_size(info->label_dtype) : 0;
  for (int k = 0; k < info->ndim; k++) {
    bytes *= info->shape[k];
    if (k > 0) lbytes *= info->shape[k];
  }
  uint8_t *buf = malloc(bytes ? bytes : 1), *lbuf = malloc(lbytes ? lbytes : 1);
  if (!buf || !lbuf) {
    free(buf);
    free(lbuf);
    return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory for a %zu-byte sample", path, bytes);
  }
  const uint32_t *crc = bfdi_shard_crc(s), *lcrc = bfdi_shard_label_crc(s);
  for (uint64_t i = 0; i < info->n_records; i++) {
    if (bfd_shard_image_read(s, i, buf, bytes) != BFD_OK)
      problem(v, path, i, bfdi_shard_record_offset(s, i, 0), "image unreadable: %s", bfd_last_error());
    else if (bfdi_crc32c(buf, bytes) != crc[i])
      problem(v, path, i, bfdi_shard_record_offset(s, i, 0), "image CRC32C mismatch: stored 0x%08x, computed 0x%08x",
              crc[i], bfdi_crc32c(buf, bytes));
    if (info->has_labels) {
      if (bfd_shard_label_read(s, i, lbuf, lbytes) != BFD_OK)
        problem(v, path, i, bfdi_shard_record_offset(s, i, 1), "label unreadable: %s", bfd_last_error());
      else if (bfdi_crc32c(lbuf, lbytes) != lcrc[i])
        problem(v, path, i, bfdi_shard_record_offset(s, i, 1),
                "label CRC32C mismatch: stored 0x%08x, computed 0x%08x", lcrc[i], bfdi_crc32c(lbuf, lbytes));
    }
    v->rep->records_checked++;
    v->rep->bytes_checked += bytes + (info->has_labels ? lbytes : 0);
  }
  free(buf);
  free(lbuf);
  return BFD_OK;
}

/* Checks one shard's records; expect_records is UINT64_MAX when unknown. */
static bfd_status verify_shard(const char *path, uint64_t expect_records, vctx *v) {
  bfd_shard *s;
  if (bfd_shard_open(path, &s) != BFD_OK) {
    problem(v, path, UINT64_MAX, UINT64_MAX, "%s", bfd_last_error());
    return BFD_OK;
  }
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  v->rep->shards_checked++;
  if (expect_records != UINT64_MAX && info.n_records != expect_records)
    problem(v, path, UINT64_MAX, UINT64_MAX, "holds %llu records; the manifest says %llu",
            (unsigned long long)info.n_records, (unsigned long long)expect_records);
  bfd_status st = info.kind == BFD_KIND_SEQUENCE ? verify_seq(s, &info, v) : verify_img(s, &info, v);
  bfd_shard_close(s);
  return st;
}

static bfd_status verify_dir(const char *dir, vctx *v) {
  bfd_dataset *d;
  BFD_TRY(bfd_dataset_open(dir, &d));
  size_t n;
  bfd_dataset_shard_count(d, &n);
  bfd_status st = BFD_OK;
  for (size_t i = 0; i < n && st == BFD_OK; i++) {
    bfd_dataset_shard e;
    bfd_dataset_shard_get(d, i, &e);
    struct stat sb;
    if (stat(e.path, &sb) != 0) {
      problem(v, e.path, UINT64_MAX, UINT64_MAX, "listed in the manifest but %s", strerror(errno));
      continue;
    }
    if ((uint64_t)sb.st_size != e.size) {
      problem(v, e.path, UINT64_MAX, UINT64_MAX, "size %llu bytes; the manifest says %llu (truncated or replaced)",
              (unsigned long long)sb.st_size, (unsigned long long)e.size);
      continue;
    }
    char hex[BFDI_HASH_HEX], want[64];
    if (bfdi_hash_file(e.path, hex, NULL) != BFD_OK) {
      problem(v, e.path, UINT64_MAX, UINT64_MAX, "%s", bfd_last_error());
      continue;
    }
    snprintf(want, sizeof want, "xxh3-128:%s", hex);
    if (strcmp(want, e.hash) != 0)
      problem(v, e.path, UINT64_MAX, UINT64_MAX, "file hash %s; the manifest says %s", want, e.hash);
    st = verify_shard(e.path, e.records, v);
  }
  bfd_dataset_close(d);
  return st;
}

bfd_status bfd_verify(const char *path, bfd_verify_fn fn, void *user, bfd_verify_report *report) {
  return bfd_verify_key(path, NULL, fn, user, report);
}

bfd_status bfd_verify_key(const char *path, const char *key_file, bfd_verify_fn fn, void *user,
                          bfd_verify_report *report) {
  if (!path) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_verify: path is NULL");
  bfd_verify_report local;
  bfd_verify_report *rep = report ? report : &local;
  memset(rep, 0, sizeof *rep);
  vctx v = {fn, user, rep, NULL, NULL, 0};
  struct stat sb;
  if (stat(path, &sb) != 0) return bfdi_fail_errno(errno, "%s: cannot verify", path);
  if (key_file) BFD_TRY(bfdi_key_load(key_file, "--key-file", &v.key));
  bfd_status st = S_ISDIR(sb.st_mode) ? verify_dir(path, &v) : verify_shard(path, UINT64_MAX, &v);
  bfdi_secure_free(v.plain, v.plain_cap);
  bfdi_key_free(v.key);
  BFD_TRY(st);
  if (rep->problems)
    return bfdi_fail(BFD_ERR_CORRUPT, "%s: %llu problem(s) in %llu shard(s)", path,
                     (unsigned long long)rep->problems, (unsigned long long)rep->shards_checked);
  return BFD_OK;
}

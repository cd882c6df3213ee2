/* Decode workers' per-record work: HDF5 filters undone by our own code
 * (inflate with libdeflate, unshuffle, fletcher32 check), tiles and row runs
 * placed into the output, CRC32C checked. Scratch buffers grow only while
 * the largest chunk has not been seen yet, so a warm decoder does not
 * allocate. Sealed records and chunks of restricted shards are opened
 * (XChaCha20-Poly1305) before their filters are undone, into scratch that a
 * secure decoder keeps in locked memory. */
#include "io/decode.h"

#include <libdeflate.h>
#include <stdlib.h>
#include <string.h>

#include "core/checksum.h"

#define N_SCRATCH 4

struct bfdi_decoder {
  struct libdeflate_decompressor *z;
  uint8_t *buf[N_SCRATCH]; /* 0, 1: filter stages; 2: a decoded chunk before it is placed; 3: an opened seal */
  size_t cap[N_SCRATCH];
  int secure;              /* scratch is locked memory */
  bfd_status scratch_st;   /* why the last scratch() failed */
};

static bfd_status create(bfdi_decoder **out, int secure) {
  *out = NULL;
  bfdi_decoder *d = calloc(1, sizeof *d);
  if (!d) return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a decoder");
  d->secure = secure;
  d->z = libdeflate_alloc_decompressor();
  if (!d->z) {
    free(d);
    return bfdi_fail(BFD_ERR_NOMEM, "out of memory for a deflate decompressor");
  }
  *out = d;
  return BFD_OK;
}

bfd_status bfdi_decoder_create(bfdi_decoder **out) { return create(out, 0); }
bfd_status bfdi_decoder_create_secure(bfdi_decoder **out) { return create(out, 1); }

static void drop(bfdi_decoder *d, int i) {
  if (d->secure) bfdi_secure_free(d->buf[i], d->cap[i]);
  else free(d->buf[i]);
  d->buf[i] = NULL;
  d->cap[i] = 0;
}

void bfdi_decoder_free(bfdi_decoder *d) {
  if (!d) return;
  libdeflate_free_decompressor(d->z);
  for (int i = 0; i < N_SCRATCH; i++) drop(d, i);
  free(d);
}

/* NULL with the reason in the thread's message and d->scratch_st. */
static uint8_t *scratch(bfdi_decoder *d, int i, size_t n) {
  if (d->cap[i] >= n && d->buf[i]) return d->buf[i];
  void *b = NULL;
  if (d->secure) {
    d->scratch_st = bfdi_secure_alloc(n, "decoding restricted records", &b);
  } else {
    b = malloc(n ? n : 1);
    d->scratch_st = b ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu bytes of decoding scratch", n);
  }
  if (!b) return NULL;
  drop(d, i);
  d->buf[i] = b;
  d->cap[i] = n;
  return b;
}

/* Opens a sealed piece (n stored bytes at file offset `offset`: segment or
 * chunk `piece` of the `pieces` of `record`) into scratch 3; *plain gets the
 * n - BFDI_SEAL_OVERHEAD decrypted bytes. */
static bfd_status unseal(bfdi_decoder *d, const bfdi_extents *x, bfdi_part part, uint64_t record, uint64_t piece,
                         uint64_t pieces, const uint8_t *in, uint64_t n, uint64_t offset, const uint8_t **plain) {
  static const int seal_part[] = {[BFDI_PART_DATA] = 0, [BFDI_PART_LABEL] = BFDI_SEAL_LABEL,
                                  [BFDI_PART_QUALITY] = BFDI_SEAL_QUALITY};
  int sp = part == BFDI_PART_DATA ? (x->kind == BFD_KIND_SEQUENCE ? BFDI_SEAL_SEQ : BFDI_SEAL_IMAGE) : seal_part[part];
  const char *what = part == BFDI_PART_QUALITY ? "quality" : part == BFDI_PART_LABEL ? "label" : "data";
  if (!x->key)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: restricted shard (key id %s) read without its key: give the key file "
                     "(security.key_file in the job config, or BIOFEED_KEY_FILE)", x->path, x->key_id);
  uint8_t *out = n >= BFDI_SEAL_OVERHEAD ? scratch(d, 3, n - BFDI_SEAL_OVERHEAD) : NULL;
  if (n >= BFDI_SEAL_OVERHEAD && !out) return d->scratch_st;
  const bfdi_seal_at at = {sp, record, piece, pieces};
  if (out && bfdi_unseal(x->key, x->shard_id, &at, in, n, out) == 0) {
    *plain = out;
    return BFD_OK;
  }
  /* a wrong key is the caller's mistake, not damage: on_corrupt: skip must not hide it */
  if (strcmp(x->key_id, x->key->id) != 0)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: record %llu (%s, stored at byte offset %llu): authentication failed: the "
                     "shard is sealed with key id %s but the key file %s has key id %s; give the right key file",
                     x->path, (unsigned long long)record, what, (unsigned long long)offset, x->key_id, x->key->path,
                     x->key->id);
  return bfdi_fail(BFD_ERR_CORRUPT, "%s: record %llu (%s, stored at byte offset %llu): authentication failed with the "
                   "right key (id %s): its stored bytes were altered, moved from another record or shard, or "
                   "damaged; check it with `biofeed verify --key-file` and restore or re-pack the shard", x->path,
                   (unsigned long long)record, what, (unsigned long long)offset, x->key_id);
}

/* HDF5's Fletcher-32: sums of big-endian 16-bit words, an odd last byte as
 * the high half of a word, folded every 360 words so the sums never overflow. */
static uint32_t fletcher32(const uint8_t *p, size_t n) {
  uint32_t s1 = 0, s2 = 0;
  size_t words = n / 2;
  while (words) {
    size_t t = words > 360 ? 360 : words;
    words -= t;
    for (size_t i = 0; i < t; i++, p += 2) {
      s1 += (uint32_t)p[0] << 8 | p[1];
      s2 += s1;
    }
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
  }
  if (n % 2) {
    s1 += (uint32_t)p[0] << 8;
    s2 += s1;
    s1 = (s1 & 0xffff) + (s1 >> 16);
    s2 = (s2 & 0xffff) + (s2 >> 16);
  }
  s1 = (s1 & 0xffff) + (s1 >> 16);
  s2 = (s2 & 0xffff) + (s2 >> 16);
  return s2 << 16 | s1;
}

static void unshuffle(const uint8_t *src, uint8_t *dst, size_t n, size_t esize) {
  size_t elems = n / esize;
  for (size_t k = 0; k < esize; k++) {
    const uint8_t *s = src + k * elems;
    for (size_t i = 0; i < elems; i++) dst[i * esize + k] = s[i];
  }
  /* Trailing bytes that make no whole element are stored as they are. */
  memcpy(dst + elems * esize, src + elems * esize, n - elems * esize);
}

static void swap_bytes(uint8_t *p, uint64_t n, uint32_t esize) {
  if (esize == 2) {
    for (uint64_t i = 0; i + 2 <= n; i += 2) {
      uint16_t v;
      memcpy(&v, p + i, 2);
      v = __builtin_bswap16(v);
      memcpy(p + i, &v, 2);
    }
  } else if (esize == 4) {
    for (uint64_t i = 0; i + 4 <= n; i += 4) {
      uint32_t v;
      memcpy(&v, p + i, 4);
      v = __builtin_bswap32(v);
      memcpy(p + i, &v, 4);
    }
  } else if (esize == 8) {
    for (uint64_t i = 0; i + 8 <= n; i += 8) {
      uint64_t v;
      memcpy(&v, p + i, 8);
      v = __builtin_bswap64(v);
      memcpy(p + i, &v, 8);
    }
  }
}

static bfd_status chunk_fail(const bfdi_extents *x, const bfdi_array *a, uint64_t chunk, const char *why) {
  const bfdi_extent *e = &a->ext[chunk];
  return bfdi_fail(BFD_ERR_CORRUPT,
                   "%s: dataset %s: chunk %llu (%llu bytes at byte offset %llu): %s; the file is damaged (copy or "
                   "re-pack it)", x->files[e->file], a->name, (unsigned long long)chunk, (unsigned long long)e->length,
                   (unsigned long long)e->offset, why);
}

bfd_status bfdi_decode_chunk(bfdi_decoder *d, const bfdi_extents *x, const bfdi_array *a, uint64_t chunk,
                             const uint8_t *in, uint64_t n, uint32_t mask, uint8_t *out) {
  if (x->restricted) {
    /* Chunks of a shard's sample never span samples: chunk k is chunk k % per_sample of sample k / per_sample. */
    uint64_t per_sample = x->n_records && a->n_ext >= x->n_records ? a->n_ext / x->n_records : 1;
    bfdi_part part = a == &x->label ? BFDI_PART_LABEL : BFDI_PART_DATA;
    BFD_TRY(unseal(d, x, part, chunk / per_sample, chunk % per_sample, per_sample, in, n, a->ext[chunk].offset, &in));
    n -= BFDI_SEAL_OVERHEAD;
  }
  int last = -1; /* the last filter to undo writes straight into out */
  for (int k = 0; k < a->n_filters; k++)
    if (!(mask & (1u << k))) {
      last = k;
      break;
    }
  size_t room = a->chunk_bytes + 4 * (size_t)a->n_filters; /* fletcher32 adds 4 bytes per use */
  const uint8_t *cur = in;
  uint64_t len = n;
  int next = 0;
  for (int k = a->n_filters - 1; k >= 0; k--) {
    if (mask & (1u << k)) continue;
    if (a->filters[k] == BFDI_FILTER_FLETCHER32) {
      if (len < 4) return chunk_fail(x, a, chunk, "too short for its fletcher32 checksum");
      const uint8_t *c = cur + len - 4;
      uint32_t stored = (uint32_t)c[0] | (uint32_t)c[1] << 8 | (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
      uint32_t sum = fletcher32(cur, len - 4);
      /* HDF5 before 1.6.3 stored each 16-bit half byte-swapped; HDF5 still accepts that. */
      uint32_t old = (sum & 0x00ff00ffu) << 8 | (sum >> 8 & 0x00ff00ffu);
      if (stored != sum && stored != old) return chunk_fail(x, a, chunk, "fletcher32 checksum mismatch");
      len -= 4;
      if (k == last) {
        if (len != a->chunk_bytes) return chunk_fail(x, a, chunk, "wrong size after its filters");
        memcpy(out, cur, len);
        cur = out;
      }
      continue;
    }
    if (a->filters[k] == BFDI_FILTER_SHUFFLE && len > (k == last ? a->chunk_bytes : room))
      return chunk_fail(x, a, chunk, "larger than a chunk");
    uint8_t *dst = k == last ? out : scratch(d, next, room);
    if (!dst) return d->scratch_st;
    if (a->filters[k] == BFDI_FILTER_DEFLATE) {
      size_t got = 0, cap = k == last ? a->chunk_bytes : room;
      enum libdeflate_result r = libdeflate_zlib_decompress(d->z, cur, len, dst, cap, &got);
      if (r != LIBDEFLATE_SUCCESS)
        return chunk_fail(x, a, chunk, r == LIBDEFLATE_INSUFFICIENT_SPACE ? "inflates to more than a chunk"
                                                                         : "its deflate stream is corrupt");
      len = got;
    } else {
      unshuffle(cur, dst, len, a->esize);
    }
    cur = dst;
    next ^= 1;
  }
  if (len != a->chunk_bytes) return chunk_fail(x, a, chunk, "wrong size after its filters");
  if (cur != out) memcpy(out, cur, len);
  if (a->swap) swap_bytes(out, len, a->esize);
  return BFD_OK;
}

/* Copies the part [from, to) (dataset coordinates) of a block with origin
 * so and shape sd (src, or the fill value when src is NULL) into the
 * output, whose origin is lo and shape ext. */
static void place(const bfdi_array *a, const uint64_t *from, const uint64_t *to, const uint8_t *src,
                  const uint64_t *so, const uint64_t *sd, uint8_t *dst, const uint64_t *lo, const uint64_t *ext) {
  int r = a->rank;
  uint64_t ss[BFDI_MAX_RANK], ds[BFDI_MAX_RANK], c[BFDI_MAX_RANK];
  ss[r - 1] = ds[r - 1] = a->esize;
  for (int j = r - 2; j >= 0; j--) {
    ss[j] = ss[j + 1] * sd[j + 1];
    ds[j] = ds[j + 1] * ext[j + 1];
  }
  for (int j = 0; j < r; j++) c[j] = from[j];
  uint64_t run = (to[r - 1] - from[r - 1]) * a->esize;
  for (;;) {
    uint64_t s = 0, t = 0;
    for (int j = 0; j < r; j++) {
      s += (c[j] - so[j]) * ss[j];
      t += (c[j] - lo[j]) * ds[j];
    }
    if (src) {
      memcpy(dst + t, src + s, run);
    } else {
      for (uint64_t b = 0; b < run; b += a->esize) memcpy(dst + t + b, a->fill, a->esize);
    }
    int j = r - 2;
    while (j >= 0 && ++c[j] == to[j]) {
      c[j] = from[j];
      j--;
    }
    if (j < 0) return;
  }
}

static bfd_status decode_chunked(bfdi_decoder *d, const bfdi_readplan *p, const uint8_t *stage, uint8_t *out) {
  const bfdi_array *a = p->a;
  int r = a->rank;
  uint64_t ext[BFDI_MAX_RANK];
  for (int j = 0; j < r; j++) ext[j] = p->hi[j] - p->lo[j];
  if (p->direct) {
    if (a->swap) swap_bytes(out, p->out_bytes, a->esize);
    return BFD_OK;
  }
  for (size_t i = 0; i < p->n; i++) {
    const bfdi_piece *q = &p->pieces[i];
    uint64_t o[BFDI_MAX_RANK], from[BFDI_MAX_RANK], to[BFDI_MAX_RANK], k = q->chunk;
    for (int j = r - 1; j >= 0; j--) {
      o[j] = (k % a->grid[j]) * a->chunk[j];
      k /= a->grid[j];
      from[j] = o[j] > p->lo[j] ? o[j] : p->lo[j];
      to[j] = o[j] + a->chunk[j] < p->hi[j] ? o[j] + a->chunk[j] : p->hi[j];
    }
    if (q->len == 0) {
      /* Every chunk of a restricted shard is sealed: one missing was removed. */
      if (p->x->restricted)
        return bfdi_fail(BFD_ERR_CORRUPT, "%s: record %llu (%s): chunk %llu is missing from a restricted shard, whose "
                         "every chunk is sealed; the shard was altered: restore or re-pack it", p->x->path,
                         (unsigned long long)p->record, a->name, (unsigned long long)q->chunk);
      place(a, from, to, NULL, o, a->chunk, out, p->lo, ext);
      continue;
    }
    /* A chunk that is exactly the output decodes straight into it. */
    if (p->n == 1 && a->chunk_bytes == p->out_bytes)
      return bfdi_decode_chunk(d, p->x, a, q->chunk, stage + q->at, q->len, q->mask, out);
    uint8_t *c = scratch(d, 2, a->chunk_bytes);
    if (!c) return d->scratch_st;
    BFD_TRY(bfdi_decode_chunk(d, p->x, a, q->chunk, stage + q->at, q->len, q->mask, c));
    place(a, from, to, c, o, a->chunk, out, p->lo, ext);
  }
  return BFD_OK;
}

typedef struct run_walk {
  const bfdi_readplan *p;
  const uint8_t *stage;
  uint8_t *out;
  size_t piece;
  uint64_t at;
} run_walk;

static void copy_run(uint64_t elem, uint64_t n, void *user) {
  run_walk *w = user;
  const bfdi_array *a = w->p->a;
  uint64_t off = a->ext[0].offset + elem * a->esize, len = n * a->esize;
  while (off >= w->p->pieces[w->piece].offset + w->p->pieces[w->piece].len) w->piece++;
  const bfdi_piece *q = &w->p->pieces[w->piece];
  memcpy(w->out + w->at, w->stage + q->at + (off - q->offset), len);
  w->at += len;
}

static bfd_status decode_contiguous(const bfdi_readplan *p, const uint8_t *stage, uint8_t *out) {
  const bfdi_array *a = p->a;
  if (a->ext[0].length == 0) {
    for (uint64_t b = 0; b < p->out_bytes; b += a->esize) memcpy(out + b, a->fill, a->esize);
    return BFD_OK;
  }
  if (!p->direct) {
    run_walk w = {p, stage, out, 0, 0};
    bfdi_readplan_runs(p, copy_run, &w);
  }
  if (a->swap) swap_bytes(out, p->out_bytes, a->esize);
  return BFD_OK;
}

/* A window of a sealed sequence record: each segment it covers opened,
 * and its part of the window copied out. */
static bfd_status decode_sealed_window(bfdi_decoder *d, const bfdi_readplan *p, const uint8_t *stage, uint8_t *out) {
  if (p->n == 0) return BFD_OK; /* an empty window */
  const bfdi_piece *q = &p->pieces[0];
  const uint64_t seg = BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD, len = p->x->rec[p->record].length;
  const uint64_t lo = p->lo[0], hi = p->hi[0];
  for (uint64_t g = q->chunk, at = 0; at < q->len; g++, at += seg) {
    uint64_t first = g * BFDI_SEAL_SEGMENT, m = len - first < BFDI_SEAL_SEGMENT ? len - first : BFDI_SEAL_SEGMENT;
    const uint8_t *plain;
    BFD_TRY(unseal(d, p->x, p->part, p->record, g, bfdi_seal_segments(len), stage + q->at + at,
                   m + BFDI_SEAL_OVERHEAD, q->offset + at, &plain));
    uint64_t from = first > lo ? first : lo, to = first + m < hi ? first + m : hi;
    if (to > from) memcpy(out + (from - lo), plain + (from - first), to - from);
  }
  return BFD_OK;
}

bfd_status bfdi_decode_plan(bfdi_decoder *d, const bfdi_readplan *p, const uint8_t *stage, void *out) {
  if (!p->a && p->x->restricted) return decode_sealed_window(d, p, stage, out);
  if (p->a) {
    bfd_status st = p->a->chunked ? decode_chunked(d, p, stage, out) : decode_contiguous(p, stage, out);
    /* a chunk's message names the chunk; the record is what the reader asked for */
    if (st != BFD_OK) return bfdi_wrap(st, "record %llu", (unsigned long long)p->record);
  }
  if (p->x->restricted) return BFD_OK;
  int known = 0;
  uint32_t want = p->whole ? bfdi_extents_crc(p->x, p->part, p->record, &known) : 0;
  if (!known) return BFD_OK;
  uint32_t got = bfdi_crc32c(out, p->out_bytes);
  if (got == want) return BFD_OK;
  const char *what = p->a ? p->a->name : p->part == BFDI_PART_QUALITY ? "/seq/quality" : "/seq/data";
  uint64_t at = p->n ? p->pieces[0].offset : 0;
  return bfdi_fail(BFD_ERR_CORRUPT,
                   "%s: record %llu (%s, data at byte offset %llu): CRC32C mismatch (stored 0x%08x, computed "
                   "0x%08x); the shard is corrupt: check it with `biofeed verify` and re-pack it", p->x->path,
                   (unsigned long long)p->record, what, (unsigned long long)at, want, got);
}

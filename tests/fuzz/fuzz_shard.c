/* libFuzzer harness: a shard file (HDF5) through every reader the library
 * has for it. The input is the file.
 *
 *   1. bfd_shard_open, info and provenance; a few records read through the
 *      public calls (sequence bytes, quality, name; image sample, label,
 *      class), with buffers exactly as large as the shard says and once one
 *      byte short; bfd_verify on the file (every record's CRC).
 *   2. bfdi_extents_open_shard (loader/io/extents.h): the tables, then the
 *      same records (whole, and a crop or a window) through a pread reader,
 *      which plans, reads and decodes chunks (shuffle, deflate, fletcher32)
 *      at the offsets the file claims.
 *   3. bfdi_extents_open_h5 on /img/data and /label/data as a user's own
 *      dataset (sample axis 0), read the same way, and through the pack
 *      reader for HDF5 sources (bfdi_h5src, loader/ingest/h5src.c).
 *
 * The harness sizes its buffers from what the file claims, so it skips
 * records over 16 MiB: a huge claim must be refused by the library when the
 * shard is opened, not left to the caller. */
#include <stdint.h>
#include <stdlib.h>

#include "biofeed/shard.h"
#include "format/shard_read.h"
#include "fuzzutil.h"
#include "io/read.h"

#define MAX_BUF ((uint64_t)16 << 20)

/* HDF5 1.10 leaks object-header and cache entries of its own when opening
 * (or looking up) a file or an object fails on malformed metadata: both the
 * allocation and the loss are inside the failing call, which hands back
 * nothing to close. Only leaks whose stack passes through such a call are
 * ignored (a handle biofeed forgot to close would not show as a leak
 * anyway: HDF5 keeps it reachable until exit); memory HDF5 hands to biofeed
 * (variable-length strings) must still be freed. HDF5 is built without
 * frame pointers, so ASan's fast unwinder would stop at its first frame and
 * the suppressions could never match: use the slow one. */
const char *__lsan_default_suppressions(void) {
  return "leak:H5Fopen\nleak:H5Oopen\nleak:H5Dopen2\nleak:H5Lexists\n";
}
const char *__asan_default_options(void) { return "fast_unwind_on_malloc=0"; }

/* Records 0, 1 and the last: enough for the table arithmetic at both ends. */
static uint64_t pick(uint64_t n, int k) { return k < 2 ? (uint64_t)k : n - 1; }

static void verify_cb(const char *shard, uint64_t record, uint64_t offset, const char *what, void *user) {
  uint64_t *count = user;
  *count += (uint64_t)record + offset + (uint64_t)strlen(shard) + (uint64_t)strlen(what);
}

static void read_seq(bfd_shard *s, const bfd_shard_info *info, uint64_t i) {
  uint64_t len = 0;
  bfd_status st = bfd_shard_seq_length(s, i, &len);
  fz_check(st, "bfd_shard_seq_length");
  if (st != BFD_OK || len > MAX_BUF) return;
  uint8_t *buf = malloc(len + 1), *qual = info->has_quality ? malloc(len + 1) : NULL;
  if (!buf || (info->has_quality && !qual)) fz_die("malloc");
  fz_check(bfd_shard_seq_read(s, i, buf, len, qual, len), "bfd_shard_seq_read");
  if (len > 0 && bfd_shard_seq_read(s, i, buf, len - 1, NULL, 0) == BFD_OK) {
    fz_bug("bfd_shard_seq_read accepted a buffer one byte short");
  }
  const char *name = NULL;
  st = bfd_shard_seq_name(s, i, &name);
  fz_check(st, "bfd_shard_seq_name");
  if (st == BFD_OK) fz_sink = strlen(name);
  fz_sink = bfdi_shard_record_offset(s, i, 0);
  free(buf);
  free(qual);
}

static void read_image(bfd_shard *s, const bfd_shard_info *info, uint64_t i) {
  uint64_t bytes = fz_bytes(info->shape, info->ndim, bfd_dtype_size(info->dtype), MAX_BUF);
  if (bytes > 0) {
    uint8_t *buf = malloc(bytes);
    if (!buf) fz_die("malloc");
    fz_check(bfd_shard_image_read(s, i, buf, bytes), "bfd_shard_image_read");
    if (bfd_shard_image_read(s, i, buf, bytes - 1) == BFD_OK) {
      fz_bug("bfd_shard_image_read accepted a buffer one byte short");
    }
    free(buf);
  }
  if (info->has_labels) {
    /* A label volume is the sample's spatial shape: [(Z,) Y, X]. */
    uint64_t lb = fz_bytes(info->shape + 1, info->ndim - 1, bfd_dtype_size(info->label_dtype), MAX_BUF);
    if (lb > 0) {
      uint8_t *buf = malloc(lb);
      if (!buf) fz_die("malloc");
      fz_check(bfd_shard_label_read(s, i, buf, lb), "bfd_shard_label_read");
      free(buf);
    }
    fz_sink = bfdi_shard_record_offset(s, i, 1);
  }
  if (info->has_classes) {
    int64_t cls = 0;
    fz_check(bfd_shard_class_read(s, i, &cls), "bfd_shard_class_read");
    fz_sink = (uint64_t)cls;
  }
  fz_sink = bfdi_shard_record_offset(s, i, 0);
}

static void public_api(const char *path) {
  bfd_shard *s = NULL;
  bfd_status st = bfd_shard_open(path, &s);
  fz_check(st, "bfd_shard_open");
  if (st != BFD_OK) return;
  bfd_shard_info info;
  fz_check(bfd_shard_info_get(s, &info), "bfd_shard_info_get");
  const char *json = NULL, *tool = NULL;
  fz_check(bfd_shard_provenance(s, &json, &tool), "bfd_shard_provenance");
  fz_sink = strlen(json) + strlen(tool);
  for (int k = 0; k < 3 && (uint64_t)k < info.n_records; k++) {
    uint64_t i = pick(info.n_records, k);
    if (info.kind == BFD_KIND_SEQUENCE) read_seq(s, &info, i);
    else read_image(s, &info, i);
  }
  /* Past the end must be refused. */
  uint64_t len;
  if (bfd_shard_seq_length(s, info.n_records, &len) == BFD_OK) {
    fz_bug("bfd_shard_seq_length accepted a record past the end");
  }
  bfd_shard_close(s);

  bfd_verify_report rep = {0};
  uint64_t count = 0;
  st = bfd_verify(path, verify_cb, &count, &rep);
  if (st != BFD_ERR_CORRUPT) fz_check(st, "bfd_verify");
  fz_sink = count + rep.problems;
}

/* Whole record (or sample), then a part of it, through the reader. */
static void read_records(bfdi_reader *r, const bfdi_extents *x, bfdi_part part) {
  const bfdi_array *a = bfdi_extents_array(x, part);
  if (x->kind == BFD_KIND_IMAGE && !a) return;
  for (int k = 0; k < 3 && (uint64_t)k < x->n_records; k++) {
    uint64_t i = pick(x->n_records, k);
    for (int crop = 0; crop < 2; crop++) {
      bfdi_box box;
      bfdi_read q = {.x = x, .part = part, .record = i, .lo = 0, .hi = UINT64_MAX};
      if (crop && a) {
        for (int j = 0; j < a->sdim; j++) {
          box.lo[j] = a->sdims[j] / 3;
          box.hi[j] = a->sdims[j] / 3 + (a->sdims[j] + 1) / 2;
        }
        q.box = &box;
      } else if (crop) {
        q.lo = x->rec[i].length / 3;
        q.hi = q.lo + x->rec[i].length / 2;
      }
      uint64_t bytes = 0;
      bfd_status st = bfdi_read_size(&q, &bytes);
      fz_check(st, "bfdi_read_size");
      if (st != BFD_OK || bytes > MAX_BUF) continue;
      void *dst = malloc(bytes ? bytes : 1);
      if (!dst) fz_die("malloc");
      q.dst = dst;
      q.cap = bytes;
      fz_check(bfdi_reader_run(r, &q, 1), "bfdi_reader_run");
      free(dst);
    }
  }
}

static void walk_tables(const bfdi_extents *x) {
  uint64_t sum = x->file_size;
  for (uint64_t i = 0; x->rec && i < x->n_records; i++) sum += x->rec[i].offset + x->rec[i].length;
  for (int part = 0; part < 2; part++) {
    const bfdi_array *a = bfdi_extents_array(x, (bfdi_part)part);
    for (uint64_t i = 0; a && i < a->n_ext; i++) sum += a->ext[i].offset + a->ext[i].length;
    int known;
    for (uint64_t i = 0; i < 3 && i < x->n_records; i++) sum += bfdi_extents_crc(x, (bfdi_part)part, i, &known);
  }
  fz_sink = sum;
}

/* The pack reader, on a dataset whose samples extents found small enough. */
static void h5src(const char *path, const char *dataset) {
  bfdi_h5src *src = NULL;
  bfd_status st = bfdi_h5src_open(path, dataset, 0, &src);
  fz_check(st, "bfdi_h5src_open");
  if (st != BFD_OK) return;
  uint64_t n = bfdi_h5src_count(src);
  for (int k = 0; k < 3 && (uint64_t)k < n; k++) {
    bfdi_image im;
    st = bfdi_h5src_read(src, pick(n, k), &im);
    fz_check_image(st, "bfdi_h5src_read", &im);
  }
  bfdi_h5src_close(src);
}

static void extents(const char *path, bfdi_reader *r) {
  bfdi_extents *x = NULL;
  bfd_status st = bfdi_extents_open_shard(path, &x);
  fz_check(st, "bfdi_extents_open_shard");
  if (st == BFD_OK) {
    walk_tables(x);
    read_records(r, x, BFDI_PART_DATA);
    if (x->kind == BFD_KIND_SEQUENCE) read_records(r, x, BFDI_PART_QUALITY);
    else read_records(r, x, BFDI_PART_LABEL);
    bfdi_extents_free(x);
  }
  static const char *const user[] = {"/img/data", "/label/data"};
  for (int k = 0; k < 2; k++) {
    st = bfdi_extents_open_h5(path, user[k], 0, &x);
    fz_check(st, "bfdi_extents_open_h5");
    if (st != BFD_OK) continue;
    walk_tables(x);
    read_records(r, x, BFDI_PART_DATA);
    uint64_t sample = x->data.sample_bytes;
    bfdi_extents_free(x);
    if (sample <= MAX_BUF) h5src(path, user[k]);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fz_write("s.h5", data, size);
  fz_quiet_begin();
  public_api(path);
  /* A reader caches open files by path: a fresh one per input, so that it
   * never reads the previous input's file. */
  bfdi_io_opts o = {.kind = BFDI_IO_PREAD, .queue_depth = 4, .threads = 1};
  bfdi_reader *r = NULL;
  if (bfdi_reader_create(&o, &r) != BFD_OK) fz_bug("%s", bfd_last_error());
  extents(path, r);
  bfdi_reader_free(r);
  fz_quiet_end("the shard readers");
  fz_remove("s.h5");
  return 0;
}

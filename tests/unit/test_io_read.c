/* The read path without HDF5: extent tables, plans, decoding and readers
 * give exactly the bytes HDF5 itself reads (H5Dread), for biofeed shards
 * (sequences, FASTQ quality, 2D and 3D images, labels, uncompressed and
 * deflate+shuffle with incompressible chunks) and user HDF5 datasets
 * (contiguous and chunked, deflate/shuffle/fletcher32, big-endian, userblock,
 * any sample axis, unwritten chunks), whole and cropped, through io_uring,
 * pread and O_DIRECT. Crops read only the chunks they touch; corrupt bytes
 * are named by shard, record and offset; unsupported filters are named at
 * open; reader threads never take the HDF5 lock. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/pack.h"
#include "core/checksum.h"
#include "core/h5.h"
#include "format/shard_write.h"
#include "io/pool.h"
#include "io/read.h"
#include "support/testutil.h"

typedef struct fx {
  char *dir;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("io-read");
  *state = f;
  return f->dir ? 0 : -1;
}

static int teardown(void **state) {
  fx *f = *state;
  bfdi_io_set_read_hook(NULL);
  tu_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* ---- engines to try ---- */

static int uring_ok(void) {
  bfdi_io_opts o = {.kind = BFDI_IO_URING, .queue_depth = 2};
  bfdi_io *e;
  if (bfdi_io_create(&o, &e) != BFD_OK) return 0;
  bfdi_io_destroy(e);
  return 1;
}

/* O_DIRECT only where the filesystem really does it (not tmpfs). */
static int direct_ok(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECT);
  if (fd < 0) return 0;
  struct statx sx;
  int ok = statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
           sx.stx_dio_offset_align > 0;
  close(fd);
  return ok;
}

typedef struct engine_case {
  bfdi_io_opts o;
  const char *name;
} engine_case;

/* pread always; io_uring and O_DIRECT where this machine has them (said once). */
static size_t engines(const char *sample_file, engine_case *out) {
  static int said;
  size_t n = 0;
  out[n++] = (engine_case){{.kind = BFDI_IO_PREAD, .queue_depth = 8}, "pread"};
  int u = uring_ok(), d = direct_ok(sample_file);
  if (u) out[n++] = (engine_case){{.kind = BFDI_IO_URING, .queue_depth = 8}, "uring"};
  if (d) out[n++] = (engine_case){{.kind = u ? BFDI_IO_URING : BFDI_IO_PREAD, .queue_depth = 8, .direct = 1},
                                  "direct"};
  if (d) out[n++] = (engine_case){{.kind = BFDI_IO_PREAD, .queue_depth = 8, .direct = 1}, "pread-direct"};
  if (!said++) {
    if (!u) print_message("SKIP (part) io_uring paths: io_uring is not available here\n");
    if (!d) print_message("SKIP (part) O_DIRECT paths: the test directory's filesystem does not do direct I/O\n");
  }
  return n;
}

/* ---- user HDF5 files ---- */

typedef struct dspec {
  int rank;
  hsize_t dims[5];
  hsize_t chunk[5];    /* chunk[0] == 0: contiguous */
  hid_t ftype;         /* file type */
  hid_t mtype;         /* native memory type */
  size_t esize;
  int shuffle, deflate, fletcher;
  hsize_t userblock;
  int fill;            /* fill value (also for unwritten chunks) */
  hsize_t written;     /* write only the first `written` indexes of axis 0 (0: all) */
  int axis;
} dspec;

static size_t elems(const dspec *s) {
  size_t n = 1;
  for (int j = 0; j < s->rank; j++) n *= s->dims[j];
  return n;
}

/* Data with smooth parts (compressible) and noisy parts (not). */
static void *make_data(const dspec *s) {
  size_t n = elems(s);
  uint8_t *b = malloc(n * s->esize);
  uint64_t x = 99;
  for (size_t i = 0; i < n; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    uint64_t v = (i / 7) % 3000 + ((i / 4096) % 2 ? (x >> 40) : 0);
    if (s->mtype == H5T_NATIVE_FLOAT) {
      float fv = (float)v * 0.25f;
      memcpy(b + i * 4, &fv, 4);
    } else {
      for (size_t k = 0; k < s->esize; k++) b[i * s->esize + k] = (uint8_t)(v >> (8 * k));
    }
  }
  return b;
}

static void make_h5(const char *path, const dspec *s, const void *data) {
  bfdi_h5_lock();
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  if (s->userblock) H5Pset_userblock(fcpl, s->userblock);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, H5P_DEFAULT);
  assert_true(f >= 0);
  hid_t sp = H5Screate_simple(s->rank, s->dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (s->chunk[0]) {
    H5Pset_chunk(dcpl, s->rank, s->chunk);
    if (s->fletcher == 2) H5Pset_fletcher32(dcpl);
    if (s->shuffle) H5Pset_shuffle(dcpl);
    if (s->deflate) H5Pset_deflate(dcpl, (unsigned)s->deflate);
    if (s->fletcher == 1) H5Pset_fletcher32(dcpl);
  }
  long long fv = s->fill;
  float ffv = (float)s->fill;
  H5Pset_fill_value(dcpl, s->mtype == H5T_NATIVE_FLOAT ? H5T_NATIVE_FLOAT : H5T_NATIVE_LLONG,
                    s->mtype == H5T_NATIVE_FLOAT ? (void *)&ffv : (void *)&fv);
  hid_t d = H5Dcreate2(f, "/group/data", s->ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (d < 0) {
    hid_t g = H5Gcreate2(f, "/group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    d = H5Dcreate2(f, "/group/data", s->ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  }
  assert_true(d >= 0);
  if (s->written) {
    hsize_t start[5] = {0}, count[5];
    memcpy(count, s->dims, sizeof count);
    count[0] = s->written;
    hid_t ms = H5Screate_simple(s->rank, count, NULL);
    H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL);
    assert_true(H5Dwrite(d, s->mtype, ms, sp, H5P_DEFAULT, data) >= 0);
    H5Sclose(ms);
  } else if (data) {
    assert_true(H5Dwrite(d, s->mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  }
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Pclose(fcpl);
  H5Fclose(f);
  bfdi_h5_unlock();
}

/* What HDF5 gives for sample i of the dataset, box b (NULL: whole). */
static void *h5_read(const char *path, const char *dset, const dspec *s, uint64_t i, const bfdi_box *b,
                     size_t *bytes) {
  hsize_t start[5], count[5];
  size_t n = s->esize;
  for (int j = 0, k = 0; j < s->rank; j++) {
    if (j == s->axis) {
      start[j] = i;
      count[j] = 1;
      continue;
    }
    start[j] = b ? b->lo[k] : 0;
    count[j] = b ? b->hi[k] - b->lo[k] : s->dims[j];
    n *= count[j];
    k++;
  }
  void *buf = malloc(n);
  bfdi_h5_lock();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  hid_t fs = H5Dget_space(d);
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t ms = H5Screate_simple(s->rank, count, NULL);
  herr_t r = H5Dread(d, s->mtype, ms, fs, H5P_DEFAULT, buf);
  H5Sclose(ms);
  H5Sclose(fs);
  H5Dclose(d);
  H5Fclose(f);
  bfdi_h5_unlock();
  assert_true(r >= 0);
  *bytes = n;
  return buf;
}

/* Every sample whole, and one crop of each, equals H5Dread, on every engine. */
static void check_user_file(const char *path, const dspec *s) {
  bfdi_extents *x = NULL;
  assert_int_equal(bfdi_extents_open_h5(path, "/group/data", s->axis, &x), BFD_OK);
  assert_int_equal(x->n_records, s->dims[s->axis]);
  assert_int_equal(x->data.chunked, s->chunk[0] != 0);
  bfdi_box crop;
  for (int k = 0; k < x->data.sdim; k++) {
    crop.lo[k] = x->data.sdims[k] / 4;
    crop.hi[k] = x->data.sdims[k] * 3 / 4 + 1;
    if (crop.hi[k] > x->data.sdims[k]) crop.hi[k] = x->data.sdims[k];
  }
  engine_case ec[4];
  size_t ne = engines(path, ec);
  for (size_t e = 0; e < ne; e++) {
    bfdi_reader *r = NULL;
    assert_int_equal(bfdi_reader_create(&ec[e].o, &r), BFD_OK);
    uint64_t n = x->n_records;
    bfdi_read *q = calloc(2 * n, sizeof *q);
    void **want = calloc(2 * n, sizeof *want);
    size_t *wn = calloc(2 * n, sizeof *wn);
    for (uint64_t i = 0; i < 2 * n; i++) {
      const bfdi_box *b = i < n ? NULL : &crop;
      want[i] = h5_read(path, "/group/data", s, i % n, b, &wn[i]);
      q[i] = (bfdi_read){.x = x, .part = BFDI_PART_DATA, .record = i % n, .box = b, .cap = wn[i] + 64};
      q[i].dst = malloc(q[i].cap);
      uint64_t size = 0;
      assert_int_equal(bfdi_read_size(&q[i], &size), BFD_OK);
      assert_int_equal(size, wn[i]);
    }
    bfd_status st = bfdi_reader_run(r, q, 2 * n);
    if (st != BFD_OK) print_message("%s (%s): %s\n", path, ec[e].name, bfd_last_error());
    assert_int_equal(st, BFD_OK);
    for (uint64_t i = 0; i < 2 * n; i++) {
      if (memcmp(q[i].dst, want[i], wn[i]) != 0)
        print_message("%s (%s): sample %llu%s differs from H5Dread\n", path, ec[e].name,
                      (unsigned long long)(i % n), i < n ? "" : " (crop)");
      assert_memory_equal(q[i].dst, want[i], wn[i]);
      free(q[i].dst);
      free(want[i]);
    }
    free(q);
    free(want);
    free(wn);
    bfdi_reader_free(r);
  }
  bfdi_extents_free(x);
}

static void user_case(fx *f, const char *name, dspec s) {
  const char *path = tu_path("%s/%s.h5", f->dir, name);
  char *p = strdup(path);
  void *data = make_data(&s);
  make_h5(p, &s, data);
  check_user_file(p, &s);
  free(data);
  free(p);
}

static void test_user_contiguous(void **state) {
  fx *f = *state;
  user_case(f, "contig",
            (dspec){.rank = 4, .dims = {6, 3, 40, 50}, .ftype = H5T_STD_U16LE, .mtype = H5T_NATIVE_UINT16, .esize = 2});
  user_case(f, "contig-axis1",
            (dspec){.rank = 4, .dims = {3, 7, 20, 30}, .ftype = H5T_STD_I32LE, .mtype = H5T_NATIVE_INT32, .esize = 4,
                    .axis = 1});
  user_case(f, "contig-be-userblock",
            (dspec){.rank = 3, .dims = {5, 64, 100}, .ftype = H5T_STD_U16BE, .mtype = H5T_NATIVE_UINT16, .esize = 2,
                    .userblock = 1024});
  user_case(f, "contig-last-axis",
            (dspec){.rank = 3, .dims = {30, 20, 4}, .ftype = H5T_IEEE_F32LE, .mtype = H5T_NATIVE_FLOAT, .esize = 4,
                    .axis = 2});
}

static void test_user_chunked(void **state) {
  fx *f = *state;
  user_case(f, "tiles",
            (dspec){.rank = 3, .dims = {10, 64, 80}, .chunk = {1, 32, 32}, .ftype = H5T_STD_U16LE,
                    .mtype = H5T_NATIVE_UINT16, .esize = 2});
  user_case(f, "deflate-shuffle-multi",
            (dspec){.rank = 4, .dims = {5, 2, 33, 47}, .chunk = {2, 1, 16, 16}, .ftype = H5T_IEEE_F32LE,
                    .mtype = H5T_NATIVE_FLOAT, .esize = 4, .shuffle = 1, .deflate = 4});
  user_case(f, "fletcher-userblock",
            (dspec){.rank = 3, .dims = {8, 30, 30}, .chunk = {4, 30, 30}, .ftype = H5T_STD_I16LE,
                    .mtype = H5T_NATIVE_INT16, .esize = 2, .shuffle = 1, .deflate = 6, .fletcher = 1,
                    .userblock = 4096});
  user_case(f, "fletcher-first",
            (dspec){.rank = 3, .dims = {4, 17, 19}, .chunk = {1, 8, 8}, .ftype = H5T_STD_U8LE,
                    .mtype = H5T_NATIVE_UINT8, .esize = 1, .deflate = 1, .fletcher = 2});
  user_case(f, "be-axis2",
            (dspec){.rank = 4, .dims = {4, 5, 9, 11}, .chunk = {2, 5, 4, 6}, .ftype = H5T_STD_I32BE,
                    .mtype = H5T_NATIVE_INT32, .esize = 4, .shuffle = 1, .deflate = 3, .axis = 2});
  user_case(f, "unwritten-chunks",
            (dspec){.rank = 3, .dims = {6, 20, 20}, .chunk = {1, 10, 10}, .ftype = H5T_STD_U16LE,
                    .mtype = H5T_NATIVE_UINT16, .esize = 2, .deflate = 2, .fill = 7, .written = 3});
  user_case(f, "uint64-chunk-userblock",
            (dspec){.rank = 2, .dims = {50, 300}, .chunk = {7, 64}, .ftype = H5T_STD_I64LE,
                    .mtype = H5T_NATIVE_INT64, .esize = 8, .userblock = 512});
}

static void test_user_unwritten_contiguous(void **state) {
  fx *f = *state;
  dspec s = {.rank = 3, .dims = {4, 10, 10}, .ftype = H5T_STD_I16LE, .mtype = H5T_NATIVE_INT16, .esize = 2, .fill = -3};
  char *p = strdup(tu_path("%s/never.h5", f->dir));
  make_h5(p, &s, NULL);
  check_user_file(p, &s);
  free(p);
}

/* ---- refused at open ---- */

static void expect_refused(const char *path, bfd_status want, const char *words) {
  bfdi_extents *x = NULL;
  bfd_status st = bfdi_extents_open_h5(path, "/group/data", 0, &x);
  if (st != want || !strstr(bfd_last_error(), words))
    print_message("got %s: %s\n", bfd_status_name(st), bfd_last_error());
  assert_int_equal(st, want);
  assert_null(x);
  assert_non_null(strstr(bfd_last_error(), words));
  assert_non_null(strstr(bfd_last_error(), path));
}

static void make_filtered(const char *path, int which) {
  bfdi_h5_lock();
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t g = H5Gcreate2(f, "/group", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[3] = {4, 16, 16}, chunk[3] = {1, 16, 16};
  hid_t sp = H5Screate_simple(3, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (which == 3) {
    H5Pset_layout(dcpl, H5D_COMPACT);
  } else {
    H5Pset_chunk(dcpl, 3, chunk);
    if (which == 0) H5Pset_scaleoffset(dcpl, H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT);
    if (which == 1) H5Pset_nbit(dcpl);
    /* LZF is not in this HDF5: an optional filter is recorded in the pipeline and skipped on write. */
    if (which == 2) H5Pset_filter(dcpl, 32000, H5Z_FLAG_OPTIONAL, 0, NULL);
  }
  hid_t d = H5Dcreate2(g, "data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  assert_true(d >= 0);
  uint16_t buf[4 * 16 * 16];
  for (size_t i = 0; i < sizeof buf / 2; i++) buf[i] = (uint16_t)i;
  H5Dwrite(d, H5T_NATIVE_UINT16, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Eclear2(H5E_DEFAULT);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  H5Gclose(g);
  H5Fclose(f);
  bfdi_h5_unlock();
}

static void test_user_refused_at_open(void **state) {
  fx *f = *state;
  const char *names[] = {"scaleoffset", "nbit", "LZF", "compact storage"};
  for (int w = 0; w < 4; w++) {
    char *p = strdup(tu_path("%s/filtered%d.h5", f->dir, w));
    make_filtered(p, w);
    expect_refused(p, BFD_ERR_UNSUPPORTED, names[w]);
    free(p);
  }
  char *p = strdup(tu_path("%s/plain.h5", f->dir));
  dspec s = {.rank = 3, .dims = {2, 4, 4}, .ftype = H5T_STD_U8LE, .mtype = H5T_NATIVE_UINT8, .esize = 1};
  void *data = make_data(&s);
  make_h5(p, &s, data);
  free(data);
  bfdi_extents *x = NULL;
  assert_int_equal(bfdi_extents_open_h5(p, "/group/nope", 0, &x), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "/group/nope"));
  assert_int_equal(bfdi_extents_open_h5(p, "/group/data", 3, &x), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "sample axis 3"));
  assert_int_equal(bfdi_extents_open_h5(p, "/group", 0, &x), BFD_ERR_INVALID_ARG);
  /* Truncated: refused at open, naming the file. */
  struct stat sb;
  assert_int_equal(stat(p, &sb), 0);
  assert_int_equal(truncate(p, sb.st_size - 20), 0);
  assert_int_not_equal(bfdi_extents_open_h5(p, "/group/data", 0, &x), BFD_OK);
  assert_non_null(strstr(bfd_last_error(), p));
  free(p);
  assert_int_equal(bfdi_extents_open_h5(tu_path("%s/missing.h5", f->dir), "/d", 0, &x), BFD_ERR_IO);
}

static void test_chunk_addresses_and_userblock(void **state) {
  fx *f = *state;
  /* HDF5 < 1.14.4 leaves the userblock out of chunk addresses; the table must not. */
  unsigned maj, min, rel;
  H5get_libversion(&maj, &min, &rel);
  assert_int_equal(bfdi_h5_chunk_addr_needs_userblock(), maj * 1000000u + min * 1000u + rel < 1014004u);
  dspec s = {.rank = 2, .dims = {4, 4096}, .chunk = {1, 4096}, .ftype = H5T_STD_U8LE, .mtype = H5T_NATIVE_UINT8,
             .esize = 1, .userblock = 8192};
  char *p = strdup(tu_path("%s/ub.h5", f->dir));
  void *data = make_data(&s);
  make_h5(p, &s, data);
  bfdi_extents *x = NULL;
  assert_int_equal(bfdi_extents_open_h5(p, "/group/data", 0, &x), BFD_OK);
  assert_int_equal(x->data.n_ext, 4);
  size_t n;
  uint8_t *file = tu_read(p, &n);
  for (int i = 0; i < 4; i++) {
    const bfdi_extent *e = &x->data.ext[i];
    assert_true(e->offset >= 8192);
    assert_int_equal(e->length, 4096);
    assert_memory_equal(file + e->offset, (uint8_t *)data + i * 4096, 4096);
  }
  assert_true(sizeof(bfdi_extent) <= 24);
  free(file);
  free(data);
  bfdi_extents_free(x);
  free(p);
}

/* ---- shards ---- */

static char *write_img_shard(fx *f, const char *name, int ndim, const uint64_t shape[4], uint64_t n, bfd_dtype dt,
                             int level, int labels, uint8_t **data_out, uint8_t **labels_out) {
  size_t es = bfd_dtype_size(dt), sb = es, lb = 2;
  for (int k = 0; k < ndim; k++) sb *= shape[k];
  for (int k = 1; k < ndim; k++) lb *= shape[k];
  uint8_t *data = malloc(n * sb), *lab = labels ? malloc(n * lb) : NULL;
  uint32_t *crc = malloc(n * 4), *lcrc = malloc(n * 4);
  uint64_t x = 7;
  for (uint64_t i = 0; i < n; i++) {
    for (size_t b = 0; b < sb; b++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      /* odd samples are noise (chunks stored not deflated), even ones smooth */
      data[i * sb + b] = i % 2 ? (uint8_t)(x >> 40) : (uint8_t)(b / 512 + i);
    }
    crc[i] = bfdi_crc32c(data + i * sb, sb);
    if (lab) {
      for (size_t b = 0; b < lb; b++) lab[i * lb + b] = (uint8_t)(b % 5 == 0 ? i : 0);
      lcrc[i] = bfdi_crc32c(lab + i * lb, lb);
    }
  }
  bfdi_img_shard s = {.n = n, .dtype = dt, .ndim = ndim, .data = data, .crc = crc, .labels = lab,
                      .label_dtype = BFD_DTYPE_UINT16, .label_crc = lcrc, .compress_level = level};
  memcpy(s.shape, shape, sizeof s.shape);
  char *path = strdup(tu_path("%s/%s.h5", f->dir, name));
  assert_int_equal(bfdi_write_img_shard(path, &s, NULL, NULL), BFD_OK);
  free(crc);
  free(lcrc);
  *data_out = data;
  if (labels_out)
    *labels_out = lab;
  else
    free(lab);
  return path;
}

static void check_img_shard(const char *path, int labels) {
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(path, &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  size_t sb = bfd_dtype_size(info.dtype), lb = bfd_dtype_size(info.label_dtype);
  for (int k = 0; k < info.ndim; k++) sb *= info.shape[k];
  for (int k = 1; k < info.ndim; k++) lb *= info.shape[k];
  uint64_t n = info.n_records;
  uint8_t *want = malloc(n * sb), *lwant = labels ? malloc(n * lb) : NULL;
  for (uint64_t i = 0; i < n; i++) {
    assert_int_equal(bfd_shard_image_read(s, i, want + i * sb, sb), BFD_OK);
    if (labels) assert_int_equal(bfd_shard_label_read(s, i, lwant + i * lb, lb), BFD_OK);
  }
  bfd_shard_close(s);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(path, &x), BFD_OK);
  assert_int_equal(x->kind, BFD_KIND_IMAGE);
  assert_true(x->shard);
  engine_case ec[4];
  size_t ne = engines(path, ec);
  for (size_t e = 0; e < ne; e++) {
    bfdi_reader *r;
    assert_int_equal(bfdi_reader_create(&ec[e].o, &r), BFD_OK);
    uint8_t *got = calloc(n, sb), *lgot = labels ? calloc(n, lb) : NULL;
    bfdi_read q[2 * 64];
    size_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
      q[m++] = (bfdi_read){.x = x, .part = BFDI_PART_DATA, .record = i, .dst = got + i * sb, .cap = sb};
      if (labels) q[m++] = (bfdi_read){.x = x, .part = BFDI_PART_LABEL, .record = i, .dst = lgot + i * lb, .cap = lb};
    }
    bfd_status st = bfdi_reader_run(r, q, m);
    if (st != BFD_OK) print_message("%s (%s): %s\n", path, ec[e].name, bfd_last_error());
    assert_int_equal(st, BFD_OK);
    assert_memory_equal(got, want, n * sb);
    if (labels) assert_memory_equal(lgot, lwant, n * lb);
    free(got);
    free(lgot);
    bfdi_reader_free(r);
  }
  bfdi_extents_free(x);
  free(want);
  free(lwant);
}

static void test_image_shards(void **state) {
  fx *f = *state;
  uint8_t *d;
  uint64_t tiled[4] = {2, 300, 1000, 0}; /* 1.2 MB samples: tiles */
  char *p = write_img_shard(f, "img-raw", 3, tiled, 4, BFD_DTYPE_UINT16, 0, 0, &d, NULL);
  check_img_shard(p, 0);
  free(p);
  free(d);
  p = write_img_shard(f, "img-deflate", 3, tiled, 4, BFD_DTYPE_UINT16, 6, 0, &d, NULL);
  check_img_shard(p, 0);
  free(p);
  free(d);
  uint64_t vol[4] = {1, 20, 100, 300};
  p = write_img_shard(f, "vol-deflate-labels", 4, vol, 3, BFD_DTYPE_FLOAT32, 3, 1, &d, NULL);
  check_img_shard(p, 1);
  free(p);
  free(d);
  uint64_t small[4] = {3, 64, 64, 0}; /* one chunk per sample: read straight into the output */
  p = write_img_shard(f, "small-raw", 3, small, 5, BFD_DTYPE_UINT8, 0, 1, &d, NULL);
  check_img_shard(p, 1);
  free(p);
  free(d);
}

/* ---- crops touch only their chunks ---- */

static uint64_t hook_offsets[256];
static size_t hook_reads;
static void count_reads(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)path;
  (void)buf;
  (void)len;
  (void)res;
  if (hook_reads < 256) hook_offsets[hook_reads] = offset;
  hook_reads++;
}

static void test_crop_reads_only_touched_chunks(void **state) {
  fx *f = *state;
  uint8_t *d;
  uint64_t shape[4] = {1, 1200, 1200, 0}; /* 2.9 MB samples: 2 x 2 tiles */
  char *p = write_img_shard(f, "crop", 3, shape, 3, BFD_DTYPE_UINT16, 4, 0, &d, NULL);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(p, &x), BFD_OK);
  const bfdi_array *a = &x->data;
  assert_int_equal(a->rank, 4);
  assert_int_equal(a->grid[2], 2);
  assert_int_equal(a->grid[3], 2);
  uint64_t ty = a->chunk[2], tx = a->chunk[3];
  bfdi_io_opts o = {.kind = BFDI_IO_PREAD};
  bfdi_reader *r;
  assert_int_equal(bfdi_reader_create(&o, &r), BFD_OK);
  /* A box inside tile (row 0, column 1) of sample 2 reads that chunk alone. */
  bfdi_box inside = {{0, 1, tx + 1}, {1, 8, tx + 9}};
  uint8_t out[7 * 8 * 2];
  bfdi_read q = {.x = x, .part = BFDI_PART_DATA, .record = 2, .box = &inside, .dst = out, .cap = sizeof out};
  hook_reads = 0;
  bfdi_io_set_read_hook(count_reads);
  assert_int_equal(bfdi_reader_run(r, &q, 1), BFD_OK);
  bfdi_io_set_read_hook(NULL);
  uint64_t k = ((2 * a->grid[1] + 0) * a->grid[2] + 0) * a->grid[3] + 1;
  assert_int_equal(hook_reads, 1);
  assert_int_equal(hook_offsets[0], a->ext[k].offset);
  size_t sb = 1200 * 1200 * 2;
  for (uint64_t y = 1; y < 8; y++)
    assert_memory_equal(out + (y - 1) * 8 * 2, d + 2 * sb + (y * 1200 + tx + 1) * 2, 16);
  /* A box across the corner of four tiles reads those four. */
  bfdi_box corner = {{0, ty - 2, tx - 2}, {1, ty + 2, tx + 2}};
  uint8_t out4[4 * 4 * 2];
  q = (bfdi_read){.x = x, .part = BFDI_PART_DATA, .record = 1, .box = &corner, .dst = out4, .cap = sizeof out4};
  hook_reads = 0;
  bfdi_io_set_read_hook(count_reads);
  assert_int_equal(bfdi_reader_run(r, &q, 1), BFD_OK);
  bfdi_io_set_read_hook(NULL);
  assert_int_equal(hook_reads, 4);
  for (uint64_t y = 0; y < 4; y++)
    assert_memory_equal(out4 + y * 4 * 2, d + sb + ((ty - 2 + y) * 1200 + tx - 2) * 2, 8);
  bfdi_reader_free(r);
  bfdi_extents_free(x);
  free(p);
  free(d);
}

/* ---- sequences ---- */

static const char *FASTQ =
    "@r1 first\nACGTACGTNNacgtacgtACGTAC\n+\nIIIIIIIIIIIIIIIIIIII##II\n"
    "@r2\nGGGGCCCCAAAATTTT\n+\n!!!!!!!!!!!!!!!!\n"
    "@r3\nA\n+\nI\n"
    "@r4 long\nACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCA\n+\n"
    "ABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGHIJABCDEFGH\n";

static char *pack_fastq(fx *f) {
  const char *in = tu_path("%s/reads.fq", f->dir);
  assert_int_equal(tu_write(in, FASTQ, strlen(FASTQ)), 0);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  char *out = strdup(tu_path("%s/fq", f->dir));
  o.out_dir = out;
  const char *ins[] = {in};
  assert_int_equal(bfd_pack(&o, ins, 1, NULL), BFD_OK);
  char *shard = strdup(tu_path("%s/seq-00000.h5", out));
  free(out);
  return shard;
}

static void test_sequence_shards_and_windows(void **state) {
  fx *f = *state;
  char *path = pack_fastq(f);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(path, &s), BFD_OK);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(path, &x), BFD_OK);
  assert_int_equal(x->n_records, 4);
  assert_true(x->qual_base != UINT64_MAX);
  engine_case ec[4];
  size_t ne = engines(path, ec);
  for (size_t e = 0; e < ne; e++) {
    bfdi_reader *r;
    assert_int_equal(bfdi_reader_create(&ec[e].o, &r), BFD_OK);
    for (uint64_t i = 0; i < 4; i++) {
      uint64_t len;
      bfd_shard_seq_length(s, i, &len);
      uint8_t want[64], wq[64], got[64], gq[64], win[64];
      assert_int_equal(bfd_shard_seq_read(s, i, want, sizeof want, wq, sizeof wq), BFD_OK);
      uint64_t lo = len / 3, hi = len - len / 4;
      bfdi_read q[3] = {
          {.x = x, .part = BFDI_PART_DATA, .record = i, .hi = UINT64_MAX, .dst = got, .cap = sizeof got},
          {.x = x, .part = BFDI_PART_QUALITY, .record = i, .hi = UINT64_MAX, .dst = gq, .cap = sizeof gq},
          {.x = x, .part = BFDI_PART_DATA, .record = i, .lo = lo, .hi = hi, .dst = win, .cap = sizeof win},
      };
      assert_int_equal(bfdi_reader_run(r, q, 3), BFD_OK);
      assert_memory_equal(got, want, len);
      assert_memory_equal(gq, wq, len);
      assert_memory_equal(win, want + lo, hi - lo);
    }
    bfdi_reader_free(r);
  }
  /* Windows outside the record and images of a sequence shard are refused. */
  bfdi_io_opts o = {.kind = BFDI_IO_PREAD};
  bfdi_reader *r;
  assert_int_equal(bfdi_reader_create(&o, &r), BFD_OK);
  uint8_t buf[64];
  bfdi_read bad = {.x = x, .part = BFDI_PART_DATA, .record = 1, .lo = 3, .hi = 17, .dst = buf, .cap = sizeof buf};
  assert_int_equal(bfdi_reader_run(r, &bad, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "window"));
  bad.hi = 5;
  bad.cap = 1;
  assert_int_equal(bfdi_reader_run(r, &bad, 1), BFD_ERR_INVALID_ARG);
  bad.record = 4;
  assert_int_equal(bfdi_reader_run(r, &bad, 1), BFD_ERR_INVALID_ARG);
  bfdi_readplan p = {0};
  assert_int_equal(bfdi_readplan_sample(&p, x, BFDI_PART_DATA, 0, NULL, 1), BFD_ERR_INVALID_ARG);
  bfdi_readplan_free(&p);
  bfdi_reader_free(r);
  bfdi_extents_free(x);
  bfd_shard_close(s);
  free(path);
}

/* ---- corruption and faults ---- */

static uint64_t flip_at;
static void flip_byte(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)path;
  if (flip_at >= offset && flip_at < offset + (uint64_t)*res && flip_at < offset + len) buf[flip_at - offset] ^= 0x20;
}

static void test_flipped_bytes_are_named(void **state) {
  fx *f = *state;
  char *seq = pack_fastq(f);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(seq, &x), BFD_OK);
  bfdi_io_opts o = {.kind = BFDI_IO_PREAD};
  bfdi_reader *r;
  assert_int_equal(bfdi_reader_create(&o, &r), BFD_OK);
  uint8_t buf[64];
  bfdi_read q = {.x = x, .part = BFDI_PART_DATA, .record = 3, .hi = UINT64_MAX, .dst = buf, .cap = sizeof buf};
  flip_at = x->rec[3].offset + 10;
  bfdi_io_set_read_hook(flip_byte);
  assert_int_equal(bfdi_reader_run(r, &q, 1), BFD_ERR_CORRUPT);
  bfdi_io_set_read_hook(NULL);
  char where[64];
  snprintf(where, sizeof where, "byte offset %llu", (unsigned long long)x->rec[3].offset);
  assert_non_null(strstr(bfd_last_error(), seq));
  assert_non_null(strstr(bfd_last_error(), "record 3"));
  assert_non_null(strstr(bfd_last_error(), where));
  assert_non_null(strstr(bfd_last_error(), "CRC32C"));
  /* Without the fault the same read is fine. */
  assert_int_equal(bfdi_reader_run(r, &q, 1), BFD_OK);
  bfdi_extents_free(x);
  free(seq);

  uint8_t *d;
  uint64_t shape[4] = {1, 64, 64, 0};
  for (int level = 0; level <= 6; level += 6) {
    char *img = write_img_shard(f, level ? "flip-deflate" : "flip-raw", 3, shape, 3, BFD_DTYPE_UINT8, level, 0, &d,
                                NULL);
    assert_int_equal(bfdi_extents_open_shard(img, &x), BFD_OK);
    uint8_t out[64 * 64];
    bfdi_read iq = {.x = x, .part = BFDI_PART_DATA, .record = 2, .dst = out, .cap = sizeof out};
    flip_at = x->data.ext[2].offset + 5;
    bfdi_io_set_read_hook(flip_byte);
    assert_int_equal(bfdi_reader_run(r, &iq, 1), BFD_ERR_CORRUPT);
    bfdi_io_set_read_hook(NULL);
    assert_non_null(strstr(bfd_last_error(), img));
    snprintf(where, sizeof where, "%llu", (unsigned long long)x->data.ext[2].offset);
    assert_non_null(strstr(bfd_last_error(), where));
    if (!level) assert_non_null(strstr(bfd_last_error(), "record 2"));
    bfdi_extents_free(x);
    free(img);
    free(d);
  }
  bfdi_reader_free(r);
}

static unsigned fault_n;
static uint64_t eio_at;
static void mixed_faults(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)path;
  (void)buf;
  unsigned n = fault_n++;
  if (eio_at >= offset && eio_at < offset + len) {
    *res = -EIO;
    return;
  }
  if (n % 3 == 0 && *res > 1) *res /= 2;
  else if (n % 3 == 1) *res = n % 2 ? -EAGAIN : -EINTR;
}

static void test_reader_survives_faults(void **state) {
  fx *f = *state;
  uint8_t *d;
  uint64_t shape[4] = {2, 300, 1000, 0};
  char *p = write_img_shard(f, "faults", 3, shape, 4, BFD_DTYPE_UINT16, 2, 0, &d, NULL);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(p, &x), BFD_OK);
  size_t sb = 2 * 300 * 1000 * 2;
  uint8_t *got = malloc(4 * sb);
  engine_case ec[4];
  size_t ne = engines(p, ec);
  for (size_t e = 0; e < ne; e++) {
    ec[e].o.retry_delay_us = 50;
    bfdi_reader *r;
    assert_int_equal(bfdi_reader_create(&ec[e].o, &r), BFD_OK);
    bfdi_read q[4];
    for (int i = 0; i < 4; i++)
      q[i] = (bfdi_read){.x = x, .part = BFDI_PART_DATA, .record = (uint64_t)i, .dst = got + i * sb, .cap = sb};
    memset(got, 0, 4 * sb);
    fault_n = 0;
    eio_at = UINT64_MAX;
    bfdi_io_set_read_hook(mixed_faults);
    assert_int_equal(bfdi_reader_run(r, q, 4), BFD_OK);
    assert_memory_equal(got, d, 4 * sb);
    /* A bad sector under sample 3: the error names the shard, the record and an offset. */
    eio_at = x->data.ext[x->data.n_ext - 1].offset + 3;
    bfd_status st = bfdi_reader_run(r, q, 4);
    bfdi_io_set_read_hook(NULL);
    assert_int_equal(st, BFD_ERR_IO);
    if (!strstr(bfd_last_error(), "record 3")) print_message("%s: %s\n", ec[e].name, bfd_last_error());
    assert_non_null(strstr(bfd_last_error(), p));
    assert_non_null(strstr(bfd_last_error(), "record 3"));
    assert_non_null(strstr(bfd_last_error(), "byte offset"));
    /* The reader is usable afterwards. */
    assert_int_equal(bfdi_reader_run(r, q, 4), BFD_OK);
    assert_memory_equal(got, d, 4 * sb);
    bfdi_reader_free(r);
  }
  free(got);
  bfdi_extents_free(x);
  free(p);
  free(d);
}

/* ---- threads, no HDF5 on the read path ---- */

typedef struct job {
  const bfdi_extents *x;
  const uint8_t *want;
  size_t sb;
  bfdi_io_opts o;
  uint8_t *out; /* a slab of the pinned pool */
  int ok;
  uint64_t fixed;
} job;

static void *reader_thread(void *arg) {
  job *j = arg;
  bfdi_reader *r;
  if (bfdi_reader_create(&j->o, &r) != BFD_OK) return NULL;
  j->ok = 1;
  for (int round = 0; round < 3; round++) {
    bfdi_read q[8];
    for (uint64_t i = 0; i < j->x->n_records; i++)
      q[i] = (bfdi_read){.x = j->x, .part = BFDI_PART_DATA, .record = i, .dst = j->out + i * j->sb, .cap = j->sb};
    memset(j->out, 0, j->x->n_records * j->sb);
    j->ok &= bfdi_reader_run(r, q, j->x->n_records) == BFD_OK && memcmp(j->out, j->want, j->x->n_records * j->sb) == 0;
  }
  bfdi_io_stats st;
  bfdi_io_get_stats(bfdi_reader_engine(r), &st);
  j->fixed = st.fixed;
  bfdi_reader_free(r);
  return NULL;
}

static void test_threads_without_hdf5_lock(void **state) {
  fx *f = *state;
  uint8_t *d;
  uint64_t shape[4] = {2, 100, 200, 0}; /* one chunk per sample, uncompressed: read straight into the slab */
  char *p = write_img_shard(f, "threads", 3, shape, 6, BFD_DTYPE_UINT16, 0, 0, &d, NULL);
  bfdi_extents *x;
  assert_int_equal(bfdi_extents_open_shard(p, &x), BFD_OK);
  bfdi_pool_opts po = {.slab_bytes = 1 << 20, .slabs = 4};
  bfdi_pool *pool;
  assert_int_equal(bfdi_pool_create(&po, &pool), BFD_OK);
  struct iovec reg = bfdi_pool_region(pool);
  job jobs[4];
  bfdi_buf slab[4];
  pthread_t t[4];
  int u = uring_ok();
  /* Every HDF5 call takes this lock; holding it proves the readers make none. */
  bfdi_h5_lock();
  for (int k = 0; k < 4; k++) {
    assert_int_equal(bfdi_pool_acquire(pool, 6 * 80000, 0, &slab[k]), BFD_OK);
    assert_non_null(slab[k].ptr);
    jobs[k] = (job){x, d, 80000, {.kind = (k % 2 && u) ? BFDI_IO_URING : BFDI_IO_PREAD, .buffers = &reg,
                                  .n_buffers = 1}, slab[k].ptr, 0, 0};
    assert_int_equal(pthread_create(&t[k], NULL, reader_thread, &jobs[k]), 0);
  }
  int finished = 1;
  for (int k = 0; k < 4; k++) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 120;
    if (pthread_timedjoin_np(t[k], NULL, &until) != 0) finished = 0;
  }
  bfdi_h5_unlock();
  assert_true(finished);
  /* Registration needs locked memory: two rings of 4 MiB each. */
  struct rlimit rl;
  int can_register = geteuid() == 0 || (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
                                        (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (9u << 20)));
  if (!can_register) print_message("SKIP (part) registered buffers: the locked-memory limit is too low\n");
  for (int k = 0; k < 4; k++) {
    assert_true(jobs[k].ok);
    if (jobs[k].o.kind == BFDI_IO_URING && can_register) assert_int_equal(jobs[k].fixed, 3 * 6);
    bfdi_pool_release(pool, &slab[k]);
  }
  bfdi_pool_free(pool);
  bfdi_extents_free(x);
  free(p);
  free(d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_user_contiguous, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_chunked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_unwritten_contiguous, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_refused_at_open, setup, teardown),
      cmocka_unit_test_setup_teardown(test_chunk_addresses_and_userblock, setup, teardown),
      cmocka_unit_test_setup_teardown(test_image_shards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_crop_reads_only_touched_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sequence_shards_and_windows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flipped_bytes_are_named, setup, teardown),
      cmocka_unit_test_setup_teardown(test_reader_survives_faults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads_without_hdf5_lock, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

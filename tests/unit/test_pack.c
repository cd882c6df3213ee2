/* pack end to end through the C API: sequence and image round trips read
 * back through bfd_shard, sharding limits, determinism, atomic commit under
 * a full disk (write hook and a real tiny tmpfs), verify finding a flipped
 * byte by shard, record and offset, and hostile manifests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <tiffio.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "biofeed/pack.h"
#include "core/fileio.h"
#include "support/testutil.h"

typedef struct fx {
  char *dir;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("pack");
  *state = f;
  return f->dir ? 0 : -1;
}

static int teardown(void **state) {
  fx *f = *state;
  tu_rmtree(f->dir);
  free(f->dir);
  free(f);
  bfdi_set_write_hook(NULL);
  return 0;
}

static const char *FASTA =
    ">chr1 soft-masked\nACGTACGTNNacgtacgt\nACGTAC\n"
    ">chr2\nGGGGCCCCAAAATTTT\n"
    ">empty\n"
    ">chr3 last\nRYKMacgtSWBDHVN\n";

static bfd_status pack1(const char *out, const char *input, bfd_pack_options *o) {
  bfd_pack_options local;
  if (!o) {
    bfd_pack_options_init(&local);
    o = &local;
  }
  o->out_dir = out;
  const char *in[] = {input};
  return bfd_pack(o, in, 1, NULL);
}

static void test_seq_round_trip(void **state) {
  fx *f = *state;
  const char *in = tu_path("%s/g.fa", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.alphabet = BFD_ALPHABET_DNA;
  assert_int_equal(pack1(tu_path("%s/out", f->dir), in, &o), BFD_OK);

  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/out/seq-00000.h5", f->dir), &s), BFD_OK);
  bfd_shard_info info;
  assert_int_equal(bfd_shard_info_get(s, &info), BFD_OK);
  assert_int_equal(info.kind, BFD_KIND_SEQUENCE);
  assert_int_equal(info.n_records, 4);
  assert_int_equal(info.format_version, 1);
  assert_false(info.has_quality);
  const char *want[] = {"ACGTACGTNNacgtacgtACGTAC", "GGGGCCCCAAAATTTT", "", "RYKMacgtSWBDHVN"};
  const char *names[] = {"chr1 soft-masked", "chr2", "empty", "chr3 last"};
  for (uint64_t i = 0; i < 4; i++) {
    uint64_t len;
    uint8_t buf[64];
    const char *name;
    assert_int_equal(bfd_shard_seq_length(s, i, &len), BFD_OK);
    assert_int_equal(len, strlen(want[i]));
    assert_int_equal(bfd_shard_seq_read(s, i, buf, sizeof buf, NULL, 0), BFD_OK);
    assert_memory_equal(buf, want[i], len);
    assert_int_equal(bfd_shard_seq_name(s, i, &name), BFD_OK);
    assert_string_equal(name, names[i]);
  }
  uint64_t len;
  assert_int_equal(bfd_shard_seq_length(s, 4, &len), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "record 4"));
  const char *prov, *tool;
  assert_int_equal(bfd_shard_provenance(s, &prov, &tool), BFD_OK);
  assert_non_null(strstr(prov, "g.fa"));
  assert_non_null(strstr(prov, "xxh3-128:"));
  assert_string_equal(tool, "biofeed " BFD_VERSION_STRING);
  bfd_shard_close(s);

  bfd_verify_report r;
  assert_int_equal(bfd_verify(tu_path("%s/out", f->dir), NULL, NULL, &r), BFD_OK);
  assert_int_equal(r.records_checked, 4);
  assert_int_equal(r.shards_checked, 1);
}

static void test_fastq_quality_and_filters(void **state) {
  fx *f = *state;
  const char *fq = "@r1\nACGT\n+\nIIII\n@r2\nAC\n+\n#!\n@r3\nACGTACGTAC\n+\nABCDEFGHIJ\n";
  const char *in = tu_path("%s/r.fq", f->dir);
  assert_int_equal(tu_write(in, fq, strlen(fq)), 0);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.min_length = 3;
  o.max_length = 8;
  o.out_dir = tu_path("%s/out", f->dir);
  const char *ins[] = {in};
  bfd_pack_summary sum;
  assert_int_equal(bfd_pack(&o, ins, 1, &sum), BFD_OK);
  assert_int_equal(sum.records, 1);
  assert_int_equal(sum.dropped_length, 2);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/out/seq-00000.h5", f->dir), &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  assert_true(info.has_quality);
  uint8_t seq[8], q[8];
  assert_int_equal(bfd_shard_seq_read(s, 0, seq, 8, q, 8), BFD_OK);
  assert_memory_equal(seq, "ACGT", 4);
  assert_memory_equal(q, "IIII", 4);
  bfd_shard_close(s);
}

static void test_sharding_limits(void **state) {
  fx *f = *state;
  /* 50 records of 1000 bases, shards of at most 4096 bytes: 4 per shard. */
  char *fa = malloc(50 * 1100);
  size_t n = 0;
  for (int r = 0; r < 50; r++) {
    n += (size_t)sprintf(fa + n, ">r%d\n", r);
    for (int i = 0; i < 1000; i++) fa[n++] = "ACGT"[(r + i) & 3];
    fa[n++] = '\n';
  }
  const char *in = tu_path("%s/many.fa", f->dir);
  assert_int_equal(tu_write(in, fa, n), 0);
  free(fa);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.shard_bytes = 4096;
  assert_int_equal(pack1(tu_path("%s/by_bytes", f->dir), in, &o), BFD_OK);
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(tu_path("%s/by_bytes", f->dir), &d), BFD_OK);
  size_t ns;
  bfd_dataset_shard_count(d, &ns);
  assert_int_equal(ns, 13);
  uint64_t total = 0;
  for (size_t i = 0; i < ns; i++) {
    bfd_dataset_shard e;
    bfd_dataset_shard_get(d, i, &e);
    assert_true(e.records <= 4);
    total += e.records;
    bfd_shard *s;
    assert_int_equal(bfd_shard_open(e.path, &s), BFD_OK);
    bfd_shard_info info;
    bfd_shard_info_get(s, &info);
    assert_int_equal(info.n_records, e.records);
    /* order is kept across shards: record k of shard i is global record 4i + k */
    const char *name;
    assert_int_equal(bfd_shard_seq_name(s, 0, &name), BFD_OK);
    char expect[16];
    snprintf(expect, sizeof expect, "r%zu", 4 * i);
    assert_string_equal(name, expect);
    bfd_shard_close(s);
  }
  assert_int_equal(total, 50);
  bfd_dataset_close(d);

  o.shard_bytes = 256u << 20;
  o.records_per_shard = 7;
  assert_int_equal(pack1(tu_path("%s/by_count", f->dir), in, &o), BFD_OK);
  assert_int_equal(bfd_dataset_open(tu_path("%s/by_count", f->dir), &d), BFD_OK);
  bfd_dataset_shard_count(d, &ns);
  assert_int_equal(ns, 8);
  bfd_dataset_close(d);

  /* a record larger than the shard size stays whole, alone in its shard */
  o.records_per_shard = 0;
  o.shard_bytes = 100;
  assert_int_equal(pack1(tu_path("%s/huge", f->dir), in, &o), BFD_OK);
  assert_int_equal(bfd_dataset_open(tu_path("%s/huge", f->dir), &d), BFD_OK);
  bfd_dataset_shard_count(d, &ns);
  assert_int_equal(ns, 50);
  bfd_dataset_close(d);
}

static void test_deterministic_bytes(void **state) {
  fx *f = *state;
  const char *in = tu_path("%s/g.fa", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  assert_int_equal(pack1(tu_path("%s/a", f->dir), in, NULL), BFD_OK);
  assert_int_equal(pack1(tu_path("%s/b", f->dir), in, NULL), BFD_OK);
  size_t na, nb;
  uint8_t *a = tu_read(tu_path("%s/a/seq-00000.h5", f->dir), &na);
  uint8_t *b = tu_read(tu_path("%s/b/seq-00000.h5", f->dir), &nb);
  assert_non_null(a);
  assert_non_null(b);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  free(a);
  free(b);
}

/* After a failed pack the directory must hold exactly what it held before. */
static void test_full_disk_keeps_previous_pack(void **state) {
  fx *f = *state;
  const char *in = tu_path("%s/g.fa", f->dir), *out = tu_path("%s/out", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  assert_int_equal(pack1(out, in, NULL), BFD_OK);
  size_t n0;
  uint8_t *before = tu_read(tu_path("%s/manifest.json", out), &n0);

  /* a bigger input, several shards, and the disk fills during the third */
  char *fa = malloc(200 * 600);
  size_t n = 0;
  for (int r = 0; r < 200; r++) {
    n += (size_t)sprintf(fa + n, ">x%d\n", r);
    for (int i = 0; i < 500; i++) fa[n++] = "ACGT"[(r * 7 + i) & 3];
    fa[n++] = '\n';
  }
  const char *in2 = tu_path("%s/big.fa", f->dir);
  assert_int_equal(tu_write(in2, fa, n), 0);
  free(fa);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.shard_bytes = 20000;
  tu_disk_budget = 70000;
  bfdi_set_write_hook(tu_write_until_full);
  assert_int_equal(pack1(out, in2, &o), BFD_ERR_NO_SPACE);
  bfdi_set_write_hook(NULL);
  assert_non_null(strstr(bfd_last_error(), "out/.seq-"));
  assert_non_null(strstr(bfd_last_error(), "No space left"));

  assert_int_equal(tu_count_entries(out), 2); /* manifest.json + seq-00000.h5, no temporaries */
  size_t n1;
  uint8_t *after = tu_read(tu_path("%s/manifest.json", out), &n1);
  assert_int_equal(n0, n1);
  assert_memory_equal(before, after, n0);
  free(before);
  free(after);
  assert_int_equal(bfd_verify(out, NULL, NULL, NULL), BFD_OK);

  /* and the same pack with room to spare replaces it completely */
  assert_int_equal(pack1(out, in2, &o), BFD_OK);
  bfd_verify_report r;
  assert_int_equal(bfd_verify(out, NULL, NULL, &r), BFD_OK);
  assert_int_equal(r.records_checked, 200);
}

/* A pack killed during its commit leaves the old dataset's files moved
 * aside (".NAME.old.PID") and no manifest; the next pack in the directory
 * puts them back before anything else, even if that pack then fails. */
static void test_recovers_interrupted_commit(void **state) {
  fx *f = *state;
  char out[512], bad[512];
  const char *in = tu_path("%s/g.fa", f->dir);
  snprintf(out, sizeof out, "%s/out", f->dir);
  snprintf(bad, sizeof bad, "%s/bad.fa", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  assert_int_equal(pack1(out, in, NULL), BFD_OK);
  const long dead = 999999999; /* above any pid_max: kill() says ESRCH */
  assert_int_equal(rename(tu_path("%s/manifest.json", out), tu_path("%s/.manifest.json.old.%ld", out, dead)), 0);
  assert_int_equal(rename(tu_path("%s/seq-00000.h5", out), tu_path("%s/.seq-00000.h5.old.%ld", out, dead)), 0);
  assert_int_equal(tu_write(tu_path("%s/seq-00000.h5", out), "half", 4), 0);
  assert_int_equal(tu_write(tu_path("%s/.seq-00001.h5.tmp.%ld", out, dead), "x", 1), 0);
  assert_int_equal(bfd_verify(out, NULL, NULL, NULL), BFD_ERR_FORMAT);

  assert_int_equal(tu_write(bad, "garbage\n", 8), 0);
  assert_int_equal(pack1(out, bad, NULL), BFD_ERR_FORMAT);
  assert_int_equal(tu_count_entries(out), 2);
  assert_int_equal(bfd_verify(out, NULL, NULL, NULL), BFD_OK);
}

/* The same through a real full filesystem, where mounting is allowed. */
static void test_full_tmpfs(void **state) {
  fx *f = *state;
  const char *mnt = tu_path("%s/mnt", f->dir);
  assert_int_equal(bfdi_mkdir_p(mnt), BFD_OK);
  if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
    print_message("SKIP test_full_tmpfs: cannot mount a tmpfs here (%s); the write-hook test covers ENOSPC\n",
                  strerror(errno));
    skip();
  }
  char *fa = malloc(1 << 20);
  size_t n = 0;
  for (int r = 0; r < 1000; r++) {
    n += (size_t)sprintf(fa + n, ">y%d\n", r);
    for (int i = 0; i < 900; i++) fa[n++] = "ACGT"[(r * 5 + i * 3) & 3];
    fa[n++] = '\n';
  }
  const char *in = tu_path("%s/big.fa", f->dir), *out = tu_path("%s/out", mnt);
  assert_int_equal(tu_write(in, fa, n), 0);
  free(fa);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.shard_bytes = 64 << 10;
  bfd_status st = pack1(out, in, &o);
  char msg[2048];
  snprintf(msg, sizeof msg, "%s", bfd_last_error());
  int left = tu_count_entries(out);
  umount(mnt);
  assert_int_equal(st, BFD_ERR_NO_SPACE);
  assert_non_null(strstr(msg, "No space left"));
  assert_int_equal(left, 0);
}

typedef struct bad_seen {
  int calls;
  uint64_t record, offset;
  char what[512];
} bad_seen;

static void record_bad(const char *shard, uint64_t rec, uint64_t off, const char *what, void *user) {
  bad_seen *b = user;
  if (rec == UINT64_MAX) return;
  b->calls++;
  b->record = rec;
  b->offset = off;
  snprintf(b->what, sizeof b->what, "%s", what);
}

static void test_verify_finds_flipped_byte(void **state) {
  fx *f = *state;
  const char *in = tu_path("%s/g.fa", f->dir), *out = tu_path("%s/out", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  assert_int_equal(pack1(out, in, NULL), BFD_OK);
  const char *shard = tu_path("%s/seq-00000.h5", out);
  size_t n;
  uint8_t *b = tu_read(shard, &n);
  /* "GGGGCCCCAAAATTTT" is record 1; damage one of its bytes in the file */
  uint8_t *hit = memmem(b, n, "GGGGCCCCAAAATTTT", 16);
  assert_non_null(hit);
  hit[5] = 'G';
  uint64_t record_start = (uint64_t)(hit - b);
  assert_int_equal(unlink(shard), 0);
  assert_int_equal(tu_write(shard, b, n), 0);
  free(b);

  bad_seen seen = {0};
  bfd_verify_report r;
  assert_int_equal(bfd_verify(shard, record_bad, &seen, &r), BFD_ERR_CORRUPT);
  assert_int_equal(r.problems, 1);
  assert_int_equal(seen.calls, 1);
  assert_int_equal(seen.record, 1);
  assert_int_equal(seen.offset, record_start);
  assert_non_null(strstr(seen.what, "CRC32C mismatch"));
  /* through the dataset, the whole-file hash disagrees as well */
  assert_int_equal(bfd_verify(out, NULL, NULL, &r), BFD_ERR_CORRUPT);
  assert_int_equal(r.problems, 2);
  assert_non_null(strstr(bfd_last_error(), "2 problem(s)"));
}

static void test_verify_incomplete_dataset(void **state) {
  fx *f = *state;
  const char *in = tu_path("%s/g.fa", f->dir), *out = tu_path("%s/out", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  assert_int_equal(pack1(out, in, NULL), BFD_OK);
  /* a truncated shard */
  const char *shard = tu_path("%s/seq-00000.h5", out);
  assert_int_equal(truncate(shard, 1000), 0);
  bfd_verify_report r;
  assert_int_equal(bfd_verify(out, NULL, NULL, &r), BFD_ERR_CORRUPT);
  /* a missing shard */
  assert_int_equal(unlink(shard), 0);
  assert_int_equal(bfd_verify(out, NULL, NULL, &r), BFD_ERR_CORRUPT);
  /* no manifest: an interrupted pack */
  assert_int_equal(unlink(tu_path("%s/manifest.json", out)), 0);
  assert_int_equal(bfd_verify(out, NULL, NULL, &r), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "manifest.json"));
}

static void test_hostile_manifest(void **state) {
  fx *f = *state;
  const char *m = tu_path("%s/manifest.json", f->dir);
  const char *bad[] = {
      "{\"kind\":\"sequence\",\"shards\":[{\"path\":\"../etc/passwd\",\"size\":1,\"records\":1,\"hash\":\"x\"}]}",
      "{\"kind\":\"sequence\",\"shards\":[{\"path\":\"/etc/passwd\",\"size\":1,\"records\":1,\"hash\":\"x\"}]}",
      "{\"kind\":\"video\",\"shards\":[]}",
      "{\"kind\":\"sequence\",\"shards\":[{\"path\":\"a.h5\"}]}",
      "not json at all",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unlink(m);
    assert_int_equal(tu_write(m, bad[i], strlen(bad[i])), 0);
    bfd_dataset *d = NULL;
    assert_int_equal(bfd_dataset_open(f->dir, &d), BFD_ERR_FORMAT);
    assert_null(d);
    assert_non_null(strstr(bfd_last_error(), "manifest.json"));
  }
}

/* A TIFF of w x h x pages written with libtiff, 16-bit gray, values from
 * the pixel position so that every byte is checkable. */
static void write_tiff16(const char *path, uint32_t w, uint32_t h, int pages, uint16_t seed, uint16_t *copy) {
  TIFF *t = TIFFOpen(path, "w");
  assert_non_null(t);
  uint16_t *row = malloc(w * sizeof *row);
  for (int p = 0; p < pages; p++) {
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 16);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    if (pages > 1) TIFFSetField(t, TIFFTAG_SUBFILETYPE, FILETYPE_PAGE);
    for (uint32_t y = 0; y < h; y++) {
      for (uint32_t x = 0; x < w; x++) row[x] = (uint16_t)(seed + p * 7919 + y * 131 + x * 3 + ((x * y) & 255));
      if (copy) memcpy(copy + ((size_t)p * h + y) * w, row, w * sizeof *row);
      assert_int_equal(TIFFWriteScanline(t, row, y, 0), 1);
    }
    TIFFWriteDirectory(t);
  }
  free(row);
  TIFFClose(t);
}

static void write_mask8(const char *path, uint32_t w, uint32_t h, uint8_t *copy) {
  TIFF *t = TIFFOpen(path, "w");
  assert_non_null(t);
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, h);
  uint8_t *row = malloc(w);
  for (uint32_t y = 0; y < h; y++) {
    for (uint32_t x = 0; x < w; x++) row[x] = (uint8_t)((x / 8 + y / 8) % 3);
    if (copy) memcpy(copy + (size_t)y * w, row, w);
    TIFFWriteScanline(t, row, y, 0);
  }
  free(row);
  TIFFClose(t);
}

/* Images with masks, compressed and not, including a sample large enough to
 * be stored as several tiles with partial edge tiles. */
static void image_round_trip(fx *f, int level) {
  char *imgs = strdup(tu_path("%s/imgs", f->dir)), *masks = strdup(tu_path("%s/masks", f->dir));
  char *out = strdup(tu_path("%s/out%d", f->dir, level));
  bfdi_mkdir_p(imgs);
  bfdi_mkdir_p(masks);
  const uint32_t W = 1100, H = 700; /* 1.5 MB per sample: more than one 1 MiB chunk */
  uint16_t *want[3];
  uint8_t *want_mask[3];
  for (int i = 0; i < 3; i++) {
    want[i] = malloc((size_t)W * H * 2);
    want_mask[i] = malloc((size_t)W * H);
    write_tiff16(tu_path("%s/cell_%d.tif", imgs, i), W, H, 1, (uint16_t)(1000 * i), want[i]);
    write_mask8(tu_path("%s/cell_%d.tif", masks, i), W, H, want_mask[i]);
  }
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.labels = masks;
  o.compress_level = level;
  o.out_dir = out;
  const char *in[] = {imgs};
  bfd_pack_summary sum;
  bfd_status st = bfd_pack(&o, in, 1, &sum);
  if (st != BFD_OK) print_message("%s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  assert_int_equal(sum.records, 3);
  assert_int_equal(sum.kind, BFD_KIND_IMAGE);

  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/img-g0-00000.h5", o.out_dir), &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  assert_int_equal(info.n_records, 3);
  assert_int_equal(info.dtype, BFD_DTYPE_UINT16);
  assert_int_equal(info.ndim, 3);
  assert_int_equal(info.shape[0], 1);
  assert_int_equal(info.shape[1], H);
  assert_int_equal(info.shape[2], W);
  assert_true(info.has_labels);
  assert_int_equal(info.label_dtype, BFD_DTYPE_UINT8);
  assert_int_equal(info.compressed, level > 0);
  uint16_t *got = malloc((size_t)W * H * 2);
  uint8_t *gotm = malloc((size_t)W * H);
  for (int i = 0; i < 3; i++) {
    assert_int_equal(bfd_shard_image_read(s, (uint64_t)i, got, (size_t)W * H * 2), BFD_OK);
    assert_memory_equal(got, want[i], (size_t)W * H * 2);
    assert_int_equal(bfd_shard_label_read(s, (uint64_t)i, gotm, (size_t)W * H), BFD_OK);
    assert_memory_equal(gotm, want_mask[i], (size_t)W * H);
    free(want[i]);
    free(want_mask[i]);
  }
  assert_int_equal(bfd_shard_image_read(s, 0, got, 10), BFD_ERR_INVALID_ARG);
  free(got);
  free(gotm);
  bfd_shard_close(s);
  assert_int_equal(bfd_verify(o.out_dir, NULL, NULL, NULL), BFD_OK);
  free(imgs);
  free(masks);
  free(out);
}

static void test_images_with_masks(void **state) { image_round_trip(*state, 0); }
static void test_images_deflate(void **state) { image_round_trip(*state, 6); }

static void test_volume_and_shape_groups(void **state) {
  fx *f = *state;
  char d[512];
  snprintf(d, sizeof d, "%s/in", f->dir);
  bfdi_mkdir_p(d);
  uint16_t *vol = malloc(64 * 48 * 5 * 2), *small = malloc(32 * 16 * 2);
  write_tiff16(tu_path("%s/a_vol.tif", d), 64, 48, 5, 1, vol);
  write_tiff16(tu_path("%s/b_small.tif", d), 32, 16, 1, 2, small);
  write_tiff16(tu_path("%s/c_vol.tif", d), 64, 48, 5, 3, NULL);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.out_dir = tu_path("%s/out", f->dir);
  o.compress_level = 1;
  const char *in[] = {d};
  assert_int_equal(bfd_pack(&o, in, 1, NULL), BFD_OK);
  bfd_shard *s;
  bfd_shard_info info;
  assert_int_equal(bfd_shard_open(tu_path("%s/img-g0-00000.h5", o.out_dir), &s), BFD_OK);
  bfd_shard_info_get(s, &info);
  assert_int_equal(info.ndim, 4);
  assert_int_equal(info.n_records, 2);
  assert_int_equal(info.shape[1], 5);
  uint16_t *got = malloc(64 * 48 * 5 * 2);
  assert_int_equal(bfd_shard_image_read(s, 0, got, 64 * 48 * 5 * 2), BFD_OK);
  assert_memory_equal(got, vol, 64 * 48 * 5 * 2);
  bfd_shard_close(s);
  assert_int_equal(bfd_shard_open(tu_path("%s/img-g1-00000.h5", o.out_dir), &s), BFD_OK);
  bfd_shard_info_get(s, &info);
  assert_int_equal(info.ndim, 3);
  assert_int_equal(info.n_records, 1);
  assert_int_equal(bfd_shard_image_read(s, 0, got, 32 * 16 * 2), BFD_OK);
  assert_memory_equal(got, small, 32 * 16 * 2);
  bfd_shard_close(s);
  free(got);
  free(vol);
  free(small);
}

static void test_mask_shape_mismatch(void **state) {
  fx *f = *state;
  char imgs[512], masks[512], out[512];
  snprintf(imgs, sizeof imgs, "%s/imgs", f->dir);
  snprintf(masks, sizeof masks, "%s/masks", f->dir);
  snprintf(out, sizeof out, "%s/out", f->dir);
  bfdi_mkdir_p(imgs);
  bfdi_mkdir_p(masks);
  write_tiff16(tu_path("%s/x.tif", imgs), 40, 30, 1, 0, NULL);
  write_mask8(tu_path("%s/x_mask.tif", masks), 30, 40, NULL);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.labels = tu_path("%s/*_mask.tif", masks);
  o.out_dir = out;
  const char *in[] = {imgs};
  assert_int_equal(bfd_pack(&o, in, 1, NULL), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "x_mask.tif"));
  assert_non_null(strstr(bfd_last_error(), "40x30"));
  assert_int_equal(tu_count_entries(out), 0);
  /* a missing mask names the image and where it looked */
  o.labels = masks;
  assert_int_equal(bfd_pack(&o, in, 1, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "x.tif"));
}

/* Noise does not deflate: such chunks are stored shuffled only, marked in
 * their filter mask, and must still read back exactly. */
static void test_incompressible_chunks(void **state) {
  fx *f = *state;
  const uint32_t W = 300, H = 200;
  uint8_t *px = malloc(W * H);
  uint32_t x = 12345;
  for (uint32_t i = 0; i < W * H; i++) {
    x = x * 1664525u + 1013904223u;
    px[i] = (uint8_t)(x >> 24);
  }
  const char *img = tu_path("%s/noise.tif", f->dir);
  TIFF *t = TIFFOpen(img, "w");
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, H);
  for (uint32_t y = 0; y < H; y++) TIFFWriteScanline(t, px + y * W, y, 0);
  TIFFClose(t);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.compress_level = 12;
  char out[512];
  snprintf(out, sizeof out, "%s/out", f->dir);
  assert_int_equal(pack1(out, img, &o), BFD_OK);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/img-g0-00000.h5", out), &s), BFD_OK);
  uint8_t *got = malloc(W * H);
  assert_int_equal(bfd_shard_image_read(s, 0, got, W * H), BFD_OK);
  assert_memory_equal(got, px, W * H);
  bfd_shard_close(s);
  free(got);
  free(px);
}

static void test_bad_arguments(void **state) {
  fx *f = *state;
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  const char *in[] = {tu_path("%s/none.fa", f->dir)};
  assert_int_equal(bfd_pack(&o, in, 1, NULL), BFD_ERR_INVALID_ARG); /* no out_dir */
  o.out_dir = tu_path("%s/out", f->dir);
  assert_int_equal(bfd_pack(&o, in, 1, NULL), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "none.fa"));
  const char *txt[] = {tu_path("%s/notes.txt", f->dir)};
  tu_write(txt[0], "hi", 2);
  assert_int_equal(bfd_pack(&o, txt, 1, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "unknown input type"));
  o.compress_level = 13;
  assert_int_equal(bfd_pack(&o, txt, 1, NULL), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "13"));
  /* an output path under a regular file cannot be created */
  o.compress_level = 0;
  const char *fa = tu_path("%s/g.fa", f->dir);
  tu_write(fa, FASTA, strlen(FASTA));
  o.out_dir = tu_path("%s/g.fa/out", f->dir);
  const char *ok[] = {fa};
  assert_int_not_equal(bfd_pack(&o, ok, 1, NULL), BFD_OK);
  assert_non_null(strstr(bfd_last_error(), "g.fa"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_seq_round_trip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fastq_quality_and_filters, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sharding_limits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deterministic_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_disk_keeps_previous_pack, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recovers_interrupted_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_tmpfs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_finds_flipped_byte, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verify_incomplete_dataset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hostile_manifest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_images_with_masks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_images_deflate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_volume_and_shape_groups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mask_shape_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_incompressible_chunks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

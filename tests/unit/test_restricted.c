/* Restricted data: key files (forms, id, permissions), sealing bound to
 * shard, part and index, and end to end: a restricted pack loads to the
 * same batches as the open pack of the same input (sequence records and
 * windows, images raw and deflated, with labels; also from io.cache), its shards hold no
 * plaintext, the loader refuses it without the key (naming the key id),
 * fails on a wrong key or an altered, swapped or transplanted record
 * (naming the record), verify works without the key and authenticates with
 * it, the audit log gets a JSON line per shard open and close, the security:
 * section's errors name the line, and locked memory that cannot be had says
 * to raise `ulimit -l`. */
#include <cJSON.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "core/secure.h"
#include "format/shard_read.h"
#include "support/loader_util.h"

typedef struct fx {
  char *dir, *key, *key2;
  char *seq, *seq_r;    /* the same FASTA, open and restricted */
  char *img, *img_r;    /* deflated images with masks */
  char *raw, *raw_r;    /* uncompressed images */
  char *fix, *fix_r;    /* records of one length, for swaps */
  char *lng, *lng_r;    /* records of several sealed segments */
} fx;

static int setup_group(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->dir = tu_mkdtemp("restricted");
  if (!f->dir) return -1;
  f->key = strdup(tu_path("%s/k.key", f->dir));
  f->key2 = strdup(tu_path("%s/k2.key", f->dir));
  char id[24];
  if (bfd_keygen(f->key, id) != BFD_OK || bfd_keygen(f->key2, id) != BFD_OK) return -1;
  *state = f;
  return 0;
}

static int teardown_group(void **state) {
  fx *f = *state;
  tu_rmtree(f->dir);
  char **all[] = {&f->dir, &f->key, &f->key2, &f->seq, &f->seq_r, &f->img, &f->img_r, &f->raw, &f->raw_r,
                  &f->fix, &f->fix_r, &f->lng, &f->lng_r};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(*all[i]);
  free(f);
  return 0;
}

/* Packs the inputs of an earlier tl_pack_* call again, restricted. */
static char *repack(const char *dir, const char *name, const char *key, int images, int level) {
  char *out = strdup(tu_path("%s/%s-r", dir, name));
  char *in = strdup(images ? tu_path("%s/%s-img", dir, name) : tu_path("%s/%s.fa", dir, name));
  char *masks = strdup(tu_path("%s/%s-mask", dir, name)), *csv = strdup(tu_path("%s/%s.csv", dir, name));
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.out_dir = out;
  o.key_file = key;
  if (images) {
    o.labels = masks;
    o.classes_csv = csv;
    o.compress_level = level;
    o.records_per_shard = 10;
  } else {
    o.records_per_shard = 7;
  }
  const char *ins[] = {in};
  bfd_status st = bfd_pack(&o, ins, 1, NULL);
  if (st != BFD_OK) print_message("%s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  free(in);
  free(masks);
  free(csv);
  return out;
}

static void seq_sets(fx *f) {
  if (f->seq) return;
  f->seq = tl_pack_fasta(f->dir, "dna", 40, 30, 900, "ACGTACGTacgtN", 7, 9);
  f->seq_r = repack(f->dir, "dna", f->key, 0, 0);
}

static void img_sets(fx *f) {
  if (f->img) return;
  f->img = tl_pack_images(f->dir, "img", 17, 1, 24, 28, 4);
  f->img_r = repack(f->dir, "img", f->key, 1, 4);
  f->raw = tl_pack_images(f->dir, "raw", 6, 4, 16, 20, 0);
  f->raw_r = repack(f->dir, "raw", f->key, 1, 0);
}

static void fix_sets(fx *f) {
  if (f->fix) return;
  f->fix = tl_pack_fasta(f->dir, "fix", 21, 120, 120, "ACGT", 7, 4);
  f->fix_r = repack(f->dir, "fix", f->key, 0, 0);
}

static void long_sets(fx *f) {
  if (f->lng) return;
  f->lng = tl_pack_fasta(f->dir, "long", 5, 65536, 300000, "ACGTacgtN", 7, 21);
  f->lng_r = repack(f->dir, "long", f->key, 0, 0);
}

static char *seq_yaml(const char *ds, const char *window, const char *extra) {
  return tl_fmt("seed: 11\ndatasets: [{path: %s}]\nbatch_size: 6\nsampling: {drop_last: false}\n"
                "sequence: {tokenizer: dna, max_len: 64%s, mlm: {p: 0.2}}\ndevice: cpu\nmemory_limit: 64M\n%s\n", ds,
                window, extra);
}

/* Rows of max_len tokens: as long as the longest record or the window, so
 * that every byte read is compared. */
static char *long_yaml(const char *ds, int max_len, const char *window, const char *extra) {
  return tl_fmt("seed: 2\ndatasets: [{path: %s}]\nbatch_size: 4\nsampling: {drop_last: false}\n"
                "sequence: {tokenizer: dna, max_len: %d%s}\ndevice: cpu\nmemory_limit: 256M\n%s\n", ds, max_len,
                window, extra);
}

static char *img_yaml_on(const char *ds, const char *crop, const char *device, const char *extra) {
  return tl_fmt("seed: 5\ndatasets: [{path: %s}]\nbatch_size: 4\nsampling: {drop_last: false}\n"
                "image: {ops: [{crop: {size: %s}}, {flip: {axes: [y, x]}}, {normalize: {mode: zscore}}]}\n"
                "device: %s\nmemory_limit: 64M\n%s\n", ds, crop, device, extra);
}

static char *img_yaml(const char *ds, const char *crop, const char *extra) {
  return img_yaml_on(ds, crop, "cpu", extra);
}

static void one_epoch(const char *yaml, tl_log *g) {
  bfd_loader *l = tl_open(yaml, NULL, 0, 1);
  tl_run(l, 0, g);
  assert_int_equal(bfd_loader_close(l), BFD_OK);
}

/* The first failing status of an epoch (BFD_OK if none); the message stays in bfd_last_error(). */
static bfd_status epoch_status(const char *yaml) {
  bfd_loader *l = NULL;
  bfd_status st = bfd_loader_open_string(yaml, NULL, NULL, &l);
  if (st != BFD_OK) return st;
  char msg[2048] = "";
  for (;;) {
    bfd_batch *b = NULL;
    st = bfd_loader_next(l, &b);
    if (st != BFD_OK) snprintf(msg, sizeof msg, "%s", bfd_last_error());
    if (st != BFD_OK || !b) break;
    bfd_batch_release(b);
  }
  bfd_loader_close(l);
  if (st != BFD_OK) bfdi_fail(st, "%s", msg);
  return st;
}

static void assert_same(const char *open_yaml, const char *restricted_yaml) {
  tl_log a = {0}, b = {0};
  one_epoch(open_yaml, &a);
  one_epoch(restricted_yaml, &b);
  assert_true(a.batches > 0);
  assert_int_equal(a.batches, b.batches);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.b, b.b, a.n);
  free(a.b);
  free(b.b);
}

static void test_key_files(void **state) {
  fx *f = *state;
  struct stat sb;
  assert_int_equal(stat(f->key, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  bfdi_key *k = NULL, *k2 = NULL;
  assert_int_equal(bfdi_key_load(f->key, "test", &k), BFD_OK);
  /* the same key as 32 raw bytes has the same id */
  const char *raw = tu_path("%s/raw.key", f->dir);
  assert_int_equal(tu_write(raw, k->k, BFDI_KEY_BYTES), 0);
  assert_int_equal(chmod(raw, 0600), 0);
  assert_int_equal(bfdi_key_load(raw, "test", &k2), BFD_OK);
  assert_string_equal(k->id, k2->id);
  assert_int_equal(strlen(k->id), 16);
  bfdi_key_free(k2);
  k2 = NULL;
  assert_int_equal(bfdi_key_load(f->key2, "test", &k2), BFD_OK);
  assert_string_not_equal(k->id, k2->id);
  bfdi_key_free(k);
  bfdi_key_free(k2);
  /* group- or world-readable: refused, naming the file and the fix */
  assert_int_equal(chmod(raw, 0644), 0);
  k = NULL;
  assert_int_equal(bfdi_key_load(raw, "test", &k), BFD_ERR_INVALID_ARG);
  assert_null(k);
  assert_non_null(strstr(bfd_last_error(), raw));
  assert_non_null(strstr(bfd_last_error(), "chmod 600"));
  /* not a key */
  assert_int_equal(tu_write(raw, "short", 5), 0);
  assert_int_equal(chmod(raw, 0600), 0);
  assert_int_equal(bfdi_key_load(raw, "test", &k), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "64 hex digits"));
  /* keygen never overwrites */
  char id[24];
  assert_int_equal(bfd_keygen(f->key, id), BFD_ERR_IO);
  unlink(raw);
}

static void test_seal_binding(void **state) {
  fx *f = *state;
  bfdi_key *k;
  assert_int_equal(bfdi_key_load(f->key, "test", &k), BFD_OK);
  uint8_t sid[BFDI_SHARD_ID_BYTES] = {1, 2, 3}, other[BFDI_SHARD_ID_BYTES] = {1, 2, 4};
  const uint8_t msg[] = "ACGTACGTNNacgt";
  uint8_t c[sizeof msg + BFDI_SEAL_OVERHEAD], c2[sizeof c], out[sizeof msg];
  const bfdi_seal_at at = {BFDI_SEAL_SEQ, 7, 0, 2}, rec8 = {BFDI_SEAL_SEQ, 8, 0, 2}, seg1 = {BFDI_SEAL_SEQ, 7, 1, 2},
                     qual = {BFDI_SEAL_QUALITY, 7, 0, 2}, short1 = {BFDI_SEAL_SEQ, 7, 0, 1};
  bfdi_seal(k, sid, &at, msg, sizeof msg, c);
  bfdi_seal(k, sid, &at, msg, sizeof msg, c2);
  assert_memory_not_equal(c, c2, sizeof c); /* a fresh nonce each time */
  assert_int_equal(bfdi_unseal(k, sid, &at, c, sizeof c, out), 0);
  assert_memory_equal(out, msg, sizeof msg);
  assert_null(memmem(c, sizeof c, "ACGTACGT", 8));
  assert_int_equal(bfdi_unseal(k, sid, &rec8, c, sizeof c, out), -1);   /* another record */
  assert_int_equal(bfdi_unseal(k, sid, &seg1, c, sizeof c, out), -1);   /* another segment */
  assert_int_equal(bfdi_unseal(k, sid, &short1, c, sizeof c, out), -1); /* a record cut short */
  assert_int_equal(bfdi_unseal(k, other, &at, c, sizeof c, out), -1);   /* another shard */
  assert_int_equal(bfdi_unseal(k, sid, &qual, c, sizeof c, out), -1);   /* another part */
  for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0);              /* zeroed on failure */
  /* sealed sizes: whole segments, each 40 bytes longer */
  const uint64_t S = BFDI_SEAL_SEGMENT, lens[] = {0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 5};
  const uint64_t segs[] = {1, 1, 1, 1, 2, 3, 4};
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    assert_int_equal(bfdi_seal_segments(lens[i]), segs[i]);
    assert_int_equal(bfdi_sealed_size(lens[i]), lens[i] + 40 * segs[i]);
    assert_int_equal(bfdi_unsealed_size(bfdi_sealed_size(lens[i])), lens[i]);
  }
  c[BFDI_SEAL_NONCE + 3] ^= 1;
  assert_int_equal(bfdi_unseal(k, sid, &at, c, sizeof c, out), -1);
  assert_int_equal(bfdi_unseal(k, sid, &at, c, BFDI_SEAL_OVERHEAD - 1, out), -1);
  bfdi_key_free(k);
}

static void test_seq_round_trip(void **state) {
  fx *f = *state;
  seq_sets(f);
  const char *modes[] = {"", ", window: {length: 50, mode: random}", ", window: {length: 40, mode: tiled}",
                         ", window: {length: 50, mode: random, max_n_frac: 0.1, max_attempts: 3}"};
  char *sec = tl_fmt("security: {key_file: %s}", f->key);
  for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
    char *a = seq_yaml(f->seq, modes[m], ""), *b = seq_yaml(f->seq_r, modes[m], sec);
    assert_same(a, b);
    free(a);
    free(b);
  }
  /* records of several segments: windows open only the segments they cover */
  long_sets(f);
  const char *long_modes[] = {"", ", window: {length: 3000, mode: random}", ", window: {length: 1000, mode: tiled}",
                              ", window: {length: 200, mode: random, max_n_frac: 0.05, max_attempts: 4}"};
  const int long_len[] = {300008, 3008, 1008, 208};
  for (size_t m = 0; m < sizeof long_modes / sizeof *long_modes; m++) {
    char *a = long_yaml(f->lng, long_len[m], long_modes[m], ""), *b = long_yaml(f->lng_r, long_len[m], long_modes[m], sec);
    assert_same(a, b);
    free(a);
    free(b);
  }
  free(sec);
  /* no record of the input appears in the restricted shards; it does in the open ones */
  size_t n_fa, n_open, n_res;
  uint8_t *fa = tu_read(tu_path("%s/dna.fa", f->dir), &n_fa);
  uint8_t *open = tu_read(tu_path("%s/seq-00000.h5", f->seq), &n_open);
  uint8_t *res = tu_read(tu_path("%s/seq-00000.h5", f->seq_r), &n_res);
  assert_non_null(fa);
  assert_non_null(open);
  assert_non_null(res);
  const uint8_t *line = memchr(fa, '\n', n_fa) + 1; /* the first sequence line: 80 bases */
  assert_non_null(memmem(open, n_open, line, 40));
  assert_null(memmem(res, n_res, line, 40));
  assert_null(memmem(res, n_res, line, 16));
  assert_null(memmem(res, n_res, "rec1", 4)); /* names are not stored */
  free(fa);
  free(open);
  free(res);
}

/* io.cache holds a restricted shard's bytes as they are on disk: decrypted
 * records come out the same as the open dataset's, windows of long
 * records (several segments) included. */
static void test_cached_round_trip(void **state) {
  fx *f = *state;
  seq_sets(f);
  long_sets(f);
  char *sec = tl_fmt("security: {key_file: %s}\nio: {cache: true}", f->key);
  char *a = seq_yaml(f->seq, ", window: {length: 50, mode: random, max_n_frac: 0.1, max_attempts: 3}", "");
  char *b = seq_yaml(f->seq_r, ", window: {length: 50, mode: random, max_n_frac: 0.1, max_attempts: 3}", sec);
  assert_same(a, b);
  free(a);
  free(b);
  a = long_yaml(f->lng, 3008, ", window: {length: 3000, mode: random}", "");
  b = long_yaml(f->lng_r, 3008, ", window: {length: 3000, mode: random}", sec);
  assert_same(a, b);
  free(a);
  free(b);
  free(sec);
}

static void test_img_round_trip(void **state) {
  fx *f = *state;
  img_sets(f);
  char *sec = tl_fmt("security: {key_file: %s}", f->key);
  char *a = img_yaml(f->img, "[16, 20]", ""), *b = img_yaml(f->img_r, "[16, 20]", sec);
  assert_same(a, b);
  free(a);
  free(b);
  a = img_yaml(f->raw, "[3, 12, 12]", "");
  b = img_yaml(f->raw_r, "[3, 12, 12]", sec);
  assert_same(a, b);
  free(b);
  /* the CUDA backend (the emulator in test builds): locked buffers pinned and uploaded */
  b = img_yaml_on(f->raw_r, "[3, 12, 12]", "cuda", sec);
  assert_same(a, b);
  free(a);
  free(b);
  free(sec);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/img-g0-00000.h5", f->img_r), &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  assert_true(info.restricted);
  assert_int_equal(strlen(info.key_id), 16);
  uint16_t px[24 * 28];
  assert_int_equal(bfd_shard_image_read(s, 0, px, sizeof px), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), info.key_id));
  bfd_shard_close(s);
}

static void test_no_key_and_wrong_key(void **state) {
  fx *f = *state;
  seq_sets(f);
  img_sets(f);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/seq-00000.h5", f->seq_r), &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  bfd_shard_close(s);
  unsetenv("BIOFEED_KEY_FILE");
  bfd_loader *l = NULL;
  /* broadcast and exchange would move decrypted records between ranks */
  const char *modes[] = {"exchange", "broadcast, group_size: 1"};
  for (size_t i = 0; i < 2; i++) {
    char *dist = tl_fmt("security: {key_file: %s}\ndist: {mode: %s}", f->key, modes[i]);
    char *yd = seq_yaml(f->seq_r, "", dist);
    assert_int_equal(bfd_loader_open_string(yd, NULL, NULL, &l), BFD_ERR_UNSUPPORTED);
    assert_non_null(strstr(bfd_last_error(), "dist.mode: shard"));
    assert_non_null(strstr(bfd_last_error(), "seq-0000"));
    free(yd);
    free(dist);
  }
  char *y = seq_yaml(f->seq_r, "", "");
  assert_int_equal(bfd_loader_open_string(y, NULL, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_null(l);
  assert_non_null(strstr(bfd_last_error(), info.key_id));
  assert_non_null(strstr(bfd_last_error(), "security.key_file"));
  /* the environment gives the key when the config does not */
  setenv("BIOFEED_KEY_FILE", f->key, 1);
  assert_int_equal(epoch_status(y), BFD_OK);
  setenv("BIOFEED_KEY_FILE", f->key2, 1);
  assert_int_equal(epoch_status(y), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "record "));
  assert_non_null(strstr(bfd_last_error(), "authentication failed"));
  assert_non_null(strstr(bfd_last_error(), info.key_id));
  unsetenv("BIOFEED_KEY_FILE");
  free(y);
  char *sec = tl_fmt("security: {key_file: %s}", f->key2);
  y = img_yaml(f->img_r, "[16, 20]", sec);
  assert_int_equal(epoch_status(y), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "record "));
  assert_non_null(strstr(bfd_last_error(), "img-g0-"));
  free(y);
  free(sec);
}

/* Byte offset in the file of record i's stored bytes. */
static uint64_t stored_at(const char *shard, uint64_t i, uint64_t *len) {
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(shard, &s), BFD_OK);
  uint64_t off = bfdi_shard_record_offset(s, i, 0);
  if (len) *len = bfdi_shard_offsets(s)[i + 1] - bfdi_shard_offsets(s)[i];
  bfd_shard_close(s);
  assert_true(off != UINT64_MAX);
  return off;
}

/* A copy of the restricted dataset to damage. */
static char *copy_dataset(fx *f, const char *src, const char *name) {
  char *dst = strdup(tu_path("%s/%s", f->dir, name));
  tu_rmtree(dst);
  mkdir(dst, 0755);
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(src, &d), BFD_OK);
  size_t n;
  bfd_dataset_shard_count(d, &n);
  const char *files[64] = {"manifest.json"};
  size_t k = 1;
  for (size_t i = 0; i < n && k < 64; i++) {
    bfd_dataset_shard e;
    bfd_dataset_shard_get(d, i, &e);
    files[k++] = e.relpath;
  }
  for (size_t i = 0; i < k; i++) {
    size_t len;
    uint8_t *b = tu_read(tu_path("%s/%s", src, files[i]), &len);
    assert_non_null(b);
    assert_int_equal(tu_write(tu_path("%s/%s", dst, files[i]), b, len), 0);
    free(b);
  }
  bfd_dataset_close(d);
  return dst;
}

static void patch(const char *path, uint64_t at, const uint8_t *bytes, size_t n) {
  size_t len;
  uint8_t *b = tu_read(path, &len);
  assert_non_null(b);
  assert_true(at + n <= len);
  memcpy(b + at, bytes, n);
  assert_int_equal(tu_write(path, b, len), 0);
  free(b);
}

static void read_at(const char *path, uint64_t at, uint8_t *out, size_t n) {
  size_t len;
  uint8_t *b = tu_read(path, &len);
  assert_non_null(b);
  assert_true(at + n <= len);
  memcpy(out, b + at, n);
  free(b);
}

/* The loader fails naming the shard and the record (or, when two were
 * altered, either: batches are shuffled). */
static void assert_auth_fails(fx *f, const char *ds, const char *shard, uint64_t record, uint64_t or_record) {
  char *sec = tl_fmt("security: {key_file: %s}", f->key);
  char *y = seq_yaml(ds, "", sec);
  assert_int_equal(epoch_status(y), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), shard));
  char a[64], b[64];
  snprintf(a, sizeof a, "record %llu ", (unsigned long long)record);
  snprintf(b, sizeof b, "record %llu ", (unsigned long long)or_record);
  assert_true(strstr(bfd_last_error(), a) || strstr(bfd_last_error(), b));
  assert_non_null(strstr(bfd_last_error(), "authentication failed"));
  free(y);
  free(sec);
}

static void test_tampering(void **state) {
  fx *f = *state;
  fix_sets(f);
  /* a flipped byte */
  char *d = copy_dataset(f, f->fix_r, "flip");
  char *shard = strdup(tu_path("%s/seq-00001.h5", d));
  uint64_t len, at = stored_at(shard, 3, &len);
  uint8_t b;
  read_at(shard, at + len / 2, &b, 1);
  b ^= 0x10;
  patch(shard, at + len / 2, &b, 1);
  assert_auth_fails(f, d, shard, 3, 3);
  /* with on_corrupt: skip the record is replaced and counted, like a CRC
   * mismatch (its replacement is decrypted in locked memory too) */
  char *sec = tl_fmt("security: {key_file: %s}\non_corrupt: skip", f->key);
  char *y = seq_yaml(d, "", sec);
  bfd_loader *ld = tl_open(y, NULL, 0, 1);
  tl_log g = {0};
  tl_run(ld, 0, &g);
  assert_true(g.batches > 0);
  bfd_fault_stats fs;
  assert_int_equal(bfd_loader_faults(ld, &fs), BFD_OK);
  assert_int_equal(fs.rows_replaced, 1);
  assert_non_null(fs.last_shard);
  assert_non_null(strstr(fs.last_shard, "seq-00001.h5"));
  assert_int_equal(fs.last_record, 3);
  assert_int_equal(bfd_loader_close(ld), BFD_OK);
  free(g.b);
  free(y);
  free(sec);
  free(shard);
  free(d);
  /* two records of the same length swapped */
  d = copy_dataset(f, f->fix_r, "swap");
  shard = strdup(tu_path("%s/seq-00000.h5", d));
  uint64_t a0 = stored_at(shard, 1, &len), a1 = stored_at(shard, 2, NULL);
  uint8_t *r0 = malloc(len), *r1 = malloc(len);
  read_at(shard, a0, r0, len);
  read_at(shard, a1, r1, len);
  patch(shard, a0, r1, len);
  patch(shard, a1, r0, len);
  assert_auth_fails(f, d, shard, 1, 2);
  free(shard);
  free(d);
  /* a record of another shard put in place of this one's */
  d = copy_dataset(f, f->fix_r, "transplant");
  shard = strdup(tu_path("%s/seq-00000.h5", d));
  char *donor = strdup(tu_path("%s/seq-00002.h5", d));
  read_at(donor, stored_at(donor, 4, NULL), r0, len);
  patch(shard, stored_at(shard, 4, NULL), r0, len);
  assert_auth_fails(f, d, shard, 4, 4);
  /* verify: the stored CRCs no longer match, with or without the key */
  bfd_verify_report rep;
  assert_int_equal(bfd_verify(d, NULL, NULL, &rep), BFD_ERR_CORRUPT);
  assert_true(rep.problems >= 1);
  free(donor);
  free(shard);
  free(d);
  free(r0);
  free(r1);
  /* two segments of one record swapped */
  long_sets(f);
  d = copy_dataset(f, f->lng_r, "segswap");
  shard = strdup(tu_path("%s/seq-00000.h5", d));
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(shard, &s), BFD_OK);
  uint64_t rec = UINT64_MAX, l = 0;
  for (uint64_t i = 0; i < 5 && rec == UINT64_MAX; i++) {
    assert_int_equal(bfd_shard_seq_length(s, i, &l), BFD_OK);
    if (l >= 2 * BFDI_SEAL_SEGMENT) rec = i;
  }
  bfd_shard_close(s);
  assert_true(rec != UINT64_MAX);
  const size_t seg = BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD;
  at = stored_at(shard, rec, NULL);
  r0 = malloc(seg);
  r1 = malloc(seg);
  read_at(shard, at, r0, seg);
  read_at(shard, at + seg, r1, seg);
  patch(shard, at, r1, seg);
  patch(shard, at + seg, r0, seg);
  assert_auth_fails(f, d, shard, rec, rec);
  free(r0);
  free(r1);
  free(shard);
  free(d);
}

static void test_verify(void **state) {
  fx *f = *state;
  seq_sets(f);
  img_sets(f);
  const char *sets[] = {f->seq_r, f->img_r, f->raw_r};
  for (size_t i = 0; i < 3; i++) {
    bfd_verify_report rep;
    assert_int_equal(bfd_verify(sets[i], NULL, NULL, &rep), BFD_OK);
    assert_true(rep.records_checked > 0);
    assert_int_equal(bfd_verify_key(sets[i], f->key, NULL, NULL, &rep), BFD_OK);
    assert_int_equal(rep.problems, 0);
    uint64_t records = rep.records_checked;
    assert_int_equal(bfd_verify_key(sets[i], f->key2, NULL, NULL, &rep), BFD_ERR_CORRUPT);
    /* every record (images: and its label) fails */
    assert_true(rep.problems >= records);
  }
}

static cJSON *field(const cJSON *o, const char *k) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  assert_non_null(v);
  return v;
}

static void test_audit_log(void **state) {
  fx *f = *state;
  seq_sets(f);
  const char *log = tu_path("%s/audit.jsonl", f->dir);
  char *logp = strdup(log);
  unlink(logp);
  char *sec = tl_fmt("prefetch: 2\nsecurity: {key_file: %s, audit_log: %s, job_id: job-42}", f->key, logp);
  char *y = seq_yaml(f->seq_r, ", window: {length: 50, mode: random}", sec);
  bfd_loader *l = tl_open(y, NULL, 1, 2);
  uint64_t rows = 0;
  for (;;) {
    bfd_batch *b = NULL;
    assert_int_equal(bfd_loader_next(l, &b), BFD_OK);
    if (!b) break;
    bfd_batch_info info;
    bfd_batch_info_get(b, &info);
    rows += info.samples;
    bfd_batch_release(b);
  }
  assert_int_equal(bfd_loader_close(l), BFD_OK);
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(f->seq_r, &d), BFD_OK);
  size_t n_shards;
  bfd_dataset_shard_count(d, &n_shards);
  bfd_shard *s;
  assert_int_equal(bfd_shard_open(tu_path("%s/seq-00000.h5", f->seq_r), &s), BFD_OK);
  bfd_shard_info info;
  bfd_shard_info_get(s, &info);
  bfd_shard_close(s);
  size_t n;
  char *text = (char *)tu_read(logp, &n);
  assert_non_null(text);
  text = realloc(text, n + 1);
  text[n] = '\0';
  struct stat sb;
  assert_int_equal(stat(logp, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0600);
  size_t lines = 0, opens = 0, closes = 0;
  uint64_t read_total = 0;
  char host[256];
  gethostname(host, sizeof host);
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    lines++;
    const char *ev = field(j, "event")->valuestring;
    assert_int_equal(field(j, "rank")->valueint, 1);
    assert_string_equal(field(j, "access")->valuestring, "restricted");
    assert_string_equal(field(j, "key_id")->valuestring, info.key_id);
    assert_string_equal(field(j, "job")->valuestring, "job-42");
    assert_string_equal(field(j, "host")->valuestring, host);
    assert_int_equal(field(j, "uid")->valueint, (int)getuid());
    assert_non_null(strstr(field(j, "shard")->valuestring, "/seq-0000"));
    assert_int_equal(strlen(field(j, "time")->valuestring), 24);
    assert_non_null(field(j, "user")->valuestring);
    assert_null(strstr(line, f->key)); /* the key file is not named, let alone the key */
    if (!strcmp(ev, "open")) {
      opens++;
      assert_null(cJSON_GetObjectItem(j, "records_read"));
    } else {
      assert_string_equal(ev, "close");
      closes++;
      read_total += (uint64_t)field(j, "records_read")->valuedouble;
    }
    cJSON_Delete(j);
  }
  assert_int_equal(opens, n_shards);
  assert_int_equal(closes, n_shards);
  assert_int_equal(lines, 2 * n_shards);
  /* Records read are those decrypted: every row consumed, plus what the
   * pipeline had read ahead (at most prefetch + 1 batches of 6) at close. */
  assert_true(rows > 0);
  assert_true(read_total >= rows);
  assert_true(read_total <= rows + 3 * 6);
  free(text);
  bfd_dataset_close(d);
  free(y);
  free(sec);
  free(logp);
}

static void test_security_config_errors(void **state) {
  fx *f = *state;
  seq_sets(f);
  char *y = seq_yaml(f->seq_r, "", "security:\n  key_file: k.key\n  keyfile: x\n");
  bfd_loader *l = NULL;
  assert_int_equal(bfd_loader_open_string(y, f->dir, NULL, &l), BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), ":10:"));
  assert_non_null(strstr(bfd_last_error(), "key_file, audit_log, job_id"));
  free(y);
  /* a key file of the wrong mode, named through the config with its line */
  const char *loose = tu_path("%s/loose.key", f->dir);
  size_t n;
  uint8_t *k = tu_read(f->key, &n);
  assert_int_equal(tu_write(loose, k, n), 0);
  free(k);
  assert_int_equal(chmod(loose, 0640), 0);
  y = seq_yaml(f->seq_r, "", "security:\n  key_file: loose.key\n");
  assert_int_equal(bfd_loader_open_string(y, f->dir, NULL, &l), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "chmod 600"));
  assert_non_null(strstr(bfd_last_error(), "security.key_file ("));
  free(y);
}

/* In a child: without CAP_IPC_LOCK (which root has) and with a 64 KiB
 * RLIMIT_MEMLOCK, locking 16 MiB must fail saying how much and what to do.
 * Exit 0 when it does. */
static int locked_memory_child(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &hdr, data) != 0) return 10;
  data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
  if (syscall(SYS_capset, &hdr, data) != 0) return 11;
  struct rlimit low = {64 * 1024, 64 * 1024};
  if (setrlimit(RLIMIT_MEMLOCK, &low) != 0) return 12;
  void *p = NULL;
  if (bfdi_secure_alloc(16u << 20, "a test buffer", &p) != BFD_ERR_NOMEM || p) return 13;
  if (!strstr(bfd_last_error(), "ulimit -l") || !strstr(bfd_last_error(), "16777216 bytes")) return 14;
  /* what fits under the limit still works */
  if (bfdi_secure_alloc(4096, "a small buffer", &p) != BFD_OK) return 15;
  bfdi_secure_free(p, 4096);
  return 0;
}

static void test_locked_memory_limit(void **state) {
  (void)state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) _exit(locked_memory_child());
  int ws = 0;
  assert_int_equal(waitpid(pid, &ws, 0), pid);
  assert_true(WIFEXITED(ws));
  assert_int_equal(WEXITSTATUS(ws), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_key_files),
      cmocka_unit_test(test_seal_binding),
      cmocka_unit_test(test_seq_round_trip),
      cmocka_unit_test(test_cached_round_trip),
      cmocka_unit_test(test_img_round_trip),
      cmocka_unit_test(test_no_key_and_wrong_key),
      cmocka_unit_test(test_tampering),
      cmocka_unit_test(test_verify),
      cmocka_unit_test(test_audit_log),
      cmocka_unit_test(test_security_config_errors),
      cmocka_unit_test(test_locked_memory_limit),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}

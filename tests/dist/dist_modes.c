/* The loader's broadcast and exchange modes across ranks (run by
 * tests/dist/run.sh under mpirun). Each rank packs the same sequences and
 * images into its own folder (node-local copies), opens loaders whose rank
 * and world size come from the launcher, and the ranks compare what they
 * got through allgathers; any wrong value takes the job down (dist_test.h).
 *
 *   modes DIR      (4 ranks) shard and exchange give byte-identical batches
 *                  on every rank (sequence windows with MLM; 2D images with
 *                  masks, crops and flips; with an owner map that leaves two
 *                  ranks nothing to read, and the same with io.cache, where
 *                  each rank reads its own shards whole once and nothing
 *                  else); broadcast with io.cache gives broadcast's batches,
 *                  its leaders reading each shard once and its members
 *                  nothing; an exchange epoch and a broadcast
 *                  epoch hold every sample exactly once plus the stated
 *                  padding; broadcast group members get identical batches,
 *                  positions and states, groups get disjoint samples; a group size that does not
 *                  divide the world is an error naming dist.group_size.
 *   save DIR       (4 ranks) exchange mode, 2 steps, then the state and the
 *                  samples consumed so far go to DIR.
 *   resume DIR     (2 ranks) loads that state: the rest of the epoch holds
 *                  exactly the samples not consumed before.
 *   fail-missing DIR  (4 ranks) exchange from staged copies (bfdi_stage),
 *                  rank 1's copy of one of its shards removed: rank 1 fails
 *                  naming it and `biofeed stage`, and the job ends.
 *   fail-corrupt DIR  (4 ranks) the same, rank 1's copy of one of its shards
 *                  damaged in a record's bytes: rank 1 fails on its CRC
 *                  mid-epoch, and the job ends.
 *   fail-kill DIR  (4 ranks) rank 1 is killed after 2 exchange steps.
 * The fail-* modes write DIR/pid.RANK at start and DIR/rc.RANK (0) only if
 * the rank completes, as dist_fail does. Usage: dist_modes MODE DIR */
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "biofeed/loader.h"
#include "biofeed/pack.h"
#include "dist/stage.h"
#include "io/engine.h"
#include "io/extents.h"
#include "dist_test.h"

#define RECORDS 37
#define WINDOW 32
#define IMAGES 22
#define SIDE 24
#define BATCH 3
#define MAX_ROWS (64 * BATCH)

static uint32_t R, W;
static int seq_lengths[RECORDS];

static void passed(const char *name) {
  DT_OK(bfdi_comm_barrier(dt_comm));
  if (R == 0) printf("[       OK ] %s\n", name);
  fflush(stdout);
}

static uint64_t lcg(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}

static char *pack_sequences(const char *dir) {
  char fa[4200], out[4200];
  snprintf(fa, sizeof fa, "%s/seq.fa", dir);
  snprintf(out, sizeof out, "%s/seq", dir);
  FILE *f = fopen(fa, "w");
  DT_CHECK(f);
  uint64_t x = 2024;
  for (int r = 0; r < RECORDS; r++) {
    seq_lengths[r] = 20 + (int)(lcg(&x) % 120);
    fprintf(f, ">rec%d\n", r);
    for (int i = 0; i < seq_lengths[r]; i++) fputc("ACGTacgtN"[lcg(&x) % 9], f);
    fputc('\n', f);
  }
  DT_CHECK(fclose(f) == 0);
  bfd_pack_options o;
  DT_OK(bfd_pack_options_init(&o));
  o.out_dir = out;
  o.records_per_shard = 4;
  const char *ins[] = {fa};
  DT_OK(bfd_pack(&o, ins, 1, NULL));
  return strdup(out);
}

static void write_tiff(const char *path, int i, int mask) {
  TIFF *t = TIFFOpen(path, "w");
  DT_CHECK(t);
  uint16_t row[SIDE];
  uint8_t mrow[SIDE];
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)SIDE);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)SIDE);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, mask ? 8 : 16);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)SIDE);
  for (int y = 0; y < SIDE; y++) {
    for (int x = 0; x < SIDE; x++) {
      row[x] = (uint16_t)(i * 1009 + y * 31 + x * 3 + ((x * y) & 63));
      mrow[x] = (uint8_t)((x / 4 + y / 4 + i) % 3);
    }
    DT_CHECK(TIFFWriteScanline(t, mask ? (void *)mrow : (void *)row, (uint32_t)y, 0) == 1);
  }
  TIFFClose(t);
}

static char *pack_images(const char *dir) {
  char imgs[4200], masks[4200], out[4200], path[4300];
  snprintf(imgs, sizeof imgs, "%s/img-in", dir);
  snprintf(masks, sizeof masks, "%s/mask-in", dir);
  snprintf(out, sizeof out, "%s/img", dir);
  DT_CHECK(mkdir(imgs, 0755) == 0 && mkdir(masks, 0755) == 0);
  for (int i = 0; i < IMAGES; i++) {
    snprintf(path, sizeof path, "%s/im%03d.tif", imgs, i);
    write_tiff(path, i, 0);
    snprintf(path, sizeof path, "%s/im%03d.tif", masks, i);
    write_tiff(path, i, 1);
  }
  bfd_pack_options o;
  DT_OK(bfd_pack_options_init(&o));
  o.out_dir = out;
  o.labels = masks;
  o.records_per_shard = 3;
  const char *ins[] = {imgs};
  DT_OK(bfd_pack(&o, ins, 1, NULL));
  return strdup(out);
}

/* Samples of the sequence dataset: random windows, ceil(L / WINDOW) a record. */
static int seq_samples(void) {
  int n = 0;
  for (int r = 0; r < RECORDS; r++) n += (seq_lengths[r] + WINDOW - 1) / WINDOW;
  return n;
}

static char *seq_yaml_io(const char *data, const char *io, const char *dist) {
  char *y = NULL;
  DT_CHECK(asprintf(&y,
                    "seed: 11\ndatasets: [%s]\nbatch_size: %d\nsampling: {drop_last: false}\n"
                    "sequence: {tokenizer: dna, max_len: 40, window: {length: %d, mode: random}, rc: 0.5, "
                    "mlm: {p: 0.2}}\ndevice: cpu\nprefetch: 2\nio: {%s}\ndist: {%s}\n",
                    data, BATCH, WINDOW, io, dist) > 0);
  return y;
}

static char *seq_yaml(const char *data, const char *dist) { return seq_yaml_io(data, "workers: 1", dist); }

static char *img_yaml(const char *data, const char *dist) {
  char *y = NULL;
  DT_CHECK(asprintf(&y,
                    "seed: 5\ndatasets: [%s]\nbatch_size: %d\nsampling: {drop_last: false}\n"
                    "image: {ops: [{crop: {size: [16, 16]}}, {flip: {axes: [y, x], prob: 0.5}}, "
                    "{normalize: {mode: minmax}}]}\ndevice: cpu\nprefetch: 2\nio: {workers: 1}\ndist: {%s}\n",
                    data, BATCH, dist) > 0);
  return y;
}

/* What one rank got in one epoch: every output's bytes in a log, and the
 * (sample, valid) rows of every step over all ranks. */
typedef struct epoch {
  uint8_t *log;
  size_t n, cap;
  uint64_t steps;
  int64_t *sample; /* steps x W x BATCH */
  uint8_t *valid;
  uint64_t *hash;  /* per step: FNV-1a of this rank's batch */
} epoch;

static void append(epoch *e, const void *p, size_t n, uint64_t *h) {
  if (e->n + n > e->cap) {
    e->cap = (e->n + n) * 2;
    e->log = realloc(e->log, e->cap);
    DT_CHECK(e->log);
  }
  memcpy(e->log + e->n, p, n);
  e->n += n;
  for (size_t i = 0; i < n; i++) *h = (*h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
}

typedef struct row {
  int64_t sample;
  uint8_t valid;
} row;

/* Takes up to max_steps batches (0: the whole epoch) from l. */
static void take(bfd_loader *l, epoch *e, uint64_t max_steps) {
  uint64_t steps;
  DT_OK(bfd_loader_steps_per_epoch(l, &steps));
  uint64_t all_steps[64];
  DT_OK(bfdi_comm_allgather(dt_comm, &steps, sizeof steps, all_steps));
  for (uint32_t r = 0; r < W; r++) DT_CHECK(all_steps[r] == steps);
  uint32_t epoch0;
  uint64_t step0;
  DT_OK(bfd_loader_position(l, &epoch0, &step0));
  uint64_t n = max_steps ? max_steps : steps - step0;
  memset(e, 0, sizeof *e);
  e->sample = calloc(n * W * BATCH + 1, sizeof *e->sample);
  e->valid = calloc(n * W * BATCH + 1, 1);
  e->hash = calloc(n + 1, sizeof *e->hash);
  DT_CHECK(e->sample && e->valid && e->hash);
  for (uint64_t k = 0; k < n; k++) {
    bfd_batch *b;
    DT_OK(bfd_loader_next(l, &b));
    DT_CHECK(b);
    bfd_batch_info info;
    DT_OK(bfd_batch_info_get(b, &info));
    DT_CHECK(info.step == step0 + k && info.samples == BATCH);
    uint64_t h = 1469598103934665603ull;
    row mine[BATCH];
    memset(mine, 0, sizeof mine);
    for (size_t i = 0; i < info.n_outputs; i++) {
      const char *name;
      DLManagedTensor *t;
      DT_OK(bfd_batch_output(b, i, &name, &t));
      const DLTensor *d = &t->dl_tensor;
      size_t bytes = (d->dtype.bits / 8u) * (size_t)d->dtype.lanes;
      for (int a = 0; a < d->ndim; a++) bytes *= (size_t)d->shape[a];
      const uint8_t *data = (const uint8_t *)d->data + d->byte_offset;
      append(e, name, strlen(name) + 1, &h);
      append(e, d->shape, (size_t)d->ndim * sizeof *d->shape, &h);
      append(e, data, bytes, &h);
      for (int r = 0; r < BATCH; r++) {
        if (!strcmp(name, "sample")) mine[r].sample = ((const int64_t *)data)[r];
        if (!strcmp(name, "valid")) mine[r].valid = data[r];
      }
      t->deleter(t);
    }
    DT_OK(bfd_batch_release(b));
    row all[64 * BATCH];
    DT_OK(bfdi_comm_allgather(dt_comm, mine, sizeof mine, all));
    for (size_t i = 0; i < (size_t)W * BATCH; i++) {
      e->sample[k * W * BATCH + i] = all[i].sample;
      e->valid[k * W * BATCH + i] = all[i].valid;
    }
    e->hash[k] = h;
  }
  e->steps = n;
}

static void run_epoch(const char *yaml, epoch *e) {
  bfd_loader *l;
  DT_OK(bfd_loader_open_string(yaml, NULL, NULL, &l));
  take(l, e, 0);
  bfd_batch *end;
  DT_OK(bfd_loader_next(l, &end));
  DT_CHECK(end == NULL);
  DT_OK(bfd_loader_close(l));
}

static void free_epoch(epoch *e) {
  free(e->log);
  free(e->sample);
  free(e->valid);
  free(e->hash);
}

/* Counts valid rows per sample (rows of ranks where take_rank says so). */
static void count(const epoch *e, uint32_t group, uint32_t *counts, int n, uint64_t *pads) {
  for (uint64_t k = 0; k < e->steps; k++)
    for (uint32_t r = 0; r < W; r += group)
      for (int b = 0; b < BATCH; b++) {
        size_t i = k * W * BATCH + r * BATCH + b;
        DT_CHECK(e->sample[i] >= 0 && e->sample[i] < n);
        if (e->valid[i])
          counts[e->sample[i]]++;
        else
          ++*pads;
      }
}

static void exactly_once(const epoch *e, uint32_t group, int n) {
  uint32_t *counts = calloc((size_t)n, sizeof *counts);
  uint64_t pads = 0;
  DT_CHECK(counts);
  count(e, group, counts, n, &pads);
  for (int s = 0; s < n; s++) DT_CHECK(counts[s] == 1);
  DT_CHECK(pads == e->steps * (W / group) * BATCH - (uint64_t)n);
  free(counts);
}

static void same_bytes(const epoch *a, const epoch *b) {
  DT_CHECK(a->steps == b->steps && a->n == b->n && memcmp(a->log, b->log, a->n) == 0);
}

/* Bytes read of each shard seq-K.h5, and reads of anything else. */
static pthread_mutex_t reads_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t shard_read[(RECORDS + 3) / 4];
static long other_reads;

static void count_shard_reads(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res) {
  (void)offset, (void)buf, (void)len;
  const char *base = strrchr(path, '/');
  int k = -1;
  pthread_mutex_lock(&reads_mu);
  if (base && sscanf(base, "/seq-%d.h5", &k) == 1 && k >= 0 && k < (RECORDS + 3) / 4 && *res > 0)
    shard_read[k] += (uint64_t)*res;
  else
    other_reads++;
  pthread_mutex_unlock(&reads_mu);
}

/* Runs yaml's epoch into *e through the read hook: this rank read each
 * shard k of seq for which reads(k) holds whole, once (its size in bytes),
 * and nothing else. */
static void run_epoch_reads(const char *seq, const char *yaml, epoch *e, int (*reads)(int k)) {
  memset(shard_read, 0, sizeof shard_read);
  other_reads = 0;
  bfdi_io_set_read_hook(count_shard_reads);
  run_epoch(yaml, e);
  bfdi_io_set_read_hook(NULL);
  DT_CHECK(other_reads == 0);
  for (int k = 0; k < (RECORDS + 3) / 4; k++) {
    char path[4200];
    snprintf(path, sizeof path, "%s/seq-%05d.h5", seq, k);
    struct stat st;
    DT_CHECK(stat(path, &st) == 0);
    DT_CHECK(shard_read[k] == (reads(k) ? (uint64_t)st.st_size : 0));
  }
}

/* The owner map of test_modes: shard k to rank k mod 2. */
static int owns_shard(int k) { return R < 2 && (uint32_t)k % 2 == R; }
/* Broadcast groups of 2: their leaders read. */
static int leads_group(int k) {
  (void)k;
  return R % 2 == 0;
}

static void test_modes(const char *dir) {
  char *seq = pack_sequences(dir), *img = pack_images(dir);
  char *y_shard = seq_yaml(seq, "mode: shard"), *y_ex = seq_yaml(seq, "mode: exchange, timeout: 60");
  epoch a, b;
  run_epoch(y_shard, &a);
  run_epoch(y_ex, &b);
  same_bytes(&a, &b);
  passed("exchange = shard, byte for byte: sequence windows, reverse complement, MLM");
  exactly_once(&b, 1, seq_samples());
  passed("exchange: every sample exactly once, padding as stated");
  free_epoch(&b);

  /* an owner map that gives ranks 2 and 3 nothing to read */
  char map[4200], *dmap = NULL;
  snprintf(map, sizeof map, "%s/owners.txt", dir);
  FILE *f = fopen(map, "w");
  DT_CHECK(f);
  fprintf(f, "# shard rank\n");
  for (int k = 0; k < (RECORDS + 3) / 4; k++) fprintf(f, "seq-%05d.h5 %d\n", k, k % 2);
  DT_CHECK(fclose(f) == 0);
  DT_CHECK(asprintf(&dmap, "mode: exchange, timeout: 60, owners: %s", map) > 0);
  char *y_map = seq_yaml(seq, dmap);
  run_epoch(y_map, &b);
  same_bytes(&a, &b);
  passed("exchange with an owner map (two ranks own nothing) = shard, byte for byte");
  free_epoch(&b);
  free(y_map);

  /* the same with io.cache: each rank reads its own shards whole, once (at
   * open), and nothing else */
  y_map = seq_yaml_io(seq, "workers: 1, cache: true", dmap);
  run_epoch_reads(seq, y_map, &b, owns_shard);
  same_bytes(&a, &b);
  passed("exchange with an owner map and io.cache = shard, byte for byte; each rank read its own shards once");
  free_epoch(&a);
  free_epoch(&b);
  free(y_map);
  free(dmap);

  char *i_shard = img_yaml(img, "mode: shard"), *i_ex = img_yaml(img, "mode: exchange, timeout: 60");
  run_epoch(i_shard, &a);
  run_epoch(i_ex, &b);
  same_bytes(&a, &b);
  exactly_once(&b, 1, IMAGES);
  passed("exchange = shard, byte for byte: 2D images with masks, crop, flips, minmax");
  free_epoch(&a);
  free_epoch(&b);

  char *y_bc = seq_yaml(seq, "mode: broadcast, group_size: 2, timeout: 60");
  run_epoch(y_bc, &a);
  uint64_t *hashes = calloc(W, sizeof *hashes);
  DT_CHECK(hashes);
  for (uint64_t k = 0; k < a.steps; k++) {
    DT_OK(bfdi_comm_allgather(dt_comm, &a.hash[k], sizeof a.hash[k], hashes));
    DT_CHECK(hashes[0] == hashes[1] && hashes[2] == hashes[3] && hashes[0] != hashes[2]);
    for (int x = 0; x < BATCH; x++)
      for (int y = 0; y < BATCH; y++) {
        size_t i = k * W * BATCH + (size_t)x, j = k * W * BATCH + 2 * BATCH + (size_t)y;
        DT_CHECK(!(a.valid[i] && a.valid[j] && a.sample[i] == a.sample[j]));
      }
  }
  exactly_once(&a, 2, seq_samples());
  /* with io.cache: the same batches; a group's leader reads every shard
   * whole once, its member nothing */
  char *y_bcc = seq_yaml_io(seq, "workers: 1, cache: true", "mode: broadcast, group_size: 2, timeout: 60");
  run_epoch_reads(seq, y_bcc, &b, leads_group);
  same_bytes(&a, &b);
  passed("broadcast with io.cache = broadcast, byte for byte; leaders read each shard once, members nothing");
  free_epoch(&a);
  free_epoch(&b);
  free(y_bcc);
  free(hashes);
  /* mid-epoch, every rank is at the same position with the same state */
  bfd_loader *bl;
  DT_OK(bfd_loader_open_string(y_bc, NULL, NULL, &bl));
  take(bl, &a, 2);
  free_epoch(&a);
  uint8_t st[64] = {0}, all_st[64 * 64];
  size_t len;
  DT_OK(bfd_loader_state_save(bl, st, sizeof st, &len));
  uint64_t pos[2] = {0, 0}, all_pos[2 * 64];
  uint32_t ep;
  DT_OK(bfd_loader_position(bl, &ep, &pos[1]));
  pos[0] = ep;
  DT_OK(bfd_loader_close(bl));
  DT_OK(bfdi_comm_allgather(dt_comm, st, sizeof st, all_st));
  DT_OK(bfdi_comm_allgather(dt_comm, pos, sizeof pos, all_pos));
  for (uint32_t r = 0; r < W; r++)
    DT_CHECK(!memcmp(all_st + r * sizeof st, st, sizeof st) && all_pos[2 * r] == 0 && all_pos[2 * r + 1] == 2);
  passed("broadcast, groups of 2: members identical, groups disjoint, every sample once plus padding, "
         "positions and states equal");

  char *y_bad = seq_yaml(seq, "mode: broadcast, group_size: 3");
  bfd_loader *l = NULL;
  DT_CHECK(bfd_loader_open_string(y_bad, NULL, NULL, &l) == BFD_ERR_INVALID_ARG && !l);
  DT_CHECK(strstr(bfd_last_error(), "dist.group_size: 3 does not divide the world size 4"));
  passed("broadcast: a group size that does not divide the world is an error naming dist.group_size");

  free(y_bad);
  free(y_bc);
  free(i_shard);
  free(i_ex);
  free(y_shard);
  free(y_ex);
  free(seq);
  free(img);
}

/* Elastic resume: DIR/state (the loader state) and DIR/consumed (counts of
 * the valid samples consumed) pass from the 4-rank run to the 2-rank one. */
static void test_save(const char *dir, const char *data) {
  char *y = seq_yaml(data, "mode: exchange, timeout: 60");
  bfd_loader *l;
  DT_OK(bfd_loader_open_string(y, NULL, NULL, &l));
  epoch e;
  take(l, &e, 2);
  uint8_t state[256];
  size_t len;
  DT_OK(bfd_loader_state_save(l, state, sizeof state, &len));
  /* ranks close at different times: each finishes the step that ran ahead first */
  usleep(150000u * R);
  DT_OK(bfd_loader_close(l));
  uint32_t counts[1024] = {0};
  uint64_t pads = 0;
  int n = seq_samples();
  DT_CHECK(n <= 1024);
  count(&e, 1, counts, n, &pads);
  DT_CHECK(pads == 0);
  if (R == 0) {
    char path[4200];
    snprintf(path, sizeof path, "%s/state", dir);
    FILE *f = fopen(path, "wb");
    DT_CHECK(f && fwrite(state, 1, len, f) == len && fclose(f) == 0);
    snprintf(path, sizeof path, "%s/consumed", dir);
    f = fopen(path, "wb");
    DT_CHECK(f && fwrite(counts, sizeof *counts, (size_t)n, f) == (size_t)n && fclose(f) == 0);
  }
  free_epoch(&e);
  free(y);
  passed("elastic: 2 steps at 4 ranks, state saved");
}

static void test_resume(const char *dir, const char *data) {
  char path[4200];
  uint8_t state[256];
  uint32_t before[1024], after[1024] = {0};
  int n = seq_samples();
  snprintf(path, sizeof path, "%s/state", dir);
  FILE *f = fopen(path, "rb");
  DT_CHECK(f);
  size_t len = fread(state, 1, sizeof state, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/consumed", dir);
  f = fopen(path, "rb");
  DT_CHECK(f && fread(before, sizeof *before, (size_t)n, f) == (size_t)n);
  fclose(f);
  char *y = seq_yaml(data, "mode: exchange, timeout: 60");
  bfd_loader *l;
  DT_OK(bfd_loader_open_string(y, NULL, NULL, &l));
  DT_OK(bfd_loader_state_load(l, state, len));
  epoch e;
  take(l, &e, 0);
  bfd_batch *end;
  DT_OK(bfd_loader_next(l, &end));
  DT_CHECK(end == NULL);
  DT_OK(bfd_loader_close(l));
  uint64_t pads = 0;
  count(&e, 1, after, n, &pads);
  uint64_t consumed = 0;
  for (int s = 0; s < n; s++) {
    DT_CHECK(before[s] + after[s] == 1);
    consumed += before[s];
  }
  DT_CHECK(consumed == 2 * 4 * BATCH);
  free_epoch(&e);
  free(y);
  passed("elastic: resumed at 2 ranks, the rest of the epoch is exactly the samples not consumed");
}

static void write_file(const char *dir, const char *what, long value) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s.%u", dir, what, R);
  FILE *f = fopen(path, "w");
  DT_CHECK(f);
  fprintf(f, "%ld\n", value);
  DT_CHECK(fclose(f) == 0);
}

/* The path of one of this rank's staged shards. */
static void first_staged(const char *stage, char *path, size_t cap) {
  DIR *d = opendir(stage);
  DT_CHECK(d);
  struct dirent *ent;
  path[0] = 0;
  while (!path[0] && (ent = readdir(d)))
    if (!strncmp(ent->d_name, "seq-", 4)) snprintf(path, cap, "%s/%s", stage, ent->d_name);
  closedir(d);
  DT_CHECK(path[0]);
}

/* Flips a byte in the middle of record 0's bytes of the shard at path. */
static void damage(const char *path) {
  bfdi_extents *x;
  DT_OK(bfdi_extents_open_shard(path, &x));
  DT_CHECK(x->n_records > 0 && x->rec[0].length > 0);
  long at = (long)(x->rec[0].offset + x->rec[0].length / 2);
  bfdi_extents_free(x);
  FILE *f = fopen(path, "r+b");
  DT_CHECK(f && fseek(f, at, SEEK_SET) == 0);
  int c = fgetc(f);
  DT_CHECK(c != EOF && fseek(f, at, SEEK_SET) == 0 && fputc(c ^ 0x20, f) != EOF && fclose(f) == 0);
}

/* Rank 1 loses one staged shard (missing) or has it damaged (corrupt); the
 * others have all of theirs. Whole records, so that every CRC is checked. */
static void test_fail_staged(const char *dir, const char *rankdir, const char *data, int corrupt) {
  char stage[4200], path[4500], *dist = NULL;
  snprintf(stage, sizeof stage, "%s/stage", rankdir);
  bfdi_stage_stats st;
  DT_OK(bfdi_stage(data, stage, NULL, R, W, &st));
  DT_CHECK(st.owned > 0 && st.copied == st.owned);
  if (R == 1) {
    first_staged(stage, path, sizeof path);
    if (corrupt)
      damage(path);
    else
      DT_CHECK(unlink(path) == 0);
  }
  DT_OK(bfdi_comm_barrier(dt_comm));
  char *y = NULL;
  DT_CHECK(asprintf(&dist, "mode: exchange, timeout: 20, stage_dir: %s", stage) > 0);
  DT_CHECK(asprintf(&y,
                    "seed: 2\ndatasets: [%s]\nbatch_size: %d\nsequence: {tokenizer: dna, max_len: 160}\n"
                    "device: cpu\nprefetch: 2\nio: {workers: 1}\ndist: {%s}\n",
                    data, BATCH, dist) > 0);
  epoch e;
  run_epoch(y, &e);
  free_epoch(&e);
  free(y);
  free(dist);
  write_file(dir, "rc", 0);
}

static void test_fail_kill(const char *dir, const char *data) {
  char *y = seq_yaml(data, "mode: exchange, timeout: 5");
  bfd_loader *l;
  DT_OK(bfd_loader_open_string(y, NULL, NULL, &l));
  epoch e;
  take(l, &e, 2);
  if (R == 1) raise(SIGKILL);
  free_epoch(&e);
  take(l, &e, 0);
  free_epoch(&e);
  DT_OK(bfd_loader_close(l));
  free(y);
  write_file(dir, "rc", 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  DT_CHECK(argc == 3);
  const char *mode = argv[1], *dir = argv[2];
  dt_join(60);
  R = bfdi_comm_rank(dt_comm);
  W = bfdi_comm_size(dt_comm);
  DT_CHECK(W <= 64);
  char rankdir[4096];
  snprintf(rankdir, sizeof rankdir, "%s/%s.rank%u", dir, mode, R);
  DT_CHECK(mkdir(rankdir, 0755) == 0);
  if (!strncmp(mode, "fail-", 5)) write_file(dir, "pid", (long)getpid());
  if (!strcmp(mode, "modes")) {
    test_modes(rankdir);
  } else {
    char *data = pack_sequences(rankdir);
    if (!strcmp(mode, "save"))
      test_save(dir, data);
    else if (!strcmp(mode, "resume"))
      test_resume(dir, data);
    else if (!strcmp(mode, "fail-missing") || !strcmp(mode, "fail-corrupt"))
      test_fail_staged(dir, rankdir, data, !strcmp(mode, "fail-corrupt"));
    else if (!strcmp(mode, "fail-kill"))
      test_fail_kill(dir, data);
    else
      DT_CHECK(!"unknown mode");
    free(data);
  }
  DT_OK(bfdi_comm_barrier(dt_comm));
  DT_CHECK(nftw(rankdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  bfdi_comm_destroy(dt_comm);
  return 0;
}

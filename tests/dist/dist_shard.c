/* The loader in shard mode across ranks (run by tests/dist/run.sh under
 * mpirun): each rank packs the same small FASTA into its own folder, opens a
 * loader whose rank and world size come from the launcher's environment, and
 * the ranks allgather each step's "sample" and "valid" outputs. Checked: every
 * rank reports the same number of steps per epoch and returns exactly that
 * many batches; with padding, the valid rows are the dataset exactly once
 * and the padding rows number steps x world x batch - records; with
 * drop_last, no sample repeats and only the stated tail is missing. Any
 * wrong value aborts the job; rank 0 prints one line per check.
 * Usage: dist_shard TMPDIR */
#include <ftw.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "biofeed/loader.h"
#include "biofeed/pack.h"
#include "dist_test.h"

#define RECORDS 37
#define BATCH 3

static uint32_t R, W;

static void passed(const char *name) {
  DT_OK(bfdi_comm_barrier(dt_comm));
  if (R == 0) printf("[       OK ] %s\n", name);
  fflush(stdout);
}

/* The same records on every rank: lengths 20 .. 59 from a fixed LCG. */
static char *pack_dataset(const char *dir) {
  char fa[4200], out[4200];
  snprintf(fa, sizeof fa, "%s/seq.fa", dir);
  snprintf(out, sizeof out, "%s/seq", dir);
  FILE *f = fopen(fa, "w");
  DT_CHECK(f);
  uint64_t x = 12345;
  for (int r = 0; r < RECORDS; r++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    int len = 20 + (int)((x >> 33) % 40);
    fprintf(f, ">rec%d\n", r);
    for (int i = 0; i < len; i++) fputc("ACGT"[(x >> (i % 29)) & 3], f);
    fputc('\n', f);
  }
  DT_CHECK(fclose(f) == 0);
  bfd_pack_options o;
  DT_OK(bfd_pack_options_init(&o));
  o.out_dir = out;
  o.records_per_shard = 5;
  const char *ins[] = {fa};
  DT_OK(bfd_pack(&o, ins, 1, NULL));
  return strdup(out);
}

typedef struct row {
  int64_t sample;
  uint8_t valid;
} row;

/* This batch's rows, gathered from every rank into all (W x BATCH). */
static void gather_rows(bfd_batch *b, row *all) {
  row mine[BATCH];
  DLManagedTensor *ts, *tv;
  DT_OK(bfd_batch_get(b, "sample", &ts));
  DT_OK(bfd_batch_get(b, "valid", &tv));
  DT_CHECK(ts->dl_tensor.ndim == 1 && ts->dl_tensor.shape[0] == BATCH && tv->dl_tensor.shape[0] == BATCH);
  const int64_t *s = (const int64_t *)((const char *)ts->dl_tensor.data + ts->dl_tensor.byte_offset);
  const uint8_t *v = (const uint8_t *)((const char *)tv->dl_tensor.data + tv->dl_tensor.byte_offset);
  memset(mine, 0, sizeof mine);
  for (int i = 0; i < BATCH; i++) mine[i] = (row){s[i], v[i]};
  ts->deleter(ts);
  tv->deleter(tv);
  DT_OK(bfdi_comm_allgather(dt_comm, mine, sizeof mine, all));
}

/* One epoch; counts[s] gets how often sample s was a valid row, *pads the
 * padding rows. Returns the steps taken. */
static uint64_t run_epoch(const char *data, int drop_last, uint32_t counts[RECORDS], uint64_t *pads) {
  char yaml[8192];
  snprintf(yaml, sizeof yaml,
           "seed: 7\ndatasets: [%s]\nbatch_size: %d\nsequence: {tokenizer: dna, max_len: 64}\ndevice: cpu\n"
           "prefetch: 2\nio: {workers: 1}\nsampling: {drop_last: %s}\n",
           data, BATCH, drop_last ? "true" : "false");
  bfd_loader *l;
  DT_OK(bfd_loader_open_string(yaml, NULL, NULL, &l));
  uint64_t steps, all_steps[64];
  DT_CHECK(W <= 64);
  DT_OK(bfd_loader_steps_per_epoch(l, &steps));
  DT_OK(bfdi_comm_allgather(dt_comm, &steps, sizeof steps, all_steps));
  for (uint32_t r = 0; r < W; r++) DT_CHECK(all_steps[r] == steps);
  memset(counts, 0, RECORDS * sizeof *counts);
  *pads = 0;
  row *all = calloc((size_t)W * BATCH, sizeof *all);
  DT_CHECK(all);
  for (uint64_t step = 0; step < steps; step++) {
    bfd_batch *b;
    DT_OK(bfd_loader_next(l, &b));
    DT_CHECK(b);
    bfd_batch_info info;
    DT_OK(bfd_batch_info_get(b, &info));
    DT_CHECK(info.step == step && info.samples == BATCH);
    gather_rows(b, all);
    DT_OK(bfd_batch_release(b));
    for (size_t i = 0; i < (size_t)W * BATCH; i++) {
      DT_CHECK(all[i].sample >= 0 && all[i].sample < RECORDS);
      if (all[i].valid)
        counts[all[i].sample]++;
      else
        ++*pads;
    }
  }
  bfd_batch *end;
  DT_OK(bfd_loader_next(l, &end));
  DT_CHECK(end == NULL);
  free(all);
  DT_OK(bfd_loader_close(l));
  return steps;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int main(int argc, char **argv) {
  DT_CHECK(argc == 2);
  dt_join(60);
  R = bfdi_comm_rank(dt_comm);
  W = bfdi_comm_size(dt_comm);
  char dir[3072];
  snprintf(dir, sizeof dir, "%s/rank%u", argv[1], R);
  DT_CHECK(mkdir(dir, 0755) == 0);
  char *data = pack_dataset(dir);

  uint32_t counts[RECORDS];
  uint64_t pads;
  uint64_t steps = run_epoch(data, 0, counts, &pads);
  DT_CHECK(steps == ((RECORDS + BATCH - 1) / BATCH + W - 1) / W);
  for (int s = 0; s < RECORDS; s++) DT_CHECK(counts[s] == 1);
  DT_CHECK(pads == steps * W * BATCH - RECORDS);
  passed("shard, padded: every sample exactly once, padding as stated");

  steps = run_epoch(data, 1, counts, &pads);
  DT_CHECK(steps == (RECORDS / BATCH) / W);
  uint64_t seen = 0;
  for (int s = 0; s < RECORDS; s++) {
    DT_CHECK(counts[s] <= 1);
    seen += counts[s];
  }
  DT_CHECK(pads == 0 && seen == steps * W * BATCH);
  passed("shard, drop_last: no sample twice, only the stated tail dropped");

  free(data);
  DT_CHECK(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
  bfdi_comm_destroy(dt_comm);
  return 0;
}

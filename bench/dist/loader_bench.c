/* Exchange mode through the loader under mpirun (bench/dist/run.sh): the
 * same job in `shard` mode (each rank reads its own samples) and in
 * `exchange` mode (each rank reads the shards it owns; an all-to-all hands
 * the decoded records to their consumers), alternated over ROUNDS rounds,
 * median reported. Rank 0 writes and packs the data first (2D uint16 images,
 * or DNA records cut into windows) into DIR, shared by the ranks.
 * MB/s per rank = decoded record bytes a rank's batches hold / seconds, over
 * STEPS batches after WARM, averaged over the ranks; the ratio is exchange
 * over shard in the same run. Rank 0 prints one markdown row per workload.
 * Usage: loader_bench DIR */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <time.h>

#include "biofeed/loader.h"
#include "biofeed/pack.h"

#define ROUNDS 5
#define WARM 3
#define STEPS 100
#define IMAGES 512
#define SIDE 256
#define IMG_BATCH 16
#define RECORDS 64
#define RECORD_LEN 200000
#define WINDOW 8192
#define SEQ_BATCH 32

static void check(bfd_status st, const char *what) {
  if (st == BFD_OK) return;
  fprintf(stderr, "loader_bench: %s: %s\n", what, bfd_last_error());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t lcg(uint64_t *x) {
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}

static void write_images(const char *dir) {
  char in[4200], out[4200], path[4400];
  snprintf(in, sizeof in, "%s/img-in", dir);
  snprintf(out, sizeof out, "%s/img", dir);
  mkdir(in, 0755);
  uint16_t *row = malloc(SIDE * sizeof *row);
  uint64_t x = 1;
  for (int i = 0; i < IMAGES; i++) {
    snprintf(path, sizeof path, "%s/im%04d.tif", in, i);
    TIFF *t = TIFFOpen(path, "w");
    if (!t || !row) MPI_Abort(MPI_COMM_WORLD, 2);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)SIDE);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)SIDE);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)SIDE);
    for (int y = 0; y < SIDE; y++) {
      for (int c = 0; c < SIDE; c++) row[c] = (uint16_t)lcg(&x);
      TIFFWriteScanline(t, row, (uint32_t)y, 0);
    }
    TIFFClose(t);
  }
  free(row);
  bfd_pack_options o;
  check(bfd_pack_options_init(&o), "pack options");
  o.out_dir = out;
  o.records_per_shard = 16;
  const char *ins[] = {in};
  check(bfd_pack(&o, ins, 1, NULL), "pack images");
}

static void write_sequences(const char *dir) {
  char fa[4200], out[4200];
  snprintf(fa, sizeof fa, "%s/seq.fa", dir);
  snprintf(out, sizeof out, "%s/seq", dir);
  FILE *f = fopen(fa, "w");
  if (!f) MPI_Abort(MPI_COMM_WORLD, 2);
  uint64_t x = 7;
  for (int r = 0; r < RECORDS; r++) {
    fprintf(f, ">chr%d\n", r);
    for (int i = 0; i < RECORD_LEN; i++) {
      fputc("ACGT"[lcg(&x) & 3], f);
      if (i % 80 == 79) fputc('\n', f);
    }
    fputc('\n', f);
  }
  fclose(f);
  bfd_pack_options o;
  check(bfd_pack_options_init(&o), "pack options");
  o.out_dir = out;
  o.records_per_shard = 2;
  const char *ins[] = {fa};
  check(bfd_pack(&o, ins, 1, NULL), "pack sequences");
}

typedef struct workload {
  const char *name;
  const char *yaml; /* printf: data folder, mode */
  double batch_bytes;
} workload;

/* Seconds per batch over STEPS batches of a fresh loader in mode. */
static double run(const char *dir, const workload *w, const char *mode) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml, w->yaml, dir, mode);
  bfd_loader *l;
  check(bfd_loader_open_string(yaml, NULL, NULL, &l), "open");
  double t0 = 0;
  for (int k = 0; k < WARM + STEPS; k++) {
    if (k == WARM) t0 = now();
    bfd_batch *b;
    check(bfd_loader_next(l, &b), "next");
    if (!b) check(bfd_loader_next(l, &b), "next epoch");
    check(bfd_batch_release(b), "release");
  }
  double dt = (now() - t0) / STEPS;
  check(bfd_loader_close(l), "close");
  return dt;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int provided;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank, world;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (argc != 2) MPI_Abort(MPI_COMM_WORLD, 2);
  const char *dir = argv[1];
  char probe[4200];
  snprintf(probe, sizeof probe, "%s/img/manifest.json", dir);
  struct stat sb;
  if (rank == 0 && stat(probe, &sb) != 0) {
    write_images(dir);
    write_sequences(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  const workload ws[] = {
      {"2D images 256x256 uint16, batch 16",
       "seed: 1\ndatasets: [%s/img]\nbatch_size: 16\nimage: {ops: [{flip: {axes: [y, x], prob: 0.5}}]}\n"
       "device: cpu\nprefetch: 4\nio: {workers: 1}\ndist: {mode: %s}\n",
       (double)IMG_BATCH * SIDE * SIDE * 2},
      {"DNA 8 kb windows, batch 32",
       "seed: 1\ndatasets: [%s/seq]\nbatch_size: 32\nsequence: {tokenizer: dna, max_len: 8194, "
       "window: {length: 8192, mode: random}}\ndevice: cpu\nprefetch: 4\nio: {workers: 1}\ndist: {mode: %s}\n",
       (double)SEQ_BATCH * WINDOW},
  };
  for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
    double shard[ROUNDS], exch[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
      shard[r] = run(dir, &ws[i], "shard");
      exch[r] = run(dir, &ws[i], "exchange");
    }
    qsort(shard, ROUNDS, sizeof *shard, cmp);
    qsort(exch, ROUNDS, sizeof *exch, cmp);
    double mine[2] = {ws[i].batch_bytes / shard[ROUNDS / 2] / 1e6, ws[i].batch_bytes / exch[ROUNDS / 2] / 1e6};
    double sum[2];
    MPI_Reduce(mine, sum, 2, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0)
      printf("| %d | %s | %.0f | %.0f | %.2f |\n", world, ws[i].name, sum[0] / world, sum[1] / world,
             sum[1] / sum[0]);
    fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}

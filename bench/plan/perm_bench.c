/* The epoch permutation's cost per position (loader/plan/perm.c): the same
 * orders walked with Philox-drawn Feistel rounds and with the rounds looked
 * up in tables (bfdi_perm_tabulate), in the same run, one position at a time
 * (bfdi_perm_at) and batched the way the sampler walks a rank's next
 * batches (bfdi_perm_at_runs, 256 positions in runs of 32); and the time to
 * build the tables. Prints a markdown table.
 *
 *   perm_bench [ROUNDS]   (the best of ROUNDS timings each, default 5) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "plan/perm.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

enum { SINGLE = 1000000, BATCHES = 20000, WALK = 256, RUN = 32 };

static volatile uint64_t sink;

/* ns per position, best of `rounds`: single positions, then batched walks. */
static void walk(const bfdi_perm *p, int rounds, double *single, double *batched) {
  uint64_t out[WALK];
  *single = *batched = 1e30;
  for (int r = 0; r < rounds; r++) {
    double t0 = now();
    for (uint64_t i = 0; i < SINGLE; i++) sink += bfdi_perm_at(p, i % p->n);
    double t1 = now();
    for (uint64_t i = 0; i < BATCHES; i++) {
      bfdi_perm_at_runs(p, i * WALK % (p->n - 2 * WALK), RUN, 2 * RUN, WALK, out);
      sink += out[i % WALK];
    }
    double t2 = now();
    if ((t1 - t0) * 1e9 / SINGLE < *single) *single = (t1 - t0) * 1e9 / SINGLE;
    if ((t2 - t1) * 1e9 / ((double)BATCHES * WALK) < *batched) *batched = (t2 - t1) * 1e9 / ((double)BATCHES * WALK);
  }
}

int main(int argc, char **argv) {
  const int rounds = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 5;
  /* dna_pretrain's windows, a larger dataset, and near the largest tabulated domain (4^12) */
  static const uint64_t ns[] = {4850, 100000, 16000000};
  printf("| samples | single, drawn ns | single, tables ns | ratio | batched, drawn ns | batched, tables ns | ratio "
         "| tables built ms |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (size_t a = 0; a < sizeof ns / sizeof *ns; a++) {
    bfdi_perm drawn;
    if (bfdi_perm_init(&drawn, ns[a], 42, 0) != BFD_OK) return 1;
    bfdi_perm tab = drawn;
    uint32_t *table = malloc(bfdi_perm_table_len(ns[a]) * sizeof *table);
    if (!table) return 1;
    double build = 1e30;
    for (int r = 0; r < rounds; r++) {
      tab = drawn;
      double t0 = now();
      bfdi_perm_tabulate(&tab, table);
      if (now() - t0 < build) build = now() - t0;
    }
    double s0, b0, s1, b1;
    walk(&drawn, rounds, &s0, &b0);
    walk(&tab, rounds, &s1, &b1);
    printf("| %llu | %.1f | %.1f | %.1f× | %.1f | %.1f | %.1f× | %.3f |\n", (unsigned long long)ns[a], s0, s1, s0 / s1,
           b0, b1, b0 / b1, build * 1e3);
    free(table);
  }
  return 0;
}

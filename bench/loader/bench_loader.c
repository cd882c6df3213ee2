/* The loader benchmark: for each job config, time to first batch, the
 * end-to-end rate of the threaded pipeline, and the rate of its slowest
 * stage alone (every stage run one after another on one thread for the same
 * batches, each timed on its own). The overlap works when the pipeline runs
 * at (nearly) the slowest stage's rate: the ratio column.
 *
 *   bench_loader [-n BATCHES] [-s SECONDS] [-r ROUNDS] CONFIG...
 *
 * Prints one markdown row per config; a config whose data is missing gets a
 * row saying so. Each pass takes at least BATCHES batches (default 100), and
 * more for a config whose batches are quick: as many as the warm-up pass
 * says last SECONDS (default 0.5), so that a scheduling hiccup does not
 * decide a row. Page cache warm: every measured pass follows a warm-up pass
 * over the same batches. Each round measures the stages alone and then the
 * pipeline, back to back, so that both see about the same load on a shared
 * machine; the row is the round with the median ratio (ROUNDS, default 3). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "biofeed/loader.h"
#include "config/job.h"
#include "pipeline/pipe.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct run {
  double first_s, total_s;
  uint64_t batches, samples, bytes, tokens;
  bfd_stage_stats st[6];
} run;

static int fail(const char *cfg, const char *what) {
  printf("| %s | %s: %s | | | | | | | |\n", cfg, what, bfd_last_error());
  return 1;
}

/* Opens the loader, takes n batches (across epochs), and closes it. */
static int pipelined(const char *cfg, uint64_t n, run *r) {
  memset(r, 0, sizeof *r);
  double t0 = now();
  bfd_loader *l;
  if (bfd_loader_open(cfg, NULL, &l) != BFD_OK) return fail(cfg, "open");
  while (r->batches < n) {
    bfd_batch *b;
    if (bfd_loader_next(l, &b) != BFD_OK) {
      bfd_loader_close(l);
      return fail(cfg, "next");
    }
    if (!b) continue;
    if (r->batches == 0) r->first_s = now() - t0;
    bfd_batch_info info;
    bfd_batch_info_get(b, &info);
    r->samples += info.samples;
    for (size_t i = 0; i < info.n_outputs; i++) {
      const char *name;
      DLManagedTensor *t;
      bfd_batch_output(b, i, &name, &t);
      uint64_t e = 1;
      for (int k = 0; k < t->dl_tensor.ndim; k++) e *= (uint64_t)t->dl_tensor.shape[k];
      r->bytes += e * t->dl_tensor.dtype.bits / 8;
      if (!strcmp(name, "lengths") && t->dl_tensor.device.device_type == kDLCPU)
        for (uint64_t k = 0; k < e; k++) r->tokens += (uint64_t)((const int32_t *)t->dl_tensor.data)[k];
      t->deleter(t);
    }
    bfd_batch_release(b);
    r->batches++;
  }
  r->total_s = now() - t0;
  bfd_loader_stats(l, r->st, 6, NULL);
  bfd_loader_close(l);
  return 0;
}

/* The same n batches, stages one after another, each timed. */
static int serial(const char *cfg, uint64_t n, double stage_s[6]) {
  bfdi_job job;
  if (bfdi_job_load(cfg, &job) != BFD_OK) return fail(cfg, "config");
  bfdi_pipe *p;
  if (bfdi_pipe_create(&job, 0, 1, &p) != BFD_OK) return fail(cfg, "open");
  memset(stage_s, 0, 6 * sizeof *stage_s);
  bfd_status st = bfdi_pipe_run_serial(p, n, stage_s);
  bfdi_pipe_close(p);
  return st == BFD_OK ? 0 : fail(cfg, "serial run");
}

#define MAX_ROUNDS 15

typedef struct round {
  run r;
  double stage_s[6];
  int slow;
  double rate, alone;
} round;

static int cmp_ratio(const void *a, const void *b) {
  const round *x = a, *y = b;
  double u = x->rate / x->alone, v = y->rate / y->alone;
  return (u > v) - (u < v);
}

/* Batches a pass of at least min_s seconds takes, at the warm-up's rate. */
#define MAX_BATCHES 1000000u

static uint64_t batches_for(const run *warm, uint64_t n, double min_s) {
  const double per = (warm->total_s - warm->first_s) / (double)(warm->batches > 1 ? warm->batches - 1 : 1);
  if (per <= 0.0 || (double)n * per >= min_s) return n;
  const double want = min_s / per + 1.0;
  return want > MAX_BATCHES ? MAX_BATCHES : (uint64_t)want;
}

int main(int argc, char **argv) {
  uint64_t min_n = 100;
  double min_s = 0.5;
  int rounds = 3;
  int c;
  while ((c = getopt(argc, argv, "n:s:r:")) != -1) {
    if (c == 'n' && strtoull(optarg, NULL, 10) >= 2) {
      min_n = strtoull(optarg, NULL, 10);
    } else if (c == 's' && atof(optarg) >= 0.0) {
      min_s = atof(optarg);
    } else if (c == 'r' && atoi(optarg) >= 1 && atoi(optarg) <= MAX_ROUNDS) {
      rounds = atoi(optarg);
    } else {
      fprintf(stderr, "usage: %s [-n BATCHES (>= 2)] [-s SECONDS] [-r ROUNDS (1..%d)] CONFIG...\n", argv[0],
              MAX_ROUNDS);
      return 2;
    }
  }
  static const char *const names[6] = {"plan", "read", "decode", "upload", "ops", "batch"};
  printf("| config | batches | samples/s | MB/s out | tokens/s | first batch s | slowest stage alone | "
         "its batches/s | pipeline batches/s | pipeline / slowest |\n");
  printf("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n");
  int bad = 0;
  for (int i = optind; i < argc; i++) {
    const char *cfg = argv[i];
    run warm;
    round rd[MAX_ROUNDS];
    uint64_t n = min_n;
    int failed = pipelined(cfg, n, &warm);
    /* a short warm-up pass runs slower than a long one (first touches, a
     * cold cache): a few passes settle the count, each warming all n */
    for (int k = 0; k < 3 && !failed; k++) {
      const uint64_t want = batches_for(&warm, n, min_s);
      if (want <= n) break;
      n = want;
      failed = pipelined(cfg, n, &warm);
    }
    for (int k = 0; k < rounds && !failed; k++) {
      round *o = &rd[k];
      failed = serial(cfg, n, o->stage_s) || pipelined(cfg, n, &o->r);
      if (failed) break;
      o->slow = 0;
      for (int s = 1; s < 6; s++)
        if (o->stage_s[s] > o->stage_s[o->slow]) o->slow = s;
      /* the pipelined rate counts from the first batch: opening is reported apart */
      o->rate = (double)(o->r.batches - 1) / (o->r.total_s - o->r.first_s);
      o->alone = (double)n / o->stage_s[o->slow];
    }
    if (failed) {
      bad = 1;
      continue;
    }
    qsort(rd, (size_t)rounds, sizeof *rd, cmp_ratio);
    const round *m = &rd[rounds / 2];
    const run r = m->r;
    const double *stage_s = m->stage_s;
    const int slow = m->slow;
    const double rate = m->rate, alone = m->alone;
    const char *base = strrchr(cfg, '/') ? strrchr(cfg, '/') + 1 : cfg;
    char tok[32] = "";
    if (r.tokens) snprintf(tok, sizeof tok, "%.0f", (double)r.tokens / r.total_s);
    printf("| %s | %llu | %.0f | %.1f | %s | %.3f | %s (%.2f ms/batch) | %.1f | %.1f | %.2f |\n", base,
           (unsigned long long)r.batches, (double)r.samples / r.total_s, (double)r.bytes / r.total_s / 1e6, tok,
           r.first_s, names[slow], 1e3 * stage_s[slow] / (double)n, alone, rate, rate / alone);
    fprintf(stderr, "%s: stage ms/batch alone:", base);
    for (int k = 0; k < 6; k++) fprintf(stderr, " %s %.3f", names[k], 1e3 * stage_s[k] / (double)n);
    fprintf(stderr, "\n%s: pipelined busy/wait-in/wait-out s:", base);
    for (int k = 0; k < 6; k++)
      fprintf(stderr, " %s %.2f/%.2f/%.2f", names[k], r.st[k].busy_s, r.st[k].wait_in_s, r.st[k].wait_out_s);
    fprintf(stderr, "\n");
  }
  return bad;
}

/* The loader benchmark: for each job config, time to first batch, the
 * end-to-end rate of the threaded pipeline, and the rate of its slowest
 * stage alone (every stage run one after another on one thread for the same
 * batches, each timed on its own). The overlap works when the pipeline runs
 * at (nearly) the slowest stage's rate: the ratio column.
 *
 *   bench_loader [-n BATCHES] CONFIG...
 *
 * Prints one markdown row per config; a config whose data is missing gets a
 * row saying so. Page cache warm: every measured pass follows a warm-up pass
 * over the same batches. */
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

int main(int argc, char **argv) {
  uint64_t n = 100;
  int c;
  while ((c = getopt(argc, argv, "n:")) != -1) {
    if (c == 'n') {
      n = strtoull(optarg, NULL, 10);
    } else {
      fprintf(stderr, "usage: %s [-n BATCHES] CONFIG...\n", argv[0]);
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
    run warm, r;
    double stage_s[6];
    if (pipelined(cfg, n, &warm) || serial(cfg, n, stage_s) || pipelined(cfg, n, &r)) {
      bad = 1;
      continue;
    }
    int slow = 0;
    for (int k = 1; k < 6; k++)
      if (stage_s[k] > stage_s[slow]) slow = k;
    /* the pipelined rate counts from the first batch: opening is reported apart */
    double steady = r.total_s - r.first_s;
    double rate = (double)(r.batches - 1) / steady, alone = (double)n / stage_s[slow];
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

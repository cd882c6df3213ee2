/* Sequence ops determinism across backends and thread counts: for a range
 * of settings (every tokenizer mode, case modes, reverse complement, MLM and
 * span masking, windows with BED regions, N rejection and shifts, one-hot in
 * every dtype, each truncation and padding mode), the CUDA kernels (run on
 * the emulator in this build) and the CPU backend with 1 and 2 OpenMP
 * threads give the same bytes in every output. */
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/seq_run.h"

enum { NREC = 12, B = 40 };

/* Records with everything the ops treat specially: lowercase runs, N runs,
 * IUPAC codes, bytes outside every alphabet, empty and short records. */
static char *records[NREC];
static const char *names[NREC];
static uint64_t lengths[NREC];

static int setup(void **state) {
  (void)state;
  uint32_t seed = 2024;
  for (int r = 0; r < NREC; r++) {
    size_t n = r == 0 ? 0 : r == 1 ? 3 : (size_t)(200 + 397 * r);
    records[r] = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
      seed = seed * 1664525u + 1013904223u;
      uint32_t x = seed >> 8;
      char c = "ACGT"[x & 3];
      if (x % 97 == 0) c = "RYSWKMBDHVU-x*"[(x >> 7) % 14];
      if ((i / 50) % 7 == 3) c = (char)(c | 0x20);
      if ((i / 120) % 9 == 4 && r % 3) c = 'N';
      records[r][i] = c;
    }
    records[r][n] = 0;
    lengths[r] = n;
  }
  static const char *const nm[NREC] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "c10", "c11"};
  memcpy(names, nm, sizeof names);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  for (int r = 0; r < NREC; r++) free(records[r]);
  return 0;
}

typedef struct device_batch {
  void *data, *offsets, *record, *sample, *tile, *tab, *work;
  void *roff, *rstart, *rend, *rcum;
  void *ids, *attn, *lengths, *labels, *soft, *onehot, *start, *redraws, *rc;
} device_batch;

static void *up(const void *host, size_t n) {
  void *d = NULL;
  assert_int_equal(bfdk_seq_cuda_upload(host, n, &d), BFD_OK);
  return d;
}

static void *dalloc(size_t n) {
  void *d = NULL;
  assert_int_equal(bfdk_seq_cuda_alloc(n, &d), BFD_OK);
  return d;
}

/* Runs the batch of s on the CUDA backend and downloads into d (an sr of
 * the same shape). */
static void run_cuda(const bfdk_seq_params *p, const int32_t *tab, size_t ntab, const sr *s,
                     const bfdk_seq_regions_owned *rg, sr *d) {
  device_batch g;
  memset(&g, 0, sizeof g);
  int64_t n = s->in.n;
  size_t cells = (size_t)n * (size_t)s->cap;
  g.data = up(s->data, s->offsets[NREC]);
  g.offsets = up(s->offsets, (NREC + 1) * sizeof(uint64_t));
  g.record = up(s->record, (size_t)n * sizeof(uint64_t));
  g.sample = up(s->sample, (size_t)n * sizeof(uint64_t));
  g.tile = up(s->tile, (size_t)n * sizeof(uint64_t));
  g.tab = up(tab, ntab * sizeof(int32_t));
  g.work = dalloc(bfdk_seq_work_bytes(n));
  bfdk_seq_input in = s->in;
  in.data = g.data;
  in.offsets = g.offsets;
  in.record = g.record;
  in.sample = g.sample;
  in.tile = s->in.tile ? g.tile : NULL;
  if (rg) {
    g.roff = up(rg->off, (NREC + 1) * sizeof(uint64_t));
    g.rstart = up(rg->start, rg->n * sizeof(int64_t));
    g.rend = up(rg->end, rg->n * sizeof(int64_t));
    g.rcum = up(rg->cum, (rg->n + 1) * sizeof(uint64_t));
    in.regions.off = g.roff;
    in.regions.start = g.rstart;
    in.regions.end = g.rend;
    in.regions.cum = g.rcum;
  }
  bfdk_seq_output out;
  memset(&out, 0, sizeof out);
  out.ids = g.ids = dalloc(cells * 8);
  out.attn = g.attn = dalloc(cells);
  out.lengths = g.lengths = dalloc((size_t)n * 4);
  out.labels = s->out.labels ? (g.labels = dalloc(cells * 8)) : NULL;
  out.softmask = g.soft = dalloc(cells);
  out.onehot = s->out.onehot ? (g.onehot = dalloc(cells * 16)) : NULL;
  out.start = g.start = dalloc((size_t)n * 8);
  out.redraws = g.redraws = dalloc((size_t)n * 4);
  out.rc = g.rc = dalloc((size_t)n);
  assert_int_equal(bfdk_seq_batch_cuda(p, g.tab, &in, &out, g.work, &d->width, NULL), BFD_OK);
  size_t used = (size_t)n * (size_t)d->width;
  assert_int_equal(bfdk_seq_cuda_download(d->out.ids, g.ids, used * 8), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.attn, g.attn, used), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.lengths, g.lengths, (size_t)n * 4), BFD_OK);
  if (g.labels) assert_int_equal(bfdk_seq_cuda_download(d->out.labels, g.labels, used * 8), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.softmask, g.soft, used), BFD_OK);
  if (g.onehot) assert_int_equal(bfdk_seq_cuda_download(d->out.onehot, g.onehot, used * 16), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.start, g.start, (size_t)n * 8), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.redraws, g.redraws, (size_t)n * 4), BFD_OK);
  assert_int_equal(bfdk_seq_cuda_download(d->out.rc, g.rc, (size_t)n), BFD_OK);
  void **all = (void **)&g;
  for (size_t i = 0; i < sizeof g / sizeof(void *); i++) bfdk_seq_cuda_free(all[i]);
}

static size_t onehot_bytes(const bfdk_seq_params *p) { return p->onehot_dtype == BFD_SEQ_F32 ? 4 : 2; }

static void assert_same(const char *what, const bfdk_seq_params *p, const sr *a, const sr *b) {
  assert_int_equal(a->width, b->width);
  size_t used = (size_t)B * (size_t)a->width;
  struct {
    const char *name;
    const void *x, *y;
    size_t n;
  } outs[] = {{"ids", a->out.ids, b->out.ids, used * 8},
              {"attn", a->out.attn, b->out.attn, used},
              {"lengths", a->out.lengths, b->out.lengths, B * 4},
              {"labels", a->out.labels, b->out.labels, a->out.labels ? used * 8 : 0},
              {"softmask", a->out.softmask, b->out.softmask, used},
              {"onehot", a->out.onehot, b->out.onehot, a->out.onehot ? used * 4 * onehot_bytes(p) : 0},
              {"start", a->out.start, b->out.start, B * 8},
              {"redraws", a->out.redraws, b->out.redraws, B * 4},
              {"rc", a->out.rc, b->out.rc, B}};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
    if (outs[i].n && memcmp(outs[i].x, outs[i].y, outs[i].n))
      fail_msg("%s: output %s differs", what, outs[i].name);
}

typedef struct setting {
  const char *name;
  const char *preset;
  int32_t k, case_mode;
  void (*tweak)(bfdk_seq_params *p);
  int onehot, bed;
} setting;

static void t_dna(bfdk_seq_params *p) {
  p->rc_p = 0.5f;
  p->mlm_p = 0.15f;
  p->max_len = 300;
  p->pad_longest = 1;
  p->truncation = BFD_SEQ_TRUNC_RANDOM;
  p->onehot_dtype = BFD_SEQ_F16;
  p->onehot_uniform = 1;
}
static void t_esm(bfdk_seq_params *p) {
  p->mlm_p = 0.15f;
  p->max_len = 256;
  p->truncation = BFD_SEQ_TRUNC_LEFT;
}
static void t_dnabert(bfdk_seq_params *p) {
  p->rc_p = 0.5f;
  p->mlm_p = 0.03f;
  p->mlm_span = 1;
  p->max_len = 512;
  p->truncation = BFD_SEQ_TRUNC_RANDOM;
}
static void t_nt(bfdk_seq_params *p) {
  p->rc_p = 0.5f;
  p->mlm_p = 0.15f;
  p->max_len = 200;
  p->truncation = BFD_SEQ_TRUNC_RANDOM;
  p->pad_longest = 1;
}
static void t_hyena_windows(bfdk_seq_params *p) {
  p->sample_mode = BFD_SEQ_WINDOW_RANDOM;
  p->window = 700;
  p->max_len = 701;
  p->max_n_frac = 0.05;
  p->max_attempts = 8;
  p->shift = 3;
  p->rc_p = 0.5f;
  p->onehot_dtype = BFD_SEQ_BF16;
  p->onehot_uniform = 1;
}
static void t_nt_tiled(bfdk_seq_params *p) {
  p->sample_mode = BFD_SEQ_WINDOW_TILED;
  p->window = 1200;
  p->tile_stride = 500;
  p->max_n_frac = 0.1;
  p->max_len = 210;
  p->mlm_p = 0.15f;
}
static void t_byte_tiled(bfdk_seq_params *p) {
  p->sample_mode = BFD_SEQ_WINDOW_TILED;
  p->window = 257;
  p->tile_stride = 100;
  p->max_len = 300;
  p->onehot_dtype = BFD_SEQ_F32;
  p->rc_p = 0.5f;
  p->shift = 20;
}

static const setting settings[] = {
    {"dna softmask rc mlm f16", "dna", 0, BFD_SEQ_CASE_SOFTMASK, t_dna, 1, 0},
    {"esm2 mlm left", "esm2", 0, BFD_SEQ_CASE_UPPER, t_esm, 0, 0},
    {"dnabert6 span rc", "dnabert", 6, BFD_SEQ_CASE_SOFTMASK, t_dnabert, 0, 0},
    {"nt rc mlm", "nt", 0, BFD_SEQ_CASE_N, t_nt, 0, 0},
    {"hyenadna windows bed N shift bf16", "hyenadna", 0, BFD_SEQ_CASE_UPPER, t_hyena_windows, 1, 1},
    {"nt tiled bed N", "nt", 0, BFD_SEQ_CASE_SOFTMASK, t_nt_tiled, 0, 1},
    {"byte tiled f32", "byte", 0, BFD_SEQ_CASE_SOFTMASK, t_byte_tiled, 1, 0},
};

static const char bed_text[] = "c5\t100\t900\nc5\t1500\t2100\nc7\t0\t300\nc9\t2000\t3700\nc11\t10\t4000\n";

static void run_setting(const setting *st) {
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  size_t ntab;
  assert_int_equal(bfdk_seq_vocab_preset(st->preset, st->k, &v), BFD_OK);
  bfdk_seq_params_init(&p, &v);
  st->tweak(&p);
  if (bfdk_seq_params_check(&p, &v, st->case_mode) != BFD_OK) fail_msg("%s: %s", st->name, bfd_last_error());
  assert_int_equal(bfdk_seq_tables_build(&v, st->case_mode, &tab, &ntab), BFD_OK);
  bfdk_seq_regions_owned rg;
  memset(&rg, 0, sizeof rg);
  if (st->bed) {
    bfdk_seq_bed bed;
    size_t unmatched;
    assert_int_equal(bfdk_seq_bed_parse(bed_text, sizeof bed_text - 1, "p.bed", &bed), BFD_OK);
    assert_int_equal(bfdk_seq_regions_resolve(&bed, "p.bed", names, lengths, NREC, &p, &rg, &unmatched), BFD_OK);
    bfdk_seq_bed_free(&bed);
  }
  sr runs[3];
  for (int i = 0; i < 3; i++) {
    sr_init(&runs[i], (const char *const *)records, NREC, B, p.max_len);
    for (int b = 0; b < B; b++) {
      runs[i].sample[b] = 1000003u * (uint64_t)b + 7;
      runs[i].record[b] = (uint64_t)(b * 5) % NREC;
      runs[i].tile[b] = (uint64_t)b / 3;
    }
    runs[i].in.tile = p.sample_mode == BFD_SEQ_WINDOW_TILED ? runs[i].tile : NULL;
    runs[i].in.seed = 0x1234567890abcdefull;
    runs[i].in.epoch = 3;
    if (st->bed) runs[i].in.regions = rg.view;
    if (!st->onehot) runs[i].out.onehot = NULL;
    memset(runs[i].out.softmask, 0xee, (size_t)B * (size_t)runs[i].cap);
  }
  omp_set_num_threads(1);
  assert_int_equal(sr_cpu(&runs[0], &p, tab), BFD_OK);
  omp_set_num_threads(2);
  assert_int_equal(sr_cpu(&runs[1], &p, tab), BFD_OK);
  run_cuda(&p, tab, ntab, &runs[0], st->bed ? &rg : NULL, &runs[2]);
  char what[128];
  snprintf(what, sizeof what, "%s: 1 vs 2 threads", st->name);
  assert_same(what, &p, &runs[0], &runs[1]);
  snprintf(what, sizeof what, "%s: CPU vs CUDA (emulated)", st->name);
  assert_same(what, &p, &runs[0], &runs[2]);
  /* The settings did what they say: some rows reverse complemented, some
   * tokens picked, windows redrawn. */
  int rc = 0, picked = 0, redrawn = 0;
  for (int b = 0; b < B; b++) {
    rc += runs[0].out.rc[b];
    redrawn += runs[0].out.redraws[b] != 0;
  }
  for (size_t i = 0; i < (size_t)B * (size_t)runs[0].width; i++) picked += runs[0].out.labels[i] != -100;
  if (p.rc_p > 0) assert_true(rc > 5 && rc < B - 5);
  if (p.mlm_p > 0) assert_true(picked > 0);
  if (p.max_n_frac < 1.0 && st->case_mode != BFD_SEQ_CASE_N) assert_true(redrawn > 0);
  for (int i = 0; i < 3; i++) sr_free(&runs[i]);
  bfdk_seq_regions_free(&rg);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_parity(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
    print_message("parity: %s\n", settings[i].name);
    run_setting(&settings[i]);
  }
}

static void test_empty_batch(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("dna", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  sr s;
  sr_init(&s, (const char *const *)records, NREC, 0, 16);
  p.pad_longest = 1;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  assert_int_equal(s.width, 0);
  s.width = -1;
  assert_int_equal(bfdk_seq_batch_cuda(&p, tab, &s.in, &s.out, s.work, &s.width, NULL), BFD_OK);
  assert_int_equal(s.width, 0);
  sr_free(&s);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_real_gpu(void **state) {
  (void)state;
  print_message("SKIP seq CPU/GPU parity on a real GPU: this test build runs the CUDA kernels on the emulator; "
                "bench/seq/gpu_check.sh compares them on a GPU machine\n");
  skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parity),
      cmocka_unit_test(test_empty_batch),
      cmocka_unit_test(test_real_gpu),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

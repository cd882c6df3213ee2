/* Benchmark driver for the sequence ops on the CPU backend: generates a
 * deterministic DNA and protein corpus (written to DIR for the Python side,
 * bench/seq/seq_bench.py), then times each op through bfdk_seq_batch_cpu on
 * however many OpenMP threads it is given (run.sh gives one) and prints one
 * tab-separated line per op: op, "biofeed", tokens, input bytes, seconds
 * (best of RUNS). In a CUDA build on a machine with a GPU it also runs each
 * op through bfdk_seq_batch_cuda, checks that every output equals the CPU
 * backend's bit for bit, and times it ("biofeed-cuda" lines, input already
 * on the device). Built and run by bench/seq/run.sh. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "seq.h"

enum { N_DNA = 8192, DNA_LEN = 1024, N_PROT = 8192, CHROM_LEN = 1 << 26, N_WIN = 8192, WIN = 1024 };

static uint32_t rng = 12345;
static uint32_t next(void) {
  rng = rng * 1664525u + 1013904223u;
  return rng >> 8;
}

typedef struct corpus {
  uint8_t *data;
  uint64_t *offsets;
  uint64_t n;
} corpus;

/* DNA with soft-masked (lowercase) stretches and N runs, as in an assembly. */
static void gen_dna(corpus *c, uint64_t n, uint64_t len) {
  c->n = n;
  c->data = malloc(n * len);
  c->offsets = malloc((n + 1) * sizeof *c->offsets);
  for (uint64_t r = 0; r <= n; r++) c->offsets[r] = r * len;
  int lower = 0, ns = 0;
  for (uint64_t i = 0; i < n * len; i++) {
    uint32_t x = next();
    if (x % 500 == 0) lower = !lower;
    if (x % 4001 == 0) ns = 60;
    char b = ns > 0 ? (ns--, 'N') : "ACGT"[x & 3];
    c->data[i] = (uint8_t)(lower && b != 'N' ? b | 0x20 : b);
  }
}

static void gen_protein(corpus *c, uint64_t n) {
  static const char aa[] = "LAGVSERTIDPKQNFYMHWC";
  c->n = n;
  c->offsets = malloc((n + 1) * sizeof *c->offsets);
  c->offsets[0] = 0;
  for (uint64_t r = 0; r < n; r++) c->offsets[r + 1] = c->offsets[r] + 100 + next() % 501;
  c->data = malloc(c->offsets[n]);
  for (uint64_t i = 0; i < c->offsets[n]; i++) c->data[i] = (uint8_t)aa[next() % 20];
}

static int write_lines(const char *dir, const char *name, const corpus *c) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  for (uint64_t r = 0; r < c->n; r++) {
    fwrite(c->data + c->offsets[r], 1, c->offsets[r + 1] - c->offsets[r], f);
    fputc('\n', f);
  }
  return fclose(f);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct op {
  const char *name;
  const char *preset;
  int32_t k, case_mode;
  int protein, windows;
  int32_t max_len;
  int attn, labels, soft, onehot;
  void (*tweak)(bfdk_seq_params *p);
} op;

static void none(bfdk_seq_params *p) { p->begin_id = p->end_id = -1; }
static void rc(bfdk_seq_params *p) {
  none(p);
  p->rc_p = 1.0f;
}
static void mlm(bfdk_seq_params *p) {
  none(p);
  p->mlm_p = 0.15f;
}
static void span(bfdk_seq_params *p) {
  p->mlm_p = 0.025f;
  p->mlm_span = 1;
}
static void keep(bfdk_seq_params *p) { (void)p; }
static void onehot_bf16(bfdk_seq_params *p) {
  none(p);
  p->onehot_dtype = BFD_SEQ_BF16;
}
static void windows(bfdk_seq_params *p) {
  none(p);
  p->sample_mode = BFD_SEQ_WINDOW_RANDOM;
  p->window = WIN;
  p->max_n_frac = 0.1;
  p->shift = 3;
}

static const op ops[] = {
    {"char", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 0, none},
    {"char+attn", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 1, 0, 0, 0, none},
    {"esm2 (cls/eos, attn)", "esm2", 0, BFD_SEQ_CASE_UPPER, 1, 0, 602, 1, 0, 0, 0, keep},
    {"revcomp+char", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 0, rc},
    {"softmask", "dna", 0, BFD_SEQ_CASE_SOFTMASK, 0, 0, DNA_LEN, 0, 0, 1, 0, none},
    {"kmer6 (dnabert)", "dnabert", 6, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 0, none},
    {"nt6 (split at N)", "nt", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 0, none},
    {"onehot f32", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 1, none},
    {"onehot bf16", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 0, 0, 1, onehot_bf16},
    {"mlm 15%", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 1, 0, 0, mlm},
    {"span mlm (dnabert6)", "dnabert", 6, BFD_SEQ_CASE_UPPER, 0, 0, DNA_LEN, 0, 1, 0, 0, span},
    {"windows (N reject, shift)", "dna", 0, BFD_SEQ_CASE_UPPER, 0, 1, WIN, 0, 0, 0, 0, windows},
};

#if BFD_CUDA
typedef struct gpu_out {
  void *ids, *attn, *lengths, *labels, *soft, *onehot;
} gpu_out;

/* Runs op o on the GPU, compares with the CPU outputs in out (width w) and
 * prints its timing; returns 0 when every output matches. */
static int run_gpu(const char *name, const bfdk_seq_params *p, const int32_t *tab, size_t ntab, const bfdk_seq_input *in,
                   const bfdk_seq_output *out, int32_t w, uint64_t tokens, uint64_t bytes, int runs) {
  size_t n = (size_t)in->n, cells = n * (size_t)w, es = p->onehot_dtype == BFD_SEQ_F32 ? 4 : 2;
  uint64_t nrec = in->n_records;
  void *d_data, *d_off, *d_sample, *d_record = NULL, *d_tab, *d_work;
  gpu_out g = {0};
  if (bfdk_seq_cuda_upload(in->data, in->offsets[nrec], &d_data) || bfdk_seq_cuda_upload(in->offsets, (nrec + 1) * 8, &d_off) ||
      bfdk_seq_cuda_upload(in->sample, n * 8, &d_sample) || (in->record && bfdk_seq_cuda_upload(in->record, n * 8, &d_record)) ||
      bfdk_seq_cuda_upload(tab, ntab * 4, &d_tab) || bfdk_seq_cuda_alloc(bfdk_seq_work_bytes(in->n), &d_work) ||
      bfdk_seq_cuda_alloc(cells * 8, &g.ids) || bfdk_seq_cuda_alloc(n * 4, &g.lengths) ||
      (out->attn && bfdk_seq_cuda_alloc(cells, &g.attn)) || (out->labels && bfdk_seq_cuda_alloc(cells * 8, &g.labels)) ||
      (out->softmask && bfdk_seq_cuda_alloc(cells, &g.soft)) || (out->onehot && bfdk_seq_cuda_alloc(cells * 4 * es, &g.onehot))) {
    fprintf(stderr, "%s: %s\n", name, bfd_last_error());
    return 1;
  }
  bfdk_seq_input din = *in;
  din.data = d_data;
  din.offsets = d_off;
  din.sample = d_sample;
  din.record = d_record;
  bfdk_seq_output dout = {0};
  dout.ids = g.ids;
  dout.lengths = g.lengths;
  dout.attn = g.attn;
  dout.labels = g.labels;
  dout.softmask = g.soft;
  dout.onehot = g.onehot;
  double best = 1e30;
  int32_t gw = 0, probe;
  for (int r = 0; r <= runs; r++) {
    double t0 = now();
    /* The 4-byte copy waits for the kernels (default stream). */
    if (bfdk_seq_batch_cuda(p, d_tab, &din, &dout, d_work, &gw, NULL) || bfdk_seq_cuda_download(&probe, g.lengths, 4)) {
      fprintf(stderr, "%s: %s\n", name, bfd_last_error());
      return 1;
    }
    double t = now() - t0;
    if (r > 0 && t < best) best = t;
  }
  printf("%s\tbiofeed-cuda\t%llu\t%llu\t%.6f\n", name, (unsigned long long)tokens, (unsigned long long)bytes, best);
  struct {
    const char *what;
    const void *host, *dev;
    size_t n;
  } cmp[] = {{"ids", out->ids, g.ids, cells * 8},         {"lengths", out->lengths, g.lengths, n * 4},
             {"attn", out->attn, g.attn, cells},          {"labels", out->labels, g.labels, cells * 8},
             {"softmask", out->softmask, g.soft, cells}, {"onehot", out->onehot, g.onehot, cells * 4 * es}};
  int bad = gw != w;
  for (size_t i = 0; i < sizeof cmp / sizeof cmp[0] && !bad; i++) {
    if (!cmp[i].dev) continue;
    void *h = malloc(cmp[i].n);
    if (!h || bfdk_seq_cuda_download(h, cmp[i].dev, cmp[i].n)) return 1;
    if (memcmp(h, cmp[i].host, cmp[i].n)) {
      printf("#parity\t%s\tCPU and GPU %s differ\n", name, cmp[i].what);
      bad = 1;
    }
    free(h);
  }
  if (!bad) printf("#parity\t%s\tbit-identical\n", name);
  fflush(stdout);
  void *all[] = {d_data, d_off, d_sample, d_record, d_tab, d_work, g.ids, g.attn, g.lengths, g.labels, g.soft, g.onehot};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bfdk_seq_cuda_free(all[i]);
  return bad;
}
#endif

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s OUTDIR RUNS\n", argv[0]);
    return 2;
  }
  int runs = atoi(argv[2]);
  corpus dna, prot, chrom;
  gen_dna(&dna, N_DNA, DNA_LEN);
  gen_protein(&prot, N_PROT);
  gen_dna(&chrom, 1, CHROM_LEN);
  if (write_lines(argv[1], "dna.txt", &dna) || write_lines(argv[1], "protein.txt", &prot) ||
      write_lines(argv[1], "chrom.txt", &chrom)) {
    perror("writing the corpus");
    return 1;
  }
  size_t cells = (size_t)N_DNA * 1024 + 64;
  uint64_t *sample = malloc(N_DNA * sizeof *sample), *record = calloc(N_WIN, sizeof *record);
  for (uint64_t i = 0; i < N_DNA; i++) sample[i] = i;
  bfdk_seq_output out = {0};
  out.ids = malloc(cells * 8);
  out.lengths = malloc(N_DNA * 4);
  void *attn = malloc(cells), *labels = malloc(cells * 8), *soft = malloc(cells), *onehot = malloc(cells * 16);
  void *work = malloc(bfdk_seq_work_bytes(N_DNA));
  int gpus = 0, failures = 0;
#if BFD_CUDA
  if (bfd_cuda_device_count(&gpus) != BFD_OK) gpus = 0;
#endif
  if (!gpus) printf("#gpu\tskipped: %s\n", BFD_CUDA ? "no CUDA device" : "library built without CUDA");
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    const op *o = &ops[i];
    bfdk_seq_vocab v;
    bfdk_seq_params p;
    int32_t *tab;
    size_t ntab;
    if (bfdk_seq_vocab_preset(o->preset, o->k, &v) != BFD_OK) return 1;
    bfdk_seq_params_init(&p, &v);
    p.max_len = o->max_len;
    o->tweak(&p);
    if (bfdk_seq_params_check(&p, &v, o->case_mode) != BFD_OK || bfdk_seq_tables_build(&v, o->case_mode, &tab, &ntab) != BFD_OK) {
      fprintf(stderr, "%s: %s\n", o->name, bfd_last_error());
      return 1;
    }
    const corpus *c = o->protein ? &prot : o->windows ? &chrom : &dna;
    bfdk_seq_input in = {0};
    in.data = c->data;
    in.offsets = c->offsets;
    in.n_records = c->n;
    in.sample = sample;
    in.record = o->windows ? record : NULL;
    in.n = o->windows ? N_WIN : (int64_t)c->n;
    in.seed = 1;
    out.attn = o->attn ? attn : NULL;
    out.labels = o->labels ? labels : NULL;
    out.softmask = o->soft ? soft : NULL;
    out.onehot = o->onehot ? onehot : NULL;
    double best = 1e30;
    int32_t width = 0;
    for (int r = 0; r <= runs; r++) {
      double t0 = now();
      if (bfdk_seq_batch_cpu(&p, tab, &in, &out, work, &width) != BFD_OK) {
        fprintf(stderr, "%s: %s\n", o->name, bfd_last_error());
        return 1;
      }
      double t = now() - t0;
      if (r > 0 && t < best) best = t; /* run 0 faults the output pages in */
    }
    uint64_t tokens = 0, bytes = 0;
    for (int64_t b = 0; b < in.n; b++) tokens += (uint64_t)out.lengths[b];
    bytes = o->windows ? (uint64_t)in.n * WIN : c->offsets[c->n];
    printf("%s\tbiofeed\t%llu\t%llu\t%.6f\n", o->name, (unsigned long long)tokens, (unsigned long long)bytes, best);
    fflush(stdout);
#if BFD_CUDA
    if (gpus) failures += run_gpu(o->name, &p, tab, ntab, &in, &out, width, tokens, bytes, runs);
#endif
    free(tab);
    bfdk_seq_vocab_free(&v);
  }
  printf("#threads\t%d\n", omp_get_max_threads());
  free(dna.data), free(dna.offsets), free(prot.data), free(prot.offsets), free(chrom.data), free(chrom.offsets);
  free(sample), free(record), free(out.ids), free(out.lengths), free(attn), free(labels), free(soft), free(onehot);
  free(work);
  return failures ? 1 : 0;
}

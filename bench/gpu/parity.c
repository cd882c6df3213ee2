/* GPU parity check for a machine with a CUDA device: opens the same job
 * config twice through the loader API, once with `device: cpu` and once with
 * `device: cuda`, takes the same batches from both and compares every output
 * byte for byte (names, dtypes, shapes, then the bytes, copied back from the
 * device). Batches are a pure function of (config, seed, epoch, step), so any
 * difference is a backend bug.
 *
 *   parity [-n BATCHES] CONFIG...
 *
 * The config's `device:` line is replaced (or added); relative paths stay
 * relative to the config's folder. Prints one line per config; exit 0 only
 * when every config matched. */
#include <cuda_runtime.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biofeed/loader.h"

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  fclose(f);
  return s;
}

/* The config text with its top-level `device:` line set to dev. */
static char *with_device(const char *text, const char *dev) {
  size_t n = strlen(text);
  char *out = malloc(n + 64);
  if (!out) return NULL;
  char *o = out;
  int done = 0;
  for (const char *p = text; *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
    if (!strncmp(p, "device:", 7)) {
      o += sprintf(o, "device: %s\n", dev);
      done = 1;
    } else {
      memcpy(o, p, len);
      o += len;
    }
    p += len;
  }
  if (!done) o += sprintf(o, "\ndevice: %s\n", dev);
  *o = 0;
  return out;
}

static size_t tensor_bytes(const DLTensor *t) {
  size_t n = (size_t)t->dtype.bits / 8 * t->dtype.lanes;
  for (int k = 0; k < t->ndim; k++) n *= (size_t)t->shape[k];
  return n;
}

/* Compares output i of the two batches; fills why on a difference. */
static int same_output(bfd_batch *a, bfd_batch *b, size_t i, char *why, size_t cap) {
  const char *na, *nb;
  DLManagedTensor *ta, *tb;
  if (bfd_batch_output(a, i, &na, &ta) != BFD_OK) {
    snprintf(why, cap, "cpu output %zu: %s", i, bfd_last_error());
    return 0;
  }
  if (bfd_batch_output(b, i, &nb, &tb) != BFD_OK) {
    snprintf(why, cap, "cuda output %zu: %s", i, bfd_last_error());
    ta->deleter(ta);
    return 0;
  }
  const DLTensor *x = &ta->dl_tensor, *y = &tb->dl_tensor;
  int ok = !strcmp(na, nb) && x->ndim == y->ndim && x->dtype.code == y->dtype.code && x->dtype.bits == y->dtype.bits;
  for (int k = 0; ok && k < x->ndim; k++) ok = x->shape[k] == y->shape[k];
  if (!ok) snprintf(why, cap, "output %zu: %s vs %s differ in name, dtype or shape", i, na, nb);
  size_t n = tensor_bytes(x);
  unsigned char *hx = ok ? malloc(n ? n : 1) : NULL, *hy = ok ? malloc(n ? n : 1) : NULL;
  if (ok && (!hx || !hy)) {
    snprintf(why, cap, "out of memory for %zu bytes", n);
    ok = 0;
  }
  /* Outputs are dense C order (the loader fills strides for that layout). */
  if (ok) {
    enum cudaMemcpyKind kx = x->device.device_type == kDLCUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
    enum cudaMemcpyKind ky = y->device.device_type == kDLCUDA ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost;
    cudaError_t e1 = cudaMemcpy(hx, (char *)x->data + x->byte_offset, n, kx);
    cudaError_t e2 = cudaMemcpy(hy, (char *)y->data + y->byte_offset, n, ky);
    if (e1 != cudaSuccess || e2 != cudaSuccess) {
      snprintf(why, cap, "output %s: cudaMemcpy: %s", na, cudaGetErrorString(e1 != cudaSuccess ? e1 : e2));
      ok = 0;
    }
  }
  if (ok && memcmp(hx, hy, n)) {
    size_t at = 0;
    while (hx[at] == hy[at]) at++;
    snprintf(why, cap, "output %s (%zu bytes): first difference at byte %zu", na, n, at);
    ok = 0;
  }
  free(hx);
  free(hy);
  ta->deleter(ta);
  tb->deleter(tb);
  return ok;
}

static int check(const char *cfg, int batches) {
  char *text = read_file(cfg);
  if (!text) {
    printf("| %s | FAIL | cannot read the config |\n", cfg);
    return 0;
  }
  char *dir_buf = strdup(cfg);
  const char *dir = dirname(dir_buf);
  char *tc = with_device(text, "cpu"), *tg = with_device(text, "cuda");
  bfd_loader *lc = NULL, *lg = NULL;
  int ok = 1, compared = 0;
  char why[512] = "";
  if (bfd_loader_open_string(tc, dir, NULL, &lc) != BFD_OK) {
    snprintf(why, sizeof why, "open (cpu): %s", bfd_last_error());
    ok = 0;
  } else if (bfd_loader_open_string(tg, dir, NULL, &lg) != BFD_OK) {
    snprintf(why, sizeof why, "open (cuda): %s", bfd_last_error());
    ok = 0;
  }
  for (int k = 0; ok && k < batches; k++) {
    bfd_batch *a = NULL, *b = NULL;
    if (bfd_loader_next(lc, &a) != BFD_OK || bfd_loader_next(lg, &b) != BFD_OK) {
      snprintf(why, sizeof why, "next: %s", bfd_last_error());
      ok = 0;
    } else if (!a != !b) {
      snprintf(why, sizeof why, "batch %d: the epoch ends on one backend only", k);
      ok = 0;
    } else if (a) {
      bfd_batch_info ia, ib;
      bfd_batch_info_get(a, &ia);
      bfd_batch_info_get(b, &ib);
      if (ib.device != kDLCUDA) {
        snprintf(why, sizeof why, "device: cuda gave batches on DLPack device %d, not kDLCUDA", ib.device);
        ok = 0;
      } else if (ia.n_outputs != ib.n_outputs) {
        snprintf(why, sizeof why, "batch %d: %zu outputs on cpu, %zu on cuda", k, ia.n_outputs, ib.n_outputs);
        ok = 0;
      }
      if (ok && bfd_batch_wait(b, NULL) != BFD_OK) {
        snprintf(why, sizeof why, "batch_wait: %s", bfd_last_error());
        ok = 0;
      }
      for (size_t i = 0; ok && i < ia.n_outputs; i++) {
        ok = same_output(a, b, i, why, sizeof why);
        if (!ok) {
          size_t len = strlen(why);
          snprintf(why + len, sizeof why - len, " (batch %d)", k);
        }
      }
      compared += ok;
    }
    if (a) bfd_batch_release(a);
    if (b) bfd_batch_release(b);
  }
  if (lc) bfd_loader_close(lc);
  if (lg) bfd_loader_close(lg);
  printf("| %s | %s | %d batches compared%s%s |\n", cfg, ok ? "identical" : "FAIL", compared, ok ? "" : "; ", why);
  free(text);
  free(tc);
  free(tg);
  free(dir_buf);
  return ok;
}

int main(int argc, char **argv) {
  int batches = 8, opt;
  while ((opt = getopt(argc, argv, "n:")) != -1) {
    if (opt != 'n') {
      fprintf(stderr, "usage: parity [-n BATCHES] CONFIG...\n");
      return 2;
    }
    batches = atoi(optarg);
  }
  if (optind >= argc) {
    fprintf(stderr, "usage: parity [-n BATCHES] CONFIG...\n");
    return 2;
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    fprintf(stderr, "parity: no CUDA device visible\n");
    return 2;
  }
  int all = 1;
  printf("| config | CPU vs CUDA | detail |\n|---|---|---|\n");
  for (int i = optind; i < argc; i++) all &= check(argv[i], batches);
  return all ? 0 : 1;
}

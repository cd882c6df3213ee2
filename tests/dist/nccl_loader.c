/* The loader's exchange and broadcast modes over the nccl backend, one rank
 * on one GPU (run by bench/gpu_check.sh; the multi-rank logic is tested
 * through MPI by tests/dist/run.sh). A small genome is packed into DIR, then
 * one epoch of the same job runs as:
 *   device cuda, shard                  the reference
 *   device cuda, exchange, nccl         records staged through device memory for ncclAlltoAll / send-recv
 *   device cuda, broadcast (G 1), nccl  the output block broadcast in device memory
 *   device cpu,  shard                  the CPU reference
 *   device cpu,  exchange, nccl         host batches through a device comm
 * and every batch's outputs (downloaded from the GPU) must equal those of
 * shard mode on the same device byte for byte. Prints one line per case; exit 0 when all pass.
 * Usage: nccl_loader DIR */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "biofeed/loader.h"
#include "biofeed/pack.h"
#include "check.h"

typedef struct blob {
  uint8_t *b;
  size_t n, cap;
} blob;

static void append(blob *l, const void *p, size_t n, int device) {
  if (l->n + n > l->cap) {
    l->cap = (l->n + n) * 2;
    l->b = realloc(l->b, l->cap);
    CHECK(l->b);
  }
  if (device)
    CHECK(cudaMemcpy(l->b + l->n, p, n, cudaMemcpyDeviceToHost) == cudaSuccess);
  else
    memcpy(l->b + l->n, p, n);
  l->n += n;
}

static blob epoch(const char *data, const char *device, const char *dist) {
  char yaml[2048];
  snprintf(yaml, sizeof yaml,
           "seed: 3\ndatasets: [%s]\nbatch_size: 8\nsampling: {drop_last: false}\n"
           "sequence: {tokenizer: dna, max_len: 130, window: {length: 128, mode: random}, rc: 0.5, mlm: {p: 0.15}}\n"
           "device: %s\nprefetch: 2\ndist: {%s}\n",
           data, device, dist);
  bfd_loader *l;
  OK(bfd_loader_open_string(yaml, NULL, NULL, &l));
  blob log = {0};
  bfd_batch *b;
  while (1) {
    OK(bfd_loader_next(l, &b));
    if (!b) break;
    OK(bfd_batch_wait(b, NULL));
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    bfd_batch_info info;
    OK(bfd_batch_info_get(b, &info));
    for (size_t i = 0; i < info.n_outputs; i++) {
      const char *name;
      DLManagedTensor *t;
      OK(bfd_batch_output(b, i, &name, &t));
      const DLTensor *d = &t->dl_tensor;
      size_t bytes = d->dtype.bits / 8u;
      for (int a = 0; a < d->ndim; a++) bytes *= (size_t)d->shape[a];
      append(&log, name, strlen(name) + 1, 0);
      append(&log, (const uint8_t *)d->data + d->byte_offset, bytes, d->device.device_type == kDLCUDA);
      t->deleter(t);
    }
    OK(bfd_batch_release(b));
  }
  OK(bfd_loader_close(l));
  CHECK(log.n > 0);
  return log;
}

static int same(const blob *a, const blob *b) { return a->n == b->n && memcmp(a->b, b->b, a->n) == 0; }

int main(int argc, char **argv) {
  CHECK(argc == 2);
  char fa[4096], data[4096];
  snprintf(fa, sizeof fa, "%s/genome.fa", argv[1]);
  snprintf(data, sizeof data, "%s/genome", argv[1]);
  FILE *f = fopen(fa, "w");
  CHECK(f);
  uint64_t x = 99;
  for (int r = 0; r < 12; r++) {
    fprintf(f, ">chr%d\n", r);
    for (int i = 0; i < 3000; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      fputc("ACGTN"[(x >> 33) % 5], f);
    }
    fputc('\n', f);
  }
  CHECK(fclose(f) == 0);
  bfd_pack_options o;
  OK(bfd_pack_options_init(&o));
  o.out_dir = data;
  o.records_per_shard = 3;
  const char *ins[] = {fa};
  OK(bfd_pack(&o, ins, 1, NULL));

  blob ref = epoch(data, "cuda", "mode: shard");
  blob cpu = epoch(data, "cpu", "mode: shard");
  struct {
    const char *name, *device, *dist;
    const blob *want;
  } cases[] = {
      {"loader exchange, nccl, device cuda", "cuda", "mode: exchange, backend: nccl, timeout: 60", &ref},
      {"loader broadcast, nccl, device cuda", "cuda", "mode: broadcast, group_size: 1, backend: nccl, timeout: 60", &ref},
      {"loader exchange, nccl, device cpu", "cpu", "mode: exchange, backend: nccl, timeout: 60", &cpu},
  };
  int failed = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    blob got = epoch(data, cases[i].device, cases[i].dist);
    int ok = same(&got, cases[i].want);
    printf("%s\t%s\t%zu bytes of batches %s shard mode's\n", cases[i].name, ok ? "PASS" : "FAIL", got.n,
           ok ? "equal to" : "DIFFER from");
    failed |= !ok;
    free(got.b);
  }
  free(ref.b);
  free(cpu.b);
  return failed;
}

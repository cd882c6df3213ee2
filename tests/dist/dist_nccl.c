/* The nccl backend on a GPU (run by tests/dist/run.sh where a GPU and NCCL
 * are present): one rank, device buffers. Broadcast, allgather and sizes
 * through the device scratch, all-to-all (native ncclAlltoAll from NCCL
 * 2.28), a sub-group, the broken state after an abort; then broadcast and
 * all-to-all throughput of batch-sized buffers (1, 8, 32 MB). The
 * multi-rank logic is the same as the mpi backend's and is tested there.
 * Usage: dist_nccl */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dist/comm.h"
#include "check.h"

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void check_collectives(bfdi_comm *c) {
  enum { N = 1 << 20 };
  unsigned char *host = malloc(N), *back = malloc(N);
  CHECK(host && back);
  for (size_t k = 0; k < N; k++) host[k] = (unsigned char)(k * 13 + 1);
  void *dev, *dev2;
  CHECK(cudaMalloc(&dev, N) == cudaSuccess && cudaMalloc(&dev2, N) == cudaSuccess);
  CHECK(cudaMemcpy(dev, host, N, cudaMemcpyHostToDevice) == cudaSuccess);
  OK(bfdi_comm_barrier(c));
  OK(bfdi_comm_bcast(c, dev, N, 0));
  CHECK(cudaMemcpy(back, dev, N, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(memcmp(host, back, N) == 0);

  unsigned long long mine = 0xabcdef, all = 0;
  OK(bfdi_comm_allgather(c, &mine, sizeof mine, &all));
  CHECK(all == mine);
  uint64_t sb = N, rb = 0;
  OK(bfdi_comm_alltoall_sizes(c, &sb, &rb));
  CHECK(rb == N);
  CHECK(cudaMemset(dev2, 0, N) == cudaSuccess);
  OK(bfdi_comm_alltoallv(c, dev, &sb, dev2, &rb));
  CHECK(cudaMemcpy(back, dev2, N, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(memcmp(host, back, N) == 0);
  uint64_t zero = 0;
  OK(bfdi_comm_alltoallv(c, dev, &zero, dev2, &zero));

  bfdi_comm *sub;
  OK(bfdi_comm_split(c, 5, 0, &sub));
  CHECK(bfdi_comm_size(sub) == 1 && bfdi_comm_rank(sub) == 0);
  OK(bfdi_comm_bcast(sub, dev, N, 0));
  bfdi_comm_destroy(sub);
  cudaFree(dev), cudaFree(dev2), free(host), free(back);
}

static void throughput(bfdi_comm *c) {
  static const double mb[] = {1, 8, 32};
  printf("| MB | NCCL broadcast GB/s | NCCL all-to-all GB/s |\n|---:|---:|---:|\n");
  for (size_t i = 0; i < sizeof mb / sizeof *mb; i++) {
    size_t n = (size_t)(mb[i] * 1e6);
    void *a, *b;
    CHECK(cudaMalloc(&a, n) == cudaSuccess && cudaMalloc(&b, n) == cudaSuccess);
    uint64_t sb = n, rb = n;
    int iters = 50;
    OK(bfdi_comm_bcast(c, a, n, 0));
    double t0 = now_s();
    for (int k = 0; k < iters; k++) OK(bfdi_comm_bcast(c, a, n, 0));
    double tb = (now_s() - t0) / iters;
    OK(bfdi_comm_alltoallv(c, a, &sb, b, &rb));
    t0 = now_s();
    for (int k = 0; k < iters; k++) OK(bfdi_comm_alltoallv(c, a, &sb, b, &rb));
    double ta = (now_s() - t0) / iters;
    printf("| %.0f | %.1f | %.1f |\n", mb[i], (double)n / tb / 1e9, (double)n / ta / 1e9);
    cudaFree(a), cudaFree(b);
  }
}

int main(void) {
  bfdi_dist_env env;
  OK(bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &env));
  CHECK(env.world_size == 1);
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  o.kind = BFDI_COMM_NCCL;
  o.timeout_s = 60;
  bfdi_comm *c;
  OK(bfdi_comm_create(&o, &env, &c));
  check_collectives(c);
  printf("[       OK ] nccl collectives on one GPU\n");
  throughput(c);
  CHECK(bfdi_comm_abort(c, BFD_ERR_IO, "injected") == BFD_ERR_IO);
  CHECK(bfdi_comm_barrier(c) == BFD_ERR_IO && strstr(bfd_last_error(), "injected"));
  bfdi_comm_destroy(c);
  printf("[       OK ] nccl abort\n");
  return 0;
}

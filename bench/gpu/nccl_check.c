/* NCCL with one rank, nccl-tests style: ncclCommInitAll on GPU 0, then an
 * AllReduce (sum) and a Broadcast of 64 MiB of floats, each checked for the
 * right values and timed (algorithm bandwidth: bytes / time). It shows that
 * the NCCL library, the driver and the GPU work together, before a job
 * relies on them between ranks. Prints tab-separated lines
 *   name <TAB> GB/s <TAB> detail
 * and exits 1 on a wrong value or an NCCL/CUDA error. */
#include <cuda_runtime.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>

#define CK(call)                                                                                            \
  do {                                                                                                      \
    cudaError_t e_ = (call);                                                                                \
    if (e_ != cudaSuccess) {                                                                                \
      fprintf(stderr, "nccl_check: %s: %s\n", #call, cudaGetErrorString(e_));                               \
      return 1;                                                                                             \
    }                                                                                                       \
  } while (0)
#define NK(call)                                                                                            \
  do {                                                                                                      \
    ncclResult_t r_ = (call);                                                                               \
    if (r_ != ncclSuccess) {                                                                                \
      fprintf(stderr, "nccl_check: %s: %s\n", #call, ncclGetErrorString(r_));                               \
      return 1;                                                                                             \
    }                                                                                                       \
  } while (0)

enum { N = 16 << 20, REPS = 20 };

/* Every element of dev must equal want. */
static int check(const float *dev, float want, const char *what) {
  float *h = malloc(N * sizeof *h);
  if (!h || cudaMemcpy(h, dev, N * sizeof *h, cudaMemcpyDeviceToHost) != cudaSuccess) {
    fprintf(stderr, "nccl_check: %s: cannot copy the result back\n", what);
    free(h);
    return 0;
  }
  for (size_t i = 0; i < N; i++)
    if (h[i] != want) {
      fprintf(stderr, "nccl_check: %s: element %zu is %g, expected %g\n", what, i, h[i], want);
      free(h);
      return 0;
    }
  free(h);
  return 1;
}

int main(void) {
  int version = 0, dev = 0;
  NK(ncclGetVersion(&version));
  ncclComm_t comm;
  NK(ncclCommInitAll(&comm, 1, &dev));
  float *buf, *out, *h = malloc(N * sizeof *h);
  if (!h) return 1;
  for (size_t i = 0; i < N; i++) h[i] = 1.5f;
  CK(cudaMalloc((void **)&buf, N * sizeof *buf));
  CK(cudaMalloc((void **)&out, N * sizeof *out));
  CK(cudaMemcpy(buf, h, N * sizeof *h, cudaMemcpyHostToDevice));
  free(h);
  cudaStream_t s;
  cudaEvent_t a, b;
  CK(cudaStreamCreate(&s));
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  float ms;

  NK(ncclAllReduce(buf, out, N, ncclFloat, ncclSum, comm, s));
  CK(cudaStreamSynchronize(s));
  if (!check(out, 1.5f, "AllReduce")) return 1;
  CK(cudaEventRecord(a, s));
  for (int i = 0; i < REPS; i++) NK(ncclAllReduce(buf, out, N, ncclFloat, ncclSum, comm, s));
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  CK(cudaEventElapsedTime(&ms, a, b));
  printf("nccl allreduce 1 rank\t%.1f\tNCCL %d, 64 MiB float sum, values checked\n",
         (double)N * 4 * REPS / (ms / 1e3) / 1e9, version);

  NK(ncclBroadcast(buf, out, N, ncclFloat, 0, comm, s));
  CK(cudaStreamSynchronize(s));
  if (!check(out, 1.5f, "Broadcast")) return 1;
  CK(cudaEventRecord(a, s));
  for (int i = 0; i < REPS; i++) NK(ncclBroadcast(buf, out, N, ncclFloat, 0, comm, s));
  CK(cudaEventRecord(b, s));
  CK(cudaEventSynchronize(b));
  CK(cudaEventElapsedTime(&ms, a, b));
  printf("nccl broadcast 1 rank\t%.1f\tNCCL %d, 64 MiB float from root 0, values checked\n",
         (double)N * 4 * REPS / (ms / 1e3) / 1e9, version);

  NK(ncclCommDestroy(comm));
  CK(cudaFree(buf));
  CK(cudaFree(out));
  CK(cudaStreamDestroy(s));
  return 0;
}

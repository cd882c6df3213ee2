// Kernel bandwidth on the GPU, against what the device can move in the same
// run: a device-to-device cudaMemcpy (the roof), host-to-device copies from
// pinned memory (what feeds the GPU), and the image kernels
// (bfdk_img_run_cuda) on the two standard jobs of bench/img:
//   2d: 32 x uint16 512x512 -> 256x256 crop, flips, rot90, percentile
//       normalization, noise -> float32
//   3d: 2 x uint16 256x512x512 (uint8 labels) -> 128^3 patch, affine +
//       elastic, labels -> float32 + int64
// A kernel's GB/s counts the bytes it must move at least: every output byte
// written plus, per output voxel, one input voxel (and label) read; the copy's
// counts its read and its write. Prints tab-separated lines
//   name <TAB> GB/s <TAB> detail
// Sequence kernels are measured by bench/seq/seq_bench (GPU lines).
#include <cuda_runtime.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../img/jobs.h"

#define CK(call)                                                                       \
  do {                                                                                 \
    cudaError_t e_ = (call);                                                           \
    if (e_ != cudaSuccess) {                                                           \
      fprintf(stderr, "kernels_bench: %s: %s (line %d)\n", #call, cudaGetErrorString(e_), __LINE__); \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

static float time_ms(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0;
  CK(cudaEventSynchronize(b));
  CK(cudaEventElapsedTime(&ms, a, b));
  return ms;
}

static double copy_gbs(size_t bytes, cudaMemcpyKind kind, void *dst, const void *src, int reps, int traffic) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  CK(cudaMemcpy(dst, src, bytes, kind));
  CK(cudaEventRecord(a));
  for (int i = 0; i < reps; i++) CK(cudaMemcpyAsync(dst, src, bytes, kind));
  CK(cudaEventRecord(b));
  double s = time_ms(a, b) / 1e3;
  CK(cudaEventDestroy(a));
  CK(cudaEventDestroy(b));
  return (double)bytes * traffic * reps / s / 1e9;
}

static void fill_u16(uint16_t *p, size_t n) {
  uint32_t x = 1;
  for (size_t i = 0; i < n; i++) {
    x = x * 1664525u + 1013904223u;
    p[i] = (uint16_t)((i * 2654435761u >> 20) % 4000 + (x >> 22));
  }
}

static void job(int is3d, int calls) {
  bfdk_img_spec sp;
  bfdk_img_batch b;
  bench_img_job(is3d, &sp, &b);
  size_t vox = (size_t)(b.shape[1] * b.shape[2] * (is3d ? b.shape[3] : 1));
  uint16_t *img = (uint16_t *)malloc(b.batch * vox * 2);
  uint8_t *lab = is3d ? (uint8_t *)malloc(b.batch * vox) : NULL;
  fill_u16(img, b.batch * vox);
  for (size_t i = 0; lab && i < b.batch * vox; i++) lab[i] = (uint8_t)((i >> 13) % 3);
  uint64_t gidx[32];
  b.sample_index = gidx;
  b.images = img;
  b.labels = lab;
  b.out = img;
  b.out_labels = lab;
  bfdk_img_plan pl;
  if (bfdk_img_plan_make(&sp, &b, &pl) != BFD_OK) {
    fprintf(stderr, "kernels_bench: plan: %s\n", bfd_last_error());
    exit(1);
  }
  size_t outn = b.batch * (size_t)pl.dims.out_vox;
  void *d_img, *d_lab = NULL, *d_out, *d_olab = NULL, *d_work;
  CK(cudaMalloc(&d_img, b.batch * vox * 2));
  CK(cudaMemcpy(d_img, img, b.batch * vox * 2, cudaMemcpyHostToDevice));
  if (lab) {
    CK(cudaMalloc(&d_lab, b.batch * vox));
    CK(cudaMemcpy(d_lab, lab, b.batch * vox, cudaMemcpyHostToDevice));
    CK(cudaMalloc(&d_olab, outn * 8));
  }
  CK(cudaMalloc(&d_out, outn * 4));
  CK(cudaMalloc(&d_work, pl.work_bytes));
  b.images = d_img;
  b.labels = d_lab;
  b.out = d_out;
  b.out_labels = d_olab;
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  for (int c = -1; c < calls; c++) {
    if (c == 0) CK(cudaEventRecord(e0));
    for (size_t i = 0; i < b.batch; i++) gidx[i] = (uint64_t)(c + 1) * b.batch + i;
    if (bfdk_img_run_cuda(&sp, &b, d_work, pl.work_bytes, NULL) != BFD_OK) {
      fprintf(stderr, "kernels_bench: run: %s\n", bfd_last_error());
      exit(1);
    }
    if (c == -1) CK(cudaDeviceSynchronize());
  }
  CK(cudaEventRecord(e1));
  double s = time_ms(e0, e1) / 1e3;
  CK(cudaGetLastError());
  size_t per_vox = 2 + 4 + (lab ? 1 + 8 : 0);
  double bytes = (double)outn * per_vox * calls;
  printf("img %s\t%.1f\t%.0f samples/s (%d calls of %zu)\n", is3d ? "3d affine+elastic" : "2d crop+flip+rot+pct+noise",
         bytes / s / 1e9, (double)calls * b.batch / s, calls, b.batch);
  cudaFree(d_img);
  cudaFree(d_lab);
  cudaFree(d_out);
  cudaFree(d_olab);
  cudaFree(d_work);
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  free(img);
  free(lab);
}

int main(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    fprintf(stderr, "kernels_bench: no CUDA device visible\n");
    return 2;
  }
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  printf("#device\t%s, %d SMs, %.0f GiB\n", prop.name, prop.multiProcessorCount, prop.totalGlobalMem / 1073741824.0);
  size_t big = (size_t)1 << 30, pin = (size_t)256 << 20;
  void *d0, *d1, *h;
  CK(cudaMalloc(&d0, big));
  CK(cudaMalloc(&d1, big));
  CK(cudaMemset(d0, 1, big));
  printf("copy d2d\t%.1f\tcudaMemcpy device to device, 1 GiB, read + write counted\n",
         copy_gbs(big, cudaMemcpyDeviceToDevice, d1, d0, 10, 2));
  CK(cudaMallocHost(&h, pin));
  memset(h, 1, pin);
  printf("copy h2d pinned\t%.1f\tcudaMemcpy host (cudaMallocHost) to device, 256 MiB\n",
         copy_gbs(pin, cudaMemcpyHostToDevice, d0, h, 10, 1));
  printf("copy d2h pinned\t%.1f\tcudaMemcpy device to host (cudaMallocHost), 256 MiB\n",
         copy_gbs(pin, cudaMemcpyDeviceToHost, h, d0, 10, 1));
  CK(cudaFreeHost(h));
  CK(cudaFree(d0));
  CK(cudaFree(d1));
  job(0, 50);
  job(1, 10);
  return 0;
}

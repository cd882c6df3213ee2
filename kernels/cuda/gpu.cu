// C entry points over the CUDA runtime for the pipeline (kernels/gpu.h):
// memory, pinning, streams, events and copies, each checked through
// BFD_CUDA_CHECK so that a failure names the call and what to do.
#include <cuda_runtime.h>

#include "cuda/launch.h"
#include "gpu.h"

extern "C" bfd_status bfdk_gpu_count(int *count) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    n = 0;
  } else if (e != cudaSuccess) {
    return BFD_CUDA_CHECK(e);
  }
  *count = n;
  return BFD_OK;
}

extern "C" int bfdk_gpu_emulated(void) {
#if defined(BFD_EMU)
  return 1;
#else
  return 0;
#endif
}

extern "C" bfd_status bfdk_gpu_current(int *device) { return BFD_CUDA_CHECK(cudaGetDevice(device)); }

extern "C" bfd_status bfdk_gpu_alloc(size_t n, void **dev) {
  *dev = NULL;
  return BFD_CUDA_CHECK(cudaMalloc(dev, n ? n : 1));
}

extern "C" void bfdk_gpu_free(void *dev) {
  if (dev) cudaFree(dev);
}

extern "C" bfd_status bfdk_gpu_pin(void *host, size_t n) {
  return BFD_CUDA_CHECK(cudaHostRegister(host, n, cudaHostRegisterDefault));
}

extern "C" void bfdk_gpu_unpin(void *host) {
  if (host) cudaHostUnregister(host);
}

extern "C" bfd_status bfdk_gpu_stream_create(void **stream) {
  cudaStream_t s = NULL;
  bfd_status st = BFD_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *stream = st == BFD_OK ? (void *)s : NULL;
  return st;
}

extern "C" void bfdk_gpu_stream_destroy(void *stream) {
  if (stream) cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" bfd_status bfdk_gpu_stream_sync(void *stream) {
  return BFD_CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)stream));
}

extern "C" bfd_status bfdk_gpu_stream_wait(void *stream, void *event) {
  return BFD_CUDA_CHECK(cudaStreamWaitEvent((cudaStream_t)stream, (cudaEvent_t)event, 0));
}

extern "C" bfd_status bfdk_gpu_event_create(void **event) {
  cudaEvent_t e = NULL;
  bfd_status st = BFD_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  *event = st == BFD_OK ? (void *)e : NULL;
  return st;
}

extern "C" void bfdk_gpu_event_destroy(void *event) {
  if (event) cudaEventDestroy((cudaEvent_t)event);
}

extern "C" bfd_status bfdk_gpu_event_record(void *event, void *stream) {
  return BFD_CUDA_CHECK(cudaEventRecord((cudaEvent_t)event, (cudaStream_t)stream));
}

extern "C" bfd_status bfdk_gpu_event_sync(void *event) {
  return BFD_CUDA_CHECK(cudaEventSynchronize((cudaEvent_t)event));
}

extern "C" bfd_status bfdk_gpu_upload(void *dev, const void *host, size_t n, void *stream) {
  if (!n) return BFD_OK;
  return BFD_CUDA_CHECK(cudaMemcpyAsync(dev, host, n, cudaMemcpyHostToDevice, (cudaStream_t)stream));
}

extern "C" bfd_status bfdk_gpu_download(void *host, const void *dev, size_t n) {
  if (!n) return BFD_OK;
  return BFD_CUDA_CHECK(cudaMemcpy(host, dev, n, cudaMemcpyDeviceToHost));
}

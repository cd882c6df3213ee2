/* The CUDA runtime calls the pipeline makes, as C functions: device memory,
 * pinned host memory, streams and events. The pipeline is C and the test
 * build's CUDA runtime (the emulator) has C++ linkage, so these wrappers
 * (kernels/cuda/gpu.cu) are the only way C code reaches the runtime.
 * Streams and events are passed as void * (cudaStream_t, cudaEvent_t). */
#ifndef BFD_KERNELS_GPU_H
#define BFD_KERNELS_GPU_H

#include <stddef.h>

#include "biofeed/biofeed.h"

#ifdef __cplusplus
extern "C" {
#endif

#if BFD_CUDA || defined(__CUDACC__)
/* Devices that can run work: 0 without a driver or device. The emulator
 * (test builds) counts, and says so through bfdk_gpu_emulated. */
bfd_status bfdk_gpu_count(int *count);
/* 1 when the CUDA runtime is the CPU emulator of the test build. */
int bfdk_gpu_emulated(void);
bfd_status bfdk_gpu_current(int *device);

bfd_status bfdk_gpu_alloc(size_t n, void **dev);
void bfdk_gpu_free(void *dev);
/* Pins host memory for asynchronous copies; a failure leaves it usable, unpinned. */
bfd_status bfdk_gpu_pin(void *host, size_t n);
void bfdk_gpu_unpin(void *host);

bfd_status bfdk_gpu_stream_create(void **stream);
void bfdk_gpu_stream_destroy(void *stream);
bfd_status bfdk_gpu_stream_sync(void *stream);
/* Work queued on stream after this waits for event. */
bfd_status bfdk_gpu_stream_wait(void *stream, void *event);

bfd_status bfdk_gpu_event_create(void **event);
void bfdk_gpu_event_destroy(void *event);
bfd_status bfdk_gpu_event_record(void *event, void *stream);
bfd_status bfdk_gpu_event_sync(void *event);

/* Host to device on a stream (asynchronous when host is pinned). */
bfd_status bfdk_gpu_upload(void *dev, const void *host, size_t n, void *stream);
/* Device to host, blocking. */
bfd_status bfdk_gpu_download(void *host, const void *dev, size_t n);
#endif

#ifdef __cplusplus
}
#endif

#endif

/* CUDA emulator (test builds only): the subset of the CUDA language and
 * runtime that biofeed's kernels use, implemented on the CPU. */
#ifndef BFD_CUDA_EMU_H
#define BFD_CUDA_EMU_H

#define BFD_EMU 1

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100
} cudaError_t;

/* The emulator is one device. */
static inline cudaError_t cudaGetDeviceCount(int *n) {
  *n = 1;
  return cudaSuccess;
}
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
static inline const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "emulated error"; }

#endif

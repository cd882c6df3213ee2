// CUDA backend presence: how many devices the runtime sees. A machine with
// the library built for CUDA but no driver or no GPU reports 0, not an error,
// so that `device: auto` falls back to the CPU backend.
#include <cuda_runtime.h>

#include "core/error.h"

extern "C" bfd_status bfd_cuda_device_count(int *count) {
  if (!count) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_cuda_device_count: count is NULL");
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    cudaGetLastError();
    n = 0;
  } else if (e != cudaSuccess) {
    return bfdi_fail(BFD_ERR_CUDA, "cudaGetDeviceCount: %s (check the NVIDIA driver with nvidia-smi)",
                     cudaGetErrorString(e));
  }
  *count = n;
  return BFD_OK;
}

/* The CUDA backend's entry points in a build without CUDA (CUDA=0): they
 * report that no device is available, so callers take the CPU path. */
#include "core/error.h"

bfd_status bfd_cuda_device_count(int *count) {
  if (!count) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_cuda_device_count: count is NULL");
  *count = 0;
  return BFD_OK;
}

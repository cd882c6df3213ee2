// Page-locking host memory for fast, asynchronous host-to-device copies,
// called from C (the I/O layer's pinned pool) through C linkage.
#include "cuda/host_pin.h"
#include "cuda/launch.h"

extern "C" bfd_status bfdi_cuda_host_register(void *p, size_t n, void *user) {
  (void)user;
  cudaError_t e = cudaHostRegister(p, n, cudaHostRegisterDefault);
  if (e != cudaSuccess)
    return bfdi_fail(BFD_ERR_CUDA, "cudaHostRegister of %zu bytes failed: %s (lower io.pool_bytes or raise the "
                     "locked-memory limit)", n, cudaGetErrorString(e));
  return BFD_OK;
}

extern "C" void bfdi_cuda_host_unregister(void *p, void *user) {
  (void)user;
  cudaError_t e = cudaHostUnregister(p);
  if (e != cudaSuccess) bfdi_log(BFD_LOG_WARN, "cudaHostUnregister failed: %s", cudaGetErrorString(e));
}

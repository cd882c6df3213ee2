/* Host pinning in a build without CUDA (CUDA=0): there is no device to pin
 * for, so pinning fails (the pool then keeps its memory page-aligned and
 * mlocked only) and unpinning has nothing to undo. */
#include "cuda/host_pin.h"

bfd_status bfdi_cuda_host_register(void *p, size_t n, void *user) {
  (void)p;
  (void)user;
  return bfdi_fail(BFD_ERR_UNSUPPORTED, "cannot pin %zu bytes for CUDA: this biofeed was built without CUDA", n);
}

void bfdi_cuda_host_unregister(void *p, void *user) {
  (void)p;
  (void)user;
}

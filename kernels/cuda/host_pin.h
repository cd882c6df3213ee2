/* Pinning host memory for CUDA, callable from C: the signatures match the
 * pin/unpin hooks of the I/O layer's pool (loader/io/pool.h). */
#ifndef BFD_CUDA_HOST_PIN_H
#define BFD_CUDA_HOST_PIN_H

#include <stddef.h>

#include "core/error.h"

#ifdef __cplusplus
extern "C" {
#endif

bfd_status bfdi_cuda_host_register(void *p, size_t n, void *user);
void bfdi_cuda_host_unregister(void *p, void *user);

#ifdef __cplusplus
}
#endif

#endif

// The one way kernels are launched and CUDA calls checked. Under nvcc,
// BFD_LAUNCH is a <<<>>> launch followed by a launch-error check; in test
// builds (BFD_EMU, see kernels/emu/cuda_emu.h) the same kernel function runs
// on the CPU grid emulator. Both evaluate to a bfd_status.
//
//   BFD_TRY(BFD_LAUNCH(tokenize_kernel, grid, block, stream, in, out, n));
//   BFD_TRY(BFD_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream)));
#ifndef BFD_CUDA_LAUNCH_H
#define BFD_CUDA_LAUNCH_H

#include <cuda_runtime.h>

#include "core/error.h"

static inline bfd_status bfd_cuda_status(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return BFD_OK;
  return bfdi_fail(BFD_ERR_CUDA, "%s:%d: %s failed: %s (check the GPU with nvidia-smi; rerun with device: cpu)", file,
                   line, what, cudaGetErrorString(e));
}

#define BFD_CUDA_CHECK(call) bfd_cuda_status((call), #call, __FILE__, __LINE__)

#if defined(BFD_EMU)
#define BFD_LAUNCH(kernel, grid, block, stream, ...) \
  bfd_emu_launch(#kernel, dim3(grid), dim3(block), (stream), [&]() { kernel(__VA_ARGS__); })
#else
#define BFD_LAUNCH(kernel, grid, block, stream, ...) \
  (kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__), bfd_cuda_status(cudaGetLastError(), #kernel, __FILE__, __LINE__))
#endif

#endif

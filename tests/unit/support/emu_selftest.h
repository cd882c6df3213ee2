/* Test-only kernels for the CUDA emulator (tests/unit/test_emu.c). Each host
 * function copies its inputs to the device, launches one kernel through
 * BFD_LAUNCH and copies the results back, so that the C test can compare
 * them with a plain C computation. emu_selftest.cu is valid CUDA: nvcc
 * compiles it too. */
#ifndef BFD_EMU_SELFTEST_H
#define BFD_EMU_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "biofeed/biofeed.h"

#ifdef __cplusplus
extern "C" {
#endif

/* out[y*w+x] = in[y*w+x] * 3 + x * 7 + y over a w x h image, by a
 * grid-stride loop of a gx x gy grid of bx x by blocks; hits[i] counts the
 * threads that wrote element i. */
bfd_status emu_selftest_grid2d(const int32_t *in, int32_t *out, uint32_t *hits, int w, int h, unsigned bx,
                               unsigned by, unsigned gx, unsigned gy);

/* sums[b] = the sum of in[i] over the i with (i / block) % grid == b, by a
 * shared-memory tree reduction with a __syncthreads per level. */
bfd_status emu_selftest_block_sums(const uint32_t *in, size_t n, unsigned block, unsigned grid, uint32_t *sums);

/* bins[(uint32_t)in[i] % nbins] counts (atomicAdd); minmax gets the least and
 * greatest value (atomicMin, atomicMax on int); total the sum of the values
 * as unsigned long long (wrapping). */
bfd_status emu_selftest_histogram(const int32_t *in, size_t n, uint32_t *bins, unsigned nbins, int32_t minmax[2],
                                  unsigned long long *total);

/* What one block of nthreads threads leaves after the other atomics and the
 * min/max overloads. Starting values are set by emu_selftest_atomics. */
typedef struct emu_atomics {
  int32_t sub_int;               /* 1000, then atomicSub(t) by each thread t */
  uint32_t sub_uint;             /* 5000, then atomicSub(1u) by each thread */
  int32_t cas_owner;             /* -1, then atomicCAS(-1 -> t) by each thread */
  uint32_t cas_wins;             /* threads whose atomicCAS found -1 */
  uint32_t exch;                 /* 7777, then atomicExch(t) by each thread */
  unsigned long long exch_seen;  /* sum of the values atomicExch returned */
  uint32_t umax, umin;           /* 0 / UINT32_MAX, then atomicMax/atomicMin(3t + 1) */
  unsigned long long ullmax;     /* 0, then atomicMax(t << 40) */
  unsigned long long ullmin;     /* ULLONG_MAX, then atomicMin((t + 1) << 40) */
  unsigned long long ullcas_sum; /* 0, then += t + 1 by an atomicCAS loop */
  unsigned long long ullexch;    /* 0, then atomicExch(t + 100) */
  int32_t min_int, max_int;      /* thread 0: min(-1, 2), max(-1, 2) */
  uint32_t min_mixed, max_mixed; /* thread 0: min(-1, 2u), max(-1, 2u) (unsigned, as CUDA's overloads) */
  float min_float, max_float;    /* thread 0: min(1.5f, -2.5f), max(1.5f, -2.5f) */
} emu_atomics;
bfd_status emu_selftest_atomics(unsigned nthreads, emu_atomics *out);

/* A (bx*gx) x (by*gy) x (bz*gz) volume, one thread per element i: tcoord[i]
 * and bcoord[i] pack threadIdx and blockIdx as x | y << 10 | z << 20;
 * hits[i] counts writers; mirror[i] is what the thread read, after a
 * __syncthreads, from the shared slot that the thread with the mirrored
 * linear index (block size - 1 - own) filled with its index | block << 10,
 * the block being linear in x, y, z. */
bfd_status emu_selftest_grid3d(unsigned bx, unsigned by, unsigned bz, unsigned gx, unsigned gy, unsigned gz,
                               uint32_t *tcoord, uint32_t *bcoord, uint32_t *hits, uint32_t *mirror);

/* Threads that disagree at a barrier, in one block of 32 threads. */
typedef enum emu_divergence {
  EMU_DIVERGE_SUBSET,      /* only threads x < 5 call __syncthreads */
  EMU_DIVERGE_SITES,       /* odd and even threads call different __syncthreads */
  EMU_DIVERGE_EARLY_RETURN /* threads x >= 20 return before the __syncthreads */
} emu_divergence;
bfd_status emu_selftest_divergent(emu_divergence kind);

/* Launches a kernel that counts its threads (atomicAdd) with this
 * configuration; *count gets the total. */
bfd_status emu_selftest_count_threads(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                                      unsigned long long *count);

/* Launches a kernel on a stream that was destroyed, passing the stream to
 * the emulator's bfd_emu_launch directly: that launch's status. */
bfd_status emu_selftest_launch_on_destroyed_stream(void);

/* Runs the named runtime scenario (the table in emu_selftest.cu) and returns
 * cudaGetErrorName() of the call it is about; NULL for an unknown name. */
const char *emu_selftest_probe(const char *scenario);

/* A stream pipeline: in is staged in pinned memory, out is registered;
 * out[i] = in[i] + 1 (a kernel) for i < n / 2 and 0 (cudaMemsetAsync) after;
 * *elapsed_ms is cudaEventElapsedTime around the stream's work. */
bfd_status emu_selftest_pipeline(const uint8_t *in, uint8_t *out, size_t n, float *elapsed_ms);

/* cudaGetDeviceCount, cudaSetDevice(0), cudaGetDevice, and fields of
 * cudaGetDeviceProperties(0). */
bfd_status emu_selftest_device(int *count, int *device, int *max_threads_per_block, int *major,
                               size_t *total_global_mem, char *name, size_t name_size);

#ifdef __cplusplus
}
#endif

#endif

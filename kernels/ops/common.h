/* What every ops/ header needs: BFD_HD marks per-element functions that are
 * compiled for the host (CPU backend, CUDA emulator) and, under nvcc, for the
 * device too. ops/ functions are pure: no allocation, no I/O, no globals, so
 * the CPU loop, the CUDA kernel and the emulator compute the same bits.
 * Floating point stays bit-identical because contraction is off everywhere
 * (gcc -ffp-contract=off, nvcc -fmad=false) and only IEEE basic operations
 * (+ - * / sqrt) are used; transcendental functions come from ops/pmath.h. */
#ifndef BFD_OPS_COMMON_H
#define BFD_OPS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define BFD_HD __host__ __device__
#else
#define BFD_HD
#endif

#define BFD_OP static inline BFD_HD

#endif

/* CUDA emulator (test builds only): the subset of the CUDA language and
 * runtime that biofeed's kernels use, implemented on the CPU. The Makefile
 * force-includes this header when g++ compiles the .cu files of
 * kernels/cuda and tests/unit/support, so the very code nvcc builds runs here.
 * A launch runs its blocks one after another on the calling OS thread, and a
 * block's threads as coroutines that switch only at __syncthreads
 * (emu_launch.cc). Device memory is host memory; streams and events complete
 * synchronously (emu_runtime.cc). Names and signatures follow
 * cuda_runtime_api.h so that one source compiles with both; the runtime
 * functions have C++ linkage so they never collide with the real libcudart a
 * test binary may also link.
 *
 * Not emulated (a kernel using them does not compile here, or must not rely
 * on them): warps (warpSize, __shfl*, __ballot*, __syncwarp, warp-synchronous
 * code), extern (dynamic) __shared__, __syncthreads_count/_and/_or,
 * __threadfence, atomics other than those below (float atomics on purpose),
 * vector types (float4, make_*), __constant__ symbols filled by
 * cudaMemcpyToSymbol, textures, cooperative groups, dynamic parallelism,
 * __noinline__ (it would break libstdc++'s __attribute__((__noinline__)); use
 * __attribute__((noinline))). Blocks never run concurrently, so a kernel that
 * waits for another block's progress hangs. */
#ifndef BFD_CUDA_EMU_H
#define BFD_CUDA_EMU_H

#ifndef __cplusplus
#error "cuda_emu.h stands in for nvcc's CUDA C++; compile with g++ -x c++"
#endif

#include <math.h>
#include <stddef.h>

#include "biofeed/biofeed.h"

#define BFD_EMU 1

/* ---- Qualifiers. __restrict__ is already a g++ keyword; __noinline__ is
 * left alone because libstdc++ spells __attribute__((__noinline__)). */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
/* Blocks run one at a time and launches are serialized, so one static
 * instance per declaration serves as each block's shared memory. As on a
 * GPU, it holds whatever the previous block left there. */
#define __shared__ static

/* ---- Built-in index variables (vector_types.h layouts). */
struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

/* Set by the scheduler for the thread it is running; thread-local so that
 * host threads outside a launch never see another thread's values. */
inline thread_local uint3 threadIdx;
inline thread_local uint3 blockIdx;
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

/* ---- Barrier. The call site is recorded so that threads waiting at
 * different __syncthreads are reported, not silently paired. */
void bfd_emu_syncthreads(const char *file, int line);
inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
  bfd_emu_syncthreads(file, line);
}

/* ---- Atomics (CUDA's relaxed semantics; the overload set is CUDA's, so a
 * call nvcc rejects, such as a float atomicAdd, fails here too). */
namespace bfd_emu {
template <class T>
inline T cas(T *address, T compare, T val) {
  __atomic_compare_exchange_n(address, &compare, val, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return compare;  // the old value, whether or not it was replaced
}
template <class T>
inline T fetch_max(T *address, T val) {
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old < val && !__atomic_compare_exchange_n(address, &old, val, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <class T>
inline T fetch_min(T *address, T val) {
  T old = __atomic_load_n(address, __ATOMIC_RELAXED);
  while (old > val && !__atomic_compare_exchange_n(address, &old, val, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
}  // namespace bfd_emu

#define BFD_EMU_ATOMICS(T)                                                                                \
  inline T atomicAdd(T *address, T val) { return __atomic_fetch_add(address, val, __ATOMIC_RELAXED); }     \
  inline T atomicExch(T *address, T val) { return __atomic_exchange_n(address, val, __ATOMIC_RELAXED); }   \
  inline T atomicCAS(T *address, T compare, T val) { return bfd_emu::cas(address, compare, val); }          \
  inline T atomicMax(T *address, T val) { return bfd_emu::fetch_max(address, val); }                        \
  inline T atomicMin(T *address, T val) { return bfd_emu::fetch_min(address, val); }
BFD_EMU_ATOMICS(int)
BFD_EMU_ATOMICS(unsigned int)
BFD_EMU_ATOMICS(unsigned long long int)
#undef BFD_EMU_ATOMICS
inline int atomicSub(int *address, int val) { return __atomic_fetch_sub(address, val, __ATOMIC_RELAXED); }
inline unsigned int atomicSub(unsigned int *address, unsigned int val) {
  return __atomic_fetch_sub(address, val, __ATOMIC_RELAXED);
}

/* ---- min/max: CUDA's overloads, mixed signedness included, so that calls
 * resolve (or fail) exactly as under nvcc. Mixed pairs compare as unsigned. */
#define BFD_EMU_MINMAX(R, A, B)                                                                        \
  inline R min(A a, B b) { return static_cast<R>(a) < static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); } \
  inline R max(A a, B b) { return static_cast<R>(a) > static_cast<R>(b) ? static_cast<R>(a) : static_cast<R>(b); }
BFD_EMU_MINMAX(int, int, int)
BFD_EMU_MINMAX(unsigned int, unsigned int, unsigned int)
BFD_EMU_MINMAX(unsigned int, int, unsigned int)
BFD_EMU_MINMAX(unsigned int, unsigned int, int)
BFD_EMU_MINMAX(long int, long int, long int)
BFD_EMU_MINMAX(unsigned long int, unsigned long int, unsigned long int)
BFD_EMU_MINMAX(unsigned long int, long int, unsigned long int)
BFD_EMU_MINMAX(unsigned long int, unsigned long int, long int)
BFD_EMU_MINMAX(long long int, long long int, long long int)
BFD_EMU_MINMAX(unsigned long long int, unsigned long long int, unsigned long long int)
BFD_EMU_MINMAX(unsigned long long int, long long int, unsigned long long int)
BFD_EMU_MINMAX(unsigned long long int, unsigned long long int, long long int)
#undef BFD_EMU_MINMAX
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }

/* ---- Runtime types and constants (driver_types.h values). */
enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorHostMemoryAlreadyRegistered = 712,
  cudaErrorHostMemoryNotRegistered = 713,
  cudaErrorUnknown = 999
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostAllocWriteCombined 0x04
#define cudaHostRegisterDefault 0x00
#define cudaHostRegisterPortable 0x01
#define cudaHostRegisterMapped 0x02
#define cudaHostRegisterIoMemory 0x04
#define cudaHostRegisterReadOnly 0x08
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
};

/* ---- Runtime API (emu_runtime.cc). */
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceSynchronize(void);

cudaError_t cudaMalloc(void **devPtr, size_t size);
cudaError_t cudaFree(void *devPtr);
cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags);
cudaError_t cudaHostUnregister(void *ptr);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream = 0);
cudaError_t cudaMemset(void *devPtr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream = 0);

cudaError_t cudaStreamCreate(cudaStream_t *pStream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* The C++ conveniences cuda_runtime.h adds. */
inline cudaError_t cudaEventCreate(cudaEvent_t *event, unsigned int flags) {
  return cudaEventCreateWithFlags(event, flags);
}
inline cudaError_t cudaMallocHost(void **ptr, size_t size, unsigned int flags) {
  return cudaHostAlloc(ptr, size, flags);
}
template <class T>
inline cudaError_t cudaMalloc(T **devPtr, size_t size) {
  return cudaMalloc(reinterpret_cast<void **>(devPtr), size);
}
template <class T>
inline cudaError_t cudaMallocHost(T **ptr, size_t size, unsigned int flags = 0) {
  return cudaMallocHost(reinterpret_cast<void **>(ptr), size, flags);
}
template <class T>
inline cudaError_t cudaHostAlloc(T **ptr, size_t size, unsigned int flags) {
  return cudaHostAlloc(reinterpret_cast<void **>(ptr), size, flags);
}

/* ---- Launch. BFD_LAUNCH (kernels/cuda/launch.h) wraps the kernel call in a
 * lambda; every thread of the grid runs it with its own index variables. The
 * default arguments record the launch site for error messages. The stream
 * must be 0 or live (the launch itself is synchronous). */
bfd_status bfd_emu_run(const char *kernel, dim3 grid, dim3 block, cudaStream_t stream, void (*body)(const void *),
                       const void *ctx, const char *file, int line);
template <class F>
inline bfd_status bfd_emu_launch(const char *kernel, dim3 grid, dim3 block, cudaStream_t stream, const F &body,
                                 const char *file = __builtin_FILE(), int line = __builtin_LINE()) {
  return bfd_emu_run(kernel, grid, block, stream, [](const void *f) { (*static_cast<const F *>(f))(); }, &body,
                     file, line);
}
#endif

/* The CUDA emulator's stand-in for <cuda_runtime.h>: in test builds g++
 * compiles the .cu files against this header, so the very kernel code runs
 * on the CPU (see cuda_emu.h). */
#ifndef BFD_EMU_CUDA_RUNTIME_H
#define BFD_EMU_CUDA_RUNTIME_H

#include "../cuda_emu.h"

#endif

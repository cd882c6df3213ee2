/* The `biofeed` command's subcommands; each returns the process exit status:
 * 0 success, 1 the data is bad (verify found problems, pack rejected its
 * input), 2 usage or environment errors. */
#ifndef BFD_CLI_H
#define BFD_CLI_H

#include <dlpack/dlpack.h>

#include "biofeed/biofeed.h"

int bfd_cli_pack(int argc, char **argv);
int bfd_cli_inspect(int argc, char **argv);
int bfd_cli_verify(int argc, char **argv);
int bfd_cli_run(int argc, char **argv);
int bfd_cli_stage(int argc, char **argv);

/* Prints "biofeed <cmd>: <last error>" and returns the exit status for s. */
int bfd_cli_fail(const char *cmd, bfd_status s);

/* Host-side reading of DLPack tensors for `run` (cli_tensor.c). Elements are
 * addressed in C order or by coordinates, through the strides. */
int bfd_cli_tensor_host(const DLTensor *t); /* the CPU can read the memory */
size_t bfd_cli_tensor_elsize(const DLTensor *t);
uint64_t bfd_cli_tensor_numel(const DLTensor *t);
int bfd_cli_tensor_contiguous(const DLTensor *t);
const void *bfd_cli_tensor_ptr(const DLTensor *t, const int64_t *idx);
const void *bfd_cli_tensor_ptr_linear(const DLTensor *t, uint64_t i);
double bfd_cli_tensor_f64(const DLTensor *t, const int64_t *idx); /* float16/bfloat16 widened */
double bfd_cli_tensor_f64_linear(const DLTensor *t, uint64_t i);
double bfd_cli_tensor_sum(const DLTensor *t);

/* Writes t (host memory) as an NPY v1 file (cli_npy.c); prints the error
 * and returns 2 on failure, else 0. */
int bfd_cli_write_npy(const char *path, const DLTensor *t);

/* The --preview grid (cli_preview.c): at most BFD_CLI_PREVIEW_MAX tiles,
 * BFD_CLI_PREVIEW_GAP pixels apart. lab and valid may be NULL. Prints the
 * error and returns 2 on failure, else 0. */
#define BFD_CLI_PREVIEW_MAX 64
#define BFD_CLI_PREVIEW_GAP 2
int bfd_cli_preview(const char *path, const DLTensor *img, const DLTensor *lab, const DLTensor *valid);

#endif

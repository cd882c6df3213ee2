/* CHECK and OK for the standalone GPU programs of tests/dist (built without
 * cmocka or MPI by bench/gpu_check.sh): a failed condition or call prints
 * file, line and the library's message, and exits 1. */
#ifndef BFD_TESTS_DIST_CHECK_H
#define BFD_TESTS_DIST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "biofeed/biofeed.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#define OK(call)                                                                                 \
  do {                                                                                           \
    bfd_status st_ = (call);                                                                     \
    if (st_ != BFD_OK) {                                                                         \
      fprintf(stderr, "%s:%d: %s: %s: %s\n", __FILE__, __LINE__, #call, bfd_status_name(st_),   \
              bfd_last_error());                                                                 \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

#endif

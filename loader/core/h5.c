/* The process-wide HDF5 lock, and HDF5 errors turned into biofeed messages. */
#include "core/h5.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int h5_quiet;

void bfdi_h5_lock(void) {
  pthread_mutex_lock(&h5_mutex);
  /* The library must not print: HDF5 errors reach the user through
   * bfd_last_error. A thread-safe HDF5 keeps this setting per thread. */
  if (!h5_quiet) {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5_quiet = 1;
  }
}

void bfdi_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0) snprintf((char *)data, 512, "%s (in %s)", e->desc ? e->desc : "?", e->func_name ? e->func_name : "?");
  return 0;
}

bfd_status bfdi_h5_fail(const char *fmt, ...) {
  char what[1024], why[512] = "no HDF5 error detail";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, why);
  H5Eclear2(H5E_DEFAULT);
  return bfdi_fail(BFD_ERR_HDF5, "%s: %s", what, why);
}

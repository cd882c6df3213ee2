/* The thread-local error message, status names and the log callback. */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define BFD_MSG_MAX 2048

static _Thread_local char tls_msg[BFD_MSG_MAX];
static bfd_log_fn log_fn;
static void *log_user;
static bfd_log_level log_min = BFD_LOG_INFO;

const char *bfd_status_name(bfd_status s) {
  switch (s) {
    case BFD_OK: return "BFD_OK";
    case BFD_ERR_INVALID_ARG: return "BFD_ERR_INVALID_ARG";
    case BFD_ERR_IO: return "BFD_ERR_IO";
    case BFD_ERR_NO_SPACE: return "BFD_ERR_NO_SPACE";
    case BFD_ERR_FORMAT: return "BFD_ERR_FORMAT";
    case BFD_ERR_UNSUPPORTED: return "BFD_ERR_UNSUPPORTED";
    case BFD_ERR_CORRUPT: return "BFD_ERR_CORRUPT";
    case BFD_ERR_NOMEM: return "BFD_ERR_NOMEM";
    case BFD_ERR_HDF5: return "BFD_ERR_HDF5";
    case BFD_ERR_CUDA: return "BFD_ERR_CUDA";
    case BFD_ERR_INTERNAL: return "BFD_ERR_INTERNAL";
  }
  return "BFD_ERR_UNKNOWN";
}

const char *bfd_last_error(void) { return tls_msg; }

void bfdi_clear_error(void) { tls_msg[0] = '\0'; }

bfd_status bfdi_fail(bfd_status s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
  va_end(ap);
  return s;
}

bfd_status bfdi_fail_errno(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tls_msg, sizeof tls_msg, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof tls_msg)
    snprintf(tls_msg + n, sizeof tls_msg - (size_t)n, ": %s", strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return BFD_ERR_NO_SPACE;
    case ENOMEM: return BFD_ERR_NOMEM;
    default: return BFD_ERR_IO;
  }
}

bfd_status bfdi_wrap(bfd_status s, const char *fmt, ...) {
  char prefix[BFD_MSG_MAX], old[BFD_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, tls_msg, sizeof old);
  /* Both halves bounded so the result always fits; long messages lose their tail. */
  snprintf(tls_msg, sizeof tls_msg, "%.1000s: %.1000s", prefix, old);
  return s;
}

bfd_status bfd_set_log(bfd_log_fn fn, void *user, bfd_log_level min_level) {
  if (min_level < BFD_LOG_DEBUG || min_level > BFD_LOG_ERROR)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "bfd_set_log: min_level %d is not a bfd_log_level (0..3)",
                     (int)min_level);
  log_fn = fn;
  log_user = user;
  log_min = min_level;
  return BFD_OK;
}

void bfdi_log(bfd_log_level level, const char *fmt, ...) {
  if (!log_fn || level < log_min) return;
  char line[BFD_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  log_fn(level, line, log_user);
}

const char *bfd_version(void) { return BFD_VERSION_STRING; }

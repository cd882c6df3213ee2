/* biofeed public API: status codes, error messages, logging, version.
 *
 * Every call returns a bfd_status. When it is not BFD_OK, bfd_last_error()
 * returns a message for the calling thread saying what went wrong, where
 * (file, record, byte offset, config key) and what to do. The library never
 * exits the process and never prints except through the log callback. */
#ifndef BIOFEED_BIOFEED_H
#define BIOFEED_BIOFEED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BFD_API __attribute__((visibility("default")))
#else
#define BFD_API
#endif

#define BFD_VERSION_MAJOR 0
#define BFD_VERSION_MINOR 1
#define BFD_VERSION_PATCH 0
#define BFD_VERSION_STRING "0.1.0"

/* The shard format version this library writes and reads (docs/FORMAT.md). */
#define BFD_FORMAT_VERSION 1

typedef enum bfd_status {
  BFD_OK = 0,
  BFD_ERR_INVALID_ARG,  /* a parameter or option is wrong */
  BFD_ERR_IO,           /* a read, write, open or rename failed */
  BFD_ERR_NO_SPACE,     /* the device is full (ENOSPC, EDQUOT, EFBIG) */
  BFD_ERR_FORMAT,       /* input is malformed: not FASTA, bad TIFF, ... */
  BFD_ERR_UNSUPPORTED,  /* well-formed but not supported: compression, dtype */
  BFD_ERR_CORRUPT,      /* a checksum or hash does not match */
  BFD_ERR_NOMEM,        /* an allocation failed or a size is hostile */
  BFD_ERR_HDF5,         /* the HDF5 library reported an error */
  BFD_ERR_CUDA,         /* the CUDA runtime reported an error */
  BFD_ERR_INTERNAL      /* a bug in biofeed: please report it */
} bfd_status;

/* A fixed name for a status, e.g. "BFD_ERR_IO". Never NULL. */
BFD_API const char *bfd_status_name(bfd_status s);

/* The message of the last failed call on this thread ("" if none). The
 * pointer stays valid until the next biofeed call on this thread. */
BFD_API const char *bfd_last_error(void);

typedef enum bfd_log_level {
  BFD_LOG_DEBUG = 0,
  BFD_LOG_INFO = 1,
  BFD_LOG_WARN = 2,
  BFD_LOG_ERROR = 3
} bfd_log_level;

typedef void (*bfd_log_fn)(bfd_log_level level, const char *msg, void *user);

/* Routes the library's log lines at or above min_level to fn. With fn NULL
 * (the default) the library says nothing. Not thread-safe against calls in
 * flight: set it once at start-up. */
BFD_API bfd_status bfd_set_log(bfd_log_fn fn, void *user, bfd_log_level min_level);

/* The library's version string, e.g. "0.1.0". */
BFD_API const char *bfd_version(void);

/* Whether this build has the CUDA backend, and how many devices it sees
 * (0 when built without CUDA or when no driver/device is present). */
BFD_API bfd_status bfd_cuda_device_count(int *count);

#ifdef __cplusplus
}
#endif

#endif

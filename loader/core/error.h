/* Internal error and logging helpers: every failing path records a message
 * in the thread-local buffer and returns its status in one expression. */
#ifndef BFD_CORE_ERROR_H
#define BFD_CORE_ERROR_H

#include "biofeed/biofeed.h"

#if defined(__GNUC__)
#define BFD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BFD_PRINTF(a, b)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Sets this thread's message and returns s, so that failing paths read
 * `return bfdi_fail(BFD_ERR_IO, "...", ...);`. */
bfd_status bfdi_fail(bfd_status s, const char *fmt, ...) BFD_PRINTF(2, 3);

/* Like bfdi_fail, with ": <strerror(err)>" appended; maps ENOSPC, EDQUOT and
 * EFBIG to BFD_ERR_NO_SPACE and ENOMEM to BFD_ERR_NOMEM. */
bfd_status bfdi_fail_errno(int err, const char *fmt, ...) BFD_PRINTF(2, 3);

/* Prefixes this thread's message with context, keeping the status:
 * `return bfdi_wrap(st, "shard %s", path);` gives "shard x: <old message>". */
bfd_status bfdi_wrap(bfd_status s, const char *fmt, ...) BFD_PRINTF(2, 3);

void bfdi_clear_error(void);

void bfdi_log(bfd_log_level level, const char *fmt, ...) BFD_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif

/* Propagates a failing status from a call whose message is already set. */
#define BFD_TRY(expr)                      \
  do {                                     \
    bfd_status bfd_try_s_ = (expr);        \
    if (bfd_try_s_ != BFD_OK) return bfd_try_s_; \
  } while (0)

#endif

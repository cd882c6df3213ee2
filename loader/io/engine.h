/* The I/O engine: many byte-range reads in flight from one thread, through
 * io_uring (liburing) or, where the kernel refuses io_uring, a pool of
 * pread threads behind the same calls. An engine belongs to one thread at a
 * time (one per reader thread: one ring each). It resubmits short reads,
 * retries -EAGAIN/-EINTR at once and I/O errors with bounded backoff, then
 * reports the file and byte offset; with O_DIRECT it handles alignment. A
 * test hook sees every read the engine performs and may fault it. */
#ifndef BFD_IO_ENGINE_H
#define BFD_IO_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/error.h"

typedef enum bfdi_io_kind {
  BFDI_IO_AUTO = 0, /* io_uring when the kernel allows it, else pread (said once in the log) */
  BFDI_IO_URING,
  BFDI_IO_PREAD
} bfdi_io_kind;

typedef struct bfdi_io_opts {
  bfdi_io_kind kind;
  unsigned queue_depth;     /* reads in flight; 0: 64 */
  int direct;               /* open files with O_DIRECT */
  unsigned threads;         /* pread pool size; 0: the queue depth, at most 32 */
  unsigned max_files;       /* files open at once; 0: 64 */
  unsigned retries;         /* retries of a read that failed with an I/O error; 0: 3 */
  unsigned retry_delay_us;  /* first backoff, x4 each retry; 0: 1000 */
  /* Memory reads will land in (the pinned pool's region), registered with
   * the ring when the kernel allows it; it must outlive the engine. */
  const struct iovec *buffers;
  size_t n_buffers;
  int secure;               /* readers (read.h): decode into locked scratch, for restricted data */
} bfdi_io_opts;

/* dst is congruent to offset modulo 4096 and the 4096-aligned window around
 * [dst, dst + len) may be written: an O_DIRECT read covers it in one go. */
#define BFDI_IO_ROOM 1u

typedef struct bfdi_io_req {
  uint64_t offset;
  uint64_t len;
  void *dst;
  uint64_t tag;   /* returned with the completion */
  uint32_t file;  /* from bfdi_io_open */
  uint32_t flags; /* BFDI_IO_ROOM */
} bfdi_io_req;

typedef struct bfdi_io_done {
  uint64_t tag;
  bfd_status status;
} bfdi_io_done;

typedef struct bfdi_io_stats {
  uint64_t requests;
  uint64_t reads;    /* reads issued to the kernel, resubmissions included */
  uint64_t bytes;    /* bytes those reads returned */
  uint64_t retries;  /* after I/O errors */
  uint64_t resubmits;/* after short reads, -EAGAIN or -EINTR */
  uint64_t fixed;    /* reads into registered buffers */
  uint64_t bounced;  /* O_DIRECT reads through a bounce buffer */
  uint64_t memory;   /* requests copied from a file in memory (bfdi_io_open_memory) */
} bfdi_io_stats;

typedef struct bfdi_io bfdi_io;

bfd_status bfdi_io_create(const bfdi_io_opts *o, bfdi_io **out);
/* Waits for reads still in flight, then closes every file. */
void bfdi_io_destroy(bfdi_io *e);

bfdi_io_kind bfdi_io_kind_of(const bfdi_io *e);
const char *bfdi_io_kind_name(bfdi_io_kind k);
/* "auto", "uring" or "pread" (the io.engine setting). */
bfd_status bfdi_io_parse_kind(const char *s, bfdi_io_kind *k);

/* 4096 when the engine reads with O_DIRECT (lay buffers out for it with
 * BFDI_IO_ROOM), else 1. */
uint32_t bfdi_io_align(const bfdi_io *e);

bfd_status bfdi_io_open(bfdi_io *e, const char *path, uint32_t *file);
/* A file whose bytes are already in memory (len of them at bytes, which
 * must outlive it; io.cache): its requests are copied from there at submit
 * and complete at once, asking the kernel for nothing (the read hook does
 * not see them). A request past len fails as a read past the end of a
 * truncated file does. */
bfd_status bfdi_io_open_memory(bfdi_io *e, const char *path, const uint8_t *bytes, uint64_t len, uint32_t *file);
/* Fails if reads of the file are still outstanding. */
bfd_status bfdi_io_close(bfdi_io *e, uint32_t file);

/* Queues up to n reads and submits them in one batch; *accepted says how
 * many were taken (fewer when queue_depth requests are outstanding: reap,
 * then submit the rest). Never blocks. */
bfd_status bfdi_io_submit(bfdi_io *e, const bfdi_io_req *r, size_t n, size_t *accepted);

/* Waits until at least min requests (capped at those outstanding) have
 * completed, then hands out up to cap of them. Each completion carries its
 * status; when one failed, the return value is its status and the thread's
 * message names the file, byte offset and error of the first failure. */
bfd_status bfdi_io_reap(bfdi_io *e, bfdi_io_done *out, size_t cap, size_t min, size_t *got);

/* Requests submitted and not yet reaped. */
size_t bfdi_io_outstanding(const bfdi_io *e);

void bfdi_io_get_stats(const bfdi_io *e, bfdi_io_stats *s);

/* Test hook: called after every read the engine performs (both engines),
 * with the bytes it returned in buf (len bytes were asked for) and *res the
 * count or -errno. It may shorten *res, set it to -EAGAIN/-EIO, or change
 * bytes. NULL removes it. Set it while no engine is reading. */
typedef void (*bfdi_read_hook_fn)(const char *path, uint64_t offset, uint8_t *buf, uint64_t len, int64_t *res);
void bfdi_io_set_read_hook(bfdi_read_hook_fn fn);

#endif

/* The engine's insides, shared by its core (engine.c: requests, alignment,
 * retries) and its two backends (uring.c, pread.c: getting reads to the
 * kernel and completions back). Not for use outside loader/io. */
#ifndef BFD_IO_ENGINE_IMPL_H
#define BFD_IO_ENGINE_IMPL_H

#include "io/engine.h"

/* One read the kernel is asked for (or will be): a piece of a request. */
typedef struct io_op {
  uint32_t req;
  uint32_t file;
  uint8_t mode;         /* OP_PLAIN, OP_WINDOW, OP_BOUNCE (engine.c) */
  uint8_t *dst;         /* where file offset `start` lands */
  uint64_t start;
  uint64_t pos, end;    /* bytes [pos, end) of the file are still missing */
  uint32_t bounce;      /* bounce slot, or UINT32_MAX */
  uint32_t retries;     /* after I/O errors */
  uint32_t stalls;      /* resubmits in a row without progress */
  uint64_t due_ns;      /* a delayed retry goes out at this time */
  /* the read in flight */
  uint64_t io_off, io_len;
  uint8_t *io_buf;
} io_op;

typedef struct io_file {
  int fd;               /* -1: free slot, unless mem is set */
  const uint8_t *mem;   /* a file read from memory (bfdi_io_open_memory): its bytes, mem_len of them */
  uint64_t mem_len;
  char *path;
  uint32_t align;       /* O_DIRECT alignment of offsets, lengths and memory */
  uint32_t busy;        /* ops reading it */
} io_file;

typedef struct io_raw {
  uint32_t op;
  int64_t res;          /* bytes, or -errno */
} io_raw;

typedef struct io_backend {
  /* Prepares the read described by ops[op].io_*; flush hands the batch over. */
  bfd_status (*queue)(bfdi_io *e, uint32_t op);
  bfd_status (*flush)(bfdi_io *e);
  /* Up to cap completions; waits up to timeout_ns for the first (< 0: no limit). */
  bfd_status (*wait)(bfdi_io *e, io_raw *out, size_t cap, int64_t timeout_ns, size_t *got);
  void (*file_changed)(bfdi_io *e, uint32_t slot);
  void (*destroy)(bfdi_io *e);
} io_backend;

typedef struct io_reqslot io_reqslot;

struct bfdi_io {
  bfdi_io_kind kind;
  const io_backend *be;
  void *bs;             /* the backend's state */
  unsigned qd;
  int direct;
  unsigned retries;
  unsigned delay_us;
  io_file *files;
  unsigned max_files;
  io_op *ops;
  unsigned n_ops;       /* 3 per request: an O_DIRECT head, middle and tail */
  io_reqslot *reqs;
  uint32_t *free_ops, *free_reqs, *ready, *delayed, *done, *free_bounce;
  unsigned n_free_ops, n_free_reqs, n_delayed, n_free_bounce;
  unsigned ready_head, ready_n, done_head, done_n;
  uint8_t *bounce;      /* qd slots of BFDI_IO_BOUNCE bytes, O_DIRECT only */
  size_t bounce_bytes;
  unsigned inflight;
  size_t outstanding;
  bfdi_io_stats stats;
};

#define BFDI_IO_BOUNCE (128u << 10)

bfd_status bfdi_uring_init(bfdi_io *e, const bfdi_io_opts *o, int *err);
bfd_status bfdi_pread_init(bfdi_io *e, const bfdi_io_opts *o);

#endif

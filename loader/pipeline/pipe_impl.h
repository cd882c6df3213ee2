/* The pipeline's insides, shared by its files: the batch slots that travel
 * through the stages, the output table, and the stage functions. pipe.c
 * runs the threads and the queues; plan.c, read.c, decode.c and ops.c are
 * the stages; slots.c sizes and allocates the buffers. */
#ifndef BFD_PIPELINE_PIPE_IMPL_H
#define BFD_PIPELINE_PIPE_IMPL_H

#include <dlpack/dlpack.h>
#include <pthread.h>

#include "io/decode.h"
#include "io/engine.h"
#include "io/read.h"
#include "pipeline/pipe.h"
#include "plan/sampler.h"

/* Stages in flow order. A slot's `stage` is the next stage it needs:
 * S_READY when the consumer may take it. */
enum { S_PLAN = 0, S_READ, S_DECODE, S_UPLOAD, S_OPS, S_BATCH, S_READY };
#define N_STAGES S_READY

/* Output dimensions that vary per batch. */
#define DIM_B (-1) /* rows */
#define DIM_W (-2) /* sequence row width */

#define MAX_OUTPUTS 8

typedef struct bfdi_out_desc {
  const char *name;
  DLDataType dtype;
  int ndim;
  int64_t dims[6];
  size_t esize;
  size_t cap;  /* bytes in a slot */
  size_t off;  /* in the slot's output block */
} bfdi_out_desc;

/* Which slot buffer a read lands in. */
enum { BUF_IN = 0, BUF_LAB, BUF_RAW };

/* One read of a batch: a sequence span (or N-rejection candidate), an
 * image sample or its label. */
typedef struct bfdi_rd {
  const bfdi_src_shard *shard;
  uint64_t record;  /* in the shard */
  uint64_t lo, hi;  /* sequences: bytes of the record */
  uint64_t len;     /* sequences: the record's length */
  int64_t cand;     /* N rejection: the candidate window's start */
  int64_t ns;       /* N rejection: the candidate's N bases once counted, else -1 */
  uint64_t ds_rec;  /* sequences: the record in its dataset */
  uint32_t ds;      /* sequences: its dataset */
  uint64_t dst;     /* byte offset in its buffer */
  uint64_t cap;
  uint32_t row;
  uint8_t part;     /* bfdi_part */
  uint8_t buf;      /* BUF_* */
  uint8_t boxed;    /* images: read only box */
  uint8_t pending;  /* N rejection: a later candidate not drawn yet (bfdi_plan_later) */
  bfdi_box box;
} bfdi_rd;

/* A batch slot: everything one batch needs, allocated once. The public
 * bfd_batch is a slot handed to the consumer. */
struct bfd_batch {
  bfdi_pipe *p;
  int index;
  /* flow, under p->mu */
  uint64_t seq;
  int in_flight;    /* between plan and release */
  int stage;        /* next stage to run (S_READY: ready) */
  int busy;         /* a stage thread works on it */
  int refs;         /* the consumer's handle and its tensors; atomic: tensors come and
                       go on the consumer's threads without the ring's lock */
  int handle;       /* the consumer's handle is not released yet (atomic) */
  int given;        /* handed to the consumer and not yet back (under p->mu) */
  const void *owner; /* the worker that planned it last (under p->mu) */
  /* the step */
  bfdi_cursor c, next_c;
  uint64_t step, next_step;
  uint32_t n;
  bfdi_sample_ref *refs_buf;
  uint64_t *key;     /* Philox sample key of each row */
  int64_t *h_sample; /* host "sample" (the output itself on the CPU backend) */
  uint8_t *h_valid;
  int64_t *h_class;
  uint32_t *group;   /* images: shape group of each row */
  uint64_t *offsets; /* sequences: spans in `in` [n + 1]; images: each row's data in `in` */
  uint64_t *lab_off; /* images: each row's label in `lab` */
  bfdk_img_box *box; /* images: the source box each row holds, when boxed */
  int boxed;         /* images: rows hold only their boxes (plan.c) */
  uint32_t *first_rd; /* each row's first read */
  /* reads */
  bfdi_rd *rd;
  bfdi_readplan *plans;
  uint64_t *stage_at;
  size_t n_rd;
  uint8_t *stage_buf, *raw, *in, *lab;
  uint64_t in_used, lab_used, raw_used;
  /* outputs */
  uint8_t *out;      /* host (CPU backend) or device block */
  void *work;
  int32_t width;
  /* device */
  uint8_t *d_in, *d_lab;
  uint64_t *d_offsets, *d_key;
  void *ev_up, *ev_done;
  int gpu_used;      /* ev_done was recorded at least once */
  /* per-batch stage figures */
  uint64_t bytes[N_STAGES];
  /* on_corrupt: skip, counted into the pipe's when the consumer takes the batch */
  bfd_fault_stats faults;
};
typedef struct bfd_batch bfdi_slot;

typedef struct bfdi_stage_acc {
  double busy, wait_in, wait_out;
  uint64_t bytes, records;
} bfdi_stage_acc;

/* One stage thread's own state. */
typedef struct bfdi_worker {
  bfdi_pipe *p;
  int stage;
  int whole;            /* runs every stage of its batches (p->whole) */
  pthread_t thread;
  /* read */
  bfdi_io *io;
  int32_t *file_slot;   /* global file id -> engine slot, -1 closed */
  uint64_t *file_stamp; /* batch that last used it */
  uint32_t open_files;
  uint64_t batches;
  bfdi_io_req *ioq;
  size_t ioq_cap;
  /* decode */
  bfdi_decoder **dec;
  uint32_t n_dec;
  /* on_corrupt: skip (skip.c): which reads of the batch were corrupt, and a
   * reader for replacements, made on the first corrupt record */
  uint8_t *corrupt;
  bfdi_reader *repair;
  uint8_t *repair_buf;
  size_t repair_cap;
} bfdi_worker;

struct bfdi_pipe {
  bfdi_job job;          /* owned */
  bfdi_source *src;
  uint32_t rank, world;  /* the sampler's: a broadcast group counts as one rank */
  struct bfdi_pdist *dist; /* broadcast and exchange modes (pipeline/dist.h); NULL in shard mode */
  uint32_t read_rows;    /* rows the read side of a slot holds: max_batch, or in exchange mode every rank's */
  int cuda;
  int device_id;
  bfdi_sampler *plan_sampler; /* the plan thread's */
  bfdi_sampler *api_sampler;  /* the consumer thread's: state, steps */
  uint32_t max_batch;
  size_t cap_rd;
  int attempts;          /* sequences: N-rejection candidates per sample (1: none) */
  /* CPU backend: each batch runs every stage on one of io.workers + 1
   * threads (batches too small to hand over, or single-threaded stages) */
  int whole;
  /* OpenMP threads that decode's and the ops' teams may add to their own
   * stage threads, together (io.workers - 1; under mu) */
  int team_spare;
  /* outputs */
  bfdi_out_desc outs[MAX_OUTPUTS];
  size_t n_outs;
  size_t out_bytes;
  /* sequence ops */
  bfdk_seq_params kp;    /* the job's params in record mode: the pipeline cuts windows */
  int32_t *tables;
  void *d_tables;
  /* image ops */
  int64_t img_out_sample; /* bytes of one output patch */
  int64_t lab_out_sample;
  /* io.cache (cache.c): per global file id, its bytes in memory (NULL: read
   * from the file) and their length; cache_bytes mapped for all of them */
  uint8_t **cache;
  uint64_t *cache_len;
  uint64_t cache_bytes;
  /* buffers of a slot */
  size_t in_cap, lab_cap, raw_cap, stage_cap, work_cap;
  size_t host_slot_bytes, dev_slot_bytes;
  bfdi_slot *slots;
  int R;
  void *copy_stream, *compute_stream;
  /* threads */
  pthread_mutex_t mu;
  pthread_mutex_t plan_mu; /* whole batches: the sampler's turn, taken before mu */
  pthread_cond_t cv[N_STAGES + 1]; /* stage k waits on cv[k], the consumer on cv[S_READY] */
  bfdi_worker *workers;
  int n_workers;
  int group;               /* whole batches: ready batches a waiting consumer is woken for */
  int running, stop;
  uint64_t next[N_STAGES]; /* next seq each stage claims */
  uint64_t cons_seq;       /* next seq the consumer takes */
  uint64_t allowed;        /* slots below it may run their collectives (pipeline/dist.h) */
  /* plan thread position */
  bfdi_cursor plan_c;
  uint64_t plan_step;
  /* consumer position */
  bfdi_cursor consumed;
  uint64_t consumed_step;
  uint32_t cur_epoch;
  /* first failure */
  bfd_status err;
  uint64_t err_seq;
  char err_msg[2048];
  bfdi_stage_acc acc[N_STAGES];
  bfd_fault_stats faults;  /* of the batches the consumer took */
  /* lifetime: freed when closed and no slot is referenced */
  int closed;
  int held;
  /* restricted data (security.c) */
  int secure;            /* some shard is restricted: locked slot buffers, zeroed on release */
  struct bfdi_security *sec;
};

/* Stage work on one slot (the slot is the caller's until it returns). */
bfd_status bfdi_stage_plan(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
/* The plan stage in two halves: the sampler's batch at the plan position,
 * which moves that position on (slots take it in sequence order), and the
 * rows' reads, which depend on the slot alone. */
bfd_status bfdi_plan_take(bfdi_pipe *p, bfdi_slot *s);
bfd_status bfdi_plan_rows(bfdi_pipe *p, bfdi_slot *s);
bfd_status bfdi_stage_read(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
bfd_status bfdi_stage_decode(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
/* N rejection: the N bases of candidate rd's window (read into the slot's
 * raw buffer), counted once and kept in rd->ns, and, in *span, the
 * window's bytes. */
int64_t bfdi_seq_cand_n(const bfdi_pipe *p, const bfdi_slot *s, bfdi_rd *rd, int64_t *span);
bfd_status bfdi_stage_upload(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
bfd_status bfdi_stage_ops(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
bfd_status bfdi_stage_batch(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);

/* The plan stage's pieces, for the distribution modes (pipeline/dist.h):
 * start a slot's reads afresh, fill row b's "sample", "valid" and "class"
 * from its sample, plan row b's reads (and its Philox key), and close the
 * plan (offsets[n], the buffer check). */
void bfdi_plan_reset(bfdi_slot *s);
void bfdi_plan_meta(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_sample_ref *r);
bfd_status bfdi_plan_row(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_sample_ref *r);
bfd_status bfdi_plan_done(bfdi_pipe *p, bfdi_slot *s);
/* N rejection: row b's later candidate windows, drawn only when they are to
 * be read (its first was rejected, or its reads are not in place). */
void bfdi_plan_later(const bfdi_pipe *p, bfdi_slot *s, uint32_t b);

/* The box of a whole sample of group g (plan.c). */
void bfdi_img_whole_box(const bfdi_src_group *g, bfdk_img_box *box);

/* The image ops' plan for a batch of B samples of group g (slots.c). */
bfd_status bfdi_img_plan(const bfdi_pipe *p, const bfdi_src_group *g, size_t B, bfdk_img_plan *pl);
/* A team of up to want threads for one batch of a stage: the stage's own
 * thread and what the spare threads allow, so that decode and the ops
 * together never run more than io.workers + 1 threads, and no OpenMP
 * thread spins on a core another stage needs. Give it back after. */
int bfdi_team_take(bfdi_pipe *p, int want);
void bfdi_team_give(bfdi_pipe *p, int team);

/* Per-thread state of the read and decode stages. */
bfd_status bfdi_worker_init(bfdi_pipe *p, bfdi_worker *w);
void bfdi_worker_fini(bfdi_worker *w);

/* Where a read's bytes go. */
uint8_t *bfdi_rd_dst(bfdi_slot *s, const bfdi_rd *rd);

/* on_corrupt: skip (skip.c). Decode marks a read whose record is corrupt;
 * repair then gives each row holding one the next good sample of its
 * dataset. take adds a batch's counts to the pipe's (under p->mu). */
void bfdi_skip_mark(bfdi_worker *w, size_t rd);
bfd_status bfdi_skip_repair(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s);
void bfdi_skip_take(bfdi_pipe *p, const bfdi_slot *s);
void bfdi_skip_fini(bfdi_worker *w);

/* Sizes the outputs and buffers, checks them against memory_limit and
 * allocates the slots (slots.c). */
bfd_status bfdi_slots_create(bfdi_pipe *p);
void bfdi_slots_free(bfdi_pipe *p);
/* Zeroed host memory of its own pages (slots.c): n bytes, NULL when n is
 * 0 or the mapping fails (errno says why); unmap takes NULL. */
void *bfdi_host_map(size_t n);
void bfdi_host_unmap(void *m, size_t n);

/* io.cache (cache.c). measure sizes this rank's shard files (before the
 * slots, which memory_limit holds together with them); load reads them
 * into memory (after the slots, so that a ring that does not fit fails
 * before the reading); the read stage then opens them with
 * bfdi_io_open_memory. Nothing when io.cache is off. */
bfd_status bfdi_cache_measure(bfdi_pipe *p);
bfd_status bfdi_cache_load(bfdi_pipe *p);
void bfdi_cache_free(bfdi_pipe *p);

/* Restricted data (security.c): after the source is open, gives every
 * restricted shard the job's key (refusing the job without it, naming the
 * key id), opens the audit log and writes a line per shard opened; counts
 * the records each batch read; at close writes a line per shard with its
 * count and lets the key go. */
bfd_status bfdi_security_open(bfdi_pipe *p);
void bfdi_security_count(bfdi_pipe *p, const bfdi_slot *s);
void bfdi_security_close(bfdi_pipe *p);

/* Zeroes a slot's buffers of decrypted bytes (p->secure: on release). */
void bfdi_slot_scrub(bfdi_pipe *p, bfdi_slot *s);

/* The output named name, or NULL. */
const bfdi_out_desc *bfdi_out_find(const bfdi_pipe *p, const char *name);
static inline void *bfdi_out_ptr(const bfdi_pipe *p, const bfdi_slot *s, const char *name) {
  const bfdi_out_desc *d = bfdi_out_find(p, name);
  return d ? s->out + d->off : NULL;
}

#endif

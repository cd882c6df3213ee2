/* The batch slots: the outputs a job produces, the size of every buffer a
 * batch can need (from the largest record, window or image of the
 * datasets), the ring length that memory_limit allows, and the allocation
 * of all of it up front. Large host buffers are anonymous mappings (page
 * aligned, committed only when touched); on the CUDA backend they are
 * pinned and every slot has its device copies. When a shard is restricted,
 * the host buffers that hold decrypted bytes or what the ops made of them
 * are locked memory, zeroed when a batch is released and when freed. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/secure.h"
#include "gpu.h"
#include "pipeline/pipe_impl.h"

#define ALIGN 256

static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* a * b, saturating: sizes past any memory limit fail the limit check. */
static size_t mul(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? SIZE_MAX / 4 : r;
}

static DLDataType dt(uint8_t code, uint8_t bits) { return (DLDataType){code, bits, 1}; }

static void add_out(bfdi_pipe *p, const char *name, DLDataType type, int ndim, const int64_t *dims) {
  bfdi_out_desc *d = &p->outs[p->n_outs++];
  d->name = name;
  d->dtype = type;
  d->esize = type.bits / 8;
  d->ndim = ndim;
  const int64_t widest = p->kp.pad_longest ? (p->kp.max_len + 7) / 8 * 8 : p->kp.max_len;
  size_t cap = d->esize;
  for (int k = 0; k < ndim; k++) {
    d->dims[k] = dims[k];
    int64_t most = dims[k];
    if (dims[k] == DIM_B) most = p->max_batch;
    if (dims[k] == DIM_W) most = widest;
    cap = mul(cap, (size_t)most);
  }
  d->cap = cap;
  d->off = p->out_bytes;
  p->out_bytes = round_up(p->out_bytes + cap, ALIGN);
}

static void seq_outputs(bfdi_pipe *p) {
  const bfd_seq_config *c = &p->job.seq;
  const int64_t bw[] = {DIM_B, DIM_W}, b[] = {DIM_B}, bw4[] = {DIM_B, DIM_W, 4};
  add_out(p, "ids", dt(kDLInt, 64), 2, bw);
  add_out(p, "attention_mask", dt(kDLUInt, 8), 2, bw);
  add_out(p, "lengths", dt(kDLInt, 32), 1, b);
  if (c->params.mlm_p > 0.0f) add_out(p, "labels", dt(kDLInt, 64), 2, bw);
  if (c->case_mode == BFD_SEQ_CASE_SOFTMASK) add_out(p, "softmask", dt(kDLUInt, 8), 2, bw);
  if (c->onehot)
    add_out(p, "onehot",
            c->params.onehot_dtype == BFD_SEQ_F32 ? dt(kDLFloat, 32)
                                                  : (c->params.onehot_dtype == BFD_SEQ_F16 ? dt(kDLFloat, 16)
                                                                                           : dt(kDLBfloat, 16)),
            3, bw4);
}

/* The patch shape of group g for a batch of B (checks the op list against it). */
bfd_status bfdi_img_plan(const bfdi_pipe *p, const bfdi_src_group *g, size_t B, bfdk_img_plan *pl) {
  static uint8_t dummy[8];
  bfdk_img_batch bt;
  memset(&bt, 0, sizeof bt);
  bt.batch = B;
  bt.ndim = g->ndim;
  memcpy(bt.shape, g->shape, sizeof bt.shape);
  bt.dtype = g->dtype;
  bt.images = dummy;
  bt.sample_index = (const uint64_t *)dummy;
  bt.out = dummy;
  bt.out_dtype = p->job.out_dtype;
  bt.channels_last = p->job.layout == BFDI_CHANNELS_LAST;
  if (g->has_labels) {
    bt.labels = dummy;
    bt.label_ndim = g->ndim - 1;
    memcpy(bt.label_shape, g->shape + 1, sizeof(int64_t) * (size_t)(g->ndim - 1));
    bt.label_dtype = g->label_dtype;
    bt.out_labels = dummy;
    bt.out_label_dtype = p->job.label_dtype;
  }
  return bfdk_img_plan_make(&p->job.img, &bt, pl);
}

static void fmt_shape(char *buf, size_t n, const int64_t *s, int nd) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < nd && o < n; i++) o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)s[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
}

static bfd_status img_outputs(bfdi_pipe *p) {
  const bfdi_source *src = p->src;
  const bfdi_job *j = &p->job;
  bfdk_img_plan first;
  memset(&first, 0, sizeof first);
  for (size_t g = 0; g < src->n_groups; g++) {
    bfdk_img_plan pl;
    bfd_status st = bfdi_img_plan(p, &src->groups[g], p->max_batch, &pl);
    if (st != BFD_OK) return bfdi_wrap(st, "%s:%lu: image", j->file, j->line_image ? j->line_image : 1);
    if (pl.work_bytes > p->work_cap) p->work_cap = pl.work_bytes;
    if (g == 0) {
      first = pl;
      continue;
    }
    if (pl.out_ndim != first.out_ndim || memcmp(pl.out_shape + 1, first.out_shape + 1,
                                                sizeof(int64_t) * (size_t)(pl.out_ndim - 1)) ||
        src->groups[g].has_labels != src->groups[0].has_labels) {
      char a[96], b[96];
      fmt_shape(a, sizeof a, src->groups[0].shape, src->groups[0].ndim);
      fmt_shape(b, sizeof b, src->groups[g].shape, src->groups[g].ndim);
      return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: the datasets hold images of shapes %s and %s%s, which give patches of "
                       "different shapes: add a crop op (image.ops) to cut patches of one size, or read the shapes "
                       "in separate jobs", j->file, a, b,
                       src->groups[g].has_labels != src->groups[0].has_labels ? " (one with labels, one without)" : "");
    }
  }
  int64_t dims[6];
  dims[0] = DIM_B;
  for (int k = 1; k < first.out_ndim; k++) dims[k] = first.out_shape[k];
  static const uint8_t bits[] = {0, 32, 16, 16};
  DLDataType ft = dt(j->out_dtype == BFDK_BF16 ? kDLBfloat : kDLFloat, bits[j->out_dtype]);
  add_out(p, "image", ft, first.out_ndim, dims);
  p->img_out_sample = (int64_t)(p->outs[p->n_outs - 1].cap / p->max_batch);
  if (src->groups[0].has_labels) {
    /* the patch's spatial axes, without the channel axis */
    int nd = 0;
    int64_t ld[5];
    ld[nd++] = DIM_B;
    int c_axis = j->layout == BFDI_CHANNELS_LAST ? first.out_ndim - 1 : 1;
    for (int k = 1; k < first.out_ndim; k++)
      if (k != c_axis) ld[nd++] = first.out_shape[k];
    uint8_t lbits = (uint8_t)(bfd_dtype_size(j->label_dtype) * 8);
    add_out(p, "label", dt(j->label_dtype == BFD_DTYPE_UINT8 ? kDLUInt : kDLInt, lbits), nd, ld);
    p->lab_out_sample = (int64_t)(p->outs[p->n_outs - 1].cap / p->max_batch);
  }
  if (src->has_classes) {
    const int64_t b[] = {DIM_B};
    add_out(p, "class", dt(kDLInt, 64), 1, b);
  }
  return BFD_OK;
}

/* Buffer sizes of one slot. */
static bfd_status size_buffers(bfdi_pipe *p) {
  const bfdi_source *src = p->src;
  const size_t rows = p->read_rows; /* the read side: more than a batch in exchange mode */
  if (src->kind == BFD_KIND_SEQUENCE) {
    const bfdk_seq_params *sp = &p->job.seq.params;
    size_t span = (size_t)src->max_record;
    if (sp->sample_mode != BFD_SEQ_RECORD && (size_t)sp->window < span) span = (size_t)sp->window;
    p->in_cap = mul(rows, span) + 64;
    if (p->attempts > 1) {
      size_t cand = (size_t)sp->window + 2 * (size_t)sp->shift;
      if (cand > src->max_record) cand = (size_t)src->max_record;
      p->raw_cap = mul(mul(rows, (size_t)p->attempts), cand) + 64;
    }
    p->cap_rd = rows * (size_t)p->attempts;
    /* A read of a sealed record stages the segments its span covers (and
     * rounds its staging up to at most a 4096-byte boundary); the decoder
     * opens them. */
    if (p->secure) {
      uint64_t rd_span = p->attempts > 1 ? (uint64_t)sp->window + 2 * (uint64_t)sp->shift : span;
      uint64_t segs = rd_span / BFDI_SEAL_SEGMENT + 2, whole = bfdi_sealed_size(src->max_record);
      uint64_t staged = segs * (BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD) < whole
                            ? segs * (BFDI_SEAL_SEGMENT + BFDI_SEAL_OVERHEAD) : whole;
      p->stage_cap = mul(p->cap_rd, (size_t)staged + 4096);
    }
    p->work_cap = bfdk_seq_work_bytes((int64_t)p->max_batch);
    seq_outputs(p);
  } else {
    size_t sample = 0, label = 0, stage = 0;
    for (size_t g = 0; g < src->n_groups; g++) {
      const bfdi_src_group *gr = &src->groups[g];
      if (gr->sample_bytes > sample) sample = gr->sample_bytes;
      if (gr->label_bytes > label) label = gr->label_bytes;
      if (gr->stage_bytes > stage) stage = gr->stage_bytes;
    }
    p->in_cap = mul(rows, sample);
    p->lab_cap = mul(rows, label);
    p->stage_cap = mul(rows, stage);
    p->cap_rd = rows * (label ? 2 : 1);
    BFD_TRY(img_outputs(p));
  }
  const int64_t b[] = {DIM_B};
  add_out(p, "sample", dt(kDLInt, 64), 1, b);
  add_out(p, "valid", dt(kDLUInt, 8), 1, b);
  return BFD_OK;
}

/* Bytes of the small per-row arrays of a slot, and where each goes. */
typedef struct misc_layout {
  size_t refs, key, sample, valid, cls, group, offsets, lab_off, box, first_rd, rd, stage_at, total;
} misc_layout;

static misc_layout misc_of(const bfdi_pipe *p) {
  misc_layout m;
  size_t mb = p->max_batch, rows = p->read_rows, at = 0;
#define TAKE(field, bytes)         \
  m.field = at;                    \
  at = round_up(at + (bytes), 64);
  TAKE(refs, mb * sizeof(bfdi_sample_ref));
  TAKE(key, rows * 8);
  TAKE(sample, p->cuda ? mb * 8 : 0);
  TAKE(valid, p->cuda ? mb : 0);
  TAKE(cls, p->cuda && p->src->has_classes ? mb * 8 : 0);
  TAKE(group, rows * 4);
  TAKE(offsets, (rows + 1) * 8);
  TAKE(lab_off, rows * 8);
  TAKE(box, p->src->kind == BFD_KIND_IMAGE ? rows * sizeof(bfdk_img_box) : 0);
  TAKE(first_rd, rows * 4);
  TAKE(rd, p->cap_rd * sizeof(bfdi_rd));
  TAKE(stage_at, p->cap_rd * 8);
#undef TAKE
  m.total = at;
  return m;
}

void *bfdi_host_map(size_t n) {
  if (!n) return NULL;
  void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? NULL : m;
}

void bfdi_host_unmap(void *m, size_t n) {
  if (m) munmap(m, n);
}

/* Host mappings of a slot, in order, with their sizes; plain: holds no
 * decrypted bytes (the small per-row arrays, the sealed staging). */
typedef struct host_bufs {
  void **ptr[7];
  size_t size[7];
  int plain[7];
  int n;
} host_bufs;

static host_bufs host_of(bfdi_pipe *p, bfdi_slot *s, void **misc) {
  host_bufs h = {.n = 0};
#define ADD(pp, sz, pl)        \
  h.ptr[h.n] = (void **)(pp); \
  h.plain[h.n] = (pl);        \
  h.size[h.n++] = (sz);
  ADD(misc, misc_of(p).total, 1);
  ADD(&s->in, p->in_cap, 0);
  ADD(&s->lab, p->lab_cap, 0);
  ADD(&s->raw, p->raw_cap, 0);
  ADD(&s->stage_buf, p->stage_cap, 1);
  ADD(&s->out, p->cuda ? 0 : p->out_bytes, 0);
  ADD(&s->work, p->cuda ? 0 : p->work_cap, 0);
#undef ADD
  return h;
}

static int locked(const bfdi_pipe *p, const host_bufs *h, int i) { return p->secure && !h->plain[i] && h->size[i]; }

void bfdi_slot_scrub(bfdi_pipe *p, bfdi_slot *s) {
  void *misc = s->refs_buf;
  host_bufs h = host_of(p, s, &misc);
  for (int i = 0; i < h.n; i++)
    if (locked(p, &h, i) && *h.ptr[i]) sodium_memzero(*h.ptr[i], h.size[i]);
}

static bfd_status alloc_slot(bfdi_pipe *p, bfdi_slot *s) {
  void *misc = NULL;
  host_bufs h = host_of(p, s, &misc);
  for (int i = 0; i < h.n; i++) {
    if (locked(p, &h, i)) {
      BFD_TRY(bfdi_secure_alloc(h.size[i], "a batch buffer of restricted data", h.ptr[i]));
      continue;
    }
    *h.ptr[i] = bfdi_host_map(h.size[i]);
    if (h.size[i] && !*h.ptr[i])
      return bfdi_fail(BFD_ERR_NOMEM, "cannot map %zu bytes for a batch buffer (memory_limit %llu)", h.size[i],
                       (unsigned long long)p->job.memory_limit);
  }
  misc_layout m = misc_of(p);
  uint8_t *b = misc;
  s->refs_buf = (bfdi_sample_ref *)(b + m.refs);
  s->key = (uint64_t *)(b + m.key);
  s->group = (uint32_t *)(b + m.group);
  s->offsets = (uint64_t *)(b + m.offsets);
  s->lab_off = (uint64_t *)(b + m.lab_off);
  s->box = (bfdk_img_box *)(b + m.box);
  s->first_rd = (uint32_t *)(b + m.first_rd);
  s->rd = (bfdi_rd *)(b + m.rd);
  s->stage_at = (uint64_t *)(b + m.stage_at);
  s->plans = calloc(p->cap_rd ? p->cap_rd : 1, sizeof *s->plans);
  if (!s->plans) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  if (!p->cuda) {
    s->h_sample = bfdi_out_ptr(p, s, "sample");
    s->h_valid = bfdi_out_ptr(p, s, "valid");
    s->h_class = bfdi_out_ptr(p, s, "class");
    return BFD_OK;
  }
#if BFD_CUDA
  s->h_sample = (int64_t *)(b + m.sample);
  s->h_valid = b + m.valid;
  s->h_class = p->src->has_classes ? (int64_t *)(b + m.cls) : NULL;
  /* pinning is an optimization: unpinned memory still copies, synchronously */
  for (int i = 0; i < h.n; i++)
    if (*h.ptr[i] && bfdk_gpu_pin(*h.ptr[i], h.size[i]) != BFD_OK)
      bfdi_log(BFD_LOG_WARN, "cannot pin %zu bytes of a batch buffer; uploads will not overlap", h.size[i]);
  BFD_TRY(bfdk_gpu_alloc(p->in_cap ? p->in_cap : 1, (void **)&s->d_in));
  BFD_TRY(bfdk_gpu_alloc(p->lab_cap ? p->lab_cap : 1, (void **)&s->d_lab));
  BFD_TRY(bfdk_gpu_alloc(((size_t)p->max_batch + 1) * 8, (void **)&s->d_offsets));
  BFD_TRY(bfdk_gpu_alloc((size_t)p->max_batch * 8, (void **)&s->d_key));
  BFD_TRY(bfdk_gpu_alloc(p->out_bytes, (void **)&s->out));
  BFD_TRY(bfdk_gpu_alloc(p->work_cap, &s->work));
  BFD_TRY(bfdk_gpu_event_create(&s->ev_up));
  BFD_TRY(bfdk_gpu_event_create(&s->ev_done));
#endif
  return BFD_OK;
}

static void free_slot(bfdi_pipe *p, bfdi_slot *s) {
  void *misc = s->refs_buf;
  host_bufs h = host_of(p, s, &misc);
#if BFD_CUDA
  if (p->cuda) {
    for (int i = 0; i < h.n; i++) bfdk_gpu_unpin(*h.ptr[i]);
    bfdk_gpu_free(s->d_in);
    bfdk_gpu_free(s->d_lab);
    bfdk_gpu_free(s->d_offsets);
    bfdk_gpu_free(s->d_key);
    bfdk_gpu_free(s->out);
    bfdk_gpu_free(s->work);
    bfdk_gpu_event_destroy(s->ev_up);
    bfdk_gpu_event_destroy(s->ev_done);
    s->out = NULL;
    s->work = NULL;
  }
#endif
  for (int i = 0; i < h.n; i++) {
    if (locked(p, &h, i)) bfdi_secure_free(*h.ptr[i], h.size[i]);
    else bfdi_host_unmap(*h.ptr[i], h.size[i]);
  }
  if (s->plans)
    for (size_t j = 0; j < p->cap_rd; j++) bfdi_readplan_free(&s->plans[j]);
  free(s->plans);
}

static const char *human(size_t n, char *buf, size_t cap) {
  if (n >= (size_t)1 << 30)
    snprintf(buf, cap, "%.1f GiB", (double)n / (double)(1u << 30));
  else
    snprintf(buf, cap, "%.1f MiB", (double)n / (double)(1u << 20));
  return buf;
}

bfd_status bfdi_slots_create(bfdi_pipe *p) {
  BFD_TRY(size_buffers(p));
  misc_layout m = misc_of(p);
  size_t host = m.total + p->in_cap + p->lab_cap + p->raw_cap + p->stage_cap + p->cap_rd * sizeof(bfdi_readplan);
  if (!p->cuda) host += p->out_bytes + p->work_cap;
  p->host_slot_bytes = host;
  if (p->cuda)
    p->dev_slot_bytes = p->in_cap + p->lab_cap + ((size_t)p->max_batch * 2 + 1) * 8 + p->out_bytes + p->work_cap;
  /* io.cache's files take their share first (bfdi_cache_measure keeps it below the limit) */
  uint64_t limit = p->job.memory_limit - p->cache_bytes;
  uint64_t fit = host ? limit / host : UINT64_MAX;
  char a[32], b[32], c[32], d[64] = "";
  if (p->cache_bytes) snprintf(d, sizeof d, " beside io.cache's %s", human(p->cache_bytes, c, sizeof c));
  if (fit < 2)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: memory_limit %s holds fewer than 2 batches of %s each (%u samples%s)%s: "
                     "raise memory_limit to at least %s, or lower batch_size", p->job.file,
                     human(p->job.memory_limit, a, sizeof a), human(host, b, sizeof b), p->max_batch,
                     p->src->kind == BFD_KIND_SEQUENCE && p->job.seq.params.sample_mode == BFD_SEQ_RECORD
                         ? ", whole records: windows (sequence.window) read less"
                         : "",
                     d, human(2 * host + p->cache_bytes, c, sizeof c));
  p->R = (int)(p->job.prefetch + 1 < fit ? p->job.prefetch + 1 : fit);
  if ((uint32_t)p->R < p->job.prefetch + 1)
    bfdi_log(BFD_LOG_WARN, "%s: memory_limit %s holds %d batches of %s%s; prefetch lowered from %u to %d",
             p->job.file, human(p->job.memory_limit, a, sizeof a), p->R, human(host, b, sizeof b), d,
             p->job.prefetch, p->R - 1);
  bfdi_log(BFD_LOG_INFO, "%s: %d batch slots, each %s of host memory and %s on the device", p->job.file, p->R,
           human(host, a, sizeof a), human(p->dev_slot_bytes, c, sizeof c));
  p->slots = calloc((size_t)p->R, sizeof *p->slots);
  if (!p->slots) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (int i = 0; i < p->R; i++) {
    p->slots[i].p = p;
    p->slots[i].index = i;
    BFD_TRY(alloc_slot(p, &p->slots[i]));
  }
  return BFD_OK;
}

void bfdi_slots_free(bfdi_pipe *p) {
  if (!p->slots) return;
  for (int i = 0; i < p->R; i++) free_slot(p, &p->slots[i]);
  free(p->slots);
  p->slots = NULL;
}

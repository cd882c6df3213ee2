/* The plan stage: the sampler's batch for this rank and step, and for each
 * row what to read and where it lands. Sequence windows are cut here, on the
 * host, with the same ops/ functions and Philox keys the kernels use: the
 * window start (and shift) depends only on the record's length, so only the
 * window's bytes are read and the kernels then see each window as a whole
 * record. With N rejection (window.max_n_frac < 1) a row gets a read for
 * each candidate window, each with room for any draw and the shift; only the
 * first is drawn here. The read stage draws and reads the later ones of a
 * row only when its first has too many Ns (bfdi_plan_later), and the decode
 * stage picks one. */
#include "gpu.h"
#include "ops/seq_window.h"
#include "pipeline/dist.h"
#include "pipeline/pipe_impl.h"

/* Room for n more reads in the slot. */
static bfd_status rd_room(const bfdi_pipe *p, const bfdi_slot *s, size_t n) {
  if (s->n_rd + n > p->cap_rd)
    return bfdi_fail(BFD_ERR_INTERNAL, "batch of %u rows needs more than %zu reads", s->n, p->cap_rd);
  return BFD_OK;
}

static bfd_status add_rd(bfdi_pipe *p, bfdi_slot *s, const bfdi_src_loc *loc, uint32_t row, bfdi_part part,
                         uint64_t lo, uint64_t hi, int64_t cand, int buf, uint64_t dst, uint64_t cap) {
  BFD_TRY(rd_room(p, s, 1));
  s->rd[s->n_rd++] = (bfdi_rd){.shard = loc->shard, .record = loc->record, .lo = lo, .hi = hi, .len = loc->len,
                               .cand = cand, .ns = -1, .ds_rec = loc->ds_record, .dst = dst, .cap = cap,
                               .row = row, .part = (uint8_t)part, .buf = (uint8_t)buf};
  return BFD_OK;
}

/* Bytes a candidate's read takes: the window and the shift's room either
 * side, wherever it is drawn. */
static uint64_t cand_room(const bfdk_seq_params *sp, int64_t len) {
  return (uint64_t)(sp->window + 2 * sp->shift < len ? sp->window + 2 * sp->shift : len);
}

/* Candidate rd's window starts at cand: it reads the window and the room
 * either side that the shift may take. */
static void draw_cand(const bfdk_seq_params *sp, bfdi_rd *rd, int64_t cand) {
  const int64_t len = (int64_t)rd->len;
  const int64_t lo = cand - sp->shift > 0 ? cand - sp->shift : 0;
  const int64_t hi = cand + sp->window + sp->shift < len ? cand + sp->window + sp->shift : len;
  rd->cand = cand;
  rd->lo = (uint64_t)lo;
  rd->hi = (uint64_t)hi;
  rd->cap = (uint64_t)(hi - lo);
  rd->pending = 0;
}

static bfd_status seq_row(bfdi_pipe *p, bfdi_slot *s, uint32_t b, uint32_t d, const bfdi_src_loc *loc) {
  const bfdk_seq_params *sp = &p->job.seq.params;
  const int64_t len = (int64_t)loc->len;
  s->offsets[b] = s->in_used;
  s->first_rd[b] = (uint32_t)s->n_rd;
  if (sp->sample_mode == BFD_SEQ_RECORD) {
    BFD_TRY(add_rd(p, s, loc, b, BFDI_PART_DATA, 0, loc->len, 0, BUF_IN, s->in_used, loc->len));
    s->in_used += loc->len;
    return BFD_OK;
  }
  bfd_rng_key key = bfd_seq_key(p->job.seed, s->c.epoch, s->key[b], 0);
  const bfdk_seq_regions rg = bfdi_source_regions(p->src, d);
  const uint64_t rec = loc->ds_record;
  uint64_t total = bfd_seq_record_windows(sp, &rg, rec, len);
  if (p->attempts == 1) {
    int64_t first = bfd_seq_window_start(sp, &rg, rec, len, bfd_seq_window_idx(sp, key, loc->tile, total, 0));
    int64_t start = bfd_seq_shifted(sp, key, first, len);
    int64_t n = bfd_seq_window_bytes(sp, start, len);
    BFD_TRY(add_rd(p, s, loc, b, BFDI_PART_DATA, (uint64_t)start, (uint64_t)(start + n), start, BUF_IN, s->in_used,
                   (uint64_t)n));
    s->in_used += (uint64_t)n;
    return BFD_OK;
  }
  /* every candidate's read; the first drawn now, the others pending:
   * bfdi_plan_later fills them in from the first. Without a shift the
   * first candidate is the row's window if it is chosen, so it is read
   * into the batch input; the others go to the raw buffer, the first pending
   * read holding where. */
  BFD_TRY(rd_room(p, s, (size_t)p->attempts));
  const uint64_t room = cand_room(sp, len);
  if (sp->shift == 0) {
    BFD_TRY(add_rd(p, s, loc, b, BFDI_PART_DATA, 0, 0, 0, BUF_IN, s->in_used, 0));
  } else {
    BFD_TRY(add_rd(p, s, loc, b, BFDI_PART_DATA, 0, 0, 0, BUF_RAW, s->raw_used, 0));
    s->raw_used += room;
  }
  bfdi_rd *first = &s->rd[s->n_rd - 1];
  first->ds = d;
  draw_cand(sp, first, bfd_seq_window_start(sp, &rg, rec, len, bfd_seq_window_idx(sp, key, loc->tile, total, 0)));
  for (int32_t a = 1; a < p->attempts; a++) s->rd[s->n_rd++].pending = 1;
  first[1].dst = s->raw_used;
  s->raw_used += (uint64_t)(p->attempts - 1) * room;
  s->in_used += (uint64_t)(len < sp->window ? len : sp->window);
  return BFD_OK;
}

void bfdi_plan_later(const bfdi_pipe *p, bfdi_slot *s, uint32_t b) {
  const bfdk_seq_params *sp = &p->job.seq.params;
  bfdi_rd *first = &s->rd[s->first_rd[b]];
  if (p->attempts < 2 || !first[1].pending) return;
  const int64_t len = (int64_t)first->len;
  const bfd_rng_key key = bfd_seq_key(p->job.seed, s->c.epoch, s->key[b], 0);
  const bfdk_seq_regions rg = bfdi_source_regions(p->src, first->ds);
  const uint64_t total = bfd_seq_record_windows(sp, &rg, first->ds_rec, len);
  const uint64_t raw = first[1].dst, room = cand_room(sp, len);
  int64_t starts[8];
  for (int32_t a = 1; a < p->attempts; a++) {
    if (a % 8 == 1) bfdk_seq_redraw_starts_cpu(sp, &rg, first->ds_rec, len, key, total, a, p->attempts - a, starts);
    bfdi_rd *rd = &first[a];
    *rd = *first;
    rd->ns = -1;
    rd->buf = BUF_RAW;
    rd->dst = raw + (uint64_t)(a - 1) * room;
    draw_cand(sp, rd, starts[(a - 1) % 8]);
  }
}

/* Control points of one sample that the plan stage bounds a box with;
 * an elastic grid with more reads whole images. */
#define BOX_NODES 4096

/* Row b's source box in read order ([C,] z, y, x over the sample's axes),
 * or 0 when it reads the whole sample: on the CPU backend, without ranks
 * that share reads, without restricted data, for op lists that cut patches
 * and need no whole-image statistics. The box is computed from the draws
 * the ops make (bfdk_img_source_box), so the patch is the same bits. */
static int img_box(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_src_group *g) {
  const bfdk_img_spec *sp = &p->job.img;
  if (p->cuda || p->dist || p->secure || sp->crop_mode == BFDK_CROP_NONE) return 0;
  bfdk_img_plan pl;
  if (bfdi_img_plan(p, g, 1, &pl) != BFD_OK || pl.nodes > BOX_NODES) return 0;
  float grid[BOX_NODES * 3];
  pl.dims.seed = p->job.seed;
  pl.dims.epoch = s->c.epoch;
  return bfdk_img_source_box(sp, &pl, &pl.dims, s->key[b], grid, &s->box[b]);
}

void bfdi_img_whole_box(const bfdi_src_group *g, bfdk_img_box *box) {
  const int nd = g->ndim - 1;
  for (int a = 0; a < 3; a++) {
    box->lo[a] = 0;
    box->n[a] = a < 3 - nd ? 1 : (int32_t)g->shape[g->ndim - 3 + a];
  }
}

/* Row b's read of one array of its sample (part: the data with its
 * channels, or the labels) into buffer buf at byte at: the whole array of
 * `bytes`, or only the voxels of the row's box when the slot is boxed. */
static bfd_status img_rd(bfdi_pipe *p, bfdi_slot *s, const bfdi_src_loc *loc, uint32_t b, const bfdi_src_group *g,
                         bfdi_part part, int buf, uint64_t at, uint64_t bytes) {
  if (!s->boxed) return add_rd(p, s, loc, b, part, 0, 0, 0, buf, at, bytes);
  const bfdk_img_box *ib = &s->box[b];
  uint64_t vox = 1, src_vox = 1;
  for (int a = 0; a < 3; a++) vox *= (uint64_t)ib->n[a];
  for (int k = 1; k < g->ndim; k++) src_vox *= (uint64_t)g->shape[k];
  BFD_TRY(add_rd(p, s, loc, b, part, 0, 0, 0, buf, at, bytes / src_vox * vox));
  /* the box over the array's axes, in read order: [C,] then z, y, x over the
   * sample's (add_rd left it zeroed) */
  bfdi_rd *rd = &s->rd[s->n_rd - 1];
  int k = 0;
  if (part == BFDI_PART_DATA) rd->box.hi[k++] = (uint64_t)g->shape[0];
  for (int a = 4 - g->ndim; a < 3; a++, k++) {
    rd->box.lo[k] = (uint64_t)ib->lo[a];
    rd->box.hi[k] = (uint64_t)ib->lo[a] + (uint64_t)ib->n[a];
  }
  rd->boxed = 1;
  return BFD_OK;
}

static bfd_status img_row(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_src_loc *loc) {
  const bfdi_src_group *g = &p->src->groups[loc->shard->group];
  s->group[b] = loc->shard->group;
  s->offsets[b] = s->in_used;
  s->first_rd[b] = (uint32_t)s->n_rd;
  if (b == 0) s->boxed = img_box(p, s, b, g);
  else if (s->boxed && !img_box(p, s, b, g)) bfdi_img_whole_box(g, &s->box[b]);
  BFD_TRY(img_rd(p, s, loc, b, g, BFDI_PART_DATA, BUF_IN, s->in_used, g->sample_bytes));
  s->in_used += g->sample_bytes;
  if (g->has_labels) {
    s->lab_off[b] = s->lab_used;
    BFD_TRY(img_rd(p, s, loc, b, g, BFDI_PART_LABEL, BUF_LAB, s->lab_used, g->label_bytes));
    s->lab_used += g->label_bytes;
  }
  return BFD_OK;
}

bfd_status bfdi_plan_take(bfdi_pipe *p, bfdi_slot *s) {
#if BFD_CUDA
  /* the slot's last batch may still be on the GPU: its buffers are reused now */
  if (p->cuda && s->gpu_used) BFD_TRY(bfdk_gpu_event_sync(s->ev_done));
#endif
  s->c = p->plan_c;
  s->step = p->plan_step;
  BFD_TRY(bfdi_sampler_batch(p->plan_sampler, s->c, p->rank, s->refs_buf, p->max_batch, &s->n));
  bfdi_cursor next = s->c;
  BFD_TRY(bfdi_sampler_advance(p->plan_sampler, &next));
  s->next_c = next;
  s->next_step = next.epoch == s->c.epoch ? s->step + 1 : 0;
  p->plan_c = next;
  p->plan_step = s->next_step;
  return BFD_OK;
}

bfd_status bfdi_plan_rows(bfdi_pipe *p, bfdi_slot *s) {
  if (p->dist) return bfdi_dist_plan(p, s);
  bfdi_plan_reset(s);
  for (uint32_t b = 0; b < s->n; b++) {
    bfdi_plan_meta(p, s, b, &s->refs_buf[b]);
    BFD_TRY(bfdi_plan_row(p, s, b, &s->refs_buf[b]));
  }
  return bfdi_plan_done(p, s);
}

bfd_status bfdi_stage_plan(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  (void)w;
  BFD_TRY(bfdi_plan_take(p, s));
  return bfdi_plan_rows(p, s);
}

void bfdi_plan_meta(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_sample_ref *r) {
  const bfdi_src_ds *ds = &p->src->ds[r->dataset];
  s->h_sample[b] = (int64_t)(ds->base + r->sample);
  s->h_valid[b] = !(r->flags & BFDI_SAMPLE_PAD);
  if (s->h_class) {
    bfdi_src_loc loc;
    bfdi_source_locate(p->src, r->dataset, r->sample, &loc);
    s->h_class[b] = ds->classes[loc.ds_record];
  }
}

void bfdi_plan_reset(bfdi_slot *s) {
  s->n_rd = 0;
  s->in_used = s->lab_used = s->raw_used = 0;
}

bfd_status bfdi_plan_row(bfdi_pipe *p, bfdi_slot *s, uint32_t b, const bfdi_sample_ref *r) {
  const bfdi_source *src = p->src;
  const bfdi_src_ds *ds = &src->ds[r->dataset];
  bfdi_src_loc loc;
  bfdi_source_locate(src, r->dataset, r->sample, &loc);
  uint64_t gidx = ds->base + r->sample;
  /* several datasets each run through their own passes: a repeat within
   * an epoch draws afresh (one dataset: pass is the epoch, in the key already) */
  s->key[b] = src->n_ds > 1 ? gidx + src->total * r->pass : gidx;
  return src->kind == BFD_KIND_SEQUENCE ? seq_row(p, s, b, r->dataset, &loc) : img_row(p, s, b, &loc);
}

bfd_status bfdi_plan_done(bfdi_pipe *p, bfdi_slot *s) {
  s->offsets[s->n] = s->in_used;
  if (s->in_used > p->in_cap || s->lab_used > p->lab_cap || s->raw_used > p->raw_cap)
    return bfdi_fail(BFD_ERR_INTERNAL, "batch buffers overflow (%llu of %zu bytes)", (unsigned long long)s->in_used,
                     p->in_cap);
  s->bytes[S_PLAN] = s->in_used + s->lab_used + s->raw_used;
  return BFD_OK;
}

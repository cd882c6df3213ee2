/* Exchange mode (pipeline/dist.h): shard owners and staged copies at open,
 * the plan of a step's owned records, and the all-to-all that hands each
 * decoded record to the rank that consumes it.
 *
 * The step's list is every rank's batch in rank order; a sample is one
 * entry, or two for images with labels (image, then mask), so that each
 * part travels as it lies in the slot, without a copy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "biofeed/dataset.h"
#include "dist/owners.h"
#include "io/extents.h"
#include "pipeline/dist.h"

/* ---- open ---- */

/* Points the reads of this rank's shards of dataset di at their staged
 * copies (DEST/<manifest path>, what `biofeed stage` writes), through the
 * copies' own extent tables. A copy that is missing, of the wrong size or
 * with other records is an error: reading the shared copy instead would
 * hide that staging did not happen. */
static bfd_status redirect(bfdi_pipe *p, size_t di, const bfd_dataset *m, size_t n) {
  bfdi_pdist *d = p->dist;
  const bfdi_job *j = &p->job;
  for (size_t k = 0; k < n; k++) {
    if (d->owner[di][k] != d->rank) continue;
    bfd_dataset_shard info;
    BFD_TRY(bfd_dataset_shard_get(m, k, &info));
    char path[8192];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", j->stage_dir, info.relpath) >= sizeof path)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "%s:%lu: dist.stage_dir: the path of %s in it is too long", j->file,
                       j->line_stage, info.relpath);
    struct stat sb;
    if (stat(path, &sb) != 0) {
      int err = errno;
      return bfdi_fail(BFD_ERR_IO,
                       "%s:%lu: dist.stage_dir: rank %u owns shard %s of %s, but %s: %s: run `biofeed stage %s %s%s%s` "
                       "on this node (one task per rank, the same world size) before training",
                       j->file, j->line_stage, d->rank, info.relpath, j->datasets[di].path, path, strerror(err),
                       j->datasets[di].path, j->stage_dir, j->owners ? " --owners " : "", j->owners ? j->owners : "");
    }
    if ((uint64_t)sb.st_size != info.size)
      return bfdi_fail(BFD_ERR_CORRUPT,
                       "%s:%lu: dist.stage_dir: the staged copy %s holds %llu bytes, but the manifest of %s says %llu: "
                       "an interrupted or foreign copy; run `biofeed stage %s %s` again (it replaces it)",
                       j->file, j->line_stage, path, (unsigned long long)sb.st_size, j->datasets[di].path,
                       (unsigned long long)info.size, j->datasets[di].path, j->stage_dir);
    /* the staged copy's own extent table: reads and messages name the file that is read */
    bfdi_src_shard *sh = &p->src->ds[di].shards[k];
    bfdi_extents *x;
    BFD_TRY(bfdi_extents_open_shard(path, &x));
    int same = x->n_records == sh->x->n_records && x->n_files == sh->x->n_files;
    for (uint64_t r = 0; same && sh->x->rec && r < x->n_records; r++) same = x->rec[r].length == sh->x->rec[r].length;
    if (!same) {
      bfdi_extents_free(x);
      return bfdi_fail(BFD_ERR_CORRUPT, "%s:%lu: dist.stage_dir: the staged copy %s does not hold the records of %s/%s: "
                       "run `biofeed stage %s %s` again (it replaces it)", j->file, j->line_stage, path,
                       j->datasets[di].path, info.relpath, j->datasets[di].path, j->stage_dir);
    }
    bfdi_extents_free(sh->x);
    sh->x = x;
    for (uint32_t f = 0; f < x->n_files; f++) p->src->files[sh->file_base + f] = x->files[f];
  }
  return BFD_OK;
}

static bfd_status owners_of(bfdi_pipe *p, size_t di) {
  bfdi_pdist *d = p->dist;
  const bfdi_job *j = &p->job;
  bfd_dataset *m;
  BFD_TRY(bfd_dataset_open(j->datasets[di].path, &m));
  size_t n = p->src->ds[di].n_shards;
  bfdi_owner_shard *os = calloc(n ? n : 1, sizeof *os);
  d->owner[di] = calloc(n ? n : 1, sizeof *d->owner[di]);
  bfd_status st = os && d->owner[di] ? BFD_OK : bfdi_fail(BFD_ERR_NOMEM, "out of memory for %zu shards", n);
  for (size_t k = 0; k < n && st == BFD_OK; k++) {
    bfd_dataset_shard info;
    st = bfd_dataset_shard_get(m, k, &info);
    os[k] = (bfdi_owner_shard){info.relpath, info.size};
  }
  if (st == BFD_OK)
    st = j->owners ? bfdi_owners_load(j->owners, os, n, d->size, d->owner[di])
                   : bfdi_owners_balanced(os, n, d->size, d->owner[di]);
  if (st != BFD_OK && j->owners) st = bfdi_wrap(st, "%s:%lu: dist.owners", j->file, j->line_owners);
  if (st == BFD_OK && j->stage_dir) st = redirect(p, di, m, n);
  free(os);
  bfd_dataset_close(m);
  return st;
}

bfd_status bfdi_exchange_setup(bfdi_pipe *p) {
  bfdi_pdist *d = p->dist;
  const bfdi_job *j = &p->job;
  const size_t nd = p->src->n_ds;
  if (nd > 1 && (j->owners || j->stage_dir))
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s:%lu: dist.%s names one dataset's shards, but the job reads %zu datasets: "
                     "use one dataset per job with an owner map or staged data", j->file,
                     j->owners ? j->line_owners : j->line_stage, j->owners ? "owners" : "stage_dir", nd);
  if ((uint64_t)p->max_batch * d->size > BFDI_SAMPLER_MAX_WINDOW * (uint64_t)64)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "%s: exchange mode plans a step's global batch (%u ranks x %u) at once; "
                     "that is too large: lower batch_size", j->file, d->size, p->max_batch);
  p->read_rows = p->max_batch * d->size;
  d->parts = p->src->kind == BFD_KIND_IMAGE && p->src->groups[0].has_labels ? 2 : 1;
  d->owner = calloc(nd, sizeof *d->owner);
  if (!d->owner) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < nd; i++) BFD_TRY(owners_of(p, i));
  return BFD_OK;
}

bfd_status bfdi_exchange_slots(bfdi_pipe *p) {
  bfdi_pdist *d = p->dist;
  const size_t all = p->read_rows, mb = p->max_batch, entries = all * d->parts;
  d->xs = calloc((size_t)p->R, sizeof *d->xs);
  if (!d->xs) return bfdi_fail(BFD_ERR_NOMEM, "out of memory");
  for (int i = 0; i < p->R; i++) {
    bfdi_xslot *x = &d->xs[i];
    x->refs = malloc(all * sizeof *x->refs);
    x->owner = malloc(entries * sizeof *x->owner);
    x->consumer = malloc(entries * sizeof *x->consumer);
    x->row = malloc(all * sizeof *x->row);
    x->key = malloc(mb * sizeof *x->key);
    x->offsets = malloc((mb + 1) * sizeof *x->offsets);
    x->lab_off = malloc(mb * sizeof *x->lab_off);
    x->group = malloc(mb * sizeof *x->group);
    x->send_bytes = malloc(d->size * sizeof *x->send_bytes);
    x->recv_bytes = malloc(d->size * sizeof *x->recv_bytes);
    if (!x->refs || !x->owner || !x->consumer || !x->row || !x->key || !x->offsets || !x->lab_off || !x->group ||
        !x->send_bytes || !x->recv_bytes)
      return bfdi_fail(BFD_ERR_NOMEM, "out of memory for the exchange of %zu samples per step", all);
  }
  return BFD_OK;
}

void bfdi_exchange_close(bfdi_pipe *p) {
  bfdi_pdist *d = p->dist;
  for (int i = 0; d->xs && i < p->R; i++) {
    bfdi_xslot *x = &d->xs[i];
    free(x->refs);
    free(x->owner);
    free(x->consumer);
    free(x->row);
    bfdi_xplan_free(&x->plan);
    free(x->key);
    free(x->offsets);
    free(x->lab_off);
    free(x->group);
    free(x->send_bytes);
    free(x->recv_bytes);
    free(x->send);
    free(x->recv);
  }
  free(d->xs);
  d->xs = NULL;
  for (size_t i = 0; d->owner && i < p->job.n_datasets; i++) free(d->owner[i]);
  free(d->owner);
  d->owner = NULL;
}

/* ---- plan ---- */

static uint32_t owner_of(const bfdi_pipe *p, const bfdi_sample_ref *r) {
  bfdi_src_loc loc;
  bfdi_source_locate(p->src, r->dataset, r->sample, &loc);
  const bfdi_src_ds *ds = &p->src->ds[r->dataset];
  return p->dist->owner[r->dataset][loc.shard - ds->shards];
}

bfd_status bfdi_exchange_plan(bfdi_pipe *p, bfdi_slot *s) {
  bfdi_pdist *d = p->dist;
  bfdi_xslot *x = &d->xs[s->index];
  const uint32_t parts = d->parts;
  /* this rank's batch as shard mode lays it out: where its records go */
  bfdi_plan_reset(s);
  for (uint32_t b = 0; b < s->n; b++) {
    bfdi_plan_meta(p, s, b, &s->refs_buf[b]);
    BFD_TRY(bfdi_plan_row(p, s, b, &s->refs_buf[b]));
  }
  BFD_TRY(bfdi_plan_done(p, s));
  x->n = s->n;
  memcpy(x->key, s->key, s->n * sizeof *x->key);
  memcpy(x->offsets, s->offsets, ((size_t)s->n + 1) * sizeof *x->offsets);
  memcpy(x->lab_off, s->lab_off, s->n * sizeof *x->lab_off);
  memcpy(x->group, s->group, s->n * sizeof *x->group);
  x->in_used = s->in_used;
  x->lab_used = s->lab_used;

  /* every rank's batch; the read side of the slot becomes this rank's records */
  uint64_t m = 0;
  for (uint32_t r = 0; r < p->world; r++) {
    bfdi_sample_ref *refs = x->refs + m;
    uint32_t cnt;
    if (r == p->rank) {
      memcpy(refs, s->refs_buf, s->n * sizeof *refs);
      cnt = s->n;
    } else {
      BFD_TRY(bfdi_sampler_batch(p->plan_sampler, s->c, r, refs, p->max_batch, &cnt));
    }
    for (uint32_t b = 0; b < cnt; b++, m++) {
      uint32_t o = owner_of(p, &refs[b]);
      for (uint32_t k = 0; k < parts; k++) {
        x->owner[m * parts + k] = o;
        x->consumer[m * parts + k] = r;
      }
    }
  }
  bfdi_xplan_free(&x->plan);
  BFD_TRY(bfdi_xplan_build(p->world, p->rank, m * parts, x->owner, x->consumer, &x->plan));
  bfdi_plan_reset(s);
  uint32_t rows = 0;
  for (uint64_t q = 0; q < m; q++) {
    if (x->owner[q * parts] != p->rank) continue;
    x->row[q] = rows;
    BFD_TRY(bfdi_plan_row(p, s, rows++, &x->refs[q]));
  }
  s->n = rows;
  return bfdi_plan_done(p, s);
}

/* ---- the all-to-all ---- */

typedef struct xctx {
  bfdi_pipe *p;
  bfdi_slot *s;
  bfdi_xslot *x;
} xctx;

/* Part k of a row: bytes and size in the slot. */
static uint8_t *part_of(const xctx *c, uint32_t b, uint32_t k, uint64_t *len) {
  const bfdi_slot *s = c->s;
  if (c->p->src->kind == BFD_KIND_SEQUENCE) {
    *len = s->offsets[b + 1] - s->offsets[b];
    return s->in + s->offsets[b];
  }
  const bfdi_src_group *g = &c->p->src->groups[s->group[b]];
  *len = k ? g->label_bytes : g->sample_bytes;
  return k ? s->lab + s->lab_off[b] : s->in + s->offsets[b];
}

static bfd_status send_record(void *ctx, uint64_t i, const void **data, uint64_t *len) {
  const xctx *c = ctx;
  const uint32_t parts = c->p->dist->parts;
  *data = part_of(c, c->x->row[i / parts], (uint32_t)(i % parts), len);
  return BFD_OK;
}

static bfd_status deliver(void *ctx, uint64_t slot, const void *data, uint64_t len) {
  const xctx *c = ctx;
  const uint32_t parts = c->p->dist->parts;
  uint32_t b = (uint32_t)(slot / parts), k = (uint32_t)(slot % parts);
  uint64_t want;
  uint8_t *dst = part_of(c, b, k, &want);
  if (len != want)
    return bfdi_fail(BFD_ERR_CORRUPT, "exchange: row %u of step %llu arrived with %llu bytes where this rank planned "
                     "%llu: the ranks run different configs or datasets", b, (unsigned long long)c->s->step,
                     (unsigned long long)len, (unsigned long long)want);
  if (len) memcpy(dst, data, (size_t)len);
  return BFD_OK;
}

static bfd_status grow(uint8_t **buf, size_t *cap, uint64_t n) {
  if (n <= *cap && *buf) return BFD_OK;
  if (n > SIZE_MAX / 2) return bfdi_fail(BFD_ERR_NOMEM, "exchange: %llu bytes in one step", (unsigned long long)n);
  uint8_t *m = realloc(*buf, (size_t)n ? (size_t)n : 1);
  if (!m) return bfdi_fail(BFD_ERR_NOMEM, "exchange: out of memory for %llu bytes", (unsigned long long)n);
  *buf = m;
  *cap = (size_t)n ? (size_t)n : 1;
  return BFD_OK;
}

bfd_status bfdi_exchange_run(bfdi_pipe *p, bfdi_slot *s) {
  bfdi_pdist *d = p->dist;
  bfdi_xslot *x = &d->xs[s->index];
  xctx c = {p, s, x};
  BFD_TRY(bfdi_xplan_send_bytes(&x->plan, send_record, &c, x->send_bytes));
  uint64_t ns = 0, nr = 0;
  for (uint32_t r = 0; r < d->size; r++) ns += x->send_bytes[r];
  BFD_TRY(grow(&x->send, &x->send_cap, ns));
  BFD_TRY(bfdi_xplan_pack(&x->plan, send_record, &c, x->send, ns));
  BFD_TRY(bfdi_dist_wait(p, s, S_UPLOAD));
  BFD_TRY(bfdi_comm_alltoall_sizes(d->comm, x->send_bytes, x->recv_bytes));
  for (uint32_t r = 0; r < d->size; r++) nr += x->recv_bytes[r];
  BFD_TRY(grow(&x->recv, &x->recv_cap, nr));
  BFD_TRY(bfdi_dist_alltoallv(p, x->send, x->send_bytes, x->recv, x->recv_bytes));
  /* back to this rank's batch: its layout, then its records in place */
  s->n = x->n;
  memcpy(s->key, x->key, x->n * sizeof *x->key);
  memcpy(s->offsets, x->offsets, ((size_t)x->n + 1) * sizeof *x->offsets);
  memcpy(s->lab_off, x->lab_off, x->n * sizeof *x->lab_off);
  memcpy(s->group, x->group, x->n * sizeof *x->group);
  s->in_used = x->in_used;
  s->lab_used = x->lab_used;
  BFD_TRY(bfdi_xplan_unpack(&x->plan, x->recv, x->recv_bytes, deliver, &c));
  s->bytes[S_UPLOAD] = nr;
  return BFD_OK;
}

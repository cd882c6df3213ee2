/* The decode stage: each staged read is decoded into its place in the batch
 * (HDF5 filters undone, chunk tiles placed, bytes swapped) and every whole
 * record's CRC32C checked, OpenMP over the reads with one decoder per
 * thread; then, for sequence windows with N rejection, each row's window is
 * chosen among its candidates exactly as the kernels would choose it and
 * copied into the batch input. */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops/seq_window.h"
#include "pipeline/pipe_impl.h"

int64_t bfdi_seq_cand_n(const bfdi_pipe *p, const bfdi_slot *s, bfdi_rd *rd, int64_t *span) {
  *span = bfd_seq_window_bytes(&p->job.seq.params, rd->cand, (int64_t)rd->len);
  const uint8_t *base = rd->buf == BUF_IN ? s->in : s->raw;
  if (rd->ns < 0) rd->ns = bfdk_seq_count_n_cpu(p->tables, base + rd->dst + (uint64_t)rd->cand - rd->lo, *span);
  return rd->ns;
}

static void choose_window(const bfdi_pipe *p, bfdi_slot *s, uint32_t b) {
  const bfdk_seq_params *sp = &p->job.seq.params;
  bfdi_rd *first = &s->rd[s->first_rd[b]];
  const int64_t len = (int64_t)first->len;
  bfd_rng_key key = bfd_seq_key(p->job.seed, s->c.epoch, s->key[b], 0);
  const bfdi_rd *best = first;
  int64_t best_count = INT64_MAX;
  for (int32_t a = 0; a < p->attempts; a++) {
    bfdi_rd *rd = first + a;
    int64_t m;
    int64_t c = bfdi_seq_cand_n(p, s, rd, &m);
    if (bfd_seq_n_ok(sp, c, m)) {
      best = rd;
      break;
    }
    if (c < best_count) {
      best_count = c;
      best = rd;
    }
  }
  if (best->buf == BUF_IN) return; /* read in its place (no shift) */
  int64_t start = bfd_seq_shifted(sp, key, best->cand, len);
  int64_t n = bfd_seq_window_bytes(sp, start, len);
  memcpy(s->in + s->offsets[b], s->raw + best->dst + (uint64_t)start - best->lo, (size_t)n);
}

/* Decoding work worth a thread team: a team's start-up and its idle
 * threads' spinning cost more than checksumming a few MiB takes. */
#define PARALLEL_BYTES (4u << 20)

static int worth_a_team(const bfdi_slot *s) {
  uint64_t cost = 0;
  for (size_t j = 0; j < s->n_rd; j++) {
    if (s->rd[j].pending) continue;
    const bfdi_readplan *pl = &s->plans[j];
    /* inflating and placing tiles costs about ten times a CRC */
    if (!pl->direct) cost += 10 * pl->out_bytes;
    else if (pl->whole) cost += pl->out_bytes;
  }
  return cost >= PARALLEL_BYTES;
}

/* What the threads of a decode pass share: the first error by read index,
 * and whether any read was corrupt under on_corrupt: skip. */
typedef struct decode_pass {
  long bad;
  bfd_status bad_st;
  int any_corrupt;
  char msg[1024];
} decode_pass;

static void decode_read(bfdi_worker *w, bfdi_slot *s, long j, int skip, decode_pass *d) {
  const bfdi_readplan *pl = &s->plans[j];
  /* a candidate never read, or a window read in place: nothing to undo or check */
  if (s->rd[j].pending || bfdi_readplan_in_place(pl)) return;
  const uint8_t *stage = s->stage_buf ? s->stage_buf + s->stage_at[j] : NULL;
  bfd_status st = bfdi_decode_plan(w->dec[omp_get_thread_num()], pl, stage, bfdi_rd_dst(s, &s->rd[j]));
  if (st == BFD_ERR_CORRUPT && skip) {
    /* the log callback is the user's: one thread at a time */
#pragma omp critical(bfdi_decode_error)
    {
      bfdi_log(BFD_LOG_WARN, "on_corrupt: skip: %s", bfd_last_error());
      bfdi_skip_mark(w, (size_t)j);
      d->any_corrupt = 1;
    }
  } else if (st != BFD_OK) {
#pragma omp critical(bfdi_decode_error)
    if (d->bad < 0 || j < d->bad) {
      d->bad = j;
      d->bad_st = st;
      snprintf(d->msg, sizeof d->msg, "%s", bfd_last_error());
    }
  }
}

bfd_status bfdi_stage_decode(bfdi_pipe *p, bfdi_worker *w, bfdi_slot *s) {
  const long n = (long)s->n_rd;
  const int skip = w->corrupt != NULL;
  decode_pass d = {.bad = -1, .bad_st = BFD_OK};
  memset(&s->faults, 0, sizeof s->faults);
  if (skip) memset(w->corrupt, 0, (size_t)n);
  int team = w->n_dec > 1 && worth_a_team(s) ? bfdi_team_take(p, (int)w->n_dec) : 1;
  /* libgomp makes a futex call per parallel region even for a team of one:
   * at small batches that costs as much as the decoding */
  if (team > 1) {
#pragma omp parallel for num_threads(team) schedule(dynamic, 4)
    for (long j = 0; j < n; j++) decode_read(w, s, j, skip, &d);
  } else {
    for (long j = 0; j < n; j++) decode_read(w, s, j, skip, &d);
  }
  bfdi_team_give(p, team);
  if (d.bad >= 0) return bfdi_fail(d.bad_st, "%s", d.msg);
  if (d.any_corrupt) BFD_TRY(bfdi_skip_repair(p, w, s));
  bfdi_security_count(p, s);
  if (p->src->kind == BFD_KIND_SEQUENCE && p->attempts > 1) {
    const long rows = (long)s->n;
    const int big = w->n_dec > 1 && rows * p->attempts * p->job.seq.params.window >= PARALLEL_BYTES;
    team = big ? bfdi_team_take(p, (int)w->n_dec) : 1;
    if (team > 1) {
#pragma omp parallel for num_threads(team) schedule(static)
      for (long b = 0; b < rows; b++) choose_window(p, s, (uint32_t)b);
    } else {
      for (long b = 0; b < rows; b++) choose_window(p, s, (uint32_t)b);
    }
    bfdi_team_give(p, team);
  }
  s->bytes[S_DECODE] = s->in_used + s->lab_used;
  return BFD_OK;
}

/* The sampler's batching: epoch positions -> samples (through the mix and
 * the dataset orders), chunks sorted by length and cut by count or token
 * budget, steps, and padding or dropping at the end of an epoch. */
#include "plan/sampler_impl.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(bfdi_sample_ref) == 16, "bfdi_sample_ref must have no padding");

/* bfdi_perm_subseed tags under the user's seed. */
enum { TAG_CHUNKS = 1, TAG_DATASET0 = 0x100 };

static bfd_status check_config(const bfdi_sampler_config *c) {
  if (!c->datasets || c->n_datasets == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: no datasets given");
  if (c->n_datasets > BFDI_MIX_MAX_DATASETS)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: %zu datasets; at most %d are supported", c->n_datasets,
                     BFDI_MIX_MAX_DATASETS);
  if (c->world_size == 0 || c->world_size > BFDI_SAMPLER_MAX_WORLD)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: world size %u; it must be 1 .. %u", c->world_size,
                     BFDI_SAMPLER_MAX_WORLD);
  if (c->epoch_samples > BFDI_PERM_MAX_N)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: epoch_samples %llu; at most 2^48",
                     (unsigned long long)c->epoch_samples);
  switch (c->batching) {
    case BFDI_BATCH_FIXED:
    case BFDI_BATCH_BUCKET:
      if (c->batch == 0 || c->batch > BFDI_SAMPLER_MAX_WINDOW)
        return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: batch %u; it must be 1 .. %u samples", c->batch,
                         BFDI_SAMPLER_MAX_WINDOW);
      if (c->batching == BFDI_BATCH_FIXED) return BFD_OK;
      if (c->bucket_batches == 0 || (uint64_t)c->bucket_batches * c->batch > BFDI_SAMPLER_MAX_WINDOW)
        return bfdi_fail(BFD_ERR_INVALID_ARG,
                         "sampler: bucket_batches %u x batch %u; the bucketing window must be 1 .. %u samples",
                         c->bucket_batches, c->batch, BFDI_SAMPLER_MAX_WINDOW);
      break;
    case BFDI_BATCH_TOKENS:
      if (c->max_tokens == 0) return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: max_tokens 0; a batch needs tokens");
      if (c->token_window == 0 || c->token_window > BFDI_SAMPLER_MAX_WINDOW)
        return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: token_window %u; it must be 1 .. %u samples",
                         c->token_window, BFDI_SAMPLER_MAX_WINDOW);
      if (c->batch > BFDI_SAMPLER_MAX_WINDOW)
        return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: batch cap %u; at most %u samples", c->batch,
                         BFDI_SAMPLER_MAX_WINDOW);
      break;
    default:
      return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: batching %d; it must be fixed (0), bucket (1) or tokens (2)",
                       (int)c->batching);
  }
  if (!c->length)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: %s batching needs sample lengths (length callback)",
                     c->batching == BFDI_BATCH_BUCKET ? "bucket" : "tokens");
  return BFD_OK;
}

static bfd_status setup(bfdi_sampler *s, const bfdi_sampler_config *cfg) {
  s->n_ds = cfg->n_datasets;
  s->orders = calloc(s->n_ds, sizeof *s->orders);
  if (!s->orders) return bfdi_fail(BFD_ERR_NOMEM, "sampler: out of memory for %zu datasets", s->n_ds);
  uint64_t total = 0;
  for (size_t d = 0; d < s->n_ds; d++) {
    const bfdi_sampler_dataset *ds = &cfg->datasets[d];
    bfd_status st = bfdi_order_init(&s->orders[d], ds->shard_records, ds->n_shards, cfg->window_shards, cfg->shuffle,
                                    bfdi_perm_subseed(cfg->seed, TAG_DATASET0 + d));
    if (st != BFD_OK) return bfdi_wrap(st, "dataset %zu", d);
    total += s->orders[d].n;
  }
  if (cfg->epoch_samples == 0 && total > BFDI_PERM_MAX_N)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: the datasets hold %llu samples together; set epoch_samples "
                     "(at most 2^48)", (unsigned long long)total);
  s->n_epoch = cfg->epoch_samples ? cfg->epoch_samples : total;
  if (s->n_ds > 1) {
    double *w = malloc(s->n_ds * sizeof *w);
    if (!w) return bfdi_fail(BFD_ERR_NOMEM, "sampler: out of memory for %zu weights", s->n_ds);
    for (size_t d = 0; d < s->n_ds; d++) w[d] = cfg->datasets[d].weight;
    bfd_status st = bfdi_mix_init(&s->mix, w, s->n_ds);
    free(w);
    BFD_TRY(st);
  }
  s->seed_chunks = bfdi_perm_subseed(cfg->seed, TAG_CHUNKS);

  uint64_t window;
  if (cfg->batching == BFDI_BATCH_TOKENS) {
    uint64_t cap = cfg->batch ? cfg->batch : UINT32_MAX;
    if (cap > cfg->token_window) cap = cfg->token_window;
    if (cap > cfg->max_tokens) cap = cfg->max_tokens;
    s->max_batch = (uint32_t)cap;
    window = cfg->token_window;
    s->n_chunks = (s->n_epoch + window - 1) / window;
    if (s->n_chunks > BFDI_SAMPLER_MAX_CHUNKS)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: token_window %llu makes %llu chunks of an epoch of %llu "
                       "samples; raise it to at least %llu", (unsigned long long)window,
                       (unsigned long long)s->n_chunks, (unsigned long long)s->n_epoch,
                       (unsigned long long)((s->n_epoch + BFDI_SAMPLER_MAX_CHUNKS - 1) / BFDI_SAMPLER_MAX_CHUNKS));
    s->scan = malloc((s->n_chunks + 1) * sizeof *s->scan);
    s->cuts = malloc((window + 1) * sizeof *s->cuts);
    if (!s->scan || !s->cuts)
      return bfdi_fail(BFD_ERR_NOMEM, "sampler: out of memory for %llu chunks", (unsigned long long)s->n_chunks);
  } else {
    uint64_t b = cfg->batch;
    s->max_batch = cfg->batch;
    s->n_used = cfg->drop_last ? s->n_epoch / b * b : (s->n_epoch + b - 1) / b * b;
    s->k_fixed = s->n_used / b;
    if (cfg->drop_last && s->k_fixed < cfg->world_size)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler: drop_last with %llu samples per epoch gives %llu batches of %u "
                       "for %u ranks, so no step; lower the batch or the world size, or pad (drop_last false)",
                       (unsigned long long)s->n_epoch, (unsigned long long)s->k_fixed, cfg->batch,
                       cfg->world_size);
    window = cfg->batching == BFDI_BATCH_BUCKET ? (uint64_t)cfg->bucket_batches * b : 0;
  }
  if (window > 0) {
    s->chunk = malloc(window * sizeof *s->chunk);
    s->chunk_tmp = malloc(window * sizeof *s->chunk_tmp);
    if (!s->chunk || !s->chunk_tmp)
      return bfdi_fail(BFD_ERR_NOMEM, "sampler: out of memory for a window of %llu samples",
                       (unsigned long long)window);
  }
  s->fingerprint = bfdi_sampler_fingerprint(s, cfg);
  return BFD_OK;
}

bfd_status bfdi_sampler_create(const bfdi_sampler_config *cfg, bfdi_sampler **out) {
  if (!out) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_sampler_create: out is NULL");
  *out = NULL;
  if (!cfg) return bfdi_fail(BFD_ERR_INVALID_ARG, "bfdi_sampler_create: config is NULL");
  BFD_TRY(check_config(cfg));
  bfdi_sampler *s = calloc(1, sizeof *s);
  if (!s) return bfdi_fail(BFD_ERR_NOMEM, "sampler: out of memory");
  s->cfg = *cfg;
  s->cfg.datasets = NULL;
  bfd_status st = setup(s, cfg);
  if (st != BFD_OK) {
    bfdi_sampler_destroy(s);
    return st;
  }
  *out = s;
  return BFD_OK;
}

void bfdi_sampler_destroy(bfdi_sampler *s) {
  if (!s) return;
  for (size_t d = 0; s->orders && d < s->n_ds; d++) bfdi_order_free(&s->orders[d]);
  free(s->orders);
  bfdi_mix_free(&s->mix);
  free(s->chunk);
  free(s->chunk_tmp);
  free(s->cuts);
  free(s->scan);
  free(s);
}

uint32_t bfdi_sampler_max_batch(const bfdi_sampler *s) { return s->max_batch; }

/* Epoch position pos (< N) -> sample: the mixed stream's position
 * e N + pos picks a dataset and its k-th sample, which is position k mod n_d
 * of that dataset's pass k / n_d. */
static bfd_status source(bfdi_sampler *s, uint32_t epoch, uint64_t pos, bfdi_sample_ref *r) {
  uint64_t at = (uint64_t)epoch * s->n_epoch + pos, k = at;
  uint32_t d = 0;
  if (s->n_ds > 1) bfdi_mix_at(&s->mix, at, &d, &k);
  bfdi_order *o = &s->orders[d];
  uint64_t pass = k / o->n;
  if (pass > BFDI_PERM_MAX_EPOCH)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset %u (%llu samples) reaches its pass %llu at epoch %u; at most "
                     "2^16 passes are supported: lower its weight or epoch_samples", d, (unsigned long long)o->n,
                     (unsigned long long)pass + 1, epoch);
  if (pass != o->epoch) BFD_TRY(bfdi_order_epoch(o, (uint32_t)pass));
  r->sample = bfdi_order_at(o, k % o->n);
  r->dataset = d;
  r->pass = (uint16_t)pass;
  r->flags = 0;
  return BFD_OK;
}

/* Padding positions (N and beyond) repeat the epoch order from its start. */
static bfd_status position(bfdi_sampler *s, uint32_t epoch, uint64_t pos, bfdi_sample_ref *r) {
  if (pos < s->n_epoch) return source(s, epoch, pos, r);
  BFD_TRY(source(s, epoch, (pos - s->n_epoch) % s->n_epoch, r));
  r->flags = BFDI_SAMPLE_PAD;
  return BFD_OK;
}

/* Sorts the chunk by length, ties in position order: the entries come in
 * position order, so a stable sort by length alone does it. LSD radix sort,
 * a byte per pass and only as many passes as the longest length needs (a
 * comparison sort through qsort's callback cost as much as a batch's
 * plan). */
static void sort_by_length(bfdi_sampler *s) {
  bfdi_chunk_entry *a = s->chunk, *b = s->chunk_tmp;
  const uint32_t n = s->chunk_len;
  uint32_t longest = 0;
  for (uint32_t i = 0; i < n; i++) longest = a[i].len > longest ? a[i].len : longest;
  for (unsigned shift = 0; shift < 32 && (longest >> shift) != 0; shift += 8) {
    uint32_t at[257] = {0};
    for (uint32_t i = 0; i < n; i++) at[((a[i].len >> shift) & 255u) + 1]++;
    for (int d = 0; d < 256; d++) at[d + 1] += at[d];
    for (uint32_t i = 0; i < n; i++) b[at[(a[i].len >> shift) & 255u]++] = a[i];
    bfdi_chunk_entry *t = a;
    a = b;
    b = t;
  }
  if (a != s->chunk) memcpy(s->chunk, a, n * sizeof *a);
}

/* Cuts the sorted chunk into token-budget batches: extend a batch while the
 * next (longest so far) length times the new count fits the budget. */
static bfd_status cut_tokens(bfdi_sampler *s) {
  uint64_t budget = s->cfg.max_tokens;
  uint32_t cap = s->max_batch, n = s->chunk_len, nb = 0, i = 0;
  s->cuts[0] = 0;
  while (i < n) {
    uint64_t len = s->chunk[i].len ? s->chunk[i].len : 1;
    if (len > budget)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "dataset %u sample %llu is %llu tokens long, more than max_tokens %llu: "
                       "raise max_tokens or truncate the sequences", s->chunk[i].ref.dataset,
                       (unsigned long long)s->chunk[i].ref.sample, (unsigned long long)len,
                       (unsigned long long)budget);
    uint32_t j = i + 1;
    while (j < n && j - i < cap) {
      uint64_t lj = s->chunk[j].len ? s->chunk[j].len : 1;
      if (lj * (j - i + 1) > budget) break;
      j++;
    }
    s->cuts[++nb] = j;
    i = j;
  }
  s->chunk_batches = nb;
  return BFD_OK;
}

/* The order whose positions can be walked side by side: the one dataset's,
 * when it is a single global shuffle (no mix, no shard windows); else NULL. */
static bfdi_order *walkable(bfdi_sampler *s) {
  bfdi_order *o = &s->orders[0];
  return s->n_ds == 1 && o->shuffle && o->window == 0 ? o : NULL;
}

/* The samples of n walked positions of dataset 0's pass `pass`. */
static void walked_refs(const uint64_t *x, uint32_t n, uint64_t pass, bfdi_sample_ref *out) {
  for (uint32_t t = 0; t < n; t++) out[t] = (bfdi_sample_ref){.sample = x[t], .dataset = 0, .pass = (uint16_t)pass};
}

/* Positions [pos, pos + b) of one dataset's global order within one pass,
 * their walks side by side (bfdi_perm_at_range); 0 when the batch is not
 * that simple (mixed datasets, shard windows, padding, a pass boundary) and
 * needs position() for each sample. */
static int batch_walk(bfdi_sampler *s, uint32_t epoch, uint64_t pos, uint32_t b, bfdi_sample_ref *out) {
  bfdi_order *o = walkable(s);
  if (!o || pos + b > s->n_epoch) return 0;
  uint64_t at = (uint64_t)epoch * s->n_epoch + pos, pass = at / o->n;
  if (pass != (at + b - 1) / o->n || pass != o->epoch) return 0;
  uint64_t x[BATCH_WALK_STEP];
  for (uint32_t t0 = 0; t0 < b; t0 += BATCH_WALK_STEP) {
    uint32_t k = b - t0 < BATCH_WALK_STEP ? b - t0 : BATCH_WALK_STEP;
    bfdi_perm_at_range(&o->global, at % o->n + t0, k, x);
    walked_refs(x, k, pass, out + t0);
  }
  return 1;
}

/* Fixed batches of one globally shuffled dataset: batch m and this rank's
 * next ones (m + W, m + 2W, ... for W ranks, as many as fit in
 * BATCH_WALK_STEP positions within m's pass) are walked side by side and
 * kept, so a plan that asks for them in turn gets most from the cache; 0 when
 * the batch is not that simple. */
static int fixed_walk(bfdi_sampler *s, uint32_t epoch, uint64_t m, bfdi_sample_ref *out) {
  const uint32_t b = s->cfg.batch, w = s->cfg.world_size;
  if (s->walk_valid && s->walk_epoch == epoch && m >= s->walk_m && (m - s->walk_m) % w == 0 &&
      (m - s->walk_m) / w < s->walk_k) {
    memcpy(out, s->walk + (m - s->walk_m) / w * b, b * sizeof *out);
    return 1;
  }
  bfdi_order *o = walkable(s);
  if (!o || b > BATCH_WALK_STEP) return 0;
  const uint64_t at = (uint64_t)epoch * s->n_epoch + m * b, pass = at / o->n;
  if (pass != o->epoch) return 0;
  uint32_t k = 0;
  for (; k < BATCH_WALK_STEP / b; k++) {
    uint64_t mk = m + (uint64_t)k * w, a = (uint64_t)epoch * s->n_epoch + mk * b;
    if (mk >= s->k_fixed || mk * b + b > s->n_epoch || (a + b - 1) / o->n != pass) break;
  }
  if (k == 0) return 0;
  uint64_t x[BATCH_WALK_STEP];
  bfdi_perm_at_runs(&o->global, at % o->n, b, (uint64_t)w * b, (size_t)k * b, x);
  walked_refs(x, k * b, pass, s->walk);
  s->walk_valid = 1;
  s->walk_epoch = epoch;
  s->walk_m = m;
  s->walk_k = k;
  memcpy(out, s->walk, b * sizeof *out);
  return 1;
}

/* Chunk c of epoch e, sorted by length and cut into batches (cached). */
static bfd_status load_chunk(bfdi_sampler *s, uint32_t epoch, uint64_t c) {
  if (s->chunk_valid && s->chunk_epoch == epoch && s->chunk_id == c) return BFD_OK;
  s->chunk_valid = 0;
  int tokens = s->cfg.batching == BFDI_BATCH_TOKENS;
  uint64_t size = tokens ? s->cfg.token_window : (uint64_t)s->cfg.bucket_batches * s->cfg.batch;
  uint64_t last = tokens ? s->n_epoch : s->n_used;
  uint64_t start = c * size, end = last - start < size ? last : start + size;
  s->chunk_len = (uint32_t)(end - start);
  bfdi_sample_ref refs[BATCH_WALK_STEP];
  for (uint32_t i0 = 0; i0 < s->chunk_len; i0 += BATCH_WALK_STEP) {
    uint32_t k = s->chunk_len - i0 < BATCH_WALK_STEP ? s->chunk_len - i0 : BATCH_WALK_STEP;
    int walked = batch_walk(s, epoch, start + i0, k, refs);
    for (uint32_t i = 0; i < k; i++) {
      bfdi_chunk_entry *e = &s->chunk[i0 + i];
      e->pos = start + i0 + i;
      if (walked) e->ref = refs[i];
      else BFD_TRY(position(s, epoch, e->pos, &e->ref));
      e->len = s->cfg.length(s->cfg.length_ctx, e->ref.dataset, e->ref.sample);
    }
  }
  sort_by_length(s);
  if (tokens) BFD_TRY(cut_tokens(s));
  else s->chunk_batches = s->chunk_len / s->cfg.batch;
  s->chunk_valid = 1;
  s->chunk_epoch = epoch;
  s->chunk_id = c;
  return BFD_OK;
}

bfd_status bfdi_sampler_epoch_batches(bfdi_sampler *s, uint32_t epoch, uint64_t *k) {
  if (epoch > BFDI_PERM_MAX_EPOCH)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "epoch %u: at most %u epochs are supported", epoch,
                     BFDI_PERM_MAX_EPOCH + 1);
  if (s->cfg.batching != BFDI_BATCH_TOKENS) {
    *k = s->k_fixed;
    return BFD_OK;
  }
  if (!s->scan_valid || s->scan_epoch != epoch) {
    s->scan_valid = 0;
    s->scan[0] = 0;
    for (uint64_t c = 0; c < s->n_chunks; c++) {
      BFD_TRY(load_chunk(s, epoch, c));
      s->scan[c + 1] = s->scan[c] + s->chunk_batches;
    }
    s->scan_valid = 1;
    s->scan_epoch = epoch;
  }
  *k = s->scan[s->n_chunks];
  if (s->cfg.drop_last && *k < s->cfg.world_size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "epoch %u has %llu token batches for %u ranks: with drop_last no step is "
                     "left; lower max_tokens or the world size, or pad (drop_last false)", epoch,
                     (unsigned long long)*k, s->cfg.world_size);
  return BFD_OK;
}

/* Batch m (< the epoch's batch count) of epoch e. */
static bfd_status batch_at(bfdi_sampler *s, uint32_t epoch, uint64_t m, bfdi_sample_ref *out, uint32_t *count) {
  uint32_t b = s->cfg.batch;
  if (s->cfg.batching == BFDI_BATCH_FIXED) {
    *count = b;
    if (fixed_walk(s, epoch, m, out) || batch_walk(s, epoch, m * b, b, out)) return BFD_OK;
    for (uint32_t t = 0; t < b; t++) BFD_TRY(position(s, epoch, m * b + t, &out[t]));
    return BFD_OK;
  }
  uint64_t c, j;
  if (s->cfg.batching == BFDI_BATCH_BUCKET) {
    c = m / s->cfg.bucket_batches;
    j = m % s->cfg.bucket_batches;
  } else {
    uint64_t k;
    BFD_TRY(bfdi_sampler_epoch_batches(s, epoch, &k));
    uint64_t lo = 0, hi = s->n_chunks - 1; /* every chunk holds a batch: the last c with scan[c] <= m is m's */
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo + 1) / 2;
      if (s->scan[mid] <= m) lo = mid;
      else hi = mid - 1;
    }
    c = lo;
    j = m - s->scan[c];
  }
  BFD_TRY(load_chunk(s, epoch, c));
  /* Chunks 2^40 apart may share a batch order: harmless, orders only need to differ locally. */
  if (s->cfg.shuffle) {
    bfdi_perm p = bfdi_perm_make(s->chunk_batches, s->seed_chunks, epoch, c & BFDI_PERM_MAX_STREAM);
    j = bfdi_perm_at(&p, j);
  }
  uint32_t from = s->cfg.batching == BFDI_BATCH_BUCKET ? (uint32_t)j * b : s->cuts[j];
  uint32_t to = s->cfg.batching == BFDI_BATCH_BUCKET ? from + b : s->cuts[j + 1];
  for (uint32_t t = from; t < to; t++) out[t - from] = s->chunk[t].ref;
  *count = to - from;
  return BFD_OK;
}

bfd_status bfdi_sampler_steps(bfdi_sampler *s, bfdi_cursor c, uint64_t *steps) {
  uint64_t k, r = s->cfg.world_size;
  BFD_TRY(bfdi_sampler_epoch_batches(s, c.epoch, &k));
  uint64_t left = c.pos < k ? k - c.pos : 0;
  *steps = s->cfg.drop_last ? left / r : (left + r - 1) / r;
  return BFD_OK;
}

static bfd_status check_step(bfdi_sampler *s, bfdi_cursor c) {
  uint64_t steps;
  BFD_TRY(bfdi_sampler_steps(s, c, &steps));
  if (steps == 0)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "cursor (epoch %u, position %llu) is past the last step of its epoch; "
                     "move it with bfdi_sampler_advance", c.epoch, (unsigned long long)c.pos);
  return BFD_OK;
}

bfd_status bfdi_sampler_batch(bfdi_sampler *s, bfdi_cursor c, uint32_t rank, bfdi_sample_ref *out, uint32_t cap,
                              uint32_t *count) {
  *count = 0;
  if (rank >= s->cfg.world_size)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "rank %u of a world of %u", rank, s->cfg.world_size);
  if (cap < s->max_batch)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "batch buffer of %u samples; this sampler needs %u", cap, s->max_batch);
  BFD_TRY(check_step(s, c));
  uint64_t k, m = c.pos + rank;
  BFD_TRY(bfdi_sampler_epoch_batches(s, c.epoch, &k));
  if (m < k) return batch_at(s, c.epoch, m, out, count);
  BFD_TRY(batch_at(s, c.epoch, (m - k) % k, out, count));
  for (uint32_t t = 0; t < *count; t++) out[t].flags |= BFDI_SAMPLE_PAD;
  return BFD_OK;
}

bfd_status bfdi_sampler_settle(bfdi_sampler *s, bfdi_cursor *c) {
  for (;;) {
    uint64_t steps;
    BFD_TRY(bfdi_sampler_steps(s, *c, &steps));
    if (steps > 0) return BFD_OK;
    if (c->epoch == BFDI_PERM_MAX_EPOCH)
      return bfdi_fail(BFD_ERR_INVALID_ARG, "epoch %u was the last: at most %u epochs are supported", c->epoch,
                       BFDI_PERM_MAX_EPOCH + 1);
    c->epoch++;
    c->pos = 0;
  }
}

bfd_status bfdi_sampler_advance(bfdi_sampler *s, bfdi_cursor *c) {
  BFD_TRY(check_step(s, *c));
  c->pos += s->cfg.world_size;
  return bfdi_sampler_settle(s, c);
}

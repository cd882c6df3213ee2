/* The sampler's resume state: a 52-byte little-endian blob with a CRC32C,
 * and the config fingerprint that keeps a state from resuming another job. */
#include <string.h>

#include "core/checksum.h"
#include "plan/sampler_impl.h"

#define STATE_VERSION 1
static const uint8_t MAGIC[4] = {'B', 'F', 'D', 'S'};

/* CRC32C chained over 4 KiB blocks, each block starting with the previous
 * block's CRC: hashes any number of shard counts without allocating. */
typedef struct hasher {
  uint8_t buf[4096];
  size_t n;
} hasher;

static void put_le(uint8_t *p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void hash_u64(hasher *h, uint64_t v) {
  if (h->n + 8 > sizeof h->buf) {
    put_le(h->buf, bfdi_crc32c(h->buf, h->n), 4);
    h->n = 4;
  }
  put_le(h->buf + h->n, v, 8);
  h->n += 8;
}

uint32_t bfdi_sampler_fingerprint(const bfdi_sampler *s, const bfdi_sampler_config *cfg) {
  hasher h = {.n = 4};
  hash_u64(&h, cfg->drop_last != 0);
  hash_u64(&h, cfg->shuffle != 0);
  hash_u64(&h, cfg->shuffle ? cfg->window_shards : 0);
  hash_u64(&h, cfg->batching == BFDI_BATCH_BUCKET ? cfg->bucket_batches : 0);
  hash_u64(&h, cfg->batching == BFDI_BATCH_TOKENS ? cfg->max_tokens : 0);
  hash_u64(&h, cfg->batching == BFDI_BATCH_TOKENS ? cfg->token_window : 0);
  hash_u64(&h, s->n_ds);
  for (size_t d = 0; d < s->n_ds; d++) {
    hash_u64(&h, s->n_ds > 1 ? s->mix.q[d] : 0);
    hash_u64(&h, cfg->datasets[d].n_shards);
    for (size_t k = 0; k < cfg->datasets[d].n_shards; k++) hash_u64(&h, cfg->datasets[d].shard_records[k]);
  }
  return bfdi_crc32c(h.buf, h.n);
}

bfd_status bfdi_sampler_save(const bfdi_sampler *s, bfdi_cursor c, uint8_t out[BFDI_SAMPLER_STATE_BYTES]) {
  if (c.epoch > BFDI_PERM_MAX_EPOCH)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: epoch %u; at most %u epochs", c.epoch,
                     BFDI_PERM_MAX_EPOCH + 1);
  memcpy(out, MAGIC, 4);
  put_le(out + 4, STATE_VERSION, 2);
  put_le(out + 6, (uint64_t)s->cfg.batching, 2);
  put_le(out + 8, s->cfg.seed, 8);
  put_le(out + 16, c.epoch, 4);
  put_le(out + 20, s->cfg.world_size, 4);
  put_le(out + 24, c.pos, 8);
  put_le(out + 32, s->n_epoch, 8);
  put_le(out + 40, s->cfg.batch, 4);
  put_le(out + 44, s->fingerprint, 4);
  put_le(out + 48, bfdi_crc32c(out, 48), 4);
  return BFD_OK;
}

static const char *batching_name(uint64_t b) {
  switch (b) {
    case BFDI_BATCH_FIXED: return "fixed";
    case BFDI_BATCH_BUCKET: return "bucket";
    case BFDI_BATCH_TOKENS: return "tokens";
    default: return "unknown";
  }
}

bfd_status bfdi_sampler_load(bfdi_sampler *s, const void *blob, size_t len, bfdi_cursor *c) {
  const uint8_t *b = blob;
  if (!b || len != BFDI_SAMPLER_STATE_BYTES)
    return bfdi_fail(BFD_ERR_FORMAT, "sampler state: %zu bytes; a biofeed sampler state is %d bytes", b ? len : 0,
                     BFDI_SAMPLER_STATE_BYTES);
  if (memcmp(b, MAGIC, 4) != 0)
    return bfdi_fail(BFD_ERR_FORMAT, "sampler state: starts with %02x %02x %02x %02x, not \"BFDS\": not a biofeed "
                     "sampler state", b[0], b[1], b[2], b[3]);
  uint64_t version = get_le(b + 4, 2);
  if (version != STATE_VERSION)
    return bfdi_fail(BFD_ERR_UNSUPPORTED, "sampler state: version %llu; this library reads version %d",
                     (unsigned long long)version, STATE_VERSION);
  uint32_t stored = (uint32_t)get_le(b + 48, 4), crc = bfdi_crc32c(b, 48);
  if (stored != crc)
    return bfdi_fail(BFD_ERR_CORRUPT, "sampler state: checksum %08x, but the bytes give %08x: the state is damaged",
                     stored, crc);
  uint64_t batching = get_le(b + 6, 2), seed = get_le(b + 8, 8), n_epoch = get_le(b + 32, 8);
  uint64_t batch = get_le(b + 40, 4), fingerprint = get_le(b + 44, 4), world = get_le(b + 20, 4);
  bfdi_cursor at = {(uint32_t)get_le(b + 16, 4), get_le(b + 24, 8)};
  if (seed != s->cfg.seed)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: saved with seed %llu, this sampler has seed %llu; resume "
                     "with the seed of the run that saved it", (unsigned long long)seed,
                     (unsigned long long)s->cfg.seed);
  if (batching != (uint64_t)s->cfg.batching)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: saved with %s batching, this sampler has %s",
                     batching_name(batching), batching_name((uint64_t)s->cfg.batching));
  if (batch != s->cfg.batch)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: saved with batch %llu, this sampler has batch %u "
                     "(per-rank batch; with another world size keep it and let the global batch change)",
                     (unsigned long long)batch, s->cfg.batch);
  if (n_epoch != s->n_epoch)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: saved with %llu samples per epoch, this sampler has %llu: "
                     "the datasets or epoch_samples differ", (unsigned long long)n_epoch,
                     (unsigned long long)s->n_epoch);
  if (fingerprint != s->fingerprint)
    return bfdi_fail(BFD_ERR_INVALID_ARG, "sampler state: saved with another configuration (fingerprint %08llx, "
                     "this sampler %08x): shard record counts, weights, shuffle, window_shards, drop_last or "
                     "bucketing differ; resume with the configuration that saved it",
                     (unsigned long long)fingerprint, s->fingerprint);
  if (world == 0 || world > BFDI_SAMPLER_MAX_WORLD)
    return bfdi_fail(BFD_ERR_CORRUPT, "sampler state: world size %llu at save is impossible: the state is damaged",
                     (unsigned long long)world);
  uint64_t k;
  bfd_status st = bfdi_sampler_epoch_batches(s, at.epoch, &k);
  if (st != BFD_OK) return bfdi_wrap(st, "sampler state");
  if (at.pos >= k)
    return bfdi_fail(BFD_ERR_CORRUPT, "sampler state: position %llu is past the %llu batches of epoch %u: the state "
                     "is damaged", (unsigned long long)at.pos, (unsigned long long)k, at.epoch);
  if (world != s->cfg.world_size)
    bfdi_log(BFD_LOG_INFO, "sampler: resuming a state saved on %llu ranks on %u ranks; the batch stream continues at "
             "epoch %u, batch %llu", (unsigned long long)world, s->cfg.world_size, at.epoch,
             (unsigned long long)at.pos);
  BFD_TRY(bfdi_sampler_settle(s, &at));
  *c = at;
  return BFD_OK;
}

/* libFuzzer harness: the sampler's resume state (loader/plan/state.c)
 * through bfdi_sampler_load, against four samplers created once with fixed
 * settings (fixed batches mixing two datasets over two ranks; bucketed over
 * three ranks with shard windows and padding; token budgets; manifest order
 * with epoch_samples), then the loaded cursor used as a resumed job would.
 *
 * Input: a control byte, then
 *   bit 0 set:   the blob itself (any length);
 *   bit 0 clear: epoch (u16 LE) and position (u64 LE) of a state that the
 *                sampler saves itself, then an XOR mask over its 52 bytes,
 *                so that mutations start from valid states;
 *   bit 1:       recompute the blob's CRC32C (52-byte blobs), to get past
 *                the checksum to the checks behind it;
 *   bits 2-3:    which sampler.
 * A state that loads must resume: steps, every rank's batch, advancing,
 * and a save and load of the cursor that gives the cursor back. */
#include <stdint.h>
#include <stdlib.h>

#include "core/checksum.h"
#include "fuzzutil.h"
#include "plan/sampler.h"

#define N_SAMPLERS 4

static uint32_t length_of(void *ctx, uint32_t dataset, uint64_t sample) {
  (void)ctx;
  return (uint32_t)((sample * 2654435761u + dataset) >> 7) % 40 + 1;
}

static bfdi_sampler *samplers[N_SAMPLERS];
static uint32_t worlds[N_SAMPLERS];
static bfdi_sample_ref *refs;
static uint32_t refs_cap;

static void destroy_samplers(void) {
  for (int i = 0; i < N_SAMPLERS; i++) bfdi_sampler_destroy(samplers[i]);
  free(refs);
}

static void make_samplers(void) {
  static const uint64_t a[] = {5, 3}, b[] = {4}, c[] = {7, 6, 5}, d[] = {20, 11}, e[] = {9};
  const bfdi_sampler_dataset mix[] = {{a, 2, 1.0}, {b, 1, 2.0}}, one_c[] = {{c, 3, 1.0}}, one_d[] = {{d, 2, 1.0}},
                             one_e[] = {{e, 1, 1.0}};
  const bfdi_sampler_config cfg[N_SAMPLERS] = {
      {.datasets = mix, .n_datasets = 2, .seed = 11, .shuffle = 1, .batching = BFDI_BATCH_FIXED, .batch = 4,
       .drop_last = 1, .world_size = 2},
      {.datasets = one_c, .n_datasets = 1, .seed = 12, .shuffle = 1, .window_shards = 2,
       .batching = BFDI_BATCH_BUCKET, .batch = 3, .bucket_batches = 2, .length = length_of, .world_size = 3},
      {.datasets = one_d, .n_datasets = 1, .seed = 13, .shuffle = 1, .batching = BFDI_BATCH_TOKENS,
       .max_tokens = 64, .token_window = 16, .length = length_of, .world_size = 1},
      {.datasets = one_e, .n_datasets = 1, .seed = 14, .epoch_samples = 5, .batching = BFDI_BATCH_FIXED, .batch = 1,
       .world_size = 1},
  };
  for (int i = 0; i < N_SAMPLERS; i++) {
    if (bfdi_sampler_create(&cfg[i], &samplers[i]) != BFD_OK) fz_bug("%s", bfd_last_error());
    worlds[i] = cfg[i].world_size;
    if (bfdi_sampler_max_batch(samplers[i]) > refs_cap) refs_cap = bfdi_sampler_max_batch(samplers[i]);
  }
  refs = calloc(refs_cap, sizeof *refs);
  if (!refs) fz_die("calloc");
  atexit(destroy_samplers);
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void resume(bfdi_sampler *s, uint32_t world, bfdi_cursor c) {
  uint64_t steps = 0;
  bfd_status st = bfdi_sampler_steps(s, c, &steps);
  fz_check(st, "bfdi_sampler_steps");
  if (st != BFD_OK) return;
  if (steps == 0) {
    fz_bug("a loaded state has no step left in its epoch");
  }
  uint64_t sum = steps;
  for (uint32_t r = 0; r < world; r++) {
    uint32_t count = 0;
    st = bfdi_sampler_batch(s, c, r, refs, refs_cap, &count);
    fz_check(st, "bfdi_sampler_batch");
    for (uint32_t i = 0; st == BFD_OK && i < count; i++) sum += refs[i].sample + refs[i].dataset + refs[i].pass;
  }
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  bfdi_cursor back;
  if (bfdi_sampler_save(s, c, blob) != BFD_OK || bfdi_sampler_load(s, blob, sizeof blob, &back) != BFD_OK ||
      back.epoch != c.epoch || back.pos != c.pos) {
    fz_bug("saving and loading cursor (%u, %llu) does not give it back: %s", c.epoch, (unsigned long long)c.pos,
           bfd_last_error());
  }
  for (int k = 0; k < 2; k++) {
    st = bfdi_sampler_advance(s, &c);
    fz_check(st, "bfdi_sampler_advance");
    if (st != BFD_OK) break;
  }
  fz_sink = sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!refs) make_samplers();
  if (size < 1) return 0;
  uint8_t ctl = data[0];
  int which = (ctl >> 2) & 3;
  bfdi_sampler *s = samplers[which];
  uint8_t blob[BFDI_SAMPLER_STATE_BYTES];
  const uint8_t *p = data + 1;
  size_t len = size - 1;
  if (!(ctl & 1)) {
    if (len < 10) return 0;
    bfdi_cursor at = {(uint32_t)le(p, 2), le(p + 2, 8)};
    if (bfdi_sampler_save(s, at, blob) != BFD_OK) return 0;
    for (size_t i = 10; i < len && i - 10 < sizeof blob; i++) blob[i - 10] ^= p[i];
    p = blob;
    len = sizeof blob;
  } else if (len == sizeof blob) {
    memcpy(blob, p, len);
    p = blob;
  }
  if ((ctl & 2) && len == sizeof blob) {
    uint32_t crc = bfdi_crc32c(blob, 48);
    for (int i = 0; i < 4; i++) blob[48 + i] = (uint8_t)(crc >> (8 * i));
  }
  bfdi_cursor c;
  fz_quiet_begin();
  bfd_status st = bfdi_sampler_load(s, p, len, &c);
  fz_check(st, "bfdi_sampler_load");
  if (st == BFD_OK) resume(s, worlds[which], c);
  fz_quiet_end("the sampler");
  return 0;
}

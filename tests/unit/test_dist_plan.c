/* Exchange planning, shard ownership and staging (loader/dist): every record
 * of a step delivered exactly once to its consumer's slot for random
 * ownership maps and uneven batches (the all-to-all simulated in process;
 * tests/dist runs it over MPI), framing damage caught, the balanced owner
 * map balanced and independent of input order, the map file's errors named
 * by line, and staging that copies exactly a rank's shards, verifies them,
 * keeps good copies, replaces bad ones and refuses a damaged source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/dataset.h"
#include "biofeed/pack.h"
#include "dist/owners.h"
#include "dist/stage.h"
#include "dist/xplan.h"
#include "support/testutil.h"

static uint64_t rng_next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Record i of a step: i * 37 mod 53 bytes (zero-length ones included),
 * each byte a function of i and its position. */
typedef struct records {
  uint8_t buf[64];
} records;

static uint64_t rec_len(uint64_t i) { return i * 37 % 53; }

static bfd_status rec_get(void *ctx, uint64_t i, const void **data, uint64_t *len) {
  records *r = ctx;
  *len = rec_len(i);
  for (uint64_t k = 0; k < *len; k++) r->buf[k] = (uint8_t)(i * 131 + k * 7);
  *data = r->buf;
  return BFD_OK;
}

typedef struct sink {
  uint64_t n_slots;
  const uint64_t *expect; /* step index expected in each slot */
  int *filled;
} sink;

static bfd_status deliver(void *ctx, uint64_t slot, const void *data, uint64_t len) {
  sink *s = ctx;
  assert_true(slot < s->n_slots);
  s->filled[slot]++;
  uint64_t i = s->expect[slot];
  assert_int_equal(len, rec_len(i));
  const uint8_t *b = data;
  for (uint64_t k = 0; k < len; k++) assert_int_equal(b[k], (uint8_t)(i * 131 + k * 7));
  return BFD_OK;
}

/* One step among `world` ranks, the all-to-all done by copying. */
static void exchange_step(uint32_t world, uint64_t n, const uint32_t *owner, const uint32_t *consumer) {
  bfdi_xplan *plan = calloc(world, sizeof *plan);
  uint8_t **sendbuf = calloc(world, sizeof *sendbuf);
  uint64_t *send_bytes = calloc((size_t)world * world, sizeof *send_bytes);
  records scratch;
  uint64_t slots = 0;
  for (uint32_t r = 0; r < world; r++) {
    assert_int_equal(bfdi_xplan_build(world, r, n, owner, consumer, &plan[r]), BFD_OK);
    assert_int_equal(bfdi_xplan_send_bytes(&plan[r], rec_get, &scratch, send_bytes + (size_t)r * world), BFD_OK);
    uint64_t total = 0;
    for (uint32_t d = 0; d < world; d++) total += send_bytes[(size_t)r * world + d];
    sendbuf[r] = malloc(total + 1);
    assert_int_equal(bfdi_xplan_pack(&plan[r], rec_get, &scratch, sendbuf[r], total), BFD_OK);
    slots += plan[r].n_slots;
  }
  assert_int_equal(slots, n);
  for (uint32_t s = 0; s < world; s++) {
    /* What rank s receives: each source's segment for s, in rank order. */
    uint64_t *recv_bytes = calloc(world, sizeof *recv_bytes);
    uint64_t total = 0;
    for (uint32_t r = 0; r < world; r++) total += recv_bytes[r] = send_bytes[(size_t)r * world + s];
    uint8_t *recv = malloc(total + 1), *p = recv;
    for (uint32_t r = 0; r < world; r++) {
      uint64_t off = 0;
      for (uint32_t d = 0; d < s; d++) off += send_bytes[(size_t)r * world + d];
      memcpy(p, sendbuf[r] + off, recv_bytes[r]);
      p += recv_bytes[r];
    }
    /* Slot k of consumer s is its k-th sample in step order. */
    uint64_t *expect = malloc((plan[s].n_slots + 1) * sizeof *expect), k = 0;
    for (uint64_t i = 0; i < n; i++)
      if (consumer[i] == s) expect[k++] = i;
    sink sk = {plan[s].n_slots, expect, calloc(plan[s].n_slots + 1, sizeof(int))};
    assert_int_equal(bfdi_xplan_unpack(&plan[s], recv, recv_bytes, deliver, &sk), BFD_OK);
    for (uint64_t j = 0; j < plan[s].n_slots; j++) assert_int_equal(sk.filled[j], 1);
    free(sk.filled);
    free(expect);
    free(recv);
    free(recv_bytes);
  }
  for (uint32_t r = 0; r < world; r++) {
    bfdi_xplan_free(&plan[r]);
    free(sendbuf[r]);
  }
  free(plan);
  free(sendbuf);
  free(send_bytes);
}

static void test_exchange_delivers_every_record_once(void **state) {
  (void)state;
  uint64_t seed = 0x9E3779B97F4A7C15u;
  for (int trial = 0; trial < 60; trial++) {
    uint32_t world = 1 + (uint32_t)(rng_next(&seed) % 6);
    /* The step: each rank's batch (some empty), concatenated in rank order. */
    uint64_t n = 0;
    uint32_t batch[6];
    for (uint32_t r = 0; r < world; r++) n += batch[r] = (uint32_t)(rng_next(&seed) % 9);
    uint32_t *owner = malloc((n + 1) * sizeof *owner), *consumer = malloc((n + 1) * sizeof *consumer);
    uint64_t i = 0;
    for (uint32_t r = 0; r < world; r++)
      for (uint32_t k = 0; k < batch[r]; k++, i++) consumer[i] = r;
    /* Ownership: random, or everything on one rank (the extremes). */
    uint32_t one = (uint32_t)(rng_next(&seed) % world);
    for (i = 0; i < n; i++) owner[i] = trial % 5 == 0 ? one : (uint32_t)(rng_next(&seed) % world);
    exchange_step(world, n, owner, consumer);
    free(owner);
    free(consumer);
  }
  /* Consumers need not be contiguous: slots follow list order. */
  static const uint32_t owner[] = {2, 0, 1, 1, 0, 2, 2};
  static const uint32_t consumer[] = {1, 0, 1, 2, 0, 1, 0};
  exchange_step(3, 7, owner, consumer);
}

static void test_plan_layout(void **state) {
  (void)state;
  static const uint32_t owner[] = {1, 0, 1, 1, 0};
  static const uint32_t consumer[] = {0, 0, 1, 0, 1};
  bfdi_xplan p;
  assert_int_equal(bfdi_xplan_build(2, 1, 5, owner, consumer, &p), BFD_OK);
  /* Rank 1 sends samples 0 and 3 to rank 0, sample 2 to itself. */
  assert_int_equal(p.send_off[0], 0);
  assert_int_equal(p.send_off[1], 2);
  assert_int_equal(p.send_off[2], 3);
  assert_int_equal(p.send_idx[0], 0);
  assert_int_equal(p.send_idx[1], 3);
  assert_int_equal(p.send_idx[2], 2);
  /* Rank 1 consumes samples 2 (slot 0, from itself) and 4 (slot 1, from 0). */
  assert_int_equal(p.n_slots, 2);
  assert_int_equal(p.recv_off[1], 1);
  assert_int_equal(p.recv_slot[0], 1);
  assert_int_equal(p.recv_slot[1], 0);
  bfdi_xplan_free(&p);
  bfdi_xplan_free(NULL);
  assert_int_equal(bfdi_xframe_bytes(0), 8);
  assert_int_equal(bfdi_xframe_bytes(1), 16);
  assert_int_equal(bfdi_xframe_bytes(8), 16);
  assert_int_equal(bfdi_xframe_bytes(9), 24);
}

static void test_plan_errors(void **state) {
  (void)state;
  static const uint32_t owner[] = {0, 3, 1};
  static const uint32_t consumer[] = {0, 1, 1};
  bfdi_xplan p;
  assert_int_equal(bfdi_xplan_build(3, 0, 3, owner, consumer, &p), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "sample 1"));
  assert_int_equal(bfdi_xplan_build(3, 3, 0, NULL, NULL, &p), BFD_ERR_INVALID_ARG);

  /* Rank 1 receives two records from rank 0: damage what arrives. */
  static const uint32_t o2[] = {0, 0};
  static const uint32_t c2[] = {1, 1};
  bfdi_xplan tx, rx;
  records scratch;
  assert_int_equal(bfdi_xplan_build(2, 0, 2, o2, c2, &tx), BFD_OK);
  assert_int_equal(bfdi_xplan_build(2, 1, 2, o2, c2, &rx), BFD_OK);
  uint64_t sb[2];
  assert_int_equal(bfdi_xplan_send_bytes(&tx, rec_get, &scratch, sb), BFD_OK);
  assert_int_equal(sb[0], 0);
  assert_int_equal(sb[1], bfdi_xframe_bytes(rec_len(0)) + bfdi_xframe_bytes(rec_len(1)));
  uint8_t buf[256];
  assert_int_equal(bfdi_xplan_pack(&tx, rec_get, &scratch, buf, sb[1] - 1), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_xplan_pack(&tx, rec_get, &scratch, buf, sizeof buf), BFD_OK);
  static const uint64_t expect[] = {0, 1};
  int filled[2] = {0, 0};
  sink sk = {2, expect, filled};
  uint64_t rb[2] = {sb[1], 0}; /* by source: all from rank 0 */
  assert_int_equal(bfdi_xplan_unpack(&rx, buf, rb, deliver, &sk), BFD_OK);
  rb[0] = sb[1] - 8; /* the last record cut short */
  assert_int_equal(bfdi_xplan_unpack(&rx, buf, rb, deliver, &sk), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), "rank 0"));
  rb[0] = 8; /* ends before the second record's header */
  buf[0] = 0;
  assert_int_equal(bfdi_xplan_unpack(&rx, buf, rb, deliver, &sk), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), "record 2 of 2"));
  rb[0] = sb[1];
  buf[0] = 0xff; /* a length past the end */
  assert_int_equal(bfdi_xplan_unpack(&rx, buf, rb, deliver, &sk), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), "past the"));
  assert_int_equal(bfdi_xplan_pack(&tx, rec_get, &scratch, buf, sizeof buf), BFD_OK);
  rb[0] = sb[1] + 16; /* more than planned */
  assert_int_equal(bfdi_xplan_unpack(&rx, buf, rb, deliver, &sk), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), "16 bytes more"));
  bfdi_xplan_free(&tx);
  bfdi_xplan_free(&rx);
}

enum { N_SHARDS = 37 };

static void make_shards(bfdi_owner_shard *s, char names[][32], size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], 32, "seq-%05zu.h5", i);
    s[i] = (bfdi_owner_shard){names[i], 1000 + rng_next(&seed) % 100000};
  }
}

static void test_owners_balanced(void **state) {
  (void)state;
  bfdi_owner_shard s[N_SHARDS];
  char names[N_SHARDS][32];
  make_shards(s, names, N_SHARDS, 77);
  uint64_t biggest = 0;
  for (size_t i = 0; i < N_SHARDS; i++) biggest = s[i].size > biggest ? s[i].size : biggest;
  for (uint32_t world = 1; world <= 8; world++) {
    uint32_t owner[N_SHARDS];
    assert_int_equal(bfdi_owners_balanced(s, N_SHARDS, world, owner), BFD_OK);
    uint64_t load[8] = {0};
    for (size_t i = 0; i < N_SHARDS; i++) {
      assert_true(owner[i] < world);
      load[owner[i]] += s[i].size;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t r = 0; r < world; r++) {
      lo = load[r] < lo ? load[r] : lo;
      hi = load[r] > hi ? load[r] : hi;
    }
    assert_true(hi - lo <= biggest);
    /* The same map whatever order the shards are listed in. */
    bfdi_owner_shard rev[N_SHARDS];
    uint32_t owner_rev[N_SHARDS];
    for (size_t i = 0; i < N_SHARDS; i++) rev[i] = s[N_SHARDS - 1 - i];
    assert_int_equal(bfdi_owners_balanced(rev, N_SHARDS, world, owner_rev), BFD_OK);
    for (size_t i = 0; i < N_SHARDS; i++) assert_int_equal(owner_rev[N_SHARDS - 1 - i], owner[i]);
  }
  /* Equal sizes: counts within one; more ranks than shards: one each. */
  for (size_t i = 0; i < N_SHARDS; i++) s[i].size = 4096;
  uint32_t owner[N_SHARDS], count[5] = {0};
  assert_int_equal(bfdi_owners_balanced(s, N_SHARDS, 5, owner), BFD_OK);
  for (size_t i = 0; i < N_SHARDS; i++) count[owner[i]]++;
  for (int r = 0; r < 5; r++) assert_true(count[r] == 7 || count[r] == 8);
  assert_int_equal(bfdi_owners_balanced(s, 3, 100, owner), BFD_OK);
  assert_true(owner[0] != owner[1] && owner[1] != owner[2] && owner[0] != owner[2]);
  assert_true(owner[0] < 3 && owner[1] < 3 && owner[2] < 3);
  assert_int_equal(bfdi_owners_balanced(s, 3, 0, owner), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_owners_balanced(NULL, 0, 4, owner), BFD_OK);
}

typedef tu_dir fx;

static bfd_status load_map(fx *f, const char *text, const bfdi_owner_shard *s, size_t n, uint32_t world,
                           uint32_t *owner) {
  const char *path = tu_path("%s/owners.txt", f->dir);
  assert_int_equal(tu_write(path, text, strlen(text)), 0);
  return bfdi_owners_load(path, s, n, world, owner);
}

static void map_fails(fx *f, const char *text, const bfdi_owner_shard *s, size_t n, const char *word1,
                      const char *word2) {
  uint32_t owner[4];
  assert_int_equal(load_map(f, text, s, n, 3, owner), BFD_ERR_FORMAT);
  if (!strstr(bfd_last_error(), word1) || !strstr(bfd_last_error(), word2))
    print_message("message lacks \"%s\" or \"%s\": %s\n", word1, word2, bfd_last_error());
  assert_non_null(strstr(bfd_last_error(), word1));
  assert_non_null(strstr(bfd_last_error(), word2));
}

static void test_owner_map_file(void **state) {
  fx *f = *state;
  const bfdi_owner_shard s[] = {{"seq-00000.h5", 10}, {"seq-00001.h5", 10}, {"sub dir/img-g0-00000.h5", 10}};
  uint32_t owner[3];
  assert_int_equal(load_map(f,
                            "# staged by the job script\n"
                            "\n"
                            "seq-00001.h5 2\r\n"
                            "  ./seq-00000.h5\t0  \n"
                            "sub dir/img-g0-00000.h5 1\n",
                            s, 3, 3, owner),
                   BFD_OK);
  assert_int_equal(owner[0], 0);
  assert_int_equal(owner[1], 2);
  assert_int_equal(owner[2], 1);

  map_fails(f, "seq-00000.h5 0\nsub dir/img-g0-00000.h5 1\n", s, 3, "seq-00001.h5 has no owner", "RANK");
  map_fails(f, "seq-00000.h5 0\nseq-00009.h5 1\n", s, 3, "line 2", "seq-00009.h5");
  map_fails(f, "seq-00000.h5 0\nseq-00001.h5 1\n\nseq-00000.h5 2\n", s, 3, "line 4", "line 1");
  map_fails(f, "seq-00000.h5 3\n", s, 3, "line 1", "3 ranks");
  map_fails(f, "seq-00000.h5\n", s, 3, "line 1", "shard_path rank");
  map_fails(f, "seq-00000.h5 -1\n", s, 3, "line 1", "rank >= 0");
  map_fails(f, "seq-00000.h5 one\n", s, 3, "line 1", "shard_path rank");
  assert_int_equal(bfdi_owners_load(tu_path("%s/none.txt", f->dir), s, 3, 3, owner), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "none.txt"));
}

static const char *FASTA = ">a\nACGTACGTAC\n>b\nGGGGCCCC\n>c\nTTTTTTTTTTTTTT\n>d\nACACACAC\n>e\nGATTACA\n";
enum { STAGE_SHARDS = 5 };

static char *pack_dataset(fx *f) {
  const char *in = tu_path("%s/g.fa", f->dir);
  assert_int_equal(tu_write(in, FASTA, strlen(FASTA)), 0);
  bfd_pack_options o;
  bfd_pack_options_init(&o);
  o.records_per_shard = 1;
  char *out = strdup(tu_path("%s/data", f->dir));
  o.out_dir = out;
  const char *ins[] = {in};
  assert_int_equal(bfd_pack(&o, ins, 1, NULL), BFD_OK);
  return out;
}

static int same_file(const char *a, const char *b) {
  size_t na, nb;
  uint8_t *x = tu_read(a, &na), *y = tu_read(b, &nb);
  int same = x && y && na == nb && memcmp(x, y, na) == 0;
  free(x);
  free(y);
  return same;
}

static void test_stage_copies_exactly_the_owned_shards(void **state) {
  fx *f = *state;
  char *data = pack_dataset(f);
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(data, &d), BFD_OK);
  size_t n;
  bfd_dataset_shard_count(d, &n);
  assert_int_equal(n, STAGE_SHARDS);

  int copies[STAGE_SHARDS] = {0};
  uint64_t owned_total = 0;
  for (uint32_t r = 0; r < 3; r++) {
    const char *dest = tu_path("%s/node%u", f->dir, r);
    bfdi_stage_stats st;
    assert_int_equal(bfdi_stage(data, dest, NULL, r, 3, &st), BFD_OK);
    assert_int_equal(st.copied, st.owned);
    assert_int_equal(st.present, 0);
    owned_total += st.owned;
    assert_true(same_file(tu_path("%s/manifest.json", data), tu_path("%s/manifest.json", dest)));
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
      bfd_dataset_shard s;
      bfd_dataset_shard_get(d, i, &s);
      if (!tu_exists(dest, s.relpath)) continue;
      copies[i]++;
      bytes += s.size;
      assert_true(same_file(s.path, tu_path("%s/%s", dest, s.relpath)));
    }
    assert_int_equal(st.bytes_copied, bytes);
    /* Shards and the manifest, no temporaries. */
    assert_int_equal(tu_count_entries(dest), (int)st.owned + 1);
  }
  assert_int_equal(owned_total, n);
  for (size_t i = 0; i < n; i++) assert_int_equal(copies[i], 1);

  /* Again: every copy is verified and kept. */
  bfdi_stage_stats st;
  const char *dest0 = tu_path("%s/node0", f->dir);
  assert_int_equal(bfdi_stage(data, dest0, NULL, 0, 3, &st), BFD_OK);
  assert_true(st.owned > 0);
  assert_int_equal(st.present, st.owned);
  assert_int_equal(st.copied, 0);

  /* A damaged copy is replaced. */
  size_t i0 = 0;
  bfd_dataset_shard s;
  for (; i0 < n; i0++) {
    bfd_dataset_shard_get(d, i0, &s);
    if (tu_exists(dest0, s.relpath)) break;
  }
  const char *copy = tu_path("%s/%s", dest0, s.relpath);
  size_t len;
  uint8_t *bytes = tu_read(copy, &len);
  bytes[len / 2] ^= 1;
  assert_int_equal(tu_write(copy, bytes, len), 0);
  free(bytes);
  assert_int_equal(bfdi_stage(data, dest0, NULL, 0, 3, &st), BFD_OK);
  assert_int_equal(st.copied, 1);
  assert_int_equal(st.present, st.owned - 1);
  assert_true(same_file(s.path, copy));

  /* Ranks of one node sharing a folder get the whole dataset there. */
  const char *shared = tu_path("%s/shared", f->dir);
  for (uint32_t r = 0; r < 3; r++) assert_int_equal(bfdi_stage(data, shared, NULL, r, 3, NULL), BFD_OK);
  assert_int_equal(tu_count_entries(shared), STAGE_SHARDS + 1);
  bfd_dataset_close(d);
  free(data);
}

static void test_stage_with_a_map_and_failures(void **state) {
  fx *f = *state;
  char *data = pack_dataset(f);
  bfd_dataset *d;
  assert_int_equal(bfd_dataset_open(data, &d), BFD_OK);
  char map[512] = "";
  for (size_t i = 0; i < STAGE_SHARDS; i++) {
    bfd_dataset_shard s;
    bfd_dataset_shard_get(d, i, &s);
    snprintf(map + strlen(map), sizeof map - strlen(map), "%s %d\n", s.relpath, i == 2 ? 0 : 1);
  }
  const char *map_path = tu_path("%s/owners.txt", f->dir);
  assert_int_equal(tu_write(map_path, map, strlen(map)), 0);
  const char *dest = tu_path("%s/n0", f->dir);
  bfdi_stage_stats st;
  assert_int_equal(bfdi_stage(data, dest, map_path, 0, 2, &st), BFD_OK);
  assert_int_equal(st.owned, 1);
  bfd_dataset_shard s2;
  bfd_dataset_shard_get(d, 2, &s2);
  assert_true(tu_exists(dest, s2.relpath));
  assert_int_equal(bfdi_stage(data, dest, map_path, 0, 1, &st), BFD_ERR_FORMAT); /* rank 1 of a world of 1 */
  assert_non_null(strstr(bfd_last_error(), "owners.txt line"));

  /* A source shard damaged after packing (same size): refused, nothing left. */
  size_t len;
  uint8_t *bytes = tu_read(s2.path, &len);
  bytes[len - 3] ^= 0x40;
  assert_int_equal(tu_write(s2.path, bytes, len), 0);
  free(bytes);
  const char *dest2 = tu_path("%s/n0b", f->dir);
  assert_int_equal(bfdi_stage(data, dest2, map_path, 0, 2, &st), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), s2.relpath));
  assert_non_null(strstr(bfd_last_error(), "biofeed verify"));
  assert_int_equal(tu_count_entries(dest2), 0);
  /* A truncated source. */
  assert_int_equal(truncate(s2.path, (off_t)(len / 2)), 0);
  assert_int_equal(bfdi_stage(data, dest2, map_path, 0, 2, &st), BFD_ERR_CORRUPT);
  assert_non_null(strstr(bfd_last_error(), "truncated"));
  assert_int_equal(tu_count_entries(dest2), 0);

  assert_int_equal(bfdi_stage(tu_path("%s/missing", f->dir), dest2, NULL, 0, 1, &st), BFD_ERR_IO);
  assert_int_equal(bfdi_stage(data, dest2, NULL, 2, 2, &st), BFD_ERR_INVALID_ARG);
  bfd_dataset_close(d);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exchange_delivers_every_record_once),
      cmocka_unit_test(test_plan_layout),
      cmocka_unit_test(test_plan_errors),
      cmocka_unit_test(test_owners_balanced),
      cmocka_unit_test_setup_teardown(test_owner_map_file, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_stage_copies_exactly_the_owned_shards, tu_dir_setup, tu_dir_teardown),
      cmocka_unit_test_setup_teardown(test_stage_with_a_map_and_failures, tu_dir_setup, tu_dir_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

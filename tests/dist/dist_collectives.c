/* Multi-rank checks of the mpi backend (run by tests/dist/run.sh under
 * mpirun): broadcast from every root, allgather, all-to-all with uneven
 * sizes and zeros (whole and in pieces), the exchange plan delivering every
 * record of a step exactly once to its consumer for random ownership maps,
 * sub-groups from split, and broadcast groups getting identical batches.
 * Any wrong value aborts the job; rank 0 prints one line per check. */
#include <stdint.h>
#include <string.h>

#include "dist/owners.h"
#include "dist/xplan.h"
#include "dist_test.h"

static uint32_t R, W;

static void passed(const char *name) {
  DT_OK(bfdi_comm_barrier(dt_comm));
  if (R == 0) printf("[       OK ] %s\n", name);
  fflush(stdout);
}

static uint8_t pattern(uint64_t a, uint64_t b, uint64_t k) { return (uint8_t)(a * 151 + b * 29 + k * 7 + (k >> 8)); }

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185u;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44du;
  return x ^ (x >> 33);
}

static void check_broadcast(void) {
  static const size_t sizes[] = {1, 1000, (1u << 20) + 3};
  for (uint32_t root = 0; root < W; root++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      size_t n = sizes[s];
      uint8_t *buf = malloc(n);
      DT_CHECK(buf);
      for (size_t k = 0; k < n; k++) buf[k] = R == root ? pattern(root, n, k) : 0xAA;
      DT_OK(bfdi_comm_bcast(dt_comm, buf, n, root));
      for (size_t k = 0; k < n; k++) DT_CHECK(buf[k] == pattern(root, n, k));
      free(buf);
    }
}

static void check_allgather(void) {
  uint64_t mine[2] = {R, (uint64_t)R * R + 7};
  uint64_t *all = calloc(2 * (size_t)W, sizeof *all);
  DT_CHECK(all);
  DT_OK(bfdi_comm_allgather(dt_comm, mine, sizeof mine, all));
  for (uint32_t r = 0; r < W; r++) DT_CHECK(all[2 * r] == r && all[2 * r + 1] == (uint64_t)r * r + 7);
  free(all);
}

/* Bytes rank s sends rank d in a round: uneven, with zero pairs, and in
 * round 1 rank W - 1 sends nothing at all. */
static uint64_t pair_bytes(uint32_t round, uint32_t s, uint32_t d) {
  if ((s + 2 * d + round) % 3 == 0) return 0;
  if (round == 1 && s == W - 1) return 0;
  return mix(round * 1000003u + s * 1009u + d) % 6000;
}

static void check_alltoallv(void) {
  for (uint32_t round = 0; round < 4; round++) {
    uint64_t *sb = calloc(W, sizeof *sb), *expect = calloc(W, sizeof *expect), *rb = calloc(W, sizeof *rb);
    DT_CHECK(sb && expect && rb);
    uint64_t stot = 0, rtot = 0;
    for (uint32_t d = 0; d < W; d++) stot += sb[d] = pair_bytes(round, R, d);
    for (uint32_t s = 0; s < W; s++) expect[s] = pair_bytes(round, s, R);
    DT_OK(bfdi_comm_alltoall_sizes(dt_comm, sb, rb));
    for (uint32_t s = 0; s < W; s++) {
      DT_CHECK(rb[s] == expect[s]);
      rtot += rb[s];
    }
    uint8_t *send = malloc(stot + 1), *recv = malloc(rtot + 1);
    DT_CHECK(send && recv);
    uint64_t off = 0;
    for (uint32_t d = 0; d < W; d++)
      for (uint64_t k = 0; k < sb[d]; k++) send[off++] = pattern(R, d, k);
    memset(recv, 0xEE, rtot + 1);
    /* Rounds 2 and 3 cut every message at 777 bytes: the piecewise path. */
    bfdi_comm_set_max_message(dt_comm, round >= 2 ? 777 : (size_t)INT32_MAX);
    DT_OK(bfdi_comm_alltoallv(dt_comm, send, sb, recv, rb));
    off = 0;
    for (uint32_t s = 0; s < W; s++)
      for (uint64_t k = 0; k < rb[s]; k++) DT_CHECK(recv[off++] == pattern(s, R, k));
    DT_CHECK(recv[rtot] == 0xEE);
    free(send), free(recv), free(sb), free(expect), free(rb);
  }
  /* The broadcast in pieces too. */
  uint8_t buf[5000];
  for (size_t k = 0; k < sizeof buf; k++) buf[k] = R == 1 % W ? pattern(9, 9, k) : 0;
  DT_OK(bfdi_comm_bcast(dt_comm, buf, sizeof buf, 1 % W));
  for (size_t k = 0; k < sizeof buf; k++) DT_CHECK(buf[k] == pattern(9, 9, k));
  bfdi_comm_set_max_message(dt_comm, (size_t)INT32_MAX);
}

typedef struct step {
  uint32_t trial;
  uint32_t *owner, *consumer;
  uint8_t rec[4096];
} step;

static uint64_t rec_len(uint64_t i, uint32_t trial) { return mix(i * 31 + trial) % 3000; }

static bfd_status rec_get(void *ctx, uint64_t i, const void **data, uint64_t *len) {
  step *s = ctx;
  *len = rec_len(i, s->trial);
  for (uint64_t k = 0; k < *len; k++) s->rec[k] = pattern(i, s->trial, k);
  *data = s->rec;
  return BFD_OK;
}

typedef struct got {
  uint64_t n_slots;
  const uint64_t *expect;
  uint32_t *filled;
  uint32_t trial;
} got;

static bfd_status deliver(void *ctx, uint64_t slot, const void *data, uint64_t len) {
  got *g = ctx;
  DT_CHECK(slot < g->n_slots);
  g->filled[slot]++;
  uint64_t i = g->expect[slot];
  DT_CHECK(len == rec_len(i, g->trial));
  const uint8_t *b = data;
  for (uint64_t k = 0; k < len; k++) DT_CHECK(b[k] == pattern(i, g->trial, k));
  return BFD_OK;
}

/* Every rank derives the same step: batches of random sizes concatenated in
 * rank order, each sample in one of 11 shards whose owner comes from the
 * balanced map (even trials) or at random (odd trials). */
static void check_exchange(void) {
  for (uint32_t trial = 0; trial < 12; trial++) {
    step st;
    st.trial = trial;
    uint64_t batch[64], n = 0;
    for (uint32_t r = 0; r < W; r++) n += batch[r] = mix(trial * 77 + r) % 23;
    st.owner = malloc((n + 1) * sizeof *st.owner);
    st.consumer = malloc((n + 1) * sizeof *st.consumer);
    DT_CHECK(st.owner && st.consumer && W <= 64);
    enum { SHARDS = 11 };
    char names[SHARDS][24];
    bfdi_owner_shard shards[SHARDS];
    uint32_t shard_owner[SHARDS];
    for (int s = 0; s < SHARDS; s++) {
      snprintf(names[s], sizeof names[s], "seq-%05d.h5", s);
      shards[s] = (bfdi_owner_shard){names[s], 1000 + mix((uint64_t)s) % 5000};
      shard_owner[s] = (uint32_t)(mix(trial * 5 + (uint64_t)s) % W);
    }
    if (trial % 2 == 0) DT_OK(bfdi_owners_balanced(shards, SHARDS, W, shard_owner));
    uint64_t i = 0;
    for (uint32_t r = 0; r < W; r++)
      for (uint64_t k = 0; k < batch[r]; k++, i++) {
        st.consumer[i] = r;
        st.owner[i] = shard_owner[mix(i + trial) % SHARDS];
      }
    bfdi_xplan p;
    DT_OK(bfdi_xplan_build(W, R, n, st.owner, st.consumer, &p));
    DT_CHECK(p.n_slots == batch[R]);
    uint64_t *sb = calloc(W, sizeof *sb), *rb = calloc(W, sizeof *rb), stot = 0, rtot = 0;
    DT_CHECK(sb && rb);
    DT_OK(bfdi_xplan_send_bytes(&p, rec_get, &st, sb));
    for (uint32_t d = 0; d < W; d++) stot += sb[d];
    uint8_t *send = malloc(stot + 1);
    DT_CHECK(send);
    DT_OK(bfdi_xplan_pack(&p, rec_get, &st, send, stot));
    DT_OK(bfdi_comm_alltoall_sizes(dt_comm, sb, rb));
    for (uint32_t s = 0; s < W; s++) rtot += rb[s];
    uint8_t *recv = malloc(rtot + 1);
    DT_CHECK(recv);
    DT_OK(bfdi_comm_alltoallv(dt_comm, send, sb, recv, rb));

    uint64_t *expect = malloc((p.n_slots + 1) * sizeof *expect), k = 0;
    DT_CHECK(expect);
    for (i = 0; i < n; i++)
      if (st.consumer[i] == R) expect[k++] = i;
    got g = {p.n_slots, expect, calloc(p.n_slots + 1, sizeof(uint32_t)), trial};
    DT_OK(bfdi_xplan_unpack(&p, recv, rb, deliver, &g));
    for (k = 0; k < p.n_slots; k++) DT_CHECK(g.filled[k] == 1);
    /* Every rank agrees the step's records all arrived. */
    uint64_t mine = p.n_slots, *all = calloc(W, sizeof *all), total = 0;
    DT_OK(bfdi_comm_allgather(dt_comm, &mine, sizeof mine, all));
    for (uint32_t r = 0; r < W; r++) total += all[r];
    DT_CHECK(total == n);
    free(all), free(g.filled), free(expect), free(recv), free(send), free(sb), free(rb);
    bfdi_xplan_free(&p);
    free(st.owner), free(st.consumer);
  }
}

static void check_split(void) {
  /* Parity groups, ordered by descending world rank. */
  bfdi_comm *sub;
  DT_OK(bfdi_comm_split(dt_comm, R % 2, W - R, &sub));
  uint32_t members = (W - R % 2 + 1) / 2;
  DT_CHECK(bfdi_comm_size(sub) == members);
  uint32_t higher = 0;
  for (uint32_t r = R + 1; r < W; r++) higher += r % 2 == R % 2;
  DT_CHECK(bfdi_comm_rank(sub) == higher);
  uint32_t world_ranks[64];
  DT_OK(bfdi_comm_allgather(sub, &R, sizeof R, world_ranks));
  for (uint32_t k = 0; k < members; k++)
    DT_CHECK(world_ranks[k] % 2 == R % 2 && (k == 0 || world_ranks[k] < world_ranks[k - 1]));
  uint32_t leader = R;
  DT_OK(bfdi_comm_bcast(sub, &leader, sizeof leader, 0));
  DT_CHECK(leader == world_ranks[0]);
  DT_OK(bfdi_comm_barrier(sub));
  bfdi_comm_destroy(sub);

  /* Broadcast groups of 2 (tensor parallel): the leader's packed batch
   * reaches its group identically, and only its group. */
  DT_OK(bfdi_comm_split(dt_comm, R / 2, R, &sub));
  uint8_t batch[3000];
  uint32_t group = R / 2;
  for (size_t k = 0; k < sizeof batch; k++) batch[k] = bfdi_comm_rank(sub) == 0 ? pattern(group, 5, k) : 0;
  DT_OK(bfdi_comm_bcast(sub, batch, sizeof batch, 0));
  for (size_t k = 0; k < sizeof batch; k++) DT_CHECK(batch[k] == pattern(group, 5, k));
  bfdi_comm_destroy(sub);
}

int main(void) {
  dt_join(60);
  R = bfdi_comm_rank(dt_comm);
  W = bfdi_comm_size(dt_comm);
  DT_CHECK(W <= 64);
  passed("join and barrier");
  check_broadcast();
  passed("broadcast from every root");
  check_allgather();
  passed("allgather");
  check_alltoallv();
  passed("all-to-all, uneven sizes and zeros, whole and in pieces");
  check_exchange();
  passed("exchange plan: every record once to its consumer");
  check_split();
  passed("split groups and broadcast groups");
  bfdi_comm_destroy(dt_comm);
  return 0;
}

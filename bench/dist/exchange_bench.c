/* Exchange throughput per rank under mpirun (bench/dist/run.sh): one step of
 * `exchange` mode moves a batch's records from the ranks that own them to the
 * ranks that consume them. For each batch size, three ways of moving the very
 * same bytes, alternated over ROUNDS rounds (median reported):
 *   baseline  MPI_Alltoallv on MPI_COMM_WORLD with the counts known in
 *             advance: what a hand-written MPI program gets;
 *   comm      bfdi_comm_alltoall_sizes + bfdi_comm_alltoallv (sizes exchanged
 *             every step, the path agreement, the watchdog);
 *   step      the whole exchange step but the read: plan, pack the records
 *             into frames, sizes, all-to-all, unpack into batch slots.
 * The step's records are REC bytes, owned by ranks at random and consumed
 * rank by rank (a global batch of W x batch bytes). MB/s per rank = bytes a
 * rank receives (its own share included) / seconds per step, averaged over
 * the ranks. Rank 0 prints one markdown row per batch size.
 * Usage: exchange_bench BATCH_MB... */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/comm.h"
#include "dist/xplan.h"

#define REC (64u << 10)
#define ROUNDS 5

static void die(const char *what) {
  fprintf(stderr, "exchange_bench: %s: %s\n", what, bfd_last_error());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185u;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44du;
  return x ^ (x >> 33);
}

typedef struct bench {
  uint32_t rank, world;
  uint64_t n;                /* records in the global batch */
  uint32_t *owner, *consumer;
  uint8_t *records;          /* this rank's copy of every record it may own */
  uint8_t *batch;            /* the consumer's batch: REC bytes per slot */
  uint8_t *send, *recv;
  uint64_t *sb, *rb;
  int *sc, *sd, *rc, *rd;
} bench;

static bfd_status rec_get(void *ctx, uint64_t i, const void **data, uint64_t *len) {
  bench *b = ctx;
  *data = b->records + (i % 64) * REC;
  *len = REC;
  return BFD_OK;
}

static bfd_status deliver(void *ctx, uint64_t slot, const void *data, uint64_t len) {
  bench *b = ctx;
  memcpy(b->batch + slot * REC, data, (size_t)len);
  return BFD_OK;
}

/* The whole step but the read. */
static void step(bench *b, bfdi_comm *c) {
  bfdi_xplan p;
  if (bfdi_xplan_build(b->world, b->rank, b->n, b->owner, b->consumer, &p) != BFD_OK) die("plan");
  uint64_t sb[64], rb[64], total = 0;
  if (bfdi_xplan_send_bytes(&p, rec_get, b, sb) != BFD_OK) die("send bytes");
  for (uint32_t d = 0; d < b->world; d++) total += sb[d];
  if (bfdi_xplan_pack(&p, rec_get, b, b->send, total) != BFD_OK) die("pack");
  if (bfdi_comm_alltoall_sizes(c, sb, rb) != BFD_OK) die("sizes");
  if (bfdi_comm_alltoallv(c, b->send, sb, b->recv, rb) != BFD_OK) die("all-to-all");
  if (bfdi_xplan_unpack(&p, b->recv, rb, deliver, b) != BFD_OK) die("unpack");
  bfdi_xplan_free(&p);
}

static double timed(bench *b, bfdi_comm *c, int how, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int k = 0; k < iters; k++) {
    if (how == 0) {
      MPI_Alltoallv(b->send, b->sc, b->sd, MPI_BYTE, b->recv, b->rc, b->rd, MPI_BYTE, MPI_COMM_WORLD);
    } else if (how == 1) {
      uint64_t rb[64];
      if (bfdi_comm_alltoall_sizes(c, b->sb, rb) != BFD_OK) die("sizes");
      if (bfdi_comm_alltoallv(c, b->send, b->sb, b->recv, rb) != BFD_OK) die("all-to-all");
    } else {
      step(b, c);
    }
  }
  return (MPI_Wtime() - t0) / iters;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void run_size(bfdi_comm *c, uint32_t rank, uint32_t world, double batch_mb) {
  bench b = {0};
  b.rank = rank;
  b.world = world;
  uint64_t per_rank = (uint64_t)(batch_mb * 1e6 / REC);
  if (per_rank == 0) per_rank = 1;
  b.n = per_rank * world;
  b.owner = malloc(b.n * sizeof *b.owner);
  b.consumer = malloc(b.n * sizeof *b.consumer);
  for (uint64_t i = 0; i < b.n; i++) {
    b.consumer[i] = (uint32_t)(i / per_rank);
    b.owner[i] = (uint32_t)(mix(i + 12345) % world);
  }
  b.records = malloc(64 * (size_t)REC);
  for (size_t k = 0; k < 64 * (size_t)REC; k++) b.records[k] = (uint8_t)(k * 7 + rank);
  b.batch = malloc(per_rank * REC);
  /* The traffic of the step, for the two plain all-to-alls. */
  bfdi_xplan p;
  if (bfdi_xplan_build(world, rank, b.n, b.owner, b.consumer, &p) != BFD_OK) die("plan");
  b.sb = calloc(world, sizeof *b.sb);
  b.rb = calloc(world, sizeof *b.rb);
  if (bfdi_xplan_send_bytes(&p, rec_get, &b, b.sb) != BFD_OK) die("send bytes");
  bfdi_xplan_free(&p);
  if (bfdi_comm_alltoall_sizes(c, b.sb, b.rb) != BFD_OK) die("sizes");
  b.sc = malloc(4 * world * sizeof(int));
  b.sd = b.sc + world, b.rc = b.sc + 2 * world, b.rd = b.sc + 3 * world;
  uint64_t so = 0, ro = 0;
  for (uint32_t r = 0; r < world; r++) {
    b.sc[r] = (int)b.sb[r], b.sd[r] = (int)so, so += b.sb[r];
    b.rc[r] = (int)b.rb[r], b.rd[r] = (int)ro, ro += b.rb[r];
  }
  /* Room for any rank's share of the step. */
  b.send = malloc(b.n * (REC + 8));
  b.recv = malloc(b.n * (REC + 8));
  memset(b.send, 1, b.n * (REC + 8));
  memset(b.recv, 0, b.n * (REC + 8));

  int iters = (int)(200e6 / (double)(ro ? ro : 1));
  if (iters < 5) iters = 5;
  if (iters > 200) iters = 200;
  double t[3][ROUNDS];
  for (int how = 0; how < 3; how++) timed(&b, c, how, 2);
  for (int round = 0; round < ROUNDS; round++)
    for (int how = 0; how < 3; how++) t[how][round] = timed(&b, c, how, iters);
  double mbs[3];
  for (int how = 0; how < 3; how++) {
    qsort(t[how], ROUNDS, sizeof(double), cmp_double);
    double mine = (double)ro / t[how][ROUNDS / 2] / 1e6, sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    mbs[how] = sum / world;
  }
  if (rank == 0)
    printf("| %u | %.1f | %.0f | %.0f | %.2f | %.0f | %.2f |\n", world, (double)per_rank * REC / 1e6, mbs[0], mbs[1],
           mbs[1] / mbs[0], mbs[2], mbs[2] / mbs[0]);
  fflush(stdout);
  free(b.owner), free(b.consumer), free(b.records), free(b.batch), free(b.send), free(b.recv);
  free(b.sb), free(b.rb), free(b.sc);
}

int main(int argc, char **argv) {
  bfdi_dist_env env;
  if (bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &env) != BFD_OK) die("rank discovery");
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  o.kind = BFDI_COMM_MPI;
  bfdi_comm *c;
  if (bfdi_comm_create(&o, &env, &c) != BFD_OK) die("comm");
  if (env.world_size > 64) die("at most 64 ranks");
  for (int a = 1; a < argc; a++) run_size(c, env.rank, env.world_size, atof(argv[a]));
  bfdi_comm_destroy(c);
  return 0;
}

/* The comm layer in one process (loader/dist): the local backend's
 * collectives, argument checks and broken state after an abort; backends
 * missing from a build; the watchdog that bounds MPI calls; and the TCP
 * rendezvous with ranks as threads on 127.0.0.1, including the ways a job
 * is misconfigured (wrong world size, a duplicate rank, rank 0 missing, a
 * rank missing, the port taken) which must all fail within the timeout. The
 * multi-process versions run in tests/dist/run.sh. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "dist/comm.h"
#include "dist/rdzv.h"
#include "dist/watchdog.h"

static bfdi_dist_env one_rank(void) {
  bfdi_dist_env e;
  assert_int_equal(bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &e), BFD_OK);
  e.rank = 0;
  e.world_size = 1;
  return e;
}

static void test_local_collectives(void **state) {
  (void)state;
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  assert_int_equal(o.kind, BFDI_COMM_LOCAL);
  assert_true(o.timeout_s == BFDI_COMM_DEFAULT_TIMEOUT_S);
  bfdi_dist_env e = one_rank();
  bfdi_comm *c;
  assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_OK);
  assert_int_equal(bfdi_comm_rank(c), 0);
  assert_int_equal(bfdi_comm_size(c), 1);
  assert_int_equal(bfdi_comm_kind_of(c), BFDI_COMM_LOCAL);
  assert_int_equal(bfdi_comm_barrier(c), BFD_OK);

  char buf[16] = "unchanged";
  assert_int_equal(bfdi_comm_bcast(c, buf, sizeof buf, 0), BFD_OK);
  assert_string_equal(buf, "unchanged");
  assert_int_equal(bfdi_comm_bcast(c, NULL, 0, 0), BFD_OK);
  assert_int_equal(bfdi_comm_bcast(c, buf, sizeof buf, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "root 1"));

  uint64_t mine = 0xfeedface, all = 0;
  assert_int_equal(bfdi_comm_allgather(c, &mine, sizeof mine, &all), BFD_OK);
  assert_int_equal(all, 0xfeedface);
  assert_int_equal(bfdi_comm_allgather(c, &mine, BFDI_COMM_SMALL + 1, &all), BFD_ERR_INVALID_ARG);

  uint64_t sizes = 11, got = 0;
  assert_int_equal(bfdi_comm_alltoall_sizes(c, &sizes, &got), BFD_OK);
  assert_int_equal(got, 11);
  char out[11] = {0};
  assert_int_equal(bfdi_comm_alltoallv(c, "hello world", &sizes, out, &got), BFD_OK);
  assert_memory_equal(out, "hello world", 11);
  uint64_t wrong = 10;
  assert_int_equal(bfdi_comm_alltoallv(c, "hello world", &sizes, out, &wrong), BFD_ERR_INVALID_ARG);
  /* A failure inside a collective breaks the comm for good. */
  assert_int_equal(bfdi_comm_barrier(c), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "failed earlier"));
  assert_non_null(strstr(bfd_last_error(), "recv_bytes"));
  bfdi_comm_destroy(c);

  assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_OK);
  uint64_t huge[1] = {UINT64_MAX};
  assert_int_equal(bfdi_comm_alltoallv(c, NULL, huge, out, &got), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_comm_barrier(c), BFD_OK); /* argument errors do not break it */

  bfdi_comm *sub;
  assert_int_equal(bfdi_comm_split(c, 3, 0, &sub), BFD_OK);
  assert_int_equal(bfdi_comm_size(sub), 1);
  assert_int_equal(bfdi_comm_barrier(sub), BFD_OK);
  bfdi_comm_destroy(sub);
  assert_int_equal(bfdi_comm_split(c, 1u << 31, 0, &sub), BFD_ERR_INVALID_ARG);
  assert_null(sub);
  bfdi_comm_destroy(c);
  bfdi_comm_destroy(NULL);
}

static void test_local_abort_breaks_the_comm(void **state) {
  (void)state;
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  bfdi_dist_env e = one_rank();
  bfdi_comm *c;
  assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_OK);
  bfdi_fail(BFD_ERR_CORRUPT, "shard seq-00003.h5 record 17: CRC mismatch");
  /* The reason may be the thread's own message buffer. */
  assert_int_equal(bfdi_comm_abort(c, BFD_ERR_CORRUPT, bfd_last_error()), BFD_ERR_CORRUPT);
  assert_string_equal(bfd_last_error(), "shard seq-00003.h5 record 17: CRC mismatch");
  assert_int_equal(bfdi_comm_bcast(c, &o, sizeof o, 0), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "rank 0 aborted: shard seq-00003.h5 record 17"));
  bfdi_comm *sub;
  assert_int_equal(bfdi_comm_split(c, 0, 0, &sub), BFD_ERR_IO);
  bfdi_comm_destroy(c);
}

static void test_backend_choice(void **state) {
  (void)state;
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  bfdi_dist_env e = one_rank();
  e.world_size = 4;
  snprintf(e.world_from, sizeof e.world_from, "WORLD_SIZE");
  bfdi_comm *c;
  assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "WORLD_SIZE"));
  assert_null(c);
  assert_string_equal(bfdi_comm_kind_name(BFDI_COMM_MPI), "mpi");
  assert_string_equal(bfdi_comm_kind_name(BFDI_COMM_NCCL), "nccl");
  assert_true(bfdi_comm_kind_built(BFDI_COMM_LOCAL));
  /* The sanitized test library runs CUDA on the emulator: no NCCL here. */
  if (!bfdi_comm_kind_built(BFDI_COMM_NCCL)) {
    o.kind = BFDI_COMM_NCCL;
    assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_ERR_UNSUPPORTED);
    assert_non_null(strstr(bfd_last_error(), "without NCCL"));
  }
  o.kind = (bfdi_comm_kind)7;
  assert_int_equal(bfdi_comm_create(&o, &e, &c), BFD_ERR_INVALID_ARG);
}

typedef struct fired {
  pthread_mutex_t mu;
  int count;
  const char *op;
} fired;

static void on_fire(void *ctx, const char *op, double timeout_s) {
  (void)timeout_s;
  fired *f = ctx;
  pthread_mutex_lock(&f->mu);
  f->count++;
  f->op = op;
  pthread_mutex_unlock(&f->mu);
}

static int fired_count(fired *f) {
  pthread_mutex_lock(&f->mu);
  int n = f->count;
  pthread_mutex_unlock(&f->mu);
  return n;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  nanosleep(&ts, NULL);
}

static void test_watchdog(void **state) {
  (void)state;
  fired f = {PTHREAD_MUTEX_INITIALIZER, 0, NULL};
  bfdi_watchdog *w;
  assert_int_equal(bfdi_watchdog_start(0, on_fire, &f, &w), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfdi_watchdog_start(0.05, on_fire, &f, &w), BFD_OK);
  /* Calls that finish in time never fire it. */
  for (int i = 0; i < 20; i++) {
    bfdi_watchdog_arm(w, "quick");
    sleep_s(0.005);
    bfdi_watchdog_disarm(w);
  }
  sleep_s(0.2);
  assert_int_equal(fired_count(&f), 0);
  /* A call that overruns fires it once. */
  bfdi_watchdog_arm(w, "MPI_Bcast");
  for (int i = 0; i < 1000 && fired_count(&f) == 0; i++) sleep_s(0.01);
  assert_int_equal(fired_count(&f), 1);
  assert_string_equal(f.op, "MPI_Bcast");
  sleep_s(0.2);
  assert_int_equal(fired_count(&f), 1);
  /* Re-arming starts a new deadline. */
  bfdi_watchdog_arm(w, "MPI_Alltoallv");
  for (int i = 0; i < 1000 && fired_count(&f) == 1; i++) sleep_s(0.01);
  assert_int_equal(fired_count(&f), 2);
  assert_string_equal(f.op, "MPI_Alltoallv");
  bfdi_watchdog_stop(w);
  bfdi_watchdog_stop(NULL);
}

/* A port free on 127.0.0.1 right now. */
static uint16_t free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  socklen_t len = sizeof a;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

typedef struct rank_run {
  pthread_t t;
  uint16_t port;
  uint32_t rank, world;
  size_t len;
  double timeout_s;
  uint8_t blob[128];
  bfd_status st;
  char msg[1024];
} rank_run;

static void *run_rank(void *arg) {
  rank_run *r = arg;
  r->st = bfdi_rdzv_share("127.0.0.1", r->port, r->rank, r->world, r->blob, r->len, r->timeout_s);
  snprintf(r->msg, sizeof r->msg, "%s", bfd_last_error());
  return NULL;
}

static void start(rank_run *r, uint16_t port, uint32_t rank, uint32_t world, double timeout_s) {
  memset(r, 0, sizeof *r);
  r->port = port;
  r->rank = rank;
  r->world = world;
  r->len = sizeof r->blob;
  r->timeout_s = timeout_s;
  if (rank == 0)
    for (size_t i = 0; i < sizeof r->blob; i++) r->blob[i] = (uint8_t)(i * 7 + 3);
  assert_int_equal(pthread_create(&r->t, NULL, run_rank, r), 0);
}

static void test_rendezvous_threads(void **state) {
  (void)state;
  enum { N = 4 };
  rank_run r[N];
  uint16_t port = free_port();
  /* Rank 0 last: the others retry until it listens. */
  for (uint32_t k = N; k-- > 0;) start(&r[k], port, k, N, 30);
  for (int k = 0; k < N; k++) pthread_join(r[k].t, NULL);
  for (int k = 0; k < N; k++) {
    if (r[k].st != BFD_OK) print_message("rank %d: %s\n", k, r[k].msg);
    assert_int_equal(r[k].st, BFD_OK);
    assert_memory_equal(r[k].blob, r[0].blob, sizeof r[0].blob);
  }
  assert_int_equal(r[3].blob[5], 38);

  /* One rank: nothing to exchange, no socket. */
  uint8_t b[4] = {1, 2, 3, 4};
  assert_int_equal(bfdi_rdzv_share("127.0.0.1", port, 0, 1, b, sizeof b, 1), BFD_OK);
  assert_int_equal(bfdi_rdzv_share("", port, 1, 2, b, sizeof b, 1), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "MASTER_ADDR"));
  assert_int_equal(bfdi_rdzv_share("127.0.0.1", port, 2, 2, b, sizeof b, 1), BFD_ERR_INVALID_ARG);
}

static void test_rendezvous_refuses_a_misconfigured_job(void **state) {
  (void)state;
  rank_run r[3];
  uint16_t port = free_port();
  start(&r[0], port, 0, 3, 3);
  start(&r[1], port, 1, 3, 3);
  start(&r[2], port, 2, 4, 3); /* thinks the world has 4 ranks */
  for (int k = 0; k < 3; k++) pthread_join(r[k].t, NULL);
  assert_int_equal(r[0].st, BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(r[0].msg, "rank 2 of 4"));
  assert_non_null(strstr(r[0].msg, "world size"));
  assert_int_equal(r[2].st, BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(r[2].msg, "refused rank 2 of 4"));
  /* Rank 1 learns that rank 0 gave up, or fails to reach it. */
  assert_int_not_equal(r[1].st, BFD_OK);

  port = free_port();
  start(&r[0], port, 0, 3, 3);
  start(&r[1], port, 1, 3, 3);
  start(&r[2], port, 1, 3, 3); /* two processes claim rank 1 */
  for (int k = 0; k < 3; k++) pthread_join(r[k].t, NULL);
  assert_int_equal(r[0].st, BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(r[0].msg, "already claimed"));
  assert_true(r[1].st != BFD_OK || r[2].st != BFD_OK);
}

static void test_rendezvous_is_bounded(void **state) {
  (void)state;
  rank_run r[3];
  /* Rank 0 never comes. */
  uint16_t port = free_port();
  start(&r[1], port, 1, 2, 0.5);
  pthread_join(r[1].t, NULL);
  assert_int_equal(r[1].st, BFD_ERR_IO);
  assert_non_null(strstr(r[1].msg, "could not reach rank 0"));
  assert_non_null(strstr(r[1].msg, "0.5 s"));

  /* Rank 2 never comes: rank 0 names it, rank 1 is told. */
  port = free_port();
  start(&r[0], port, 0, 3, 0.5);
  start(&r[1], port, 1, 3, 0.5);
  pthread_join(r[0].t, NULL);
  pthread_join(r[1].t, NULL);
  assert_int_equal(r[0].st, BFD_ERR_IO);
  assert_non_null(strstr(r[0].msg, "ranks 2)"));
  assert_int_not_equal(r[1].st, BFD_OK);

  /* The port is taken by someone else. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 4), 0);
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  port = ntohs(a.sin_port);
  start(&r[0], port, 0, 2, 0.5);
  pthread_join(r[0].t, NULL);
  assert_int_equal(r[0].st, BFD_ERR_IO);
  assert_non_null(strstr(r[0].msg, "BIOFEED_RDZV_PORT"));
  /* A rank that reaches a program that is not rank 0 says so. */
  start(&r[1], port, 1, 2, 2);
  int peer = -1;
  for (int i = 0; i < 200 && peer < 0; i++) {
    peer = accept(fd, NULL, NULL);
    if (peer < 0) sleep_s(0.01);
  }
  assert_true(peer >= 0);
  uint8_t junk[16] = "HTTP/1.1 400 Ba";
  uint8_t hello[20];
  assert_int_equal(recv(peer, hello, sizeof hello, MSG_WAITALL), (ssize_t)sizeof hello);
  assert_int_equal(send(peer, junk, sizeof junk, 0), (ssize_t)sizeof junk);
  pthread_join(r[1].t, NULL);
  close(peer);
  close(fd);
  assert_int_equal(r[1].st, BFD_ERR_IO);
  assert_non_null(strstr(r[1].msg, "not a biofeed rank 0"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_local_collectives),
      cmocka_unit_test(test_local_abort_breaks_the_comm),
      cmocka_unit_test(test_backend_choice),
      cmocka_unit_test(test_watchdog),
      cmocka_unit_test(test_rendezvous_threads),
      cmocka_unit_test(test_rendezvous_refuses_a_misconfigured_job),
      cmocka_unit_test(test_rendezvous_is_bounded),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Shared by the multi-rank test programs in tests/dist: a comm over the
 * launcher's environment, and checks that take the whole job down (through
 * bfdi_comm_abort) when one rank sees a wrong value, so run.sh only has to
 * look at mpirun's exit code. */
#ifndef BFD_TESTS_DIST_TEST_H
#define BFD_TESTS_DIST_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "dist/comm.h"

static void dt_log(bfd_log_level level, const char *msg, void *user) {
  (void)level, (void)user;
  fprintf(stderr, "%s\n", msg);
}

static bfdi_comm *dt_comm;

#define DT_CHECK(cond)                                                                                     \
  do {                                                                                                     \
    if (!(cond)) {                                                                                         \
      char dt_msg_[512];                                                                                   \
      snprintf(dt_msg_, sizeof dt_msg_, "%s:%d: check failed: %s", __FILE__, __LINE__, #cond);            \
      if (dt_comm) bfdi_comm_abort(dt_comm, BFD_ERR_INTERNAL, dt_msg_);                                    \
      fprintf(stderr, "%s\n", dt_msg_);                                                                    \
      exit(1);                                                                                             \
    }                                                                                                      \
  } while (0)

#define DT_OK(call)                                                                                        \
  do {                                                                                                     \
    bfd_status dt_st_ = (call);                                                                            \
    if (dt_st_ != BFD_OK) {                                                                                \
      char dt_msg_[1536];                                                                                  \
      snprintf(dt_msg_, sizeof dt_msg_, "%s:%d: %s: %s: %s", __FILE__, __LINE__, #call,                    \
               bfd_status_name(dt_st_), bfd_last_error());                                                 \
      if (dt_comm) bfdi_comm_abort(dt_comm, dt_st_, dt_msg_);                                              \
      fprintf(stderr, "%s\n", dt_msg_);                                                                    \
      exit(1);                                                                                             \
    }                                                                                                      \
  } while (0)

/* Joins the job with the mpi backend and the given per-call timeout. */
static bfdi_comm *dt_join(double timeout_s) {
  bfd_set_log(dt_log, NULL, BFD_LOG_WARN);
  bfdi_dist_env env;
  DT_OK(bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &env));
  bfdi_comm_options o;
  bfdi_comm_options_init(&o);
  o.kind = BFDI_COMM_MPI;
  o.timeout_s = timeout_s;
  DT_OK(bfdi_comm_create(&o, &env, &dt_comm));
  DT_CHECK(bfdi_comm_rank(dt_comm) == env.rank && bfdi_comm_size(dt_comm) == env.world_size);
  return dt_comm;
}

#endif

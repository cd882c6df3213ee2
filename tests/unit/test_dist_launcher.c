/* Rank discovery (loader/dist/launcher.h) over fake environments: each
 * launcher's variables, the order between launchers, values given in the
 * config or API winning field by field, and every inconsistency reported
 * with the variables that cause it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dist/launcher.h"

/* A fake environment: "NAME=VALUE" strings, NULL-terminated. */
static const char *fake_getenv(void *ctx, const char *name) {
  size_t n = strlen(name);
  for (const char *const *kv = ctx; *kv; kv++)
    if (strncmp(*kv, name, n) == 0 && (*kv)[n] == '=') return *kv + n + 1;
  return NULL;
}

static bfdi_dist_env discover_ok(const bfdi_dist_given *g, const char *const *env) {
  bfdi_dist_env e;
  bfd_status st = bfdi_dist_discover(g, fake_getenv, (void *)env, &e);
  if (st != BFD_OK) print_message("unexpected error: %s\n", bfd_last_error());
  assert_int_equal(st, BFD_OK);
  return e;
}

/* Fails and the message names every one of the NULL-terminated words. */
static void discover_fails(const bfdi_dist_given *g, const char *const *env, ...) {
  bfdi_dist_env e;
  assert_int_equal(bfdi_dist_discover(g, fake_getenv, (void *)env, &e), BFD_ERR_INVALID_ARG);
  va_list ap;
  va_start(ap, env);
  for (const char *w = va_arg(ap, const char *); w; w = va_arg(ap, const char *)) {
    if (!strstr(bfd_last_error(), w)) print_message("message lacks \"%s\": %s\n", w, bfd_last_error());
    assert_non_null(strstr(bfd_last_error(), w));
  }
  va_end(ap);
}

static void test_nothing_set_is_one_rank(void **state) {
  (void)state;
  static const char *const env[] = {"HOME=/root", "PATH=/bin", NULL};
  bfdi_dist_env e = discover_ok(NULL, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_NONE);
  assert_int_equal(e.rank, 0);
  assert_int_equal(e.world_size, 1);
  assert_int_equal(e.local_rank, -1);
  assert_int_equal(e.local_size, -1);
  assert_int_equal(e.node, -1);
  assert_string_equal(e.master_addr, "");
  assert_int_equal(e.master_port, 0);
  assert_int_equal(e.rdzv_port, 0);
  assert_string_equal(e.rank_from, "default");
  assert_string_equal(e.world_from, "default");
}

static void test_torchrun(void **state) {
  (void)state;
  static const char *const env[] = {"RANK=5",           "WORLD_SIZE=8",          "LOCAL_RANK=1",
                                    "LOCAL_WORLD_SIZE=4", "GROUP_RANK=1",        "MASTER_ADDR=node-a.cluster",
                                    "MASTER_PORT=29500",  NULL};
  bfdi_dist_env e = discover_ok(NULL, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_TORCHRUN);
  assert_string_equal(bfdi_launcher_name(e.launcher), "torchrun");
  assert_int_equal(e.rank, 5);
  assert_int_equal(e.world_size, 8);
  assert_int_equal(e.local_rank, 1);
  assert_int_equal(e.local_size, 4);
  assert_int_equal(e.node, 1);
  assert_string_equal(e.master_addr, "node-a.cluster");
  assert_int_equal(e.master_port, 29500);
  assert_int_equal(e.rdzv_port, 29501); /* MASTER_PORT is torch's */
  assert_string_equal(e.rank_from, "RANK");
  assert_string_equal(e.world_from, "WORLD_SIZE");
}

static void test_openmpi(void **state) {
  (void)state;
  static const char *const env[] = {"OMPI_COMM_WORLD_RANK=2", "OMPI_COMM_WORLD_SIZE=4",
                                    "OMPI_COMM_WORLD_LOCAL_RANK=0", "OMPI_COMM_WORLD_LOCAL_SIZE=2",
                                    "PMIX_RANK=2", NULL};
  bfdi_dist_env e = discover_ok(NULL, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_OPENMPI);
  assert_int_equal(e.rank, 2);
  assert_int_equal(e.world_size, 4);
  assert_int_equal(e.local_rank, 0);
  assert_int_equal(e.local_size, 2);
  assert_int_equal(e.node, -1);
  assert_string_equal(e.rank_from, "OMPI_COMM_WORLD_RANK");
}

static void test_pmi(void **state) {
  (void)state;
  static const char *const env[] = {"PMI_RANK=5", "PMI_SIZE=6", "MPI_LOCALRANKID=1", "MPI_LOCALNRANKS=2", NULL};
  bfdi_dist_env e = discover_ok(NULL, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_PMI);
  assert_int_equal(e.rank, 5);
  assert_int_equal(e.world_size, 6);
  assert_int_equal(e.local_rank, 1);
  assert_int_equal(e.local_size, 2);
}

static void test_slurm(void **state) {
  (void)state;
  static const char *const env[] = {"SLURM_PROCID=7", "SLURM_NTASKS=16", "SLURM_LOCALID=3", "SLURM_NODEID=1",
                                    "SLURM_JOB_ID=4242", NULL};
  bfdi_dist_env e = discover_ok(NULL, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_SLURM);
  assert_int_equal(e.rank, 7);
  assert_int_equal(e.world_size, 16);
  assert_int_equal(e.local_rank, 3);
  assert_int_equal(e.local_size, -1);
  assert_int_equal(e.node, 1);
  assert_string_equal(e.world_from, "SLURM_NTASKS");
}

static void test_pmix_needs_a_size(void **state) {
  (void)state;
  static const char *const env[] = {"PMIX_RANK=1", NULL};
  discover_fails(NULL, env, "PMIX_RANK=1", "world_size", NULL);
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.world_size = 4;
  bfdi_dist_env e = discover_ok(&g, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_PMIX);
  assert_int_equal(e.rank, 1);
  assert_int_equal(e.world_size, 4);
  assert_string_equal(e.world_from, "explicit");
}

/* mpirun inside an sbatch script inherits the batch step's Slurm variables;
 * torchrun under Slurm sets RANK per process while SLURM_PROCID is per task. */
static void test_launcher_order_and_no_mixing(void **state) {
  (void)state;
  static const char *const mpi_in_slurm[] = {"SLURM_PROCID=0", "SLURM_NTASKS=1", "SLURM_LOCALID=0",
                                             "SLURM_NODEID=0", "OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=4",
                                             NULL};
  bfdi_dist_env e = discover_ok(NULL, mpi_in_slurm);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_OPENMPI);
  assert_int_equal(e.rank, 3);
  assert_int_equal(e.world_size, 4);
  assert_int_equal(e.local_rank, -1); /* not Slurm's 0 */
  assert_int_equal(e.node, -1);

  static const char *const torch_in_slurm[] = {"SLURM_PROCID=1", "SLURM_NTASKS=2", "RANK=9", "WORLD_SIZE=16",
                                               "PMI_RANK=1", "PMI_SIZE=2", NULL};
  e = discover_ok(NULL, torch_in_slurm);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_TORCHRUN);
  assert_int_equal(e.rank, 9);
  assert_int_equal(e.world_size, 16);

  /* The first launcher with a rank decides, even when it lacks a size. */
  static const char *const half[] = {"RANK=1", "OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=2", NULL};
  discover_fails(NULL, half, "RANK=1", "WORLD_SIZE", NULL);
}

static void test_given_values_win(void **state) {
  (void)state;
  static const char *const env[] = {"RANK=5",          "WORLD_SIZE=8",       "LOCAL_RANK=1",
                                    "LOCAL_WORLD_SIZE=4", "MASTER_ADDR=10.0.0.9", "MASTER_PORT=29500",
                                    "BIOFEED_RDZV_PORT=31000", NULL};
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.rank = 1;
  g.world_size = 2;
  g.master_addr = "10.1.1.1";
  g.master_port = 4000;
  bfdi_dist_env e = discover_ok(&g, env);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_EXPLICIT);
  assert_int_equal(e.rank, 1);
  assert_int_equal(e.world_size, 2);
  assert_string_equal(e.rank_from, "explicit");
  /* torchrun describes rank 5, not this process: its local rank is not ours. */
  assert_int_equal(e.local_rank, -1);
  assert_string_equal(e.master_addr, "10.1.1.1");
  assert_int_equal(e.master_port, 4000);
  assert_int_equal(e.rdzv_port, 31000);

  /* Given only the rank, which agrees with the launcher: its node info holds. */
  bfdi_dist_given_init(&g);
  g.rank = 5;
  e = discover_ok(&g, env);
  assert_int_equal(e.world_size, 8);
  assert_string_equal(e.world_from, "WORLD_SIZE");
  assert_int_equal(e.local_rank, 1);
  assert_int_equal(e.local_size, 4);

  bfdi_dist_given_init(&g);
  g.local_rank = 3;
  g.rdzv_port = 999;
  e = discover_ok(&g, env);
  assert_int_equal(e.local_rank, 3);
  assert_int_equal(e.rdzv_port, 999);
  assert_int_equal(e.launcher, BFDI_LAUNCHER_TORCHRUN);

  /* A malformed variable that a given value replaces does not matter. */
  static const char *const bad[] = {"RANK=zero", "WORLD_SIZE=-3", NULL};
  bfdi_dist_given_init(&g);
  g.rank = 0;
  g.world_size = 1;
  e = discover_ok(&g, bad);
  assert_int_equal(e.rank, 0);
  assert_int_equal(e.world_size, 1);
}

static void test_inconsistent_values_name_their_sources(void **state) {
  (void)state;
  static const char *const at_size[] = {"RANK=4", "WORLD_SIZE=4", NULL};
  discover_fails(NULL, at_size, "rank 4", "RANK", "WORLD_SIZE", NULL);

  static const char *const env8[] = {"RANK=1", "WORLD_SIZE=8", NULL};
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.rank = 9;
  discover_fails(&g, env8, "rank 9", "explicit", "WORLD_SIZE", NULL);
  bfdi_dist_given_init(&g);
  g.world_size = 1;
  discover_fails(&g, env8, "rank 1", "RANK", "explicit", NULL);
  bfdi_dist_given_init(&g);
  g.rank = 2;
  discover_fails(&g, (const char *const[]){NULL}, "rank 2", "explicit", "default", NULL);
  bfdi_dist_given_init(&g);
  g.world_size = 0;
  discover_fails(&g, env8, "world_size 0", NULL);

  static const char *const local[] = {"OMPI_COMM_WORLD_RANK=1", "OMPI_COMM_WORLD_SIZE=4",
                                      "OMPI_COMM_WORLD_LOCAL_RANK=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL};
  discover_fails(NULL, local, "OMPI_COMM_WORLD_LOCAL_RANK=2", "OMPI_COMM_WORLD_LOCAL_SIZE=2", NULL);
  static const char *const wide[] = {"RANK=1", "WORLD_SIZE=2", "LOCAL_WORLD_SIZE=3", NULL};
  discover_fails(NULL, wide, "LOCAL_WORLD_SIZE=3", "WORLD_SIZE", NULL);
  bfdi_dist_given_init(&g);
  g.local_rank = 8;
  discover_fails(&g, env8, "local_rank 8", NULL);
}

static void test_malformed_variables(void **state) {
  (void)state;
  discover_fails(NULL, (const char *const[]){"RANK=abc", "WORLD_SIZE=2", NULL}, "RANK=\"abc\"", NULL);
  discover_fails(NULL, (const char *const[]){"RANK=1", "WORLD_SIZE=2x", NULL}, "WORLD_SIZE=\"2x\"", NULL);
  discover_fails(NULL, (const char *const[]){"SLURM_PROCID=-1", "SLURM_NTASKS=2", NULL}, "SLURM_PROCID", NULL);
  discover_fails(NULL, (const char *const[]){"PMI_RANK=0", "PMI_SIZE=0", NULL}, "PMI_SIZE=\"0\"", NULL);
  discover_fails(NULL, (const char *const[]){"RANK=0", "WORLD_SIZE=99999999999", NULL}, "WORLD_SIZE", NULL);
  discover_fails(NULL, (const char *const[]){"MASTER_PORT=70000", NULL}, "MASTER_PORT=\"70000\"", NULL);
  discover_fails(NULL, (const char *const[]){"BIOFEED_RDZV_PORT=http", NULL}, "BIOFEED_RDZV_PORT", NULL);
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.master_port = 65536;
  discover_fails(&g, (const char *const[]){NULL}, "master_port 65536", NULL);

  /* Empty variables count as unset. */
  bfdi_dist_env e = discover_ok(NULL, (const char *const[]){"RANK=", "WORLD_SIZE=", "SLURM_PROCID=1",
                                                            "SLURM_NTASKS=3", "MASTER_PORT=", NULL});
  assert_int_equal(e.launcher, BFDI_LAUNCHER_SLURM);
  assert_int_equal(e.rank, 1);
  assert_int_equal(e.master_port, 0);
}

static void test_rendezvous_port(void **state) {
  (void)state;
  bfdi_dist_env e = discover_ok(NULL, (const char *const[]){"MASTER_ADDR=127.0.0.1", "MASTER_PORT=65535", NULL});
  assert_int_equal(e.master_port, 65535);
  assert_int_equal(e.rdzv_port, 0); /* no port above it */
  e = discover_ok(NULL, (const char *const[]){"MASTER_PORT=1234", "BIOFEED_RDZV_PORT=4321", NULL});
  assert_int_equal(e.rdzv_port, 4321);
  e = discover_ok(NULL, (const char *const[]){"BIOFEED_RDZV_PORT=4321", NULL});
  assert_int_equal(e.master_port, 0);
  assert_int_equal(e.rdzv_port, 4321);
  char longaddr[400];
  memset(longaddr, 'a', sizeof longaddr - 1);
  longaddr[sizeof longaddr - 1] = '\0';
  bfdi_dist_given g;
  bfdi_dist_given_init(&g);
  g.master_addr = longaddr;
  discover_fails(&g, (const char *const[]){NULL}, "longer than", NULL);
}

static void test_process_environment(void **state) {
  (void)state;
  /* The real environment goes through the same function. */
  setenv("RANK", "2", 1);
  setenv("WORLD_SIZE", "3", 1);
  bfdi_dist_env e;
  assert_int_equal(bfdi_dist_discover(NULL, bfdi_process_getenv, NULL, &e), BFD_OK);
  assert_int_equal(e.rank, 2);
  assert_int_equal(e.world_size, 3);
  unsetenv("RANK");
  unsetenv("WORLD_SIZE");
  assert_int_equal(bfdi_dist_discover(NULL, NULL, NULL, &e), BFD_ERR_INVALID_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nothing_set_is_one_rank),
      cmocka_unit_test(test_torchrun),
      cmocka_unit_test(test_openmpi),
      cmocka_unit_test(test_pmi),
      cmocka_unit_test(test_slurm),
      cmocka_unit_test(test_pmix_needs_a_size),
      cmocka_unit_test(test_launcher_order_and_no_mixing),
      cmocka_unit_test(test_given_values_win),
      cmocka_unit_test(test_inconsistent_values_name_their_sources),
      cmocka_unit_test(test_malformed_variables),
      cmocka_unit_test(test_rendezvous_port),
      cmocka_unit_test(test_process_environment),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

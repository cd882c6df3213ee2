/* One rank of four fails after the job has started; run.sh checks that every
 * rank then exits non-zero within a bounded time (never hangs) and with the
 * documented exit code. MODE: abort (bfdi_comm_abort: MPI_Abort with 100 +
 * BFD_ERR_CORRUPT), exit (_exit(3), no MPI_Finalize), crash (SIGKILL), hang
 * (sleeps, so the others' 5 s timeout must end the job: exit code 124), none
 * (no failure: every rank completes, the harness's own control). Each rank
 * writes OUT/pid.RANK when it starts and OUT/rc.RANK with 0 only if it
 * completes. Usage: dist_fail MODE OUT */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "dist_test.h"

static void write_file(const char *out, const char *what, unsigned rank, long value) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.%u", out, what, rank);
  FILE *f = fopen(path, "w");
  DT_CHECK(f);
  fprintf(f, "%ld\n", value);
  DT_CHECK(fclose(f) == 0);
}

int main(int argc, char **argv) {
  DT_CHECK(argc == 3);
  const char *mode = argv[1], *out = argv[2];
  dt_join(5);
  uint32_t rank = bfdi_comm_rank(dt_comm);
  write_file(out, "pid", rank, (long)getpid());
  DT_OK(bfdi_comm_barrier(dt_comm));
  if (rank == 1) {
    if (strcmp(mode, "abort") == 0)
      bfdi_comm_abort(dt_comm, BFD_ERR_CORRUPT, "seq-00001.h5 record 3: CRC mismatch (injected by dist_fail)");
    else if (strcmp(mode, "exit") == 0)
      _exit(3);
    else if (strcmp(mode, "crash") == 0)
      raise(SIGKILL);
    else if (strcmp(mode, "hang") == 0)
      for (int i = 0; i < 600; i++) sleep(1);
    else
      DT_CHECK(strcmp(mode, "none") == 0);
  }
  /* The next step: the failed rank never joins it. */
  uint64_t step = rank == 0 ? 42 : 0;
  DT_OK(bfdi_comm_bcast(dt_comm, &step, sizeof step, 0));
  DT_CHECK(step == 42);
  DT_OK(bfdi_comm_barrier(dt_comm));
  write_file(out, "rc", rank, 0);
  bfdi_comm_destroy(dt_comm);
  return 0;
}

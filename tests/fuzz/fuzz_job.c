/* libFuzzer harness: the job config (loader/config/job.c) through
 * bfdi_job_parse, which hands its `sequence:` and `image.ops` parts to the
 * ops parsers.
 *
 * Input: the YAML text, optionally followed by the line "#--vocab--" and the
 * text of a vocabulary file, written into the base directory as v.txt
 * (empty when there is none) so that `vocab: {file: v.txt}` reads fuzzed
 * contents. */
#include <stdint.h>

#include "config/job.h"
#include "fuzzutil.h"

static const char MARK[] = "\n#--vocab--\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *mark = memmem(data, size, MARK, sizeof MARK - 1);
  size_t n = mark ? (size_t)(mark - data) : size;
  size_t vocab_at = mark ? n + sizeof MARK - 1 : size;
  fz_write("v.txt", data + vocab_at, size - vocab_at);
  bfdi_job job;
  memset(&job, 0, sizeof job);
  fz_quiet_begin();
  bfd_status st = bfdi_job_parse((const char *)data, n, fz_dir(), &job);
  fz_check(st, "bfdi_job_parse");
  if (st == BFD_OK) {
    uint64_t sum = job.seed + job.batch_size + job.memory_limit;
    for (size_t i = 0; i < job.n_datasets; i++) sum += strlen(job.datasets[i].path);
    fz_sink = sum;
    bfdi_job_free(&job);
  }
  fz_quiet_end("the job config parser");
  fz_remove("v.txt");
  return 0;
}

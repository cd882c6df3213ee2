/* libFuzzer harness: a dataset's manifest.json (loader/format/dataset.c,
 * cJSON) through bfd_dataset_open on a directory holding it, every listed
 * shard read back, then bfd_verify on the directory (sizes and hashes of the
 * listed files, which are missing here, or are the manifest itself). The
 * input is the manifest. */
#include <stdint.h>

#include "biofeed/dataset.h"
#include "fuzzutil.h"

static void on_problem(const char *shard, uint64_t record, uint64_t offset, const char *what, void *user) {
  uint64_t *n = user;
  *n += strlen(shard) + strlen(what) + record + offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fz_write("manifest.json", data, size);
  bfd_dataset *d = NULL;
  fz_quiet_begin();
  bfd_status st = bfd_dataset_open(fz_dir(), &d);
  fz_check(st, "bfd_dataset_open");
  if (st == BFD_OK) {
    bfd_kind kind;
    size_t n = 0;
    const char *text = NULL;
    fz_check(bfd_dataset_kind(d, &kind), "bfd_dataset_kind");
    fz_check(bfd_dataset_shard_count(d, &n), "bfd_dataset_shard_count");
    fz_check(bfd_dataset_manifest_text(d, &text), "bfd_dataset_manifest_text");
    uint64_t sum = strlen(text) + (uint64_t)kind;
    for (size_t i = 0; i < n; i++) {
      bfd_dataset_shard s;
      fz_check(bfd_dataset_shard_get(d, i, &s), "bfd_dataset_shard_get");
      sum += strlen(s.path) + strlen(s.relpath) + strlen(s.hash) + s.size + s.records + (uint64_t)s.group;
    }
    bfd_dataset_shard s;
    if (bfd_dataset_shard_get(d, n, &s) == BFD_OK) {
      fz_bug("bfd_dataset_shard_get accepted an index past the end");
    }
    bfd_dataset_close(d);
    bfd_verify_report rep = {0};
    uint64_t problems = 0;
    st = bfd_verify(fz_dir(), on_problem, &problems, &rep);
    if (st != BFD_ERR_CORRUPT) fz_check(st, "bfd_verify");
    fz_sink = sum + problems + rep.problems;
  }
  fz_quiet_end("the manifest reader");
  fz_remove("manifest.json");
  return 0;
}

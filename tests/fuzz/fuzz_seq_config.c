/* libFuzzer harness: the sequence ops config (loader/ops/seq_config.c,
 * libyaml) read by bfd_seq_config_load, and the vocabulary file it names.
 *
 * Input: the YAML text, optionally followed by the line "#--vocab--" and the
 * text of a vocabulary file, which is written beside the config as v.txt
 * (empty when there is none), so `vocab: {file: v.txt}` reaches the
 * vocabulary parser with fuzzed contents. A config that loads has its token
 * tables built, as the pipeline does next. */
#include <stdint.h>
#include <stdlib.h>

#include "fuzzutil.h"
#include "ops/seq_config.h"

static const char MARK[] = "\n#--vocab--\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *mark = memmem(data, size, MARK, sizeof MARK - 1);
  size_t n = mark ? (size_t)(mark - data) : size;
  size_t vocab_at = mark ? n + sizeof MARK - 1 : size;
  fz_write("v.txt", data + vocab_at, size - vocab_at);
  const char *path = fz_write("seq.yaml", data, n);
  bfd_seq_config cfg;
  fz_quiet_begin();
  bfd_status st = bfd_seq_config_load(path, &cfg);
  fz_check(st, "bfd_seq_config_load");
  if (st == BFD_OK) {
    int32_t *tables = NULL;
    size_t count = 0;
    st = bfdk_seq_tables_build(&cfg.vocab, cfg.case_mode, &tables, &count);
    fz_check(st, "bfdk_seq_tables_build");
    if (st == BFD_OK) {
      uint64_t sum = 0;
      for (size_t i = 0; i < count; i++) sum += (uint32_t)tables[i];
      fz_sink = sum;
      free(tables);
    }
    bfd_seq_config_free(&cfg);
  }
  fz_quiet_end("the sequence config parser");
  fz_remove("seq.yaml");
  fz_remove("v.txt");
  return 0;
}

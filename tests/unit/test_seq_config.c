/* Sequence op settings from YAML: every key reaches bfdk_seq_params, paths
 * resolve beside the config, and each mistake (unknown key, bad choice, bad
 * number, missing tokenizer, vocabulary file errors, impossible
 * combinations, YAML syntax) is an error naming the file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/seq_config.h"
#include "support/testutil.h"

static char *dir;

static int setup(void **state) {
  (void)state;
  dir = tu_mkdtemp("seqcfg");
  return dir ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  tu_rmtree(dir);
  free(dir);
  return 0;
}

static const char *write_cfg(const char *name, const char *text) {
  const char *path = tu_path("%s/%s", dir, name);
  assert_int_equal(tu_write(path, text, strlen(text)), 0);
  return path;
}

/* Loads text as a config and expects failure with all the given pieces in
 * the message. */
static void expect_error(const char *text, const char *piece1, const char *piece2) {
  const char *path = write_cfg("bad.yaml", text);
  bfd_seq_config cfg;
  bfd_status st = bfd_seq_config_load(path, &cfg);
  if (st == BFD_OK) {
    bfd_seq_config_free(&cfg);
    fail_msg("config accepted:\n%s", text);
  }
  const char *msg = bfd_last_error();
  if (!strstr(msg, piece1) || (piece2 && !strstr(msg, piece2)))
    fail_msg("message '%s' lacks '%s' / '%s'", msg, piece1, piece2 ? piece2 : "");
}

static void test_full_config(void **state) {
  (void)state;
  const char *path = write_cfg("dna.yaml",
                               "tokenizer: hyenadna\n"
                               "case: softmask\n"
                               "specials: {begin: cls, end: default}\n"
                               "max_len: 1026\n"
                               "padding: longest\n"
                               "truncation: random\n"
                               "window:\n"
                               "  length: 1024\n"
                               "  mode: tiled\n"
                               "  stride: 512\n"
                               "  bed: regions/train.bed\n"
                               "  max_n_frac: 0.1\n"
                               "  max_attempts: 20\n"
                               "rc: 0.5\n"
                               "shift: 3\n"
                               "mlm: {p: 0.2, mask: 0.7, random: 0.2}\n"
                               "onehot: {dtype: bfloat16, n: uniform}\n");
  bfd_seq_config cfg;
  assert_int_equal(bfd_seq_config_load(path, &cfg), BFD_OK);
  const bfdk_seq_params *p = &cfg.params;
  assert_string_equal(cfg.vocab.name, "hyenadna");
  assert_int_equal(cfg.case_mode, BFD_SEQ_CASE_SOFTMASK);
  assert_int_equal(p->begin_id, 0);
  assert_int_equal(p->end_id, 1);
  assert_int_equal(p->max_len, 1026);
  assert_int_equal(p->pad_longest, 1);
  assert_int_equal(p->truncation, BFD_SEQ_TRUNC_RANDOM);
  assert_int_equal(p->sample_mode, BFD_SEQ_WINDOW_TILED);
  assert_int_equal(p->window, 1024);
  assert_int_equal(p->tile_stride, 512);
  assert_true(p->max_n_frac == 0.1);
  assert_int_equal(p->max_attempts, 20);
  assert_true(p->rc_p == 0.5f);
  assert_int_equal(p->shift, 3);
  assert_true(p->mlm_p == 0.2f && p->mlm_mask == 0.7f && p->mlm_random == 0.2f);
  assert_int_equal(p->mlm_span, 0);
  assert_int_equal(cfg.onehot, 1);
  assert_int_equal(p->onehot_dtype, BFD_SEQ_BF16);
  assert_int_equal(p->onehot_uniform, 1);
  assert_string_equal(cfg.bed_path, tu_path("%s/regions/train.bed", dir));
  bfd_seq_config_free(&cfg);

  path = write_cfg("bert.yaml", "tokenizer: dnabert\nk: 3\nspecials: {begin: none, end: none}\nmlm: {p: 0.025, span: true}\n");
  assert_int_equal(bfd_seq_config_load(path, &cfg), BFD_OK);
  assert_int_equal(cfg.params.k, 3);
  assert_int_equal(cfg.params.begin_id, -1);
  assert_int_equal(cfg.params.end_id, -1);
  assert_int_equal(cfg.params.mlm_span, 1);
  assert_true(cfg.params.mlm_p == 0.025f);
  assert_int_equal(cfg.params.max_len, 512);
  bfd_seq_config_free(&cfg);
}

static void test_vocab_file_config(void **state) {
  (void)state;
  const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nAA\nAC\nAG\nAT\n";
  assert_int_equal(tu_write(tu_path("%s/v.txt", dir), vocab, sizeof vocab - 1), 0);
  const char *path = write_cfg("v.yaml", "tokenizer: vocab\nvocab: {file: v.txt, mode: kmer, k: 2, stride: 2}\n");
  bfd_seq_config cfg;
  assert_int_equal(bfd_seq_config_load(path, &cfg), BFD_OK);
  assert_int_equal(cfg.params.tok, BFD_SEQ_TOK_KMER);
  assert_int_equal(cfg.params.k, 2);
  assert_int_equal(cfg.params.stride, 2);
  assert_int_equal(cfg.params.begin_id, 2);
  assert_int_equal(cfg.params.end_id, 3);
  assert_int_equal(cfg.vocab.kmer[3], 8); /* AT */
  bfd_seq_config_free(&cfg);

  const char dup[] = "[PAD]\n[UNK]\nA\nC\nG\nC\n";
  assert_int_equal(tu_write(tu_path("%s/dup.txt", dir), dup, sizeof dup - 1), 0);
  expect_error("tokenizer: vocab\nvocab:\n  file: dup.txt\n", "bad.yaml:3: ", "dup.txt: line 6 repeats the token 'C' of line 4");
  expect_error("tokenizer: vocab\nvocab: {file: missing.txt}\n", "vocab.file: cannot open", "missing.txt");
  expect_error("tokenizer: vocab\n", "bad.yaml:1: tokenizer: vocab needs a vocab mapping", NULL);
}

static void test_config_errors(void **state) {
  (void)state;
  expect_error("tokenizer: esm2\nmax_len: 100\nwindw: {length: 10}\n", "bad.yaml:3: sequence ops: unknown key 'windw'",
               "valid: tokenizer, k, vocab");
  expect_error("tokenizer: esm2\ntruncation: middle\n", "bad.yaml:2: truncation: 'middle' is not one of right, left, random",
               NULL);
  expect_error("tokenizer: gpt2\n", "bad.yaml:1: tokenizer: 'gpt2' is not one of dna, rna, esm2", NULL);
  expect_error("max_len: 10\n", "tokenizer is missing", NULL);
  expect_error("tokenizer: esm2\nmax_len: lots\n", "bad.yaml:2: max_len: 'lots' is not an integer", NULL);
  expect_error("tokenizer: esm2\nmlm: {p: 1.5}\n", "bad.yaml:2: mlm.p: '1.5' is not a number in [0, 1]", NULL);
  expect_error("tokenizer: esm2\nonehot: {dtype: float16}\n", "onehot: one-hot rows are per nucleotide", NULL);
  expect_error("tokenizer: esm2\nrc: 0.5\n", "rc: reverse complement needs a nucleotide tokenizer", NULL);
  expect_error("tokenizer: dna\nshift: 3\n", "shift: 3, but samples are whole records", NULL);
  expect_error("tokenizer: dna\nwindow: {mode: tiled}\n", "bad.yaml:2: window: length is missing", NULL);
  expect_error("tokenizer: dna\nwindow: {length: 10, size: 3}\n", "window: unknown key 'size'", "valid: length, mode");
  expect_error("tokenizer: byte\nmlm: {p: 0.15}\n", "tokenizer byte has no mask token", NULL);
  expect_error("tokenizer: nt\nspecials: {end: sep}\n", "specials.end: tokenizer nt has no sep token", NULL);
  expect_error("tokenizer: dnabert\nk: 8\n", "bad.yaml:2: k: '8' is not an integer in 3..6", NULL);
  expect_error("tokenizer: nt\nk: 6\n", "bad.yaml:2: k is for tokenizer: dnabert", NULL);
  expect_error("tokenizer: esm2\ncase: [upper]\n", "bad.yaml:2: case must be a single value", NULL);
  expect_error("tokenizer: esm2\nmax_len: [1\n", "bad.yaml:", "YAML error");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_config),
      cmocka_unit_test(test_vocab_file_config),
      cmocka_unit_test(test_config_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

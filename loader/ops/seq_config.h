/* The sequence op settings from YAML (libyaml): a mapping that a job config
 * embeds, or a file of its own. Every error names the file, the line and the
 * valid choices. Keys (all optional but tokenizer):
 *
 *   tokenizer: dna | rna | esm2 | hyenadna | dnabert | nt | byte | vocab
 *   k: 6                        # dnabert: 3..6
 *   vocab: {file: v.txt, mode: char | kmer | nt, k: 6, stride: 1, alphabet: dna | rna | protein | any}
 *   case: upper | softmask | n  # soft-masked lowercase: uppercase / + soft-mask output / N
 *   specials: {begin: default | none | cls | bos, end: default | none | eos | sep}
 *   max_len: 512                # tokens per row, specials included
 *   padding: max_len | longest  # longest: the batch's longest row rounded up to 8
 *   truncation: right | left | random
 *   window: {length: 1000, mode: random | tiled, stride: 500, bed: r.bed,
 *            max_n_frac: 0.1, max_attempts: 16}
 *   rc: 0.5                     # probability of reverse complement
 *   shift: 3                    # windows move by up to +-3 bases
 *   mlm: {p: 0.15, mask: 0.8, random: 0.1, span: false}
 *   onehot: {dtype: float32 | float16 | bfloat16, n: zeros | uniform}
 *
 * Paths (vocab.file, window.bed) are relative to the config file's folder. */
#ifndef BFD_OPS_SEQ_CONFIG_H
#define BFD_OPS_SEQ_CONFIG_H

#include <yaml.h>

#include "seq.h"

typedef struct bfd_seq_config {
  bfdk_seq_vocab vocab;
  bfdk_seq_params params;
  int32_t case_mode; /* BFD_SEQ_CASE_* */
  int32_t onehot;    /* 1: the one-hot output was asked for */
  char *bed_path;    /* window.bed, resolved; NULL if none */
} bfd_seq_config;

/* Reads the mapping `node` of an already loaded document; `file` names the
 * document in messages and anchors relative paths. */
bfd_status bfd_seq_config_parse(yaml_document_t *doc, yaml_node_t *node, const char *file, bfd_seq_config *cfg);

/* A YAML file whose top level is the sequence mapping. */
bfd_status bfd_seq_config_load(const char *path, bfd_seq_config *cfg);

void bfd_seq_config_free(bfd_seq_config *cfg);

#endif

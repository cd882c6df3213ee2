/* Typed reads of libyaml document nodes for the job config: every getter
 * checks the node's type and range and fails with "file:line: key: what is
 * wrong (what is valid)", so that a config error points at its line. */
#ifndef BFD_CONFIG_YVAL_H
#define BFD_CONFIG_YVAL_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/error.h"

typedef struct bfdi_yctx {
  yaml_document_t *doc;
  const char *file; /* names the document in messages */
} bfdi_yctx;

/* One key of a mapping. */
typedef struct bfdi_ykv {
  const char *key;
  yaml_node_t *knode, *value;
} bfdi_ykv;

unsigned long bfdi_yline(const yaml_node_t *n);

/* Parses text into doc; a syntax error names the line. */
bfd_status bfdi_yload(const char *text, size_t n, const char *file, yaml_document_t *doc);

/* The pairs of a mapping node (malloc'd array in *out). A node of another
 * type, a key that is not a plain name or a repeated key is an error. */
bfd_status bfdi_ymap(const bfdi_yctx *c, const yaml_node_t *n, const char *what, bfdi_ykv **out, size_t *count);
bfd_status bfdi_yunknown(const bfdi_yctx *c, const bfdi_ykv *e, const char *what, const char *valid);

/* A scalar's text. */
bfd_status bfdi_ystr(const bfdi_yctx *c, const yaml_node_t *n, const char *key, const char **out);
/* The index of the scalar among choices; the message lists them. */
bfd_status bfdi_ychoice(const bfdi_yctx *c, const yaml_node_t *n, const char *key, const char *const *choices,
                        int count, int *out);
bfd_status bfdi_yuint(const bfdi_yctx *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi,
                      uint64_t *out);
bfd_status bfdi_yreal(const bfdi_yctx *c, const yaml_node_t *n, const char *key, double lo, double hi, double *out);
/* true | false | yes | no. */
bfd_status bfdi_ybool(const bfdi_yctx *c, const yaml_node_t *n, const char *key, int *out);
/* A byte count: an integer with an optional K, M, G or T suffix (powers of
 * 1024; "KB", "KiB" and lowercase also read), e.g. 512M or 1G. */
bfd_status bfdi_ysize(const bfdi_yctx *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi,
                      uint64_t *out);

#endif

/* Typed reads of libyaml nodes with messages that name the file, the line,
 * the key and what is valid. */
#include "config/yval.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

unsigned long bfdi_yline(const yaml_node_t *n) { return (unsigned long)n->start_mark.line + 1; }

static const char *type_name(const yaml_node_t *n) {
  return n->type == YAML_SEQUENCE_NODE ? "a list" : (n->type == YAML_MAPPING_NODE ? "a mapping" : "empty");
}

bfd_status bfdi_yload(const char *text, size_t n, const char *file, yaml_document_t *doc) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return bfdi_fail(BFD_ERR_NOMEM, "%s: cannot start the YAML parser", file);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
  bfd_status st = BFD_OK;
  if (!yaml_parser_load(&parser, doc))
    st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: YAML error: %s%s%s", file, (unsigned long)parser.problem_mark.line + 1,
                   parser.problem ? parser.problem : "malformed", parser.context ? " " : "",
                   parser.context ? parser.context : "");
  else if (!yaml_document_get_root_node(doc)) {
    yaml_document_delete(doc);
    st = bfdi_fail(BFD_ERR_FORMAT, "%s: the job config is empty (it needs at least datasets:)", file);
  }
  yaml_parser_delete(&parser);
  return st;
}

bfd_status bfdi_ymap(const bfdi_yctx *c, const yaml_node_t *n, const char *what, bfdi_ykv **out, size_t *count) {
  *out = NULL;
  *count = 0;
  if (n->type != YAML_MAPPING_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a mapping (key: value lines), not %s", c->file, bfdi_yline(n),
                     what, n->type == YAML_SCALAR_NODE ? "a single value" : type_name(n));
  size_t m = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
  bfdi_ykv *a = calloc(m ? m : 1, sizeof *a);
  if (!a) return bfdi_fail(BFD_ERR_NOMEM, "%s: out of memory", c->file);
  for (size_t i = 0; i < m; i++) {
    yaml_node_pair_t *pr = n->data.mapping.pairs.start + i;
    a[i].knode = yaml_document_get_node(c->doc, pr->key);
    a[i].value = yaml_document_get_node(c->doc, pr->value);
    a[i].key = a[i].knode && a[i].knode->type == YAML_SCALAR_NODE ? (const char *)a[i].knode->data.scalar.value : NULL;
    bfd_status st = BFD_OK;
    if (!a[i].key || !a[i].value)
      st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: keys must be plain names", c->file,
                     bfdi_yline(a[i].knode ? a[i].knode : n), what);
    for (size_t j = 0; j < i && st == BFD_OK; j++)
      if (!strcmp(a[j].key, a[i].key))
        st = bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is given twice (first on line %lu); keep one", c->file,
                       bfdi_yline(a[i].knode), what, a[i].key, bfdi_yline(a[j].knode));
    if (st != BFD_OK) {
      free(a);
      return st;
    }
  }
  *out = a;
  *count = m;
  return BFD_OK;
}

bfd_status bfdi_yunknown(const bfdi_yctx *c, const bfdi_ykv *e, const char *what, const char *valid) {
  return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: unknown key '%s' (valid: %s)", c->file, bfdi_yline(e->knode), what,
                   e->key, valid);
}

bfd_status bfdi_ystr(const bfdi_yctx *c, const yaml_node_t *n, const char *key, const char **out) {
  if (n->type != YAML_SCALAR_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a single value, not %s", c->file, bfdi_yline(n), key,
                     type_name(n));
  *out = (const char *)n->data.scalar.value;
  return BFD_OK;
}

bfd_status bfdi_ychoice(const bfdi_yctx *c, const yaml_node_t *n, const char *key, const char *const *choices,
                        int count, int *out) {
  char list[256] = "";
  for (int i = 0; i < count; i++) {
    strncat(list, choices[i], sizeof list - strlen(list) - 1);
    if (i + 1 < count) strncat(list, " | ", sizeof list - strlen(list) - 1);
  }
  if (n->type != YAML_SCALAR_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be one of %s, not %s", c->file, bfdi_yline(n), key, list,
                     type_name(n));
  const char *v = (const char *)n->data.scalar.value;
  for (int i = 0; i < count; i++)
    if (!strcmp(v, choices[i])) {
      *out = i;
      return BFD_OK;
    }
  return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not one of %s", c->file, bfdi_yline(n), key, v, list);
}

bfd_status bfdi_yuint(const bfdi_yctx *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi,
                      uint64_t *out) {
  if (n->type != YAML_SCALAR_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be an integer in %" PRIu64 "..%" PRIu64 ", not %s", c->file,
                     bfdi_yline(n), key, lo, hi, type_name(n));
  const char *v = (const char *)n->data.scalar.value;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (errno || end == v || *end || v[0] == '-' || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not an integer in %" PRIu64 "..%" PRIu64, c->file,
                     bfdi_yline(n), key, v, lo, hi);
  *out = x;
  return BFD_OK;
}

bfd_status bfdi_yreal(const bfdi_yctx *c, const yaml_node_t *n, const char *key, double lo, double hi, double *out) {
  if (n->type != YAML_SCALAR_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a number in [%g, %g], not %s", c->file, bfdi_yline(n), key,
                     lo, hi, type_name(n));
  const char *v = (const char *)n->data.scalar.value;
  char *end;
  double x = strtod(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not a number in [%g, %g]", c->file, bfdi_yline(n), key, v,
                     lo, hi);
  *out = x;
  return BFD_OK;
}

bfd_status bfdi_ybool(const bfdi_yctx *c, const yaml_node_t *n, const char *key, int *out) {
  static const char *const choices[] = {"false", "true", "no", "yes"};
  int i;
  BFD_TRY(bfdi_ychoice(c, n, key, choices, 4, &i));
  *out = i & 1;
  return BFD_OK;
}

bfd_status bfdi_ysize(const bfdi_yctx *c, const yaml_node_t *n, const char *key, uint64_t lo, uint64_t hi,
                      uint64_t *out) {
  if (n->type != YAML_SCALAR_NODE)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s must be a size such as 512M or 2G, not %s", c->file, bfdi_yline(n),
                     key, type_name(n));
  const char *v = (const char *)n->data.scalar.value;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  int shift = 0;
  if (*end) {
    const char *units = "KMGT";
    const char *u = strchr(units, end[0] >= 'a' ? end[0] - 32 : end[0]);
    if (u && end[0]) {
      shift = 10 * (int)(u - units + 1);
      end++;
      if (!strcasecmp(end, "B") || !strcasecmp(end, "iB")) end += strlen(end);
    }
  }
  int bad = errno || end == v || *end || v[0] == '-' || (shift && x > (UINT64_MAX >> shift));
  uint64_t bytes = bad ? 0 : (uint64_t)x << shift;
  if (bad || bytes < lo || bytes > hi)
    return bfdi_fail(BFD_ERR_FORMAT, "%s:%lu: %s: '%s' is not a size in %" PRIu64 "M..%" PRIu64 "G (a number of bytes "
                     "with an optional K, M, G or T suffix)", c->file, bfdi_yline(n), key, v, lo >> 20, hi >> 30);
  *out = bytes;
  return BFD_OK;
}
